"""Tests for structrob.train: stacked training, failure isolation, metrics."""

import copy
import types

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from structrob import _kernels, graphs, pruning
from structrob.model import SparseDAGNet, initialize
from structrob.train import _fit, evaluate, fit, macro_f1, predict


def toy_data(n=256, n_in=12, seed=0, zeros=0.0):
    """Pixels in [0, 1]; those below ``zeros`` set to exactly 0 (MNIST's are 80 % zero)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, n_in, generator=g)
    y = (x[:, :3].sum(1) > 1.5).long() + (x[:, 3] > 0.5).long()
    x[x < zeros] = 0.0
    return types.SimpleNamespace(train_x=x, train_y=y, test_x=x, test_y=y)


def small_net(copies=3, seed=0):
    dag = graphs.to_dag(graphs.watts_strogatz(24, 2, 0.7, seed=1))
    net = SparseDAGNet(dag, n_in=12, n_out=3, copies=copies, normalize=None)
    return initialize(net, ["glorot_uniform", "he_normal", "normal"][:copies], seed=seed)


def test_stacked_training_equals_training_each_copy_alone():
    data = toy_data()
    stacked = small_net(copies=3)
    singles = [stacked.copy(k) for k in range(3)]
    fit(stacked, data, epochs=2, batch_size=32, seed=5)
    for k, single in enumerate(singles):
        fit(single, data, epochs=2, batch_size=32, seed=5)
        for (name, a), b in zip(stacked.named_parameters(), single.parameters()):
            torch.testing.assert_close(a[k : k + 1], b, rtol=1e-4, atol=1e-5, msg=name)


def pruned_net(copies=3, seed=0, normalize=None, dtype=torch.float32):
    """A small stacked net whose copies were pruned apart (per-copy masks)."""
    dag = graphs.to_dag(graphs.watts_strogatz(30, 2, 0.6, seed=4))
    net = SparseDAGNet(dag, n_in=12, n_out=3, copies=copies, normalize=normalize).to(dtype)
    initialize(net, ["he_uniform", "glorot_normal", "uniform"][:copies], seed=seed)
    pruning.prune_random(net, 0.3, seed=7, per_copy=True)
    return net


@pytest.mark.parametrize("normalize", [None, (0.3, 0.25)])
@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("zeros", [0.0, 0.6])
def test_kernels_train_as_autograd_does(normalize, split, zeros):
    """The hand-written training step equals the model's forward + autograd + fused Adam.

    With ``zeros`` about 60 % of the pixels are 0, which the compiled input layer skips.
    """
    data = toy_data(n=200, zeros=zeros)  # the last batch of each epoch holds 8 images
    if split:
        net = pruned_net(normalize=normalize)
        assert net.per_copy_masks
    else:
        net = small_net()
        net.normalize = normalize
    reference = copy.deepcopy(net)
    assert _kernels.supports(net, torch.device("cpu"))
    # float32: the compiled sparse input layer where the module is built
    sparse = _kernels.StackedTrainer(copy.deepcopy(net), lr=1e-2).compiled
    assert sparse == _kernels.compiled_applies(torch.float32)
    history = _fit(net, data, 3, 32, 1e-2, 5, False, kernels=True)
    expected = _fit(reference, data, 3, 32, 1e-2, 5, False, kernels=False)
    for h, e in zip(history, expected):
        np.testing.assert_allclose(h["loss"], e["loss"], rtol=1e-5)
    for (name, a), b in zip(net.named_parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    for name, buffer in net.named_buffers():
        assert torch.equal(buffer, dict(reference.named_buffers())[name]), name


def _edge_case_nets():
    empty = nx.DiGraph()
    empty.add_nodes_from(range(4))
    chain = nx.DiGraph([(3, 2), (2, 1)])
    chain.add_node(0)  # isolated: with sinks="last" it reads nothing and feeds the output
    bare = pruned_net()
    for step in range(6):  # every hidden edge of every copy removed
        pruning.prune_random(bare, 0.9, seed=step, per_copy=True)
    assert all(not bare.hidden_edges(copy=k) for k in range(3))
    return {
        "no edges": SparseDAGNet(empty, n_in=12, n_out=3, copies=2, normalize=None),
        "sinks last": SparseDAGNet(chain, n_in=12, n_out=3, copies=2, sinks="last"),
        "all pruned": bare,
    }


@pytest.mark.parametrize("case", ["no edges", "sinks last", "all pruned"])
def test_kernels_on_degenerate_networks(case):
    net = _edge_case_nets()[case]
    initialize(net, ["he_uniform", "normal", "uniform"][: net.copies], seed=1)
    reference = copy.deepcopy(net)
    _fit(net, toy_data(n=100), 2, 32, 1e-2, 0, False, kernels=True)
    _fit(reference, toy_data(n=100), 2, 32, 1e-2, 0, False, kernels=False)
    for (name, a), b in zip(net.named_parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_kernels_float64_match_autograd_closely():
    data = toy_data(n=96)
    net = pruned_net(dtype=torch.float64, normalize=(0.5, 0.2))
    reference = copy.deepcopy(net)
    _fit(net, data, 2, 32, 1e-3, 1, False, kernels=True)
    _fit(reference, data, 2, 32, 1e-3, 1, False, kernels=False)
    for (name, a), b in zip(net.named_parameters(), reference.parameters()):
        assert a.dtype == torch.float64
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=name)


def test_kernels_leave_masked_weights_untouched():
    """Masked entries are not trained (nor read): whatever they hold stays as it was."""
    net = pruned_net()
    with torch.no_grad():
        for _, mask, weight, _ in net.hidden_blocks():
            weight.add_((1 - mask) * 7.0)  # junk where the masks are 0
    before = [w.detach().clone() for _, _, w, _ in net.hidden_blocks()]
    reference = copy.deepcopy(net)
    fit(net, toy_data(), epochs=1, batch_size=64, seed=0)
    _fit(reference, toy_data(), 1, 64, 1e-3, 0, False, kernels=False)
    for (_, mask, weight, _), (_, _, expected, _), old in zip(
        net.hidden_blocks(), reference.hidden_blocks(), before
    ):
        assert torch.equal(weight[mask == 0], old[mask == 0])
        torch.testing.assert_close(weight, expected, rtol=1e-4, atol=1e-5)


def test_stacked_pruned_copies_train_as_each_alone():
    data = toy_data()
    stacked = pruned_net()
    singles = [stacked.copy(k) for k in range(3)]
    fit(stacked, data, epochs=2, batch_size=32, seed=3)
    for k, single in enumerate(singles):
        assert not single.per_copy_masks
        fit(single, data, epochs=2, batch_size=32, seed=3)
        for (name, a), b in zip(stacked.named_parameters(), single.parameters()):
            torch.testing.assert_close(a[k : k + 1], b, rtol=1e-4, atol=1e-5, msg=name)


def test_kernels_apply_only_where_they_can():
    cpu = torch.device("cpu")
    assert _kernels.supports(small_net(), cpu)
    assert not _kernels.supports(nn.Linear(3, 2), cpu)
    assert not _kernels.supports(small_net(), torch.device("cuda"))
    frozen = small_net()
    frozen.bias_out.requires_grad_(False)
    assert not _kernels.supports(frozen, cpu)
    # a module that is not a SparseDAGNet still trains, through autograd
    history = fit(nn.Linear(12, 3), toy_data(), epochs=2, batch_size=64)
    assert history[0]["loss"][1] < history[0]["loss"][0]


def test_fit_is_seeded_and_learns():
    data = toy_data()
    a, b, c = small_net(), small_net(), small_net()
    before = evaluate(a, data.test_x, data.test_y)
    ha = fit(a, data, epochs=5, batch_size=32, seed=1)
    fit(b, data, epochs=5, batch_size=32, seed=1)
    fit(c, data, epochs=5, batch_size=32, seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    after = evaluate(a, data.test_x, data.test_y)
    for h, m0, m1 in zip(ha, before, after):
        assert h["loss"][-1] < h["loss"][0]
        assert m1["accuracy"] > m0["accuracy"]
        assert not h["failed"]


def test_non_finite_copy_is_stopped_and_others_train_on():
    data = toy_data()
    net = small_net(copies=3)
    with torch.no_grad():
        net.weight_out[1].fill_(float("inf"))
    reference = small_net(copies=3)
    history = fit(net, data, epochs=2, batch_size=32, seed=0)
    fit(reference, data, epochs=2, batch_size=32, seed=0)
    assert [h["failed"] for h in history] == [False, True, False]
    assert "non-finite" in history[1]["error"]
    for k in (0, 2):
        for (name, a), b in zip(net.named_parameters(), reference.parameters()):
            torch.testing.assert_close(a[k], b[k], msg=name)
    # the stopped copy keeps the weights it had when it failed (Adam momentum cannot move it)
    assert torch.equal(net.weight_in[1], small_net(copies=3).weight_in[1])


def test_fit_validates_arguments():
    with pytest.raises(ValueError, match="epochs"):
        fit(small_net(), toy_data(), epochs=0)
    with pytest.raises(ValueError, match="lr"):
        fit(small_net(), toy_data(), lr=0.0)


def test_macro_f1_against_hand_computation():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    p = np.where(rng.random(200) < 0.7, y, rng.integers(0, 4, 200))
    scores = []
    for c in range(4):
        tp = np.sum((p == c) & (y == c))
        fp = np.sum((p == c) & (y != c))
        fn = np.sum((p != c) & (y == c))
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        scores.append(2 * precision * recall / (precision + recall))
    assert macro_f1(torch.tensor(p), torch.tensor(y), 4) == pytest.approx(
        np.mean(scores), abs=1e-12
    )
    # a class never predicted nor present scores 0
    assert macro_f1(torch.tensor([0, 1]), torch.tensor([0, 1]), 3) == pytest.approx(2 / 3)


def test_evaluate_and_predict_per_copy():
    data = toy_data()
    net = small_net(copies=2)
    logits = predict(net, data.test_x, batch_size=50)
    assert logits.shape == (2, 256, 3)
    metrics = evaluate(net, data.test_x, data.test_y, batch_size=70)
    for k in range(2):
        acc = float((logits[k].argmax(1) == data.test_y).double().mean())
        assert metrics[k]["accuracy"] == pytest.approx(acc)
    single = evaluate(nn.Linear(12, 3), data.test_x, data.test_y)
    assert len(single) == 1 and set(single[0]) == {"accuracy", "f1_macro"}


@pytest.mark.slow
def test_study_range_network_reaches_study_f1(mnist):
    """The paper's recipe (30 epochs, Adam 1e-3, batch 128) on a study-range graph: F1 >= 96.5%."""
    dag = graphs.to_dag(graphs.watts_strogatz(500, 2, 0.9, seed=3))
    assert 50_000 <= graphs.count_parameters(dag) <= 91_000
    net = initialize(SparseDAGNet(dag), "he_uniform", seed=0)
    fit(net, mnist, epochs=30, batch_size=128, lr=1e-3, seed=0)
    (metrics,) = evaluate(net, mnist.test_x, mnist.test_y)
    print(metrics)
    assert metrics["f1_macro"] >= 0.965
