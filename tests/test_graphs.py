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


@pytest.mark.parametrize(
    "generator, params",
    [
        ("watts_strogatz", dict(size=10, nei=2, p=0.5)),
        ("watts_strogatz", dict(size=5, nei=2, p=0.0, rewiring="endpoints")),
        ("watts_strogatz", dict(size=4, nei=2, p=0.5)),
        ("watts_strogatz", dict(size=10, nei=0, p=0.5)),
        ("watts_strogatz", dict(size=10, nei=2.5, p=0.5)),
        ("watts_strogatz", dict(size=10, nei=2, p=1.5)),
        ("watts_strogatz", dict(size=10, nei=2, p=0.5, rewiring="ends")),
        ("erdos_renyi", dict(n=6, p=0.3)),
        ("erdos_renyi", dict(n=0, p=0.3)),
        ("erdos_renyi", dict(n=6, p=-0.1)),
        ("barabasi_albert", dict(n=10, m=2)),
        ("barabasi_albert", dict(n=2, m=2)),
        ("barabasi_albert", dict(n=10, m=0)),
        ("lattice", dict(n=10)),
    ],
)
def test_check_parameters_refuses_what_the_generator_refuses(generator, params):
    """The check without a graph raises exactly when drawing does, with the same message."""
    try:
        graphs.generate(generator, seed=0, **params)
    except ValueError as error:
        with pytest.raises(ValueError) as checked:
            graphs.check_parameters(generator, **params)
        assert str(checked.value) == str(error)
    else:
        assert graphs.check_parameters(generator, **params) is None


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


def _rewiring_statistics(graph: nx.Graph, size: int, nei: int) -> list[float]:
    """Kept-lattice fraction, isolated vertices, degree variance, DAG sources, max degree."""
    ring = [min((u - v) % size, (v - u) % size) for u, v in graph.edges]
    degrees = np.array([d for _, d in graph.degree()])
    return [
        np.mean(np.array(ring) <= nei),
        float((degrees == 0).sum()),
        float(degrees.var()),
        float(len(graphs.sources(graphs.to_dag(graph)))),
        float(degrees.max()),
    ]


def test_endpoint_rewiring_matches_igraph_in_distribution():
    igraph = pytest.importorskip("igraph")
    import random

    size, nei, p, n = 100, 2, 0.5, 300
    ours = np.array(
        [
            _rewiring_statistics(
                graphs.watts_strogatz(size, nei, p, seed=s, rewiring="endpoints"), size, nei
            )
            for s in range(n)
        ]
    )
    theirs = []
    for s in range(n):
        random.seed(s)  # python-igraph draws from Python's `random`
        g = nx.Graph()
        g.add_nodes_from(range(size))
        g.add_edges_from(igraph.Graph.Watts_Strogatz(1, size, nei, p).get_edgelist())
        theirs.append(_rewiring_statistics(g, size, nei))
    theirs = np.array(theirs)
    networkx = np.array(
        [_rewiring_statistics(graphs.watts_strogatz(size, nei, p, seed=s), size, nei)
         for s in range(n)]
    )  # fmt: skip
    se = np.sqrt((ours.var(0) + theirs.var(0)) / n)
    # every statistic agrees with igraph's to within 4 standard errors ...
    assert np.all(np.abs(ours.mean(0) - theirs.mean(0)) < 4 * se + 1e-12)
    # ... and the test can tell the rules apart: networkx's keeps about half the lattice
    # (1 - p), igraph's about (1 - p)^2 + what lands back on it, and leaves isolated vertices
    assert abs(theirs[:, 0].mean() - 0.27) < 0.02 and abs(networkx[:, 0].mean() - 0.5) < 0.02
    assert networkx[:, 1].sum() == 0 and ours[:, 1].mean() > 0.5


def test_endpoint_rewiring_is_simple_seeded_and_keeps_edge_count():
    a = graphs.watts_strogatz(60, 3, 0.8, seed=4, rewiring="endpoints")
    b = graphs.watts_strogatz(60, 3, 0.8, seed=4, rewiring="endpoints")
    assert sorted(a.edges) == sorted(b.edges) and a.number_of_edges() == 180
    assert nx.number_of_selfloops(a) == 0 and set(a.nodes) == set(range(60))
    lattice = graphs.watts_strogatz(60, 3, 0.0, seed=4, rewiring="endpoints")
    assert sorted(map(sorted, lattice.edges)) == sorted(
        map(sorted, graphs.watts_strogatz(60, 3, 0.0, seed=0).edges)
    )
    with pytest.raises(ValueError, match="rewiring"):
        graphs.watts_strogatz(60, 3, 0.8, seed=4, rewiring="both")


def _sinks_example() -> nx.DiGraph:
    # 5 -> 4 -> 3 -> 2 (depth 3); 5 -> 1 (sink 1 at depth 1, below the last layer);
    # 0 isolated (a source and a sink)
    dag = nx.DiGraph([(5, 4), (4, 3), (3, 2), (5, 1)])
    dag.add_node(0)
    return dag


def test_sinks_last_layering_hand_worked():
    dag = _sinks_example()
    assert graphs.layers(dag) == {5: 0, 0: 0, 4: 1, 1: 1, 3: 2, 2: 3}
    assert graphs.layers(dag, sinks="last") == {5: 0, 0: 3, 4: 1, 1: 3, 3: 2, 2: 3}
    # one layer when there are no edges: the isolated vertices stay input-fed
    empty = nx.DiGraph()
    empty.add_nodes_from([0, 1])
    assert graphs.layers(empty, sinks="last") == {0: 0, 1: 0}
    with pytest.raises(ValueError, match="sinks"):
        graphs.layers(dag, sinks="first")


def test_sinks_last_parameter_count_hand_worked():
    dag = _sinks_example()
    # own: sources {5, 0}: 784 * 2 + 4 edges + 10 * sinks {2, 1, 0} + 6 biases + 10
    assert graphs.count_parameters(dag) == 1568 + 4 + 30 + 6 + 10
    # last: layer 0 is {5} alone; vertex 0 reads no input
    assert graphs.count_parameters(dag, sinks="last") == 784 + 4 + 30 + 6 + 10


@pytest.mark.parametrize("sinks", ["own", "last"])
def test_generated_parameters_equal_counting_the_built_graphs(sinks):
    rng = np.random.default_rng(0)
    for draw in range(60):
        size = int(rng.integers(7, 120))
        nei = int(rng.integers(1, (size - 1) // 2 + 1))
        p = float(rng.choice([0.0, 0.2, 0.9, 1.0]))
        n_in, n_out = int(rng.integers(1, 800)), int(rng.integers(1, 12))
        for rewiring in ("endpoints", "edges"):
            params = dict(size=size, nei=nei, p=p, rewiring=rewiring)
            dag = graphs.to_dag(graphs.generate("watts_strogatz", seed=draw, **params))
            expected = graphs.count_parameters(dag, n_in, n_out, sinks)
            got = graphs.generated_parameters("watts_strogatz", draw, n_in, n_out, sinks, **params)
            assert got == expected, (params, sinks)
    dag = graphs.to_dag(graphs.generate("erdos_renyi", seed=1, n=30, p=0.1))
    assert graphs.generated_parameters("erdos_renyi", 1, sinks=sinks, n=30, p=0.1) == (
        graphs.count_parameters(dag, sinks=sinks)
    )


def test_generated_parameters_count_isolated_vertices_as_count_parameters_does():
    # p = 1 on a small ring leaves vertices isolated now and then: find a draw that does
    params = dict(size=9, nei=1, p=1.0, rewiring="endpoints")
    for seed in range(200):
        dag = graphs.to_dag(graphs.generate("watts_strogatz", seed=seed, **params))
        if any(dag.degree(v) == 0 for v in dag):
            break
    else:  # pragma: no cover - the search is seeded
        pytest.fail("no draw with an isolated vertex")
    for sinks in ("own", "last"):
        assert graphs.generated_parameters("watts_strogatz", seed, sinks=sinks, **params) == (
            graphs.count_parameters(dag, sinks=sinks)
        )
    with pytest.raises(ValueError, match="sinks must be one of"):
        graphs.generated_parameters("watts_strogatz", 0, sinks="first", **params)
