"""Tests for structrob.model: the sparse DAG network against independent references."""

import math

import networkx as nx
import pytest
import torch
from torch import nn

from structrob import graphs, pruning
from structrob.initialization import _fans
from structrob.model import INIT_SCHEMES, RegionTracer, SparseDAGNet, initialize
from tests.nets import knotted_net, randomize


def layered_dense_dag(widths):
    """Fully connected layered DAG with consecutive vertex ids per layer (first layer first)."""
    dag, ids, start = nx.DiGraph(), [], 0
    for width in widths:
        ids.append(list(range(start, start + width)))
        start += width
    dag.add_nodes_from(range(start))
    for a, b in zip(ids, ids[1:]):
        dag.add_edges_from((u, v) for u in a for v in b)
    return dag, ids


def unit_by_unit(net, x):
    """Reference forward: one unit at a time, straight from the formula, with autograd."""
    weight, bias = net.input_layer()
    pre0 = torch.einsum("bi,kni->kbn", x, weight) + bias[:, None]
    z = {i: pre0[:, :, i].clamp(min=0) for i in range(net.offsets[1])}
    for l, (reads, mask, w, b) in enumerate(net.hidden_blocks(), start=1):
        for r in range(mask.shape[0]):
            acc = b[:, r][:, None].expand(net.copies, x.shape[0])
            for j in range(mask.shape[1]):
                if mask[r, j]:
                    acc = acc + w[:, r, j][:, None] * z[int(reads[j])]
            z[net.offsets[l] + r] = acc.clamp(min=0)
    sinks = torch.stack([z[int(i)] for i in net.sink_units], -1)
    return torch.einsum("kbs,kos->kbo", sinks, net.weight_out) + net.bias_out[:, None]


def test_dense_layered_graph_equals_sequential_of_linear_relu():
    dag, ids = layered_dense_dag([5, 7, 4])
    net = randomize(SparseDAGNet(dag, n_in=6, n_out=3, normalize=None).double())
    seq = nn.Sequential(
        nn.Linear(6, 5),
        nn.ReLU(),
        nn.Linear(5, 7),
        nn.ReLU(),
        nn.Linear(7, 4),
        nn.ReLU(),
        nn.Linear(4, 3),
    ).double()
    unit = net.index
    with torch.no_grad():
        seq[0].weight.copy_(net.weight_in[0][[unit[v] for v in ids[0]]])
        seq[0].bias.copy_(net.bias_in[0][[unit[v] for v in ids[0]]])
        for layer, linear in ((1, seq[2]), (2, seq[4])):
            reads, _, w, b = net.hidden_blocks()[layer - 1]
            rows = [unit[v] - net.offsets[layer] for v in ids[layer]]
            column = {int(u): j for j, u in enumerate(reads)}
            cols = [column[unit[v]] for v in ids[layer - 1]]
            linear.weight.copy_(w[0][rows][:, cols])
            linear.bias.copy_(b[0][rows])
        sink_column = {int(u): j for j, u in enumerate(net.sink_units)}
        seq[6].weight.copy_(net.weight_out[0][:, [sink_column[unit[v]] for v in ids[2]]])
        seq[6].bias.copy_(net.bias_out[0])
    x = torch.rand(9, 6, dtype=torch.float64)
    torch.testing.assert_close(net(x), seq(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_graph_with_skip_edges_matches_unit_by_unit_reference(seed):
    dag = graphs.to_dag(graphs.watts_strogatz(40, 3, 0.7, seed=seed))
    dag.add_node(40)  # an isolated vertex: both source and sink
    net = randomize(SparseDAGNet(dag, n_in=7, n_out=4, copies=3).double(), seed=seed)
    assert net.n_layers > 3
    x = torch.rand(5, 7, dtype=torch.float64)
    out = net(x)
    ref = unit_by_unit(net, x)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    probe = torch.randn_like(out)
    params = list(net.parameters())
    got = torch.autograd.grad((out * probe).sum(), params)
    want = torch.autograd.grad((ref * probe).sum(), params, allow_unused=True)
    for (name, _), a, b in zip(net.named_parameters(), got, want):
        torch.testing.assert_close(
            a, torch.zeros_like(a) if b is None else b, rtol=0, atol=1e-12, msg=name
        )


def test_one_relu_after_the_sum_not_per_branch():
    # 2 -> 1 -> 0 and skip 2 -> 0; weights chosen so that the skip branch is negative
    dag = nx.DiGraph([(2, 1), (1, 0), (2, 0)])
    net = SparseDAGNet(dag, n_in=1, n_out=1, normalize=None).double()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.weight_in.fill_(1.0)  # z2 = x
        (_, _, w1, _), (reads2, _, w2, _) = net.hidden_blocks()
        w1.fill_(1.0)  # z1 = z2
        column = {int(u): j for j, u in enumerate(reads2)}
        w2[0, 0, column[net.index[1]]] = 1.0
        w2[0, 0, column[net.index[2]]] = -3.0  # z0 = relu(z1 - 3 z2) = relu(-2x) = 0
        net.weight_out.fill_(1.0)
    assert float(net(torch.tensor([[1.0]])).detach()) == 0.0  # a per-branch ReLU would give 1


def test_gradcheck_in_float64():
    dag = graphs.to_dag(graphs.watts_strogatz(12, 2, 0.5, seed=4))
    net = randomize(SparseDAGNet(dag, n_in=3, n_out=2, copies=2).double(), seed=3)
    x = torch.rand(3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: net(x), (x,))


def test_parameter_count_equals_graph_formula():
    for seed, nei in [(0, 2), (1, 4), (2, 2)]:
        dag = graphs.to_dag(graphs.watts_strogatz(300, nei, 0.8, seed=seed))
        net = SparseDAGNet(dag, copies=2)
        assert net.count_parameters() == graphs.count_parameters(dag)
        trainable_unmasked = sum(
            int((p[0] != 0).sum()) for n, p in net.named_parameters() if n.startswith("weight")
        )
        trainable_unmasked += sum(
            p[0].numel() for n, p in net.named_parameters() if n.startswith("bias")
        )
        assert trainable_unmasked == graphs.count_parameters(dag)


def test_stacked_copies_equal_single_models():
    dag = graphs.to_dag(graphs.watts_strogatz(30, 2, 0.9, seed=1))
    net = randomize(SparseDAGNet(dag, n_in=8, n_out=3, copies=4))
    x = torch.rand(6, 8)
    out = net(x)
    assert out.shape == (4, 6, 3)
    per_copy_input = torch.rand(4, 6, 8)
    per_copy = net(per_copy_input)
    for k in range(4):
        single = net.copy(k)
        assert single.copies == 1
        torch.testing.assert_close(single(x), out[k], rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(single(per_copy_input[k]), per_copy[k], rtol=1e-6, atol=1e-6)


def test_shapes_normalisation_and_input_layer():
    dag = graphs.to_dag(graphs.watts_strogatz(20, 2, 0.5, seed=0))
    net = randomize(SparseDAGNet(dag, copies=2).double())
    x = torch.rand(5, 1, 28, 28, dtype=torch.float64)
    out = net(x)
    assert out.shape == (2, 5, 10)
    # normalisation inside: same as an un-normalised model fed (x - mean) / std
    plain = SparseDAGNet(dag, copies=2, normalize=None).double()
    plain.load_state_dict(net.state_dict())
    torch.testing.assert_close(plain((x.reshape(5, -1) - 0.1307) / 0.3081), out)
    weight, bias = net.input_layer()
    pre0 = torch.einsum("bi,kni->kbn", x.reshape(5, -1), weight) + bias[:, None]
    torch.testing.assert_close(net.forward_from_input(pre0), out)
    single = net.copy(0)
    assert single(x).shape == (5, 10)
    with pytest.raises(ValueError, match="784 pixels"):
        net(torch.rand(5, 100))


def test_masks_are_buffers_in_state_dict():
    dag = graphs.to_dag(graphs.watts_strogatz(20, 2, 0.5, seed=0))
    net = SparseDAGNet(dag)
    state = net.state_dict()
    assert any(k.startswith("mask_") for k in state) and any(k.startswith("reads_") for k in state)
    assert not any(n.startswith("mask_") for n, _ in net.named_parameters())
    moved = net.double()
    assert all(mask.dtype == torch.float64 for _, mask, _, _ in moved.hidden_blocks())


def test_masked_weights_and_gradients_stay_exactly_zero_through_training():
    dag = graphs.to_dag(graphs.watts_strogatz(40, 2, 0.8, seed=2))
    net = SparseDAGNet(dag, n_in=10, n_out=3, copies=2)
    initialize(net, ["he_normal", "uniform"], seed=1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        x = torch.rand(16, 10, generator=g)
        y = torch.randint(0, 3, (16,), generator=g)
        loss = nn.functional.cross_entropy(net(x).transpose(1, 2), y.expand(2, -1))
        opt.zero_grad()
        loss.backward()
        for _, mask, weight, _ in net.hidden_blocks():
            assert torch.all(weight.grad[:, mask == 0] == 0)
        opt.step()
    for _, mask, weight, _ in net.hidden_blocks():
        assert torch.all(weight[:, mask == 0] == 0)
        assert torch.any(weight[:, mask == 1] != 0)


def test_remove_edges_zeroes_masks_and_weights():
    dag = graphs.to_dag(graphs.watts_strogatz(20, 2, 0.5, seed=0))
    net = randomize(SparseDAGNet(dag))
    edges = net.hidden_edges()
    assert sorted(edges) == sorted(dag.edges)
    net.remove_edges(edges[:5])
    assert net.hidden_edges() == edges[5:]
    assert net.count_parameters() == graphs.count_parameters(dag) - 5
    with pytest.raises(KeyError):
        net.remove_edges([(0, 19)])


def test_fans_follow_the_masks():
    dag, ids = layered_dense_dag([5, 7, 4])
    net = SparseDAGNet(dag, n_in=6, n_out=3)
    fan_in, fan_out = _fans(net)
    assert fan_in.tolist() == [6] * 5 + [5] * 7 + [7] * 4
    assert fan_out.tolist() == [7] * 5 + [4] * 7 + [3] * 4


@pytest.mark.parametrize("scheme", INIT_SCHEMES)
def test_initialisation_on_a_dense_graph_matches_torch_nn_init_scale(scheme):
    dag, _ = layered_dense_dag([400, 300])
    net = initialize(SparseDAGNet(dag, n_in=500, n_out=10), scheme, seed=0)
    w = net.hidden_blocks()[0][2][0].detach()  # a 300 x 400 block: fan_in 400, fan_out 300
    reference = torch.empty(300, 400)
    gain = math.sqrt(2)
    init = {
        "glorot_normal": lambda t: nn.init.xavier_normal_(t, gain=gain),
        "glorot_uniform": lambda t: nn.init.xavier_uniform_(t, gain=gain),
        "he_normal": lambda t: nn.init.kaiming_normal_(t, a=0, mode="fan_in", nonlinearity="relu"),
        "he_uniform": lambda t: nn.init.kaiming_uniform_(
            t, a=0, mode="fan_in", nonlinearity="relu"
        ),
        "normal": lambda t: nn.init.normal_(t, 0.0, 0.1),
        "uniform": lambda t: nn.init.uniform_(t, -0.1, 0.1),
    }[scheme]
    torch.manual_seed(0)
    init(reference)
    assert float(w.std()) == pytest.approx(float(reference.std()), rel=0.02)
    assert float(w.abs().max()) == pytest.approx(float(reference.abs().max()), rel=0.15)
    assert float(net.bias_in.detach().abs().sum()) == 0.0


def test_initialize_is_seeded_per_copy():
    dag = graphs.to_dag(graphs.watts_strogatz(20, 2, 0.5, seed=0))
    a = initialize(SparseDAGNet(dag, copies=3), ["normal", "he_uniform", "glorot_normal"], seed=7)
    b = initialize(SparseDAGNet(dag, copies=1), "he_uniform", seed=7)
    assert not torch.equal(a.weight_in[1], b.weight_in[0])  # copy 1 uses its own stream
    c = initialize(SparseDAGNet(dag, copies=3), ["normal", "he_uniform", "glorot_normal"], seed=7)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    with pytest.raises(ValueError, match="unknown initialisation"):
        initialize(a, "xavier", seed=0)
    with pytest.raises(ValueError, match="one per copy"):
        initialize(a, ["normal", "normal"], seed=0)


def test_deep_graph_hundreds_of_layers():
    dag = graphs.to_dag(graphs.watts_strogatz(500, 10, 0.5, seed=0))
    net = SparseDAGNet(dag, copies=2)
    assert net.n_layers > 100
    out = net(torch.rand(4, 784))
    out.sum().backward()
    assert torch.isfinite(out).all() and out.shape == (2, 4, 10)


@pytest.mark.parametrize("copies", [1, 3])
def test_sparse_inference_path_equals_the_training_path(copies):
    dag = graphs.to_dag(graphs.watts_strogatz(60, 3, 0.8, seed=5))
    net = randomize(SparseDAGNet(dag, n_in=9, n_out=4, copies=copies).double(), seed=2)
    x = torch.rand(11, 9, dtype=torch.float64)
    dense = net(x)  # parameters require grad: masked dense blocks
    assert dense.requires_grad
    with torch.no_grad():
        sparse = net(x)  # inference: CSR products over the real edges
    torch.testing.assert_close(sparse, dense.detach(), rtol=0, atol=1e-12)
    # the CSR structure follows the masks: pruning an edge changes the inference result
    net.remove_edges(net.hidden_edges()[:7])
    with torch.no_grad():
        pruned = net(x)
    torch.testing.assert_close(pruned, net(x).detach(), rtol=0, atol=1e-12)
    assert not torch.allclose(pruned, sparse)


def test_inference_follows_in_place_weight_updates_of_fused_adam():
    # fused Adam updates parameters without bumping their version: nothing may be cached on it
    net = SparseDAGNet(
        graphs.to_dag(graphs.watts_strogatz(60, 3, 0.8, seed=5)), n_in=9, n_out=4, copies=2
    )
    x = torch.rand(11, 9, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = net(x)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1, fused=True)
    net(x).sum().backward()
    optimizer.step()
    with torch.no_grad():
        after = net(x)
    torch.testing.assert_close(after, net(x).detach(), rtol=0, atol=1e-5)
    assert (after - before).abs().max() > 0.1


@pytest.mark.parametrize(
    "t, reach, value, slope",
    [
        (0.0, 0.25, 0.0, 0.0),
        (0.3, 0.2, 0.05, 1.0),
        (0.55, 7 / 12 - 0.55, 0.1, -3.0),
        (0.6, math.inf, 0.0, 0.0),
    ],
)
def test_linear_region_hand_worked_knots(t, reach, value, slope):
    net = knotted_net()
    pre0 = torch.tensor([[[t - 0.25, t - 0.5]]], dtype=torch.float64)
    logits, slopes, reaches = net.linear_region(pre0, torch.ones_like(pre0))
    assert float(reaches[0, 0]) == pytest.approx(reach, abs=1e-12)
    torch.testing.assert_close(
        logits[0, 0], torch.tensor([value, -value], dtype=torch.float64), rtol=0, atol=1e-12
    )
    torch.testing.assert_close(
        slopes[0, 0], torch.tensor([slope, -slope], dtype=torch.float64), rtol=0, atol=1e-12
    )


def activation_pattern(net, pre0):
    """Sign pattern [K, B, H] of every unit's pre-activation, one unit at a time (reference)."""
    pre = {i: pre0[:, :, i] for i in range(net.offsets[1])}
    for l, (reads, mask, w, b) in enumerate(net.hidden_blocks(), start=1):
        for r in range(mask.shape[0]):
            acc = b[:, r][:, None].expand_as(pre[0])
            for j in range(mask.shape[1]):
                if mask[r, j]:
                    acc = acc + w[:, r, j][:, None] * pre[int(reads[j])].clamp(min=0)
            pre[net.offsets[l] + r] = acc
    return torch.stack([pre[i] > 0 for i in range(net.n_hidden)], -1)


def test_linear_region_is_affine_up_to_the_first_pattern_change():
    dag = graphs.to_dag(graphs.watts_strogatz(30, 2, 0.6, seed=4))
    net = randomize(SparseDAGNet(dag, n_in=5, n_out=3, copies=2).double(), seed=3)
    g = torch.Generator().manual_seed(1)
    pre0 = torch.randn(2, 6, net.offsets[1], generator=g, dtype=torch.float64)
    direction = torch.randn(2, 6, net.offsets[1], generator=g, dtype=torch.float64)
    with torch.no_grad():
        logits, slope, reach = net.linear_region(pre0, direction)
        torch.testing.assert_close(logits, net.forward_from_input(pre0), rtol=0, atol=1e-12)
        assert torch.isfinite(reach).all() and (reach > 0).all()
        # a dense grid on [0, 2 reach]: the reference pattern is constant before reach and
        # has changed one grid step after it (reach is the first change, not a bound on it);
        # the affine form is exact before reach
        steps = torch.linspace(0, 2, 2001, dtype=torch.float64)
        for k in range(2):
            for b in range(6):
                s = steps * reach[k, b]
                line = pre0[k, b] + s[:, None] * direction[k, b]
                pattern = activation_pattern(net.copy(k), line[None])[0]
                inside = s < reach[k, b]
                assert (pattern[inside] == pattern[0]).all()
                assert not (pattern[~inside][1] == pattern[0]).all()
                exact = net.copy(k).forward_from_input(line[None])[0]
                torch.testing.assert_close(
                    exact[inside], logits[k, b] + s[inside, None] * slope[k, b], rtol=0, atol=1e-10
                )


def linear_region_per_call(net, pre0, direction):
    """``linear_region`` as it was before ``region_tracer`` (commit 119e07c): CSR layers built
    and buffers allocated on every call, one copy at a time. The bit-for-bit reference."""
    out = []
    for k in range(pre0.shape[0]):
        dtype, B, n0 = pre0.dtype, pre0.shape[1], net.offsets[1]
        units = pre0.new_empty(net.n_hidden, 2 * B)
        units[:n0, :B] = pre0[k].T
        units[:n0, B:] = direction[k].T
        nearest = pre0.new_zeros(B)

        def settle(rows, B=B, nearest=nearest):
            value = rows[:, :B]
            quotient = torch.div(rows[:, B:], value).nan_to_num_(
                nan=0.0, posinf=math.inf, neginf=-math.inf
            )
            torch.minimum(nearest, quotient.amin(0), out=nearest)
            rows.view(rows.shape[0], 2, B).mul_((value > 0).unsqueeze(1))

        settle(units[:n0])
        for l, (matrix, bias) in enumerate(net._csr_layers(k, dtype), start=1):
            start, stop = net.offsets[l], net.offsets[l + 1]
            torch.mm(matrix, units[:start], out=units[start:stop])
            units[start:stop, :B] += bias
            settle(units[start:stop])
        sinks = units.index_select(0, net.sink_units)
        weight_out = net.weight_out[k].detach().to(dtype)
        logits = torch.addmm(
            net.bias_out[k].detach().to(dtype).unsqueeze(1), weight_out, sinks[:, :B]
        ).T
        slope = (weight_out @ sinks[:, B:]).T
        out.append((logits, slope, torch.where(nearest < 0, -1 / nearest, math.inf)))
    return tuple(torch.stack(parts) for parts in zip(*out))


def bits(t):
    return t.view(torch.int64) if t.dtype == torch.float64 else t.view(torch.int32)


@pytest.mark.parametrize("per_copy", [False, True])
def test_region_tracer_is_bit_identical_to_the_per_call_linear_region(per_copy):
    # Pixel-line tracing reuses one tracer for hundreds of calls of changing widths; the
    # One-Pixel results of a running study must not move by a bit.
    dag = graphs.to_dag(graphs.watts_strogatz(60, 2, 0.9, seed=5))
    net = randomize(SparseDAGNet(dag, n_in=7, n_out=4, copies=3).double(), seed=2)
    if per_copy:
        net.split_masks()
        with torch.no_grad():
            for k in range(3):
                net.remove_edges(net.hidden_edges(copy=k)[k::4], copy=k)
    g = torch.Generator().manual_seed(0)
    trace = net.region_tracer(torch.float64)
    for B in (33, 128, 5, 128, 0, 64):  # grows, shrinks and grows the kept buffers
        pre0 = torch.randn(3, B, net.offsets[1], generator=g, dtype=torch.float64)
        direction = torch.randn(3, B, net.offsets[1], generator=g, dtype=torch.float64)
        pre0[:, ::7] = 0.0  # exact zeros: the 0/0 and -inf quotients
        direction[:, ::5, ::2] = 0.0
        expected = linear_region_per_call(net, pre0, direction)
        trace._scratch.fill_(math.nan)  # what a call leaves in its buffers is never read
        for got in (trace(pre0, direction), net.linear_region(pre0, direction)):
            for a, b in zip(got, expected):
                assert a.shape == b.shape and torch.equal(bits(a), bits(b))


def test_region_tracer_is_a_snapshot_and_checks_its_inputs():
    net = randomize(SparseDAGNet(_skip_dag(), n_in=3, n_out=2).double(), seed=1)
    pre0 = torch.rand(1, 4, net.offsets[1], dtype=torch.float64)
    trace = net.region_tracer(torch.float64)
    before = trace(pre0, pre0)
    with torch.no_grad():
        for _, _, weight, bias in net.hidden_blocks():  # in place, as an optimiser step
            weight.mul_(2)
            bias.add_(1)
        net.bias_out.add_(1)
    assert all(torch.equal(a, b) for a, b in zip(trace(pre0, pre0), before))
    assert not torch.equal(net.linear_region(pre0, pre0)[0], before[0])
    with pytest.raises(ValueError, match="float64"):
        trace(pre0.float(), pre0.float())
    with pytest.raises(ValueError, match="must both be"):
        trace(pre0, pre0[:, :2])


def test_frozen_layers_build_once_and_give_the_same_bits():
    dag = graphs.to_dag(graphs.watts_strogatz(40, 2, 0.8, seed=2))
    net = randomize(SparseDAGNet(dag, n_in=6, n_out=3, copies=2), seed=3)
    x = torch.rand(9, 6, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        plain = net(x)
        assert net._csr_layers(1, torch.float32) is not net._csr_layers(1, torch.float32)
        with net.frozen_layers():
            layers = net._csr_layers(1, torch.float32)
            assert net._csr_layers(1, torch.float32) is layers  # built once
            with net.frozen_layers():  # a nested block shares them
                assert net._csr_layers(1, torch.float32) is layers
                inner = net(x)
            assert net._csr_layers(1, torch.float32) is layers
            frozen = net(x)
        assert torch.equal(bits(inner), bits(plain)) and torch.equal(bits(frozen), bits(plain))
        # outside, the layers follow the weights again (updated in place, as by fused Adam)
        for _, _, weight, _ in net.hidden_blocks():
            weight.mul_(2)
        assert not torch.equal(net(x), plain)
        assert not hasattr(net, "_frozen_csr")


def test_sinks_last_model_matches_hand_count_and_isolated_unit_is_constant():
    dag = nx.DiGraph([(5, 4), (4, 3), (3, 2), (5, 1)])
    dag.add_node(0)  # isolated: with sinks="last" a constant unit relu(b) in the last layer
    net = SparseDAGNet(dag, sinks="last")
    assert net.count_parameters() == graphs.count_parameters(dag, sinks="last") == 834
    assert net.layer_sizes == [1, 1, 1, 3]
    assert net.weight_in.shape == (1, 1, 784)  # only vertex 5 reads the input
    last = net.hidden_blocks()[-1]
    row = net.index[0] - net.offsets[3]
    assert last[1][row].sum() == 0  # vertex 0 reads nothing: relu(bias), whatever the image
    assert int(net.sink_units.numel()) == 3


def _skip_dag() -> nx.DiGraph:
    # layer 0: 0..3 (width 4); layer 1: 4, 5 (width 2); layer 2: 6 (width 1), reading vertex 0
    # of layer 0 (a skip edge) and vertex 4 of layer 1; 5 is a sink in layer 1
    dag = nx.DiGraph([(0, 4), (1, 4), (2, 5), (3, 5), (0, 6), (4, 6)])
    return dag


def test_block_fans_are_layer_widths_by_hand():
    dag = _skip_dag()
    net = SparseDAGNet(dag, n_in=9, n_out=3, copies=4000, normalize=None)
    initialize(net, "he_uniform", seed=0, fans="block")
    # he_uniform bound sqrt(2) * sqrt(3 / fan_in), fan_in = width of the SOURCE layer
    bound = {4: math.sqrt(6 / 4), 2: math.sqrt(6 / 2), 9: math.sqrt(6 / 9), 3: math.sqrt(6 / 3)}
    (reads1, mask1, w1, _), (reads2, mask2, w2, _) = net.hidden_blocks()
    assert net.layer_sizes == [4, 2, 1]
    for column in range(w1.shape[2]):  # layer 1 reads layer 0 (width 4)
        observed = w1[:, :, column][:, mask1[:, column] > 0].abs()
        assert observed.max() <= bound[4] and observed.max() > 0.99 * bound[4]
    widths = {int(u): net.layer_sizes[0] if u < 4 else net.layer_sizes[1] for u in reads2}
    for column, unit in enumerate(reads2.tolist()):  # layer 2 reads one unit of each
        observed = w2[:, 0, column].abs()
        assert observed.max() <= bound[widths[unit]] and observed.max() > 0.99 * bound[widths[unit]]
    # input block: fan_in 9 (pixels); output block: fan_in = sinks (vertices 5 and 6)
    assert net.weight_in.abs().max() <= bound[9] and net.weight_in.abs().max() > 0.99 * bound[9]
    sinks_bound = math.sqrt(6 / 2)
    assert net.weight_out.abs().max() <= sinks_bound
    assert net.weight_out.abs().max() > 0.99 * sinks_bound
    # the sparse rule uses real degrees instead: vertex 6 has fan_in 2 on both of its columns,
    # so its weight from layer 0 reaches beyond the block bound sqrt(6 / 4)
    sparse = SparseDAGNet(dag, n_in=9, n_out=3, copies=4000)
    initialize(sparse, "he_uniform", fans="sparse")
    from_layer0 = sparse.weight_2.detach()[:, 0, reads2.tolist().index(0)].abs().max()
    assert from_layer0 > 1.1 * bound[4] and from_layer0 <= bound[2]


def test_glorot_block_fans_match_torch_init_on_a_dense_block():
    from structrob.pruning import dense_layered_dag

    dag = dense_layered_dag([30, 60])
    net = initialize(SparseDAGNet(dag, copies=300), "glorot_normal", seed=1, fans="block")
    reference = torch.empty(300, 60, 30)
    for k in range(300):
        nn.init.xavier_normal_(reference[k], gain=nn.init.calculate_gain("relu"))
    assert abs(float(net.weight_1.detach().std()) / float(reference.std()) - 1) < 0.02


def test_hidden_only_layers_and_normal_biases_follow_the_study_code():
    dag = _skip_dag()
    net = SparseDAGNet(dag, n_in=784, n_out=10, copies=500)
    initialize(net, "glorot_uniform", seed=3, fans="block", layers="hidden", bias="normal")
    # input and output layers: torch's nn.Linear default U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    for param, fan_in in ((net.weight_in, 784), (net.bias_in, 784), (net.weight_out, 2),
                          (net.bias_out, 2)):  # fmt: skip
        bound = 1 / math.sqrt(fan_in)
        assert param.abs().max() <= bound and param.abs().max() > 0.98 * bound
        assert abs(float(param.std()) / (bound / math.sqrt(3)) - 1) < 0.05
    hidden_biases = torch.cat([net.bias_1.flatten(), net.bias_2.flatten()])
    assert abs(float(hidden_biases.std()) - 0.1) < 0.01 and abs(float(hidden_biases.mean())) < 0.01
    # the defaults stay: zero biases, and the options change no weight of the default path
    a = initialize(SparseDAGNet(dag, copies=2), "he_normal", seed=5)
    b = initialize(SparseDAGNet(dag, copies=2), "he_normal", seed=5, bias="zeros", layers="all")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert float(a.bias_1.abs().sum()) == 0.0
    with pytest.raises(ValueError, match="fans"):
        initialize(a, "he_normal", fans="dense")


def _dense_and_csr(net):
    """Tracers of ``net`` on the dense and on the CSR path."""
    return RegionTracer(net, torch.float64, dense=True), RegionTracer(
        net, torch.float64, dense=False
    )


def _skipping_dense_dag():
    """Dense blocks, the last reading layers 0 and 2 but not 1 (unit ids not a contiguous run)."""
    dag = pruning.dense_layered_dag([5, 6, 4])
    dag.add_edges_from((u, v) for u in range(11, 15) for v in range(15, 18))
    dag.add_edges_from((u, v) for u in range(5) for v in range(15, 18))
    return dag


@pytest.mark.parametrize("case", ["unpruned", "pruned", "per_copy", "skipping"])
def test_region_tracer_dense_path_equals_the_csr_path_to_rounding(case):
    dag = _skipping_dense_dag() if case == "skipping" else pruning.dense_layered_dag([6, 9, 8, 5])
    net = randomize(SparseDAGNet(dag, n_in=7, n_out=4, copies=3).double(), seed=3)
    if case in ("pruned", "per_copy"):
        pruning.prune_random(net, 0.3, seed=1, per_copy=case == "per_copy")
    trace, csr = _dense_and_csr(net)
    assert trace.dense == [True] * 3 and csr.dense == [False] * 3
    sources = [reads for _, _, reads in trace.layers[0]]
    if case == "skipping":  # the last layer gathers the units it reads
        assert isinstance(sources[-1], torch.Tensor) and isinstance(sources[0], slice)
    else:
        assert all(isinstance(reads, slice) for reads in sources)
    g = torch.Generator().manual_seed(0)
    for B in (33, 128, 5, 0):
        pre0 = torch.randn(3, B, net.offsets[1], generator=g, dtype=torch.float64)
        direction = torch.randn(3, B, net.offsets[1], generator=g, dtype=torch.float64)
        pre0[:, ::7] = 0.0
        direction[:, ::5, ::2] = 0.0
        got, expected = trace(pre0, direction), csr(pre0, direction)
        assert torch.equal(got[2].isinf(), expected[2].isinf())
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)

    # the baseline's own network takes the dense path by itself
    net = randomize(SparseDAGNet(pruning.dense_layered_dag([50, 100, 100, 50])).double(), seed=4)
    pruning.prune_random(net, 0.3, seed=2)
    assert net.region_tracer().dense == [True]
    pre0, direction = torch.randn(2, 1, 64, 50, generator=g, dtype=torch.float64)
    got, expected = net.linear_region(pre0, direction), linear_region_per_call(net, pre0, direction)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_region_tracer_path_is_chosen_by_the_whole_networks_density():
    from tests.nets import stacked_pruned_net

    assert RegionTracer.DENSE_FROM == 0.5
    # graph priors stay on the CSR path, also with a dense small block of their own
    ws = SparseDAGNet(graphs.to_dag(graphs.watts_strogatz(300, 2, 0.7, seed=0)), copies=2)
    masks = ws.layer_masks()
    assert sum(mask.numel() for mask in masks) >= RegionTracer.DENSE_MIN_ENTRIES
    assert max(float(mask.mean()) for mask in masks) >= RegionTracer.DENSE_FROM
    assert ws.hidden_density() < 0.1 and ws.region_tracer().dense == [False, False]
    pinned, _, _ = stacked_pruned_net()
    assert pinned.region_tracer().dense == [False] * 3
    tiny = SparseDAGNet(pruning.dense_layered_dag([5, 10, 10, 5]))  # 200 entries
    assert tiny.hidden_density() == 1.0 and tiny.region_tracer().dense == [False]
    # the pruning baseline: dense until its density falls below the threshold, per copy
    net = SparseDAGNet(pruning.dense_layered_dag([50, 100, 100, 50]), copies=2)
    assert net.hidden_density() == 1.0 and net.region_tracer().dense == [True, True]
    net.split_masks()
    net.remove_edges(net.hidden_edges(copy=1)[:12_000], copy=1)  # 8000 of 20,000 left
    assert net.hidden_density(copy=1) == 0.4 and net.region_tracer().dense == [True, False]
    with pytest.raises(ValueError, match="pass copy=k"):
        net.hidden_density()
