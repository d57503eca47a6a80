"""Tests for structrob.pruning: exact counts, zero weights through retraining, seeding."""

import types

import pytest
import torch

from structrob import graphs, pruning
from structrob.model import SparseDAGNet, initialize
from structrob.train import fit


def test_dense_layered_dag_is_the_study_network():
    dag = pruning.dense_layered_dag([50, 100, 100, 50])
    assert dag.number_of_edges() == 50 * 100 + 100 * 100 + 100 * 50
    layer = graphs.layers(dag)
    assert [sum(1 for v in layer.values() if v == l) for l in range(4)] == [50, 100, 100, 50]
    net = SparseDAGNet(dag)
    # 784 -> 50 -> 100 -> 100 -> 50 -> 10 fully connected, with biases
    dense = 784 * 50 + 50 + 50 * 100 + 100 + 100 * 100 + 100 + 100 * 50 + 50 + 50 * 10 + 10
    assert net.count_parameters() == dense == graphs.count_parameters(dag)
    with pytest.raises(ValueError):
        pruning.dense_layered_dag([50, 0])


@pytest.mark.parametrize("fraction", [0.2, 0.5])
def test_each_step_removes_the_exact_count(fraction):
    net = SparseDAGNet(pruning.dense_layered_dag([5, 8, 6]), n_in=4, n_out=3, copies=2)
    present = len(net.hidden_edges())
    for step in range(6):
        removed = pruning.prune_random(net, fraction, seed=step)
        expected = int(fraction * present + 0.5)
        assert len(removed) == len(set(removed)) == expected
        present -= expected
        assert len(net.hidden_edges()) == present
        assert not set(removed) & set(net.hidden_edges())


def test_same_seed_prunes_the_same_connections_and_input_output_are_kept():
    a = SparseDAGNet(pruning.dense_layered_dag([5, 8, 6]), n_in=4, n_out=3)
    b = SparseDAGNet(pruning.dense_layered_dag([5, 8, 6]), n_in=4, n_out=3)
    assert pruning.prune_random(a, 0.3, seed=7) == pruning.prune_random(b, 0.3, seed=7)
    c = SparseDAGNet(pruning.dense_layered_dag([5, 8, 6]), n_in=4, n_out=3)
    assert pruning.prune_random(c, 0.3, seed=8) != pruning.prune_random(
        SparseDAGNet(pruning.dense_layered_dag([5, 8, 6]), n_in=4, n_out=3), 0.3, seed=7
    )
    assert torch.all(a.weight_in != 0) and torch.all(a.weight_out != 0)


def test_pruned_weights_and_gradients_stay_zero_through_retraining():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 6, generator=g)
    data = types.SimpleNamespace(train_x=x, train_y=(x.sum(1) > 3).long())
    net = initialize(
        SparseDAGNet(
            pruning.dense_layered_dag([6, 6, 4]), n_in=6, n_out=2, copies=3, normalize=None
        ),
        "he_normal",
        seed=0,
    )
    removed = pruning.prune_random(net, 0.4, seed=1)
    fit(net, data, epochs=2, batch_size=20, seed=0)
    for u, v in removed:
        l, i, j = net.edge_slot[(u, v)]
        assert torch.all(getattr(net, f"weight_{l}")[:, i, j] == 0)
        assert getattr(net, f"mask_{l}")[i, j] == 0
    loss = net(x).sum()
    loss.backward()
    for u, v in removed:
        l, i, j = net.edge_slot[(u, v)]
        assert torch.all(getattr(net, f"weight_{l}").grad[:, i, j] == 0)


def test_cut_off_vertices_and_hidden_dag():
    net = SparseDAGNet(pruning.dense_layered_dag([2, 2, 2]), n_in=3, n_out=2)
    # vertex 2 (layer 1) loses both inputs; vertex 3 (layer 1) loses both outputs
    net.remove_edges([(0, 2), (1, 2), (3, 4), (3, 5)])
    assert pruning.cut_off_vertices(net) == {"no_input": 1, "no_output": 1}
    dag = pruning.hidden_dag(net)
    assert sorted(dag.edges) == [(0, 3), (1, 3), (2, 4), (2, 5)]
    assert dag.number_of_nodes() == 6
    assert pruning.n_to_remove(10, 0.25) == 3  # 2.5 rounds half up
    with pytest.raises(ValueError):
        pruning.n_to_remove(10, 1.0)
