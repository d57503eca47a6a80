"""The training kernels' compiled input layer (``_native.c``, used by ``structrob._kernels``).

With the compiled module built, a float32 :class:`~structrob._kernels.StackedTrainer` computes
its input layer as a sparse product over the non-zero pixels plus one dense term per unit
(:func:`~structrob._kernels.sparse_input_applies`). Checked here: every value against the
documented order of operations, computed independently term by term in numpy float32 (so the
bits are the same on every CPU); against the dense float64 product; a copy's values do not
depend on the copies stacked with it; and training with it equals the dense path it replaces
to float rounding (and autograd's training: ``tests/test_train.py``, on pixels with zeros).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from structrob import _compiled, _kernels, graphs
from structrob.initialization import initialize
from structrob.model import SparseDAGNet
from structrob.train import fit
from tests.test_train import pruned_net, toy_data

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
    native.input_forward(
        x.data_ptr(), n_in, batch.data_ptr(), b, mean, std, wt.data_ptr(), R, padded,
        bias.data_ptr(), units.data_ptr(), b, work.data_ptr(),
    )  # fmt: skip
    return units, work, padded


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
    with pytest.raises(ValueError, match="multiple of 16"):
        native.input_forward(
            x.data_ptr(), 4, batch.data_ptr(), 3, 0.0, 1.0, wt.data_ptr(), 5, 20,
            bias.data_ptr(), units.data_ptr(), 3, work.data_ptr(),
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
        assert not _kernels.sparse_input_applies(torch.float32)
        assert not _kernels.StackedTrainer(copy.deepcopy(dense), lr=1e-3).sparse_input
        fit(dense, data, epochs=2, batch_size=32, seed=3)
    for (name, a), b in zip(net.named_parameters(), dense.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    assert not _kernels.sparse_input_applies(torch.float64)


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
    with pytest.raises(TypeError, match="int64"):
        trainer.forward(data.train_x, data.train_y, torch.arange(4, dtype=torch.int32))
