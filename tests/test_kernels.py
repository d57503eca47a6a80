"""The training kernels' compiled products (``_native.c``, used by ``structrob._kernels``).

With the compiled module built, a float32 :class:`~structrob._kernels.StackedTrainer` computes
its input layer as a sparse product over the non-zero pixels plus one dense term per unit, and
its hidden layers and output in one pass forward and one backward
(:func:`~structrob._kernels.compiled_applies`). Checked here: every value against the
documented order of operations, computed independently term by term in numpy float32 (so the
bits are the same on every CPU); against the dense float64 products; a copy's values do not
depend on the copies stacked with it (training included, to the bit); and training with them
equals the torch path they replace to float rounding (and autograd's training:
``tests/test_train.py``, on pixels with zeros).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from structrob import _compiled, _kernels, graphs, pruning
from structrob.initialization import initialize
from structrob.model import SparseDAGNet
from structrob.train import fit
from tests.test_train import pruned_net, small_net, toy_data

native = _compiled.native
pytestmark = pytest.mark.skipif(native is None, reason="the compiled module is not built")

MNIST = (0.1307, 0.3081)


def sparse_pixels(n, n_in, seed, zeros=0.7):
    """Pixels in [0, 1], about ``zeros`` of them exactly 0; image 0 all 0, image 1 none 0."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, n_in, generator=g)
    x[torch.rand(n, n_in, generator=g) < zeros] = 0.0
    x[0] = 0.0
    x[1] = torch.rand(n_in, generator=g) + 0.01
    return x


def image_pixels(x, std):
    """``input_pixels``: every image's non-zero pixels (start, pixel, value)."""
    count = int((x != 0).sum())
    start = torch.empty(len(x) + 1, dtype=torch.long)
    pixel, value = torch.empty(count, dtype=torch.int32), torch.empty(count)
    native.input_pixels(
        x.data_ptr(), len(x), x.shape[1], std, start.data_ptr(), pixel.data_ptr(),
        value.data_ptr(),
    )  # fmt: skip
    return start, pixel, value


def run_forward(x, batch, weight, bias, normalize):
    """The compiled input layer's units ``[R, b]`` (before ReLU) and its workspace."""
    R, n_in = weight.shape
    padded = -(-R // 16) * 16
    wt = torch.zeros(n_in, padded)
    wt[:, :R] = weight.T
    b = len(batch)
    units = torch.full((R, b), float("nan"))
    work = _kernels.input_workspace(b, n_in, padded)
    mean, std = normalize
    start, pixel, value = image_pixels(x, std)
    native.input_forward(
        start.data_ptr(), pixel.data_ptr(), value.data_ptr(), n_in, batch.data_ptr(), b, mean,
        std, wt.data_ptr(), R, padded, bias.data_ptr(), units.data_ptr(), b, work.data_ptr(),
    )  # fmt: skip
    return units, work, padded


def test_image_pixels_are_the_non_zero_pixels_divided_by_std():
    x = sparse_pixels(9, 23, 0)
    x[3, 5] = -0.0  # zero: left out
    start, pixel, value = image_pixels(x, 0.3081)
    assert start[0] == 0 and start[-1] == len(pixel) == int((x != 0).sum())
    for i in range(len(x)):
        (nonzero,) = np.nonzero(x[i].numpy())
        assert np.array_equal(pixel[start[i] : start[i + 1]].numpy(), nonzero)
        expected = x[i].numpy()[nonzero] / np.float32(0.3081)  # one float32 division each
        assert np.array_equal(value[start[i] : start[i + 1]].numpy(), expected)
    assert start[1] == 0 and start[2] - start[1] == 23  # image 0 all zero, image 1 none


def run_backward(grads, work, n_in, padded, normalize):
    """The input weights' gradient ``[n_in, padded]`` of the batch in ``work``."""
    R, b = grads.shape
    gbias = grads.sum(1)
    grad_wt = torch.full((n_in, padded), float("nan"))
    mean, std = normalize
    native.input_backward(
        n_in, b, mean, std, grads.data_ptr(), b, gbias.data_ptr(), R, padded,
        grad_wt.data_ptr(), work.data_ptr(),
    )  # fmt: skip
    return grad_wt, gbias


def documented_forward(x, batch, weight, bias, normalize):
    """``_native.c``'s order, one float32 operation at a time (numpy rounds each one)."""
    f = np.float32
    w, xb = weight.numpy(), x[batch].numpy()
    m, s = f(normalize[0]), f(normalize[1])
    c0 = (f(0) - m) / s
    rowsum = np.zeros(w.shape[0], dtype=f)
    for p in range(w.shape[1]):
        rowsum = rowsum + w[:, p]
    base = bias.numpy() + c0 * rowsum
    out = np.empty((w.shape[0], len(batch)), dtype=f)
    for j in range(len(batch)):
        acc = base.copy()
        for p in np.flatnonzero(xb[j]):
            acc = acc + (xb[j, p] / s) * w[:, p]
        out[:, j] = acc
    return out


def documented_grad(x, batch, grads, gbias, normalize):
    f = np.float32
    xb, g = x[batch].numpy(), grads.numpy()
    m, s = f(normalize[0]), f(normalize[1])
    c0 = (f(0) - m) / s
    out = np.empty((xb.shape[1], g.shape[0]), dtype=f)
    for p in range(xb.shape[1]):
        acc = c0 * gbias.numpy()
        for j in np.flatnonzero(xb[:, p]):
            acc = acc + (xb[j, p] / s) * g[:, j]
        out[p] = acc
    return out


# R (the input units of all copies): under 16, 16 exactly, 64 + 16 blocks, several 64 blocks
@pytest.mark.parametrize("R", [1, 5, 16, 70, 130, 200])
@pytest.mark.parametrize("normalize", [MNIST, (0.0, 1.0), (-0.25, 2.0)])
def test_input_layer_follows_its_documented_order_bit_for_bit(R, normalize):
    n_in, seed = 37, R
    x = sparse_pixels(12, n_in, seed)
    batch = torch.tensor([3, 0, 1, 7, 3, 11, 5])  # an all-zero image, a full one, a repeat
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(R, n_in, generator=g)
    bias = torch.randn(R, generator=g)
    units, work, padded = run_forward(x, batch, weight, bias, normalize)
    expected = documented_forward(x, batch, weight, bias, normalize)
    assert np.array_equal(units.numpy(), expected)

    grads = torch.randn(R, len(batch), generator=g)
    grad_wt, gbias = run_backward(grads, work, n_in, padded, normalize)
    assert np.array_equal(
        grad_wt[:, :R].numpy(), documented_grad(x, batch, grads, gbias, normalize)
    )
    assert torch.equal(grad_wt[:, R:], torch.zeros(n_in, padded - R))  # the padding


@pytest.mark.parametrize("normalize", [MNIST, (0.0, 1.0)])
def test_input_layer_equals_the_dense_product(normalize):
    """Against the dense float64 products of the normalised pixels (the model's formula)."""
    n_in, R = 784, 426
    x = sparse_pixels(300, n_in, 1, zeros=0.8)
    batch = torch.randperm(300, generator=torch.Generator().manual_seed(2))[:128]
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(R, n_in, generator=g) * 0.05
    bias = torch.randn(R, generator=g) * 0.1
    units, work, padded = run_forward(x, batch, weight, bias, normalize)
    xn = (x[batch].double() - normalize[0]) / normalize[1]
    dense = weight.double() @ xn.T + bias.double()[:, None]
    # float32 sums of 784 terms of about 0.1: a few float32 ulps of the result's scale
    np.testing.assert_allclose(units.double(), dense, rtol=0, atol=2e-5)
    grads = torch.randn(R, 128, generator=g)
    grad_wt, _ = run_backward(grads, work, n_in, padded, normalize)
    np.testing.assert_allclose(grad_wt[:, :R].T.double(), grads.double() @ xn, rtol=0, atol=1e-4)


def test_a_copys_input_units_do_not_depend_on_the_copies_beside_it():
    n_in = 50
    x = sparse_pixels(20, n_in, 4)
    batch = torch.arange(20)
    g = torch.Generator().manual_seed(5)
    weight, bias = torch.randn(90, n_in, generator=g), torch.randn(90, generator=g)
    grads = torch.randn(90, 20, generator=g)
    stacked, work, padded = run_forward(x, batch, weight, bias, MNIST)
    grad_stacked, _ = run_backward(grads, work, n_in, padded, MNIST)
    for lo, hi in [(0, 30), (30, 90), (0, 70)]:  # other paddings and 64/16 blocks
        alone, work, padded = run_forward(x, batch, weight[lo:hi], bias[lo:hi], MNIST)
        assert torch.equal(alone, stacked[lo:hi])
        grad_alone, _ = run_backward(grads[lo:hi], work, n_in, padded, MNIST)
        assert torch.equal(grad_alone[:, : hi - lo], grad_stacked[:, lo:hi])


def test_the_input_layer_rejects_a_padding_that_is_not_a_multiple_of_16():
    x, batch = sparse_pixels(3, 4, 0), torch.arange(3)
    wt, bias, units = torch.zeros(4, 20), torch.zeros(5), torch.zeros(5, 3)
    work = _kernels.input_workspace(3, 4, 20)
    start, pixel, value = image_pixels(x, 1.0)
    with pytest.raises(ValueError, match="multiple of 16"):
        native.input_forward(
            start.data_ptr(), pixel.data_ptr(), value.data_ptr(), 4, batch.data_ptr(), 3, 0.0,
            1.0, wt.data_ptr(), 5, 20, bias.data_ptr(), units.data_ptr(), 3, work.data_ptr(),
        )  # fmt: skip


def mnist_like(n=200, n_in=12, seed=0):
    """toy_data with about 60 % of the pixels exactly zero (as MNIST has 80 %)."""
    return toy_data(n=n, n_in=n_in, seed=seed, zeros=0.6)


def test_the_dense_path_runs_without_the_compiled_module(monkeypatch):
    data = mnist_like()
    net = pruned_net(normalize=MNIST)
    dense = copy.deepcopy(net)
    fit(net, data, epochs=2, batch_size=32, seed=3)
    with monkeypatch.context() as m:
        m.setattr(_compiled, "native", None)
        assert not _kernels.compiled_applies(torch.float32)
        assert not _kernels.StackedTrainer(copy.deepcopy(dense), lr=1e-3).compiled
        fit(dense, data, epochs=2, batch_size=32, seed=3)
    for (name, a), b in zip(net.named_parameters(), dense.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    assert not _kernels.compiled_applies(torch.float64)


def test_padding_stays_zero_and_the_model_gets_the_trained_weights():
    dag = graphs.to_dag(graphs.watts_strogatz(30, 2, 0.6, seed=4))
    net = initialize(SparseDAGNet(dag, n_in=12, n_out=3, copies=3), ["he_uniform"] * 3, seed=1)
    trainer = _kernels.StackedTrainer(net, lr=1e-2)
    R = trainer.n_inputs
    assert trainer.padded > R  # 3 copies x their sources is not a multiple of 16 here
    data = mnist_like()
    x = data.train_x.float()
    for first in range(0, 96, 32):
        trainer.forward(x, data.train_y, torch.arange(first, first + 32))
        trainer.backward(torch.ones(3))
    assert torch.equal(trainer.weight_in[:, R:], torch.zeros(12, trainer.padded - R))
    before = net.weight_in.detach().clone()
    trainer.write_back()
    after = net.weight_in.detach()
    assert not torch.equal(before, after)
    assert torch.equal(after.reshape(R, 12), trainer.weight_in[:, :R].T)


def test_a_stopped_copy_keeps_its_input_weights():
    """snapshot and restore in the transposed layout: copy 1 is put back, the others train."""
    dag = graphs.to_dag(graphs.watts_strogatz(30, 2, 0.6, seed=4))
    net = initialize(SparseDAGNet(dag, n_in=12, n_out=3, copies=3), ["he_uniform"] * 3, seed=1)
    trainer = _kernels.StackedTrainer(net, lr=1e-2)
    data = mnist_like()
    stopped = torch.tensor([False, True, False])
    start = trainer._input_copies().clone()
    trainer.forward(data.train_x.float(), data.train_y, torch.arange(32))
    saved = trainer.snapshot(stopped)
    trainer.backward(torch.tensor([1.0, 0.0, 1.0]))
    trainer.restore(stopped, saved)
    now = trainer._input_copies()
    assert torch.equal(now[1], start[1])
    assert not torch.equal(now[0], start[0]) and not torch.equal(now[2], start[2])
    trainer.write_back()
    assert torch.equal(net.weight_in.detach()[1], start[1].T)


def test_the_trainer_checks_what_the_compiled_input_layer_reads():
    net = pruned_net()
    trainer = _kernels.StackedTrainer(net, lr=1e-3)
    data = mnist_like()
    with pytest.raises(TypeError, match="float32 pixels"):
        trainer.forward(data.train_x.double(), data.train_y, torch.arange(4))
    with pytest.raises(TypeError, match="float32 pixels"):
        trainer.inputs(data.train_x[:, :5])
    with pytest.raises(TypeError, match="int64"):
        trainer.forward(data.train_x, data.train_y, torch.arange(4, dtype=torch.int32))
    other = _kernels.StackedTrainer(pruned_net(normalize=MNIST), lr=1e-3)
    with pytest.raises(ValueError, match="use this trainer's inputs"):
        trainer.forward(other.inputs(data.train_x), data.train_y, torch.arange(4))


def test_prepared_pixels_give_the_batchs_own_bits():
    """forward on inputs() of the whole set equals forward on the raw images, bit for bit."""
    data = mnist_like(n=100)
    x, y = data.train_x, data.train_y
    batch = torch.tensor([7, 3, 99, 3, 0, 42])
    a = _kernels.StackedTrainer(pruned_net(normalize=MNIST), lr=1e-2)
    b = _kernels.StackedTrainer(pruned_net(normalize=MNIST), lr=1e-2)
    pixels = a.inputs(x)
    for _ in range(3):
        assert torch.equal(a.forward(pixels, y, batch), b.forward(x, y, batch))
        a.backward(torch.ones(3))
        b.backward(torch.ones(3))
    assert torch.equal(a.weight_in, b.weight_in) and torch.equal(a.edges, b.edges)


# -- the hidden layers and the output ------------------------------------------------------
def hidden_trainer(copies=3, per_copy=False):
    dag = graphs.to_dag(graphs.watts_strogatz(30, 2, 0.6, seed=4))
    net = SparseDAGNet(dag, n_in=12, n_out=3, copies=copies)
    initialize(net, ["he_uniform", "glorot_normal", "uniform"][:copies], seed=1)
    if per_copy:
        pruning.prune_random(net, 0.3, seed=7, per_copy=True)
    return _kernels.StackedTrainer(net, lr=1e-2)


def unit_buffers(trainer, b, ld, seed):
    """units with row 0 = 1 and ReLU'd input rows (the rest NaN: written before read), and
    grads with the logits' rows only (the rest NaN)."""
    g = torch.Generator().manual_seed(seed)
    units = torch.full((trainer.n_rows, ld), float("nan"))
    units[0] = 1.0
    units[1 : trainer.row[1]] = torch.randn(trainer.row[1] - 1, ld, generator=g).relu()
    grads = torch.full((trainer.n_rows, ld), float("nan"))
    grads[trainer.row[-2] :] = torch.randn(trainer.n_rows - trainer.row[-2], ld, generator=g)
    return units, grads


def run_hidden(trainer, units, grads, b):
    ld = units.shape[1]
    grad_w = torch.full_like(trainer.edges, float("nan"))
    native.hidden_forward(
        units.data_ptr(), ld, b, trainer.row[1], trainer.n_rows, trainer.row[-2],
        trainer._crow.data_ptr(), trainer._col.data_ptr(), trainer.edges.data_ptr(),
    )  # fmt: skip
    native.hidden_backward(
        units.data_ptr(), grads.data_ptr(), ld, b, trainer.row[1], trainer.n_rows,
        trainer.hidden_rows, trainer._crow.data_ptr(), trainer._col.data_ptr(),
        trainer.edges.data_ptr(), trainer._crow_t.data_ptr(), trainer._col_t.data_ptr(),
        trainer._transpose.data_ptr(), grad_w.data_ptr(),
    )  # fmt: skip
    return grad_w


def documented_hidden(trainer, units, grads, b):
    """``_native.c``'s order for the hidden layers, one float32 operation at a time."""
    f = np.float32
    u, g = units[:, :b].numpy().copy(), grads[:, :b].numpy().copy()
    crow, col, w = trainer._crow.numpy(), trainer._col.numpy(), trainer.edges.numpy()
    crow_t, col_t, perm = (t.numpy() for t in (trainer._crow_t, trainer._col_t, trainer._transpose))
    first = trainer.row[1]
    for r in range(first, trainer.n_rows):
        a = np.zeros(b, dtype=f)
        for e in range(crow[r - first], crow[r - first + 1]):
            a = a + w[e] * u[col[e]]
        u[r] = np.where(a > 0, a, f(0)) if r < trainer.row[-2] else a
    for s in range(trainer.hidden_rows - 1, 0, -1):
        a = np.zeros(b, dtype=f)
        for e in range(crow_t[s], crow_t[s + 1]):
            a = a + w[perm[e]] * g[col_t[e]]
        g[s] = np.where(u[s] > 0, a, f(0))
    full = b // 16 * 16
    grad_w = np.empty(len(w), dtype=f)
    for t in range(first, trainer.n_rows):
        for e in range(crow[t - first], crow[t - first + 1]):
            lanes = np.zeros(16, dtype=f)
            for q in range(0, full, 16):
                lanes = lanes + g[t, q : q + 16] * u[col[e], q : q + 16]
            s8 = lanes[:8] + lanes[8:]
            s4 = s8[:4] + s8[4:]
            s2 = s4[:2] + s4[2:]
            v = s2[0] + s2[1]
            for j in range(full, b):
                v = v + g[t, j] * u[col[e], j]
            grad_w[e] = v
    return u, g, grad_w


# b: the tail alone, one block of 16, blocks of 16 and a tail, one of 128, all three kinds;
# ld > b: the rows are strided
@pytest.mark.parametrize(("b", "ld"), [(1, 1), (7, 7), (16, 16), (40, 43), (128, 128), (150, 150)])
@pytest.mark.parametrize("per_copy", [False, True])
def test_hidden_layers_follow_their_documented_order_bit_for_bit(b, ld, per_copy):
    trainer = hidden_trainer(per_copy=per_copy)
    col, crow, first = trainer._col.numpy(), trainer._crow.numpy(), trainer.row[1]
    for r in range(trainer.n_rows - first):  # the documented order: sources ascending
        assert np.all(np.diff(col[crow[r] : crow[r + 1]]) > 0)
    units, grads = unit_buffers(trainer, b, ld, seed=b)
    expected_units, expected_grads, expected_w = documented_hidden(trainer, units, grads, b)
    grad_w = run_hidden(trainer, units, grads, b)
    assert np.array_equal(units[:, :b].numpy(), expected_units)
    assert np.array_equal(grads[1:, :b].numpy(), expected_grads[1:])  # row 0 has no gradient
    assert np.array_equal(grad_w.numpy(), expected_w)
    if ld > b:  # the columns past b are not touched
        assert torch.isnan(units[trainer.row[1] :, b:]).all()


def test_hidden_layers_equal_the_dense_products():
    """Against the model's own layers in float64: its forward and autograd's gradients."""
    trainer = hidden_trainer(per_copy=True)
    net, b = trainer.net, 128
    units, grads = unit_buffers(trainer, b, b, seed=3)
    expected, g = units.double().clone(), grads.double().clone()
    expected[trainer.row[1] :] = 0.0  # NaN until written: 0 * NaN would spread
    g[: trainer.hidden_rows] = 0.0
    grad_w = run_hidden(trainer, units, grads, b)
    # dense float64: the forward row by row from a dense matrix of the edges
    n, first = trainer.n_rows, trainer.row[1]
    dense = torch.zeros(n, n, dtype=torch.float64)
    crow, col = trainer._crow, trainer._col
    rows = torch.repeat_interleave(torch.arange(first, n), crow.diff())
    dense[rows, col] = trainer.edges.double()
    for r in range(first, n):
        value = dense[r] @ expected
        expected[r] = value.clamp_min(0) if r < trainer.row[-2] else value
    np.testing.assert_allclose(units[first:].double(), expected[first:], rtol=0, atol=1e-5)
    for s in range(trainer.hidden_rows - 1, 0, -1):
        g[s] = (dense[s + 1 :, s] @ g[s + 1 :]) * (expected[s] > 0)
    np.testing.assert_allclose(grads[1:].double(), g[1:], rtol=0, atol=1e-5)
    edge_grads = (g @ expected.T)[rows, col]
    np.testing.assert_allclose(grad_w.double(), edge_grads, rtol=0, atol=1e-4)
    assert net is trainer.net


@pytest.mark.parametrize("make", [small_net, pruned_net])
def test_a_stacked_copy_trains_as_it_would_alone_to_the_bit(make):
    data = mnist_like()
    stacked = make(copies=3)
    stacked.normalize = MNIST
    singles = [stacked.copy(k) for k in range(3)]
    fit(stacked, data, epochs=2, batch_size=32, seed=5)
    for k, single in enumerate(singles):
        fit(single, data, epochs=2, batch_size=32, seed=5)
        for (name, a), b in zip(stacked.named_parameters(), single.parameters()):
            assert torch.equal(a[k : k + 1], b), name
