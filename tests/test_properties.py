"""Tests of structrob.properties: hand-worked values, independent references, backend agreement."""

from __future__ import annotations

import importlib.util
import json
import math
import re

import networkx as nx
import numpy as np
import pytest
from scipy.sparse.csgraph import shortest_path

from structrob import properties
from structrob.graphs import count_parameters, erdos_renyi, to_dag, watts_strogatz
from structrob.properties import PROPERTY_DEFINITIONS, graph_distributions, graph_properties

HAS_IGRAPH = importlib.util.find_spec("igraph") is not None
needs_igraph = pytest.mark.skipif(not HAS_IGRAPH, reason="igraph not installed")
BACKENDS = ["networkx", pytest.param("igraph", marks=needs_igraph)]

DAG_KEYS = [
    "dag_vertices", "dag_edges", "dag_density", "dag_reachable_pairs", "dag_diameter",
    "dag_avg_shortest_path", "dag_avg_eccentricity", "dag_avg_betweenness", "dag_avg_closeness",
    "dag_avg_edge_betweenness", "dag_degree_mean", "dag_degree_std", "dag_degree_max",
    "dag_in_degree_mean", "dag_in_degree_std", "dag_in_degree_max",
    "dag_out_degree_mean", "dag_out_degree_std", "dag_out_degree_max",
    "dag_layers", "dag_sources", "dag_sinks", "dag_parameters",
]  # fmt: skip
PRIOR_KEYS = [
    "prior_vertices", "prior_edges", "prior_density", "prior_reachable_pairs", "prior_diameter",
    "prior_avg_shortest_path", "prior_avg_eccentricity", "prior_avg_betweenness",
    "prior_avg_closeness", "prior_avg_edge_betweenness", "prior_degree_mean", "prior_degree_std",
    "prior_degree_max", "prior_components",
]  # fmt: skip
STUDY_KEYS = [
    "dag_study_avg_path_length", "dag_study_diameter", "dag_study_avg_eccentricity",
    "dag_study_radius", "dag_study_avg_betweenness", "dag_study_avg_closeness",
    "dag_study_avg_edge_betweenness", "dag_study_density",
]  # fmt: skip
DISTRIBUTION_KEYS = [
    "dag_degree_hist", "dag_in_degree_hist", "dag_out_degree_hist", "dag_layer_hist",
    "dag_path_length_hist", "dag_eccentricity_hist",
    "prior_degree_hist", "prior_path_length_hist", "prior_eccentricity_hist",
]  # fmt: skip


def study_graphs() -> dict[str, nx.Graph]:
    """Seeded priors in the study's range, plus ones with unreachable pairs / components."""
    return {
        "ws400_nei2": watts_strogatz(400, 2, 0.9, seed=1),
        "ws120_nei4": watts_strogatz(120, 4, 0.5, seed=2),
        "er60_disconnected": erdos_renyi(60, 0.03, seed=3),
    }


# --- hand-worked examples ------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_path_graph_by_hand(backend):
    # Prior: path 0 - 1 - 2 - 3; DAG (lower-triangular): chain 3 -> 2 -> 1 -> 0.
    prior = nx.path_graph(4)
    dag = to_dag(prior)
    assert sorted(dag.edges) == [(1, 0), (2, 1), (3, 2)]
    props = graph_properties(dag, prior, backend=backend)
    expected = {
        # DAG: reachable ordered pairs (i, j), i > j, at distance i - j: 3 x 1, 2 x 2, 1 x 3.
        "dag_vertices": 4, "dag_edges": 3, "dag_density": 3 / 12,
        "dag_reachable_pairs": 6, "dag_diameter": 3, "dag_avg_shortest_path": 10 / 6,
        # eccentricities 3, 2, 1, 0 for vertices 3, 2, 1, 0 (sink 0 has 0).
        "dag_avg_eccentricity": 1.5,
        # vertex 2 on (3,1), (3,0); vertex 1 on (3,0), (2,0): 2 / ((n-1)(n-2)) = 1/3 each.
        "dag_avg_betweenness": (1 / 3 + 1 / 3) / 4,
        # incoming closeness (r-1)/sum * (r-1)/(n-1): v0: 3/6*3/3, v1: 2/3*2/3, v2: 1/1*1/3, v3: 0.
        "dag_avg_closeness": (1 / 2 + 4 / 9 + 1 / 3 + 0) / 4,
        # edge 3->2 on 3 pairs, 2->1 on 4, 1->0 on 3; divided by n(n-1) = 12.
        "dag_avg_edge_betweenness": (3 + 4 + 3) / 12 / 3,
        # total degrees 1, 2, 2, 1.
        "dag_degree_mean": 1.5, "dag_degree_std": 0.5, "dag_degree_max": 2,
        "dag_in_degree_mean": 0.75, "dag_in_degree_std": math.sqrt(3 / 16), "dag_in_degree_max": 1,
        "dag_out_degree_mean": 0.75, "dag_out_degree_std": math.sqrt(3 / 16),
        "dag_out_degree_max": 1,
        "dag_layers": 4, "dag_sources": 1, "dag_sinks": 1,
        "dag_parameters": 784 * 1 + 3 + 10 * 1 + 4 + 10,
        # Prior: unordered distances 1 (x3), 2 (x2), 3 (x1); ordered pairs double them.
        "prior_vertices": 4, "prior_edges": 3, "prior_density": 6 / 12,
        "prior_reachable_pairs": 12, "prior_diameter": 3, "prior_avg_shortest_path": 10 / 6,
        "prior_avg_eccentricity": (3 + 2 + 2 + 3) / 4,
        # inner vertices each on 2 unordered pairs: 2 / ((n-1)(n-2)/2) = 2/3.
        "prior_avg_betweenness": (2 / 3 + 2 / 3) / 4,
        # ends: 3/6, inner: 3/4.
        "prior_avg_closeness": (0.5 + 0.75 + 0.75 + 0.5) / 4,
        # unordered pairs through each edge: 3, 4, 3; divided by n(n-1)/2 = 6.
        "prior_avg_edge_betweenness": (3 + 4 + 3) / 6 / 3,
        "prior_degree_mean": 1.5, "prior_degree_std": 0.5, "prior_degree_max": 2,
        "prior_components": 1,
    }  # fmt: skip
    assert list(props) == list(expected) + STUDY_KEYS
    for key, value in expected.items():
        assert props[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key

    hists = graph_distributions(dag, prior, backend=backend)
    assert hists["dag_path_length_hist"] == [0, 3, 2, 1]
    assert hists["dag_eccentricity_hist"] == [1, 1, 1, 1]
    assert hists["dag_degree_hist"] == [0, 2, 2]
    assert hists["dag_in_degree_hist"] == [1, 3]
    assert hists["dag_layer_hist"] == [1, 1, 1, 1]
    assert hists["prior_path_length_hist"] == [0, 6, 4, 2]
    assert hists["prior_eccentricity_hist"] == [0, 0, 2, 2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_diamond_dag_by_hand(backend):
    # Prior: the 4-cycle 0-1-3-2-0; DAG: diamond 3 -> {1, 2} -> 0.
    prior = nx.Graph([(0, 1), (0, 2), (1, 3), (2, 3)])
    dag = to_dag(prior)
    assert sorted(dag.edges) == [(1, 0), (2, 0), (3, 1), (3, 2)]
    props = graph_properties(dag, prior, backend=backend)
    expected = {
        # reachable: 3->1, 3->2, 1->0, 2->0 at 1; 3->0 at 2 (two shortest paths).
        "dag_density": 4 / 12, "dag_reachable_pairs": 5, "dag_diameter": 2,
        "dag_avg_shortest_path": 6 / 5,
        "dag_avg_eccentricity": (2 + 1 + 1 + 0) / 4,
        # 1 and 2 each carry half of the pair (3, 0): (1/2) / (3 * 2).
        "dag_avg_betweenness": 2 * (0.5 / 6) / 4,
        # v0 reached by 1, 2 (d 1) and 3 (d 2): 3/4 * 3/3; v1, v2: 1/1 * 1/3; source v3: 0.
        "dag_avg_closeness": (0.75 + 1 / 3 + 1 / 3 + 0) / 4,
        # every edge: its own pair + half of (3, 0) = 1.5, over n(n-1) = 12.
        "dag_avg_edge_betweenness": 1.5 / 12,
        "dag_degree_mean": 2.0, "dag_degree_std": 0.0, "dag_degree_max": 2,
        "dag_in_degree_mean": 1.0, "dag_in_degree_std": math.sqrt(0.5), "dag_in_degree_max": 2,
        "dag_out_degree_max": 2, "dag_layers": 3, "dag_sources": 1, "dag_sinks": 1,
        "dag_parameters": 784 + 4 + 10 + 4 + 10,
        # C4: two neighbours at 1, the opposite vertex at 2.
        "prior_density": 8 / 12, "prior_reachable_pairs": 12, "prior_diameter": 2,
        "prior_avg_shortest_path": 4 / 3, "prior_avg_eccentricity": 2.0,
        # each vertex carries half of one opposite pair: 0.5 / ((n-1)(n-2)/2) = 1/6.
        "prior_avg_betweenness": 1 / 6,
        "prior_avg_closeness": 0.75,
        # each edge: its own pair + half of two opposite pairs = 2, over n(n-1)/2 = 6.
        "prior_avg_edge_betweenness": 2 / 6,
    }  # fmt: skip
    for key, value in expected.items():
        assert props[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key


# --- independent references ----------------------------------------------------------------


def scipy_distance_summary(graph: nx.Graph) -> dict:
    """Distance measures from scipy's all-pairs BFS, computed without structrob's code."""
    n = graph.number_of_nodes()
    adjacency = nx.to_scipy_sparse_array(graph, nodelist=list(graph.nodes))
    d = shortest_path(adjacency, directed=graph.is_directed(), unweighted=True)
    finite = np.isfinite(d)
    off = finite & ~np.eye(n, dtype=bool)
    lengths = d[off]
    reached = finite.sum(axis=0)  # column v: vertices that reach v, v included
    total = np.where(finite, d, 0).sum(axis=0)
    closeness = [
        (reached[v] - 1) / total[v] * (reached[v] - 1) / (n - 1) if total[v] > 0 else 0.0
        for v in range(n)
    ]
    return {
        "reachable_pairs": int(off.sum()),
        "diameter": int(lengths.max()) if len(lengths) else 0,
        "avg_shortest_path": float(lengths.mean()) if len(lengths) else 0.0,
        "avg_eccentricity": float(np.where(finite, d, 0).max(axis=1).mean()),
        "avg_closeness": float(np.mean(closeness)),
        "path_length_hist": np.bincount(lengths.astype(int), minlength=1).tolist(),
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_distances_match_scipy(backend):
    prior = erdos_renyi(60, 0.03, seed=3)  # disconnected; its DAG has many unreachable pairs
    dag = to_dag(prior)
    assert nx.number_connected_components(prior) > 1
    props = graph_properties(dag, prior, backend=backend)
    hists = graph_distributions(dag, prior, backend=backend)
    for prefix, graph in (("dag", dag), ("prior", prior)):
        reference = scipy_distance_summary(graph)
        assert hists[f"{prefix}_path_length_hist"] == reference.pop("path_length_hist")
        for key, value in reference.items():
            assert props[f"{prefix}_{key}"] == pytest.approx(value, rel=1e-12), key
    assert props["dag_reachable_pairs"] < 60 * 59 / 2


def test_connected_prior_gives_plain_networkx_values():
    prior = watts_strogatz(120, 4, 0.5, seed=2)
    assert nx.is_connected(prior)
    props = graph_properties(to_dag(prior), prior, backend="networkx")
    eccentricity = list(nx.eccentricity(prior).values())
    closeness = list(nx.closeness_centrality(prior).values())
    average_path = nx.average_shortest_path_length(prior)
    assert props["prior_diameter"] == nx.diameter(prior)
    assert props["prior_avg_shortest_path"] == pytest.approx(average_path, rel=1e-12)
    assert props["prior_avg_eccentricity"] == pytest.approx(np.mean(eccentricity), rel=1e-12)
    assert props["prior_avg_closeness"] == pytest.approx(np.mean(closeness), rel=1e-12)
    density = 2 * prior.number_of_edges() / (120 * 119)
    assert props["prior_density"] == pytest.approx(density, rel=1e-12)
    assert props["prior_reachable_pairs"] == 120 * 119


def test_betweenness_averages_follow_from_path_lengths():
    # A shortest path of length d has d - 1 inner vertices and d edges, and the fractions
    # over all shortest s-t paths sum to 1: an identity independent of Brandes' algorithm.
    prior = watts_strogatz(100, 2, 0.9, seed=5)
    dag = to_dag(prior)
    props = graph_properties(dag, prior, backend="networkx")
    hists = graph_distributions(dag, prior, backend="networkx")
    for prefix in ("dag", "prior"):
        n, m = props[f"{prefix}_vertices"], props[f"{prefix}_edges"]
        hist = np.array(hists[f"{prefix}_path_length_hist"])
        lengths = np.arange(len(hist))
        inner = float((hist * (lengths - 1))[1:].sum())
        expected_betweenness = inner / (n * (n - 1) * (n - 2))
        assert props[f"{prefix}_avg_betweenness"] == pytest.approx(expected_betweenness, rel=1e-12)
        total = float((hist * lengths).sum())
        expected_edge_betweenness = total / (m * n * (n - 1))
        assert props[f"{prefix}_avg_edge_betweenness"] == pytest.approx(
            expected_edge_betweenness, rel=1e-12
        )


# --- igraph backend against networkx -------------------------------------------------------


@needs_igraph
@pytest.mark.parametrize("name", list(study_graphs()))
def test_igraph_backend_equals_networkx(name):
    prior = study_graphs()[name]
    dag = to_dag(prior)
    for graph in (dag, prior):
        reference = properties._distance_measures(graph, "networkx")
        fast = properties._distance_measures(graph, "igraph")
        np.testing.assert_array_equal(fast.eccentricity, reference.eccentricity)
        np.testing.assert_array_equal(fast.path_length_hist, reference.path_length_hist)
        np.testing.assert_allclose(fast.closeness, reference.closeness, rtol=1e-9, atol=0)
        np.testing.assert_array_equal(fast.reached_from, reference.reached_from)
        np.testing.assert_array_equal(fast.distance_from, reference.distance_from)
        vertex_reference, edge_reference = properties._betweenness(graph, "networkx")
        vertex_fast, edge_fast = properties._betweenness(graph, "igraph")
        np.testing.assert_allclose(vertex_fast, vertex_reference, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(edge_fast, edge_reference, rtol=1e-9, atol=1e-15)
        assert np.count_nonzero(vertex_reference) > 0
    fast_props = graph_properties(dag, prior, backend="igraph")
    reference_props = graph_properties(dag, prior, backend="networkx")
    assert list(fast_props) == list(reference_props)
    for key, value in reference_props.items():
        assert fast_props[key] == pytest.approx(value, rel=1e-9, abs=1e-15), key
    fast_hists = graph_distributions(dag, prior, backend="igraph")
    assert fast_hists == graph_distributions(dag, prior, backend="networkx")


@needs_igraph
def test_igraph_distance_blocks_give_the_same_result(monkeypatch):
    prior = erdos_renyi(60, 0.05, seed=4)
    dag = to_dag(prior)
    whole = properties._distance_measures(dag, "igraph")
    monkeypatch.setattr(properties, "_DISTANCE_BLOCK_ENTRIES", 7 * 60)  # blocks of 7 rows
    blocked = properties._distance_measures(dag, "igraph")
    np.testing.assert_array_equal(blocked.eccentricity, whole.eccentricity)
    np.testing.assert_array_equal(blocked.path_length_hist, whole.path_length_hist)
    np.testing.assert_array_equal(blocked.closeness, whole.closeness)


# --- the study code's igraph-default columns ------------------------------------------------


def path_with_isolated_vertex() -> nx.Graph:
    """Prior 0 - 1 - 2 - 3 plus the isolated vertex 4; its DAG is 3 -> 2 -> 1 -> 0, and 4."""
    prior = nx.path_graph(4)
    prior.add_node(4)
    return prior


# Hand-worked study columns of path_with_isolated_vertex() (n = 5, m = 3).
STUDY_BY_HAND = {
    # directed reachable pairs: (3,2), (2,1), (1,0) at 1; (3,1), (2,0) at 2; (3,0) at 3.
    "dag_study_avg_path_length": 10 / 6,
    "dag_study_diameter": 3,
    # out-eccentricities 0, 1, 2, 3 for vertices 0..3; the isolated 4 has 0.
    "dag_study_avg_eccentricity": 6 / 5,
    "dag_study_radius": 0,
    # unnormalised: vertex 1 on (2,0), (3,0); vertex 2 on (3,1), (3,0).
    "dag_study_avg_betweenness": (2 + 2) / 5,
    # igraph 0.7 closeness, mode ALL: (n - 1) / (distances in the path + 5 per unreachable
    # vertex): ends 4 / (6 + 5), inner 4 / (4 + 5), isolated 4 / (4 x 5).
    "dag_study_avg_closeness": (4 / 11 + 4 / 9 + 4 / 9 + 4 / 11 + 4 / 20) / 5,
    # edge 3->2 on 3 pairs, 2->1 on 4, 1->0 on 3.
    "dag_study_avg_edge_betweenness": (3 + 4 + 3) / 3,
    "dag_study_density": 3 / (5 * 4),
}


@pytest.mark.parametrize("with_prior", [True, False], ids=["with_prior", "dag_only"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_study_columns_by_hand(backend, with_prior):
    prior = path_with_isolated_vertex()
    dag = to_dag(prior)
    assert sorted(dag.edges) == [(1, 0), (2, 1), (3, 2)] and dag.number_of_nodes() == 5
    props = graph_properties(dag, prior if with_prior else None, backend=backend)
    for key, value in STUDY_BY_HAND.items():
        assert props[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
    assert isinstance(props["dag_study_diameter"], int)
    assert isinstance(props["dag_study_radius"], int)
    # the unnormalised betweenness averages are today's times (n-1)(n-2), resp. n(n-1)
    assert props["dag_study_avg_betweenness"] == pytest.approx(
        props["dag_avg_betweenness"] * 4 * 3, rel=1e-12
    )
    assert props["dag_study_avg_edge_betweenness"] == pytest.approx(
        props["dag_avg_edge_betweenness"] * 5 * 4, rel=1e-12
    )


def test_study_closeness_old_rule_differs_from_igraph_today():
    # igraph >= 0.9 skips unreachable vertices: on the disconnected view of the example it
    # gives 3/6 for the ends, 3/4 inside and NaN for the isolated vertex, not the old values.
    ig = pytest.importorskip("igraph")
    prior = path_with_isolated_vertex()
    dag = to_dag(prior)
    graph = ig.Graph(n=5, edges=list(dag.edges), directed=True)
    today = graph.closeness(mode="all", normalized=True)
    np.testing.assert_allclose(today[:4], [3 / 6, 3 / 4, 3 / 4, 3 / 6], rtol=1e-12)
    assert math.isnan(today[4])
    old_rule = graph_properties(dag, backend="networkx")["dag_study_avg_closeness"]
    assert old_rule == pytest.approx(STUDY_BY_HAND["dag_study_avg_closeness"], rel=1e-12)
    assert old_rule != pytest.approx(np.nanmean(today), rel=1e-3)


def igraph_study_graph(prior: nx.Graph):
    """The study code's graph: ``Graph.Adjacency(np.tril(A))``, edges larger -> smaller."""
    ig = pytest.importorskip("igraph")
    adjacency = nx.to_numpy_array(prior, nodelist=list(prior.nodes), dtype=np.int64)
    return ig.Graph.Adjacency(np.tril(adjacency).tolist(), mode="directed")


def igraph_old_closeness(graph) -> np.ndarray:
    """igraph 0.7/0.8 closeness(mode=ALL, normalized=True) from igraph 1.0's distances: an
    unreachable vertex counts at distance n, (n - 1) / the sum."""
    n = graph.vcount()
    distances = np.asarray(graph.distances(mode="all"), dtype=np.float64)
    distances[~np.isfinite(distances)] = n
    return (n - 1) / distances.sum(axis=1)


STUDY_PRIORS = {
    "ws60_connected": lambda: watts_strogatz(60, 2, 0.7, seed=1),
    "er60_disconnected": lambda: erdos_renyi(60, 0.03, seed=3),
    "path_isolated": path_with_isolated_vertex,
}


@pytest.mark.parametrize("name", list(STUDY_PRIORS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_study_columns_match_igraph_with_old_defaults(name, backend):
    prior = STUDY_PRIORS[name]()
    dag = to_dag(prior)
    graph = igraph_study_graph(prior)
    assert sorted(graph.get_edgelist()) == sorted(dag.edges)  # same orientation as to_dag
    props = graph_properties(dag, prior, backend=backend)
    n = graph.vcount()

    assert props["dag_study_avg_path_length"] == pytest.approx(
        graph.average_path_length(directed=True, unconn=True), rel=1e-12
    )
    assert props["dag_study_diameter"] == graph.diameter(directed=True, unconn=True)
    # eccentricity() and radius() without mode use OUT (then and now): check both spellings
    assert graph.eccentricity() == graph.eccentricity(mode="out")
    assert props["dag_study_avg_eccentricity"] == pytest.approx(
        np.mean(graph.eccentricity(mode="out")), rel=1e-12
    )
    assert props["dag_study_radius"] == graph.radius() == graph.radius(mode="out") == 0
    assert props["dag_study_avg_betweenness"] == pytest.approx(
        np.mean(graph.betweenness(directed=True)), rel=1e-12
    )
    assert props["dag_study_avg_edge_betweenness"] == pytest.approx(
        np.mean(graph.edge_betweenness(directed=True)), rel=1e-12
    )
    assert props["dag_study_density"] == pytest.approx(graph.density(loops=False), rel=1e-15)
    assert props["dag_study_avg_closeness"] == pytest.approx(
        np.mean(igraph_old_closeness(graph)), rel=1e-12
    )
    if graph.is_connected(mode="weak"):
        # the old and the new unreachable rules agree on a connected undirected view
        assert props["dag_study_avg_closeness"] == pytest.approx(
            np.mean(graph.closeness(mode="all", normalized=True)), rel=1e-12
        )
    else:
        assert props["dag_study_avg_closeness"] < np.nanmean(graph.closeness(mode="all"))
    # unnormalised betweenness = today's normalised one times the pair count
    assert props["dag_study_avg_betweenness"] == pytest.approx(
        props["dag_avg_betweenness"] * (n - 1) * (n - 2), rel=1e-9
    )


def test_study_columns_without_igraph_on_a_connected_view():
    # The same checks with networkx references only, for installs without igraph.
    prior = watts_strogatz(60, 2, 0.7, seed=1)
    assert nx.is_connected(prior)
    dag = to_dag(prior)
    props = graph_properties(dag, prior, backend="networkx")
    # connected view: (n - 1) / sum of distances, i.e. networkx's undirected closeness
    closeness = np.mean(list(nx.closeness_centrality(prior).values()))
    assert props["dag_study_avg_closeness"] == pytest.approx(closeness, rel=1e-12)
    betweenness = np.mean(list(nx.betweenness_centrality(dag, normalized=False).values()))
    assert props["dag_study_avg_betweenness"] == pytest.approx(betweenness, rel=1e-12)
    edge = np.mean(list(nx.edge_betweenness_centrality(dag, normalized=False).values()))
    assert props["dag_study_avg_edge_betweenness"] == pytest.approx(edge, rel=1e-12)
    assert props["dag_study_radius"] == 0
    assert props["dag_study_density"] == pytest.approx(120 / (60 * 59), rel=1e-15)


@pytest.mark.parametrize("name", ["ws120_nei4", "er60_disconnected"])
def test_study_columns_same_with_or_without_prior_and_backend(name):
    prior = study_graphs()[name]
    dag = to_dag(prior)
    backends = ["networkx"] + (["igraph"] if HAS_IGRAPH else [])
    reference = {k: v for k, v in graph_properties(dag, prior, "networkx").items() if "study" in k}
    other_prior = prior.copy()  # same n and m, one edge moved: not the DAG's undirected view
    other_prior.remove_edge(*next(iter(prior.edges)))
    other_prior.add_edge(*next(e for e in nx.non_edges(prior)))
    for backend in backends:
        for given in (prior, None, other_prior):
            props = graph_properties(dag, given, backend=backend)
            for key, value in reference.items():
                assert props[key] == pytest.approx(value, rel=1e-12, abs=1e-15), (backend, key)
    assert properties._same_undirected_structure(dag, prior)
    assert not properties._same_undirected_structure(dag, other_prior)


# --- keys, finiteness, distributions -------------------------------------------------------


def test_keys_are_stable_and_defined():
    prior = watts_strogatz(20, 2, 0.3, seed=0)
    dag = to_dag(prior)
    assert list(graph_properties(dag, prior)) == DAG_KEYS + PRIOR_KEYS + STUDY_KEYS
    assert list(graph_properties(dag)) == DAG_KEYS + STUDY_KEYS
    assert list(graph_distributions(dag, prior)) == DISTRIBUTION_KEYS
    assert list(graph_distributions(dag)) == [k for k in DISTRIBUTION_KEYS if k.startswith("dag_")]
    all_keys = DAG_KEYS + PRIOR_KEYS + STUDY_KEYS + DISTRIBUTION_KEYS
    assert set(PROPERTY_DEFINITIONS) == set(all_keys)
    for key in STUDY_KEYS:  # each says it is the study code's and which igraph call it mirrors
        assert PROPERTY_DEFINITIONS[key].startswith("the study code's "), key
        assert "python-igraph 0.7/0.8 default" in PROPERTY_DEFINITIONS[key], key
    for text in PROPERTY_DEFINITIONS.values():
        assert isinstance(text, str) and text and "\n" not in text
    leftover = re.findall(r"\{[a-z_]+\}", " ".join(PROPERTY_DEFINITIONS.values()))
    assert leftover == []  # every template placeholder was filled


@pytest.mark.parametrize(
    "prior",
    [
        nx.empty_graph(1),
        nx.empty_graph(3),
        nx.Graph([(0, 1)]),
        erdos_renyi(30, 0.05, seed=7),
        watts_strogatz(50, 2, 1.0, seed=8),
    ],
    ids=["one_vertex", "edgeless", "one_edge", "sparse_er", "ws"],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_values_finite_and_distributions_sum(prior, backend):
    dag = to_dag(prior)
    props = graph_properties(dag, prior, backend=backend)
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in props.values())
    hists = graph_distributions(dag, prior, backend=backend)
    json.dumps(hists)
    n = prior.number_of_nodes()
    vertex_hists = [key for key in DISTRIBUTION_KEYS if "path_length" not in key]
    for key in vertex_hists:
        assert sum(hists[key]) == n, key
    for prefix in ("dag", "prior"):
        path_hist = hists[f"{prefix}_path_length_hist"]
        assert sum(path_hist) == props[f"{prefix}_reachable_pairs"]
        assert path_hist[0] == 0
        assert len(path_hist) == props[f"{prefix}_diameter"] + 1
        degree_hist = hists[f"{prefix}_degree_hist"]
        assert sum(k * c for k, c in enumerate(degree_hist)) == 2 * props[f"{prefix}_edges"]
    assert sum(k * c for k, c in enumerate(hists["dag_in_degree_hist"])) == props["dag_edges"]
    assert len(hists["dag_layer_hist"]) == props["dag_layers"]
    assert props["dag_parameters"] == count_parameters(dag)


def test_edgeless_graph_values():
    prior = nx.empty_graph(3)
    props = graph_properties(to_dag(prior), prior)
    for prefix in ("dag", "prior"):
        for key in ("edges", "reachable_pairs", "diameter", "avg_shortest_path",
                    "avg_eccentricity", "avg_betweenness", "avg_closeness",
                    "avg_edge_betweenness", "density"):  # fmt: skip
            assert props[f"{prefix}_{key}"] == 0, key
    # every vertex is both a source and a sink: 3 x 784 + 0 + 3 x 10 + 3 + 10
    assert props["dag_parameters"] == 3 * 784 + 3 * 10 + 3 + 10
    assert props["dag_layers"] == 1
    assert props["prior_components"] == 3


# --- validation ----------------------------------------------------------------------------


def test_rejects_bad_inputs(monkeypatch):
    prior = nx.path_graph(3)
    dag = to_dag(prior)
    with pytest.raises(TypeError, match="to_dag"):
        graph_properties(prior)
    with pytest.raises(TypeError, match="undirected"):
        graph_properties(dag, dag)
    with pytest.raises(ValueError, match="cycle"):
        graph_properties(nx.DiGraph([(0, 1), (1, 0)]))
    with pytest.raises(ValueError, match="no vertices"):
        graph_distributions(nx.DiGraph())
    with pytest.raises(ValueError, match="self-loops"):
        graph_properties(dag, nx.Graph([(0, 0), (0, 1)]))
    with pytest.raises(ValueError, match="backend"):
        graph_properties(dag, backend="scipy")

    real_find_spec = importlib.util.find_spec

    def find_spec_without_igraph(name, *args):
        return None if name == "igraph" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec_without_igraph)
    with pytest.raises(ImportError, match="backend='networkx'"):
        graph_properties(dag, backend="igraph")
    assert graph_properties(dag, backend="auto") == graph_properties(dag, backend="networkx")
