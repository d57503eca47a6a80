"""Tests for per-copy masks: every copy of a stacked model pruned with its own random masks.

The reference for copy k is always a model that never had per-copy masks: a single-copy (or
shared-mask stacked) network whose shared masks are copy k's, built by ``remove_edges``.
"""

import types

import pytest
import torch

from structrob import attacks, graphs, pruning
from structrob.initialization import _fans
from structrob.model import SparseDAGNet, initialize
from structrob.seeds import derive_seed
from structrob.train import fit
from tests.nets import randomize

WIDTHS = [5, 7, 4]


def per_copy_net(copies=3, fraction=0.4, seed=3, n_in=6, n_out=3, dtype=torch.float64):
    """A dense layered net, randomised, each copy pruned with its own random masks."""
    dag = pruning.dense_layered_dag(WIDTHS)
    net = randomize(SparseDAGNet(dag, n_in=n_in, n_out=n_out, copies=copies).to(dtype), seed=1)
    removed = pruning.prune_random(net, fraction, seed=seed, per_copy=True)
    return dag, net, removed


def single_reference(dag, net, k, removed_k):
    """A fresh single-copy model with copy k's parameters and shared masks minus removed_k."""
    single = SparseDAGNet(dag, n_in=net.n_in, n_out=net.n_out, normalize=net.normalize)
    single = single.to(net.weight_in.dtype)
    with torch.no_grad():
        for (name, p), (other, q) in zip(single.named_parameters(), net.named_parameters()):
            assert name == other
            p.copy_(q[k : k + 1])
    single.remove_edges(removed_k)
    return single


def test_each_copy_equals_a_single_model_with_its_masks_logits_and_gradients():
    dag, net, removed = per_copy_net()
    assert net.per_copy_masks and len({tuple(r) for r in removed}) == 3
    g = torch.Generator().manual_seed(0)
    x = torch.rand(9, 6, generator=g, dtype=torch.float64)
    xk = torch.rand(3, 9, 6, generator=g, dtype=torch.float64)
    out, out_k = net(x), net(xk)
    probe = torch.randn(out.shape, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad((out * probe).sum() + (out_k * probe).sum(), list(net.parameters()))
    with torch.no_grad():
        sparse, sparse_k = net(x), net(xk)  # inference path: CSR over each copy's own edges
    for k in range(3):
        single = single_reference(dag, net, k, removed[k])
        ref, ref_k = single(x), single(xk[k])
        torch.testing.assert_close(out[k], ref, rtol=0, atol=1e-12)
        torch.testing.assert_close(out_k[k], ref_k, rtol=0, atol=1e-12)
        torch.testing.assert_close(sparse[k], ref.detach(), rtol=0, atol=1e-12)
        torch.testing.assert_close(sparse_k[k], ref_k.detach(), rtol=0, atol=1e-12)
        want = torch.autograd.grad(
            (ref * probe[k]).sum() + (ref_k * probe[k]).sum(), list(single.parameters())
        )
        for (name, _), a, b in zip(net.named_parameters(), grads, want):
            torch.testing.assert_close(a[k], b[0], rtol=0, atol=1e-12, msg=name)
        # copy(k) carries copy k's (2-dim) masks
        torch.testing.assert_close(net.copy(k)(x), ref, rtol=0, atol=1e-12)
        assert all(m.dim() == 2 for m in net.copy(k).layer_masks())


def test_per_copy_masks_with_skip_edges_match_single_models():
    dag = graphs.to_dag(graphs.watts_strogatz(40, 3, 0.7, seed=2))
    net = randomize(SparseDAGNet(dag, n_in=5, n_out=3, copies=3).double(), seed=4).split_masks()
    edges = net.hidden_edges()
    removed = [edges[k::4] for k in range(3)]
    for k, edges_k in enumerate(removed):
        net.remove_edges(edges_k, copy=k)
    x = torch.rand(4, 5, dtype=torch.float64)
    out = net(x)
    for k in range(3):
        assert set(net.hidden_edges(copy=k)) == set(edges) - set(removed[k])
        torch.testing.assert_close(
            out[k], single_reference(dag, net, k, removed[k])(x), rtol=0, atol=1e-12
        )


def test_masked_weights_stay_exactly_zero_through_fit():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(120, 6, generator=g)
    data = types.SimpleNamespace(train_x=x, train_y=(x.sum(1) > 3).long())
    dag, net, removed = per_copy_net(dtype=torch.float32)
    initialize(net, ["he_normal", "uniform", "glorot_normal"], seed=2)
    fit(net, data, epochs=2, batch_size=20, seed=0)
    net(x).sum().backward()
    for k in range(3):
        for u, v in removed[k]:
            l, i, j = net.edge_slot[(u, v)]
            weight, mask = getattr(net, f"weight_{l}"), getattr(net, f"mask_{l}")
            assert mask[k, i, j] == 0 and weight[k, i, j] == 0 and weight.grad[k, i, j] == 0
        for _, mask, weight, _ in net.hidden_blocks():
            assert torch.all(weight[k][mask[k] == 0] == 0)
            assert torch.all(weight[k][mask[k] == 1] != 0)  # the others trained, not frozen
    # an edge removed from copy 0 only keeps training in the copies that still have it
    only_0 = set(removed[0]) - set(removed[1])
    l, i, j = net.edge_slot[next(iter(only_0))]
    assert getattr(net, f"weight_{l}")[1, i, j] != 0


def test_prune_random_per_copy_counts_choices_and_seeds():
    dag = pruning.dense_layered_dag([6, 8, 5])
    net = SparseDAGNet(dag, n_in=4, n_out=3, copies=3)
    twin = SparseDAGNet(dag, n_in=4, n_out=3, copies=3)
    present = dag.number_of_edges()
    for step in range(5):
        before = [net.hidden_edges(copy=k) for k in range(3)]
        removed = pruning.prune_random(net, 0.25, seed=step, per_copy=True)
        assert removed == pruning.prune_random(twin, 0.25, seed=step, per_copy=True)
        expected = pruning.n_to_remove(present, 0.25)
        present -= expected
        for k in range(3):
            assert len(removed[k]) == len(set(removed[k])) == expected
            assert len(net.hidden_edges(copy=k)) == present
            assert not set(removed[k]) & set(net.hidden_edges(copy=k))
            # the choice: a permutation of copy k's present edges from derive_seed(step, k)
            generator = torch.Generator().manual_seed(derive_seed(step, k))
            order = torch.randperm(len(before[k]), generator=generator)[:expected]
            assert removed[k] == [before[k][i] for i in sorted(order.tolist())]
        assert removed[0] != removed[1] != removed[2] != removed[0]
        assert net.count_parameters() == net.count_parameters(copy=1)  # equal counts per copy
    assert pruning.prune_random(twin, 0.25, seed=9, per_copy=True) != pruning.prune_random(
        SparseDAGNet(dag, n_in=4, n_out=3, copies=3), 0.25, seed=8, per_copy=True
    )
    # copies now differ: the shared-mask questions need copy=k
    for ask in (net.hidden_edges, net.layer_masks, lambda: pruning.prune_random(net, 0.2, 0)):
        with pytest.raises(ValueError, match="copy=k"):
            ask()


def test_count_parameters_per_copy_equals_the_graph_formula_of_the_pruned_dag():
    _, net, _ = per_copy_net(fraction=0.2, seed=5)
    for k in range(3):
        hidden = pruning.hidden_dag(net, copy=k)
        assert pruning.cut_off_vertices(net, copy=k) == {"no_input": 0, "no_output": 0}
        assert net.count_parameters(copy=k) == graphs.count_parameters(hidden, n_in=6, n_out=3)
        assert sorted(hidden.edges) == sorted(net.hidden_edges(copy=k))
    net.remove_edges(net.hidden_edges(copy=2)[:3], copy=2)
    assert net.count_parameters(copy=2) == net.count_parameters(copy=0) - 3
    with pytest.raises(ValueError, match="copy=k"):
        net.count_parameters()


def test_cut_off_vertices_per_copy():
    net = SparseDAGNet(pruning.dense_layered_dag([2, 2, 2]), n_in=3, n_out=2, copies=2)
    net.split_masks().remove_edges([(0, 2), (1, 2)], copy=1)  # vertex 2 loses both inputs
    assert pruning.cut_off_vertices(net, copy=0) == {"no_input": 0, "no_output": 0}
    assert pruning.cut_off_vertices(net, copy=1) == {"no_input": 1, "no_output": 0}
    assert pruning.hidden_dag(net, copy=1).number_of_nodes() == 6


def test_linear_region_and_csr_layers_follow_each_copys_masks():
    _, net, _ = per_copy_net()
    x = torch.rand(5, 6, dtype=torch.float64)
    weight, bias = net.input_layer()
    pre0 = torch.einsum("bi,kni->kbn", x, weight.detach()) + bias.detach()[:, None]
    direction = torch.randn_like(pre0)
    logits, slope, reach = net.linear_region(pre0, direction)
    torch.testing.assert_close(logits, net(x).detach(), rtol=0, atol=1e-12)
    for k in range(3):
        # the CSR matrices of copy k hold exactly copy k's weights at its present edges
        for (matrix, b), mask, (reads, _, w, bias_l) in zip(
            net._csr_layers(k, torch.float64), net.layer_masks(k), net.hidden_blocks()
        ):
            dense = torch.zeros(matrix.shape, dtype=torch.float64)
            dense[:, reads] = (w[k] * mask).detach()
            torch.testing.assert_close(matrix.to_dense(), dense, rtol=0, atol=0)
            assert matrix.values().numel() == int(mask.count_nonzero())
            torch.testing.assert_close(b[:, 0], bias_l[k].detach(), rtol=0, atol=0)
        line = (pre0[k : k + 1], direction[k : k + 1])
        single_logits, single_slope, _ = net.copy(k).linear_region(*line)
        torch.testing.assert_close(logits[k], single_logits[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(slope[k], single_slope[0], rtol=0, atol=1e-12)
    s = torch.minimum(reach, torch.tensor(1.0))[..., None] / 2
    with torch.no_grad():
        inside = net.forward_from_input(pre0 + s * direction)
    torch.testing.assert_close(inside, logits + s * slope, rtol=0, atol=1e-10)


def test_attacks_on_a_per_copy_net_equal_attacking_each_copy():
    dag = pruning.dense_layered_dag([8, 6])
    net = SparseDAGNet(dag, copies=2)
    initialize(net, ["he_normal", "glorot_uniform"], seed=1)
    pruning.prune_random(net, 0.5, seed=2, per_copy=True)
    images = torch.rand(6, 784, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        labels = net(images)[0].argmax(-1)
    for attack in (attacks.FGSM(eps=0.2), attacks.ExactOnePixel(n_images=3)):
        stacked = attack(net, images, labels)
        for k in range(2):
            alone = attack(net.copy(k), images, labels)
            torch.testing.assert_close(stacked[k].adv, alone.adv)
            assert torch.equal(stacked[k].success, alone.success)


def test_state_dict_round_trip_adopts_the_saved_mask_layout():
    dag, net, removed = per_copy_net()
    x = torch.rand(4, 6, dtype=torch.float64)
    state = net.state_dict()
    assert state["mask_1"].shape == (3, 7, 5)
    fresh = SparseDAGNet(dag, n_in=6, n_out=3, copies=3).double()
    assert not fresh.per_copy_masks
    fresh.load_state_dict(state)  # 3-dim saved masks: the model is split on loading
    assert fresh.per_copy_masks
    assert all(fresh.hidden_edges(copy=k) == net.hidden_edges(copy=k) for k in range(3))
    torch.testing.assert_close(fresh(x), net(x), rtol=0, atol=0)
    # 2-dim saved masks merge a split model back to shared masks
    shared = SparseDAGNet(dag, n_in=6, n_out=3, copies=3).double()
    fresh.load_state_dict(shared.state_dict())
    assert not fresh.per_copy_masks and fresh.hidden_edges() == shared.hidden_edges()
    torch.testing.assert_close(fresh(x), shared(x), rtol=0, atol=0)
    # one copy's state dict loads into a fresh single-copy model (a K = 1 product may round
    # differently from the stacked one: equal to float64 rounding)
    single = SparseDAGNet(dag, n_in=6, n_out=3).double()
    single.load_state_dict(net.copy(2).state_dict())
    torch.testing.assert_close(single(x), net(x)[2], rtol=1e-12, atol=1e-15)
    with pytest.raises(RuntimeError, match="size mismatch"):
        SparseDAGNet(dag, n_in=6, n_out=3, copies=2).double().load_state_dict(state)


def test_initialize_uses_each_copys_own_fans():
    dag, net, removed = per_copy_net(fraction=0.5)
    initialize(net, ["he_uniform", "glorot_normal", "glorot_uniform"], seed=4)
    for k in range(3):
        reference = SparseDAGNet(dag, n_in=6, n_out=3, copies=3).double()
        reference.remove_edges(removed[k])  # shared masks equal to copy k's
        fan_in, fan_out = _fans(reference)
        assert (fan_in == _fans(net, k)[0]).all() and (fan_out == _fans(net, k)[1]).all()
        initialize(reference, ["he_uniform", "glorot_normal", "glorot_uniform"], seed=4)
        for (name, p), q in zip(net.named_parameters(), reference.parameters()):
            assert torch.equal(p[k], q[k]), name
    with pytest.raises(ValueError, match="copy=k"):
        _fans(net)


def test_split_masks_changes_no_result_and_is_idempotent():
    dag = graphs.to_dag(graphs.watts_strogatz(30, 2, 0.6, seed=1))
    shared = randomize(SparseDAGNet(dag, n_in=5, n_out=3, copies=2), seed=2)
    split = randomize(SparseDAGNet(dag, n_in=5, n_out=3, copies=2), seed=2).split_masks()
    assert split.split_masks() is split and split.mask_1.shape[0] == 2
    x = torch.rand(6, 5)
    a, b = shared(x), split(x)
    assert torch.equal(a, b)
    for p, q in zip(
        torch.autograd.grad(a.sum(), list(shared.parameters())),
        torch.autograd.grad(b.sum(), list(split.parameters())),
    ):
        assert torch.equal(p, q)
    with torch.no_grad():
        assert torch.equal(shared(x), split(x))
    assert split.hidden_edges() == shared.hidden_edges()
    assert (
        split.count_parameters()
        == shared.count_parameters()
        == graphs.count_parameters(dag, n_in=5, n_out=3)
    )
    one = SparseDAGNet(dag, n_in=5, n_out=3).split_masks()  # K = 1 splits too
    assert one.per_copy_masks and one.mask_1.shape[0] == 1


def test_remove_edges_from_one_copy_needs_split_masks_and_a_valid_index():
    net = SparseDAGNet(pruning.dense_layered_dag([2, 2]), n_in=3, n_out=2, copies=2)
    with pytest.raises(ValueError, match="split_masks"):
        net.remove_edges([(0, 2)], copy=0)
    net.split_masks()
    for bad in (2, -1, True):
        with pytest.raises(IndexError):
            net.remove_edges([(0, 2)], copy=bad)
    with pytest.raises(KeyError):
        net.remove_edges([(2, 0)], copy=1)
    net.remove_edges([(0, 2)], copy=1)
    assert net.hidden_edges(copy=0) == [(0, 2), (1, 2), (0, 3), (1, 3)]
    assert net.hidden_edges(copy=1) == [(1, 2), (0, 3), (1, 3)]
    assert net.weight_1[0, 0, 0] != 0 and net.weight_1[1, 0, 0] == 0
