"""Tests for structrob.graphs: generators, orientation, layering, parameter counts."""

import networkx as nx
import numpy as np
import pytest

from structrob import graphs


def test_watts_strogatz_lattice_degree_is_two_nei():
    g = graphs.watts_strogatz(12, 3, 0.0, seed=0)
    assert g.number_of_edges() == 12 * 3
    assert all(d == 6 for _, d in g.degree())
    assert sorted(g[0]) == [1, 2, 3, 9, 10, 11]


def test_watts_strogatz_is_seeded_and_keeps_edge_count():
    a = graphs.watts_strogatz(100, 2, 0.7, seed=5)
    b = graphs.watts_strogatz(100, 2, 0.7, seed=5)
    c = graphs.watts_strogatz(100, 2, 0.7, seed=6)
    assert sorted(a.edges) == sorted(b.edges)
    assert sorted(a.edges) != sorted(c.edges)
    assert a.number_of_edges() == 200


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(size=4, nei=2, p=0.5), "size"),
        (dict(size=10, nei=0, p=0.5), "nei"),
        (dict(size=10, nei=2, p=1.5), "probability"),
    ],
)
def test_watts_strogatz_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        graphs.watts_strogatz(seed=0, **kwargs)


def test_other_generators_and_dispatch():
    assert graphs.erdos_renyi(6, 1.0, seed=0).number_of_edges() == 15
    assert graphs.barabasi_albert(20, 3, seed=0).number_of_edges() == (20 - 3) * 3
    g = graphs.generate("watts_strogatz", size=20, nei=2, p=0.3, seed=1)
    assert sorted(g.edges) == sorted(graphs.watts_strogatz(20, 2, 0.3, seed=1).edges)
    with pytest.raises(ValueError, match="unknown generator"):
        graphs.generate("lattice", seed=0)


def test_from_edgelist(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("# a comment\n0 1\n1 2  # trailing\n\n2 3\n")
    g = graphs.from_edgelist(path)
    assert sorted(g.edges) == [(0, 1), (1, 2), (2, 3)]
    path.write_text("0 x\n")
    with pytest.raises(ValueError, match="integers"):
        graphs.from_edgelist(path)
    with pytest.raises(FileNotFoundError):
        graphs.from_edgelist(tmp_path / "missing.txt")


def test_to_dag_is_lower_triangular_part_of_adjacency():
    g = graphs.watts_strogatz(40, 2, 0.6, seed=2)
    dag = graphs.to_dag(g)
    adjacency = nx.to_numpy_array(g, nodelist=range(40))
    directed = nx.to_numpy_array(dag, nodelist=range(40))
    # row = source, column = target: edge i -> j with i > j is the strictly lower triangle
    np.testing.assert_array_equal(directed, np.tril(adjacency, k=-1))
    assert nx.is_directed_acyclic_graph(dag)


def test_to_dag_relabels_and_accepts_dags_rejects_cycles():
    g = nx.Graph([("a", "b"), ("b", "c")])
    dag = graphs.to_dag(g)
    assert sorted(dag.edges) == [(1, 0), (2, 1)]
    assert dag.nodes[0]["label"] == "a"
    directed = nx.DiGraph([(0, 1), (1, 2)])
    assert sorted(graphs.to_dag(directed).edges) == [(0, 1), (1, 2)]
    with pytest.raises(ValueError, match="cycle"):
        graphs.to_dag(nx.DiGraph([(0, 1), (1, 2), (2, 0)]))
    with pytest.raises(ValueError, match="self-loop"):
        graphs.to_dag(nx.Graph([(0, 0)]))


def test_layers_hand_worked_example():
    # 4 -> 3 -> 1 -> 0 and 4 -> 2 -> 0, plus skip 4 -> 0; 5 isolated
    dag = nx.DiGraph([(4, 3), (3, 1), (1, 0), (4, 2), (2, 0), (4, 0)])
    dag.add_node(5)
    assert graphs.layers(dag) == {4: 0, 5: 0, 3: 1, 2: 1, 1: 2, 0: 3}
    assert graphs.sources(dag) == [4, 5]
    assert graphs.sinks(dag) == [0, 5]


def test_layers_equals_longest_path_and_needs_no_recursion():
    dag = nx.DiGraph([(i + 1, i) for i in range(5000)])  # a path 5000 layers deep
    layer = graphs.layers(dag)
    assert layer[0] == 5000 and layer[5000] == 0
    random_dag = graphs.to_dag(graphs.watts_strogatz(200, 4, 0.5, seed=3))
    layer = graphs.layers(random_dag)
    for v in random_dag:
        longest = max(
            (
                nx.shortest_path_length(random_dag, s, v)
                for s in graphs.sources(random_dag)
                if nx.has_path(random_dag, s, v)
            ),
            default=0,
        )
        assert layer[v] >= longest
    assert max(layer.values()) == nx.dag_longest_path_length(random_dag)


def test_count_parameters_hand_worked():
    dag = nx.DiGraph([(4, 3), (3, 1), (1, 0), (4, 2), (2, 0), (4, 0)])
    dag.add_node(5)
    # sources {4, 5}, sinks {0, 5}, 6 edges, 6 hidden vertices
    assert graphs.count_parameters(dag) == 784 * 2 + 6 + 10 * 2 + 6 + 10
    assert graphs.count_parameters(dag, n_in=3, n_out=2) == 3 * 2 + 6 + 2 * 2 + 6 + 2
    with pytest.raises(TypeError):
        graphs.count_parameters(nx.Graph([(0, 1)]))


def test_study_grid_lands_in_parameter_range():
    # DESIGN facts: nei = 2, sizes 400-500 give networks of 50k-80k parameters
    counts = [
        graphs.count_parameters(graphs.to_dag(graphs.watts_strogatz(500, 2, 0.9, seed=s)))
        for s in range(5)
    ]
    assert all(50_000 <= c <= 91_000 for c in counts), counts
    dense = graphs.count_parameters(graphs.to_dag(graphs.watts_strogatz(500, 10, 0.9, seed=0)))
    assert dense < 50_000
