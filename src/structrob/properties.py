"""Graph properties of a study graph: its DAG and its undirected prior.

Every property is defined by networkx, the reference implementation. The expensive ones
(all-pairs shortest paths, betweenness, edge betweenness, closeness, eccentricity) also have
an igraph backend, checked in the tests to give the same values as networkx (to 1e-9
relative; distances, eccentricities and closeness are bit-identical). This module does not
import torch.

On the DAG most ordered vertex pairs are unreachable, so distance-based properties are taken
over reachable pairs only (see :func:`graph_properties`). A consequence worth knowing before
correlating them: the *averages* of (normalised) betweenness and edge betweenness are fixed
by the distance distribution alone,

    avg_betweenness = sum over reachable ordered pairs of (d(u, v) - 1) / (n (n - 1) (n - 2))
    avg_edge_betweenness = sum over reachable ordered pairs of d(u, v) / (m n (n - 1))

because a shortest path of length ``d`` has ``d - 1`` inner vertices and ``d`` edges. They
carry no information beyond ``avg_shortest_path``, ``reachable_pairs``, ``n`` and ``m``.

The study's Table 1 [1]_ reports properties computed by its own code with python-igraph's
*defaults* of 2019-2020 (python-igraph 0.7/0.8, igraph C core 0.7/0.8) on the directed DAG.
Several differ from the definitions above, so :func:`graph_properties` also returns them as
columns of their own, prefixed ``dag_study_`` (today's columns are left as they are):

- betweenness and edge betweenness are directed and *not* normalised (``dag_study_avg_*``
  is today's average times (n - 1)(n - 2), resp. n (n - 1));
- closeness ignores edge directions (``mode=ALL``) and, as igraph did before 0.9, counts an
  unreachable vertex at distance n: ``(n - 1) / sum of distances`` (igraph 0.9.0 changed
  this to reachable vertices only);
- eccentricity and radius follow edge directions (the binding's default mode is OUT,
  whatever its docstring says), so the radius of a DAG is always 0;
- average path length, diameter and density (``unconn=True``, directed) coincide with
  today's ``dag_avg_shortest_path``, ``dag_diameter`` and ``dag_density``; the study's
  ``#nodes`` and ``#edges`` are ``dag_vertices`` and ``dag_edges``.

:data:`PROPERTY_DEFINITIONS` names the igraph call each column reproduces. They cost no
further all-pairs pass when the prior is given (the DAG's undirected view is the prior).

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
.. [2] U. Brandes, "A faster algorithm for betweenness centrality", Journal of Mathematical
   Sociology 25(2), 2001.
.. [3] S. Wasserman, K. Faust, "Social Network Analysis: Methods and Applications",
   Cambridge University Press, 1994, p. 201.
.. [4] G. Csardi, T. Nepusz, "The igraph software package for complex network research",
   InterJournal Complex Systems 1695, 2006.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import networkx as nx
import numpy as np

from structrob._property_definitions import PROPERTY_DEFINITIONS
from structrob.graphs import count_parameters, layers, sources
from structrob.graphs import sinks as sink_vertices

__all__ = ["BACKENDS", "PROPERTY_DEFINITIONS", "graph_distributions", "graph_properties"]

BACKENDS = ("auto", "igraph", "networkx")

# Bounds the memory of the igraph distance matrix: at most this many entries per block.
_DISTANCE_BLOCK_ENTRIES = 4_000_000


@dataclass
class _DistanceMeasures:
    """Per-vertex distance measures (in node order) and the path-length histogram."""

    eccentricity: np.ndarray  # int64 [n]
    closeness: np.ndarray | None  # float64 [n]; None when not asked for
    path_length_hist: np.ndarray  # int64 [diameter + 1], reachable ordered pairs u != v
    reached_from: np.ndarray  # int64 [n], vertices reachable from the vertex, itself included
    distance_from: np.ndarray  # int64 [n], sum of the distances from the vertex to those


def _resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    igraph_available = importlib.util.find_spec("igraph") is not None
    if backend == "auto":
        return "igraph" if igraph_available else "networkx"
    if backend == "igraph" and not igraph_available:
        raise ImportError(
            "backend='igraph' needs the igraph package: pip install 'structrob[igraph]', "
            "or pass backend='networkx' (same values, slower)"
        )
    return backend


def _check_dag(dag: nx.DiGraph) -> None:
    if not isinstance(dag, nx.DiGraph) or dag.is_multigraph():
        raise TypeError(
            f"dag must be a networkx.DiGraph (build it with structrob.graphs.to_dag), "
            f"got {type(dag).__name__}"
        )
    if dag.number_of_nodes() == 0:
        raise ValueError("the DAG has no vertices")
    if not nx.is_directed_acyclic_graph(dag):
        raise ValueError("dag has a cycle; orient the prior with structrob.graphs.to_dag")


def _check_prior(prior: nx.Graph) -> None:
    if not isinstance(prior, nx.Graph) or prior.is_directed() or prior.is_multigraph():
        raise TypeError(
            "prior must be an undirected simple networkx.Graph (the graph before to_dag), "
            f"got {type(prior).__name__}"
        )
    if prior.number_of_nodes() == 0:
        raise ValueError("the prior has no vertices")
    if nx.number_of_selfloops(prior):
        raise ValueError("the prior has self-loops; remove them (to_dag rejects them too)")


def _to_igraph(graph: nx.Graph):
    import igraph

    index = {node: i for i, node in enumerate(graph.nodes)}
    return igraph.Graph(
        n=len(index),
        edges=[(index[u], index[v]) for u, v in graph.edges],
        directed=graph.is_directed(),
    )


def _closeness_from(reached: np.ndarray, total_distance: np.ndarray, n: int) -> np.ndarray:
    """networkx's closeness formula, in networkx's operation order (so bit-identical)."""
    if n == 1:
        return np.zeros(1, dtype=np.float64)
    others = reached - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        closeness = others / total_distance.astype(np.float64)
        closeness *= others / (n - 1)
    return np.where(total_distance > 0, closeness, 0.0)


def _distance_measures_networkx(graph: nx.Graph, closeness: bool = True) -> _DistanceMeasures:
    n = graph.number_of_nodes()
    eccentricity = np.zeros(n, dtype=np.int64)
    reached_from = np.zeros(n, dtype=np.int64)
    distance_from = np.zeros(n, dtype=np.int64)
    path_lengths: list[int] = []
    for i, node in enumerate(graph.nodes):
        lengths = nx.single_source_shortest_path_length(graph, node)
        eccentricity[i] = max(lengths.values())
        reached_from[i] = len(lengths)
        distance_from[i] = sum(lengths.values())
        path_lengths.extend(d for d in lengths.values() if d > 0)
    values = None
    if closeness:
        by_node = nx.closeness_centrality(graph)
        values = np.array([by_node[node] for node in graph.nodes], dtype=np.float64)
    return _DistanceMeasures(
        eccentricity=eccentricity,
        closeness=values,
        path_length_hist=np.bincount(np.asarray(path_lengths, dtype=np.int64), minlength=1),
        reached_from=reached_from,
        distance_from=distance_from,
    )


def _distance_measures_igraph(graph: nx.Graph) -> _DistanceMeasures:
    ig_graph = _to_igraph(graph)
    n = ig_graph.vcount()
    eccentricity = np.zeros(n, dtype=np.int64)
    reached_from = np.zeros(n, dtype=np.int64)
    distance_from = np.zeros(n, dtype=np.int64)
    # Closeness uses incoming distances, i.e. columns of the (out-)distance matrix.
    reached = np.zeros(n, dtype=np.int64)
    total_distance = np.zeros(n, dtype=np.int64)
    hist = np.zeros(1, dtype=np.int64)
    block = max(1, _DISTANCE_BLOCK_ENTRIES // n)
    for start in range(0, n, block):
        rows = range(start, min(start + block, n))
        distances = np.asarray(ig_graph.distances(source=rows, mode="out"), dtype=np.float64)
        finite = np.isfinite(distances)
        lengths = np.where(finite, distances, 0.0).astype(np.int64)
        eccentricity[start : start + len(rows)] = lengths.max(axis=1)
        reached_from[start : start + len(rows)] = finite.sum(axis=1)
        distance_from[start : start + len(rows)] = lengths.sum(axis=1)
        reached += finite.sum(axis=0)
        total_distance += lengths.sum(axis=0)
        counts = np.bincount(lengths[lengths > 0], minlength=1)
        if len(counts) > len(hist):
            hist = np.pad(hist, (0, len(counts) - len(hist)))
        hist[: len(counts)] += counts
    return _DistanceMeasures(
        eccentricity=eccentricity,
        closeness=_closeness_from(reached, total_distance, n),
        path_length_hist=hist,
        reached_from=reached_from,
        distance_from=distance_from,
    )


def _distance_measures(graph: nx.Graph, backend: str, closeness: bool = True) -> _DistanceMeasures:
    """Distance measures of ``graph``; ``closeness=False`` lets networkx skip its closeness
    pass (igraph's closeness comes from the same distance matrix, so it is always filled)."""
    if backend == "igraph":
        return _distance_measures_igraph(graph)
    return _distance_measures_networkx(graph, closeness=closeness)


def _betweenness(graph: nx.Graph, backend: str) -> tuple[np.ndarray, np.ndarray]:
    """Normalised vertex betweenness [n] (node order) and edge betweenness [m] (edge order),
    with networkx's conventions."""
    if backend == "networkx":
        vertex = nx.betweenness_centrality(graph, normalized=True)
        edge = nx.edge_betweenness_centrality(graph, normalized=True)
        return (
            np.array([vertex[v] for v in graph.nodes], dtype=np.float64),
            np.array([edge[e] for e in graph.edges], dtype=np.float64),
        )
    ig_graph = _to_igraph(graph)
    n = ig_graph.vcount()
    vertex = np.asarray(ig_graph.betweenness(directed=True), dtype=np.float64)
    edge = np.asarray(ig_graph.edge_betweenness(directed=True), dtype=np.float64)
    # igraph counts an undirected pair once; networkx counts both orders before normalising.
    pair_orders = 1.0 if graph.is_directed() else 2.0
    if n > 2:
        vertex = vertex * pair_orders * (1.0 / ((n - 1) * (n - 2)))
    if n > 1:
        edge = edge * pair_orders * (1.0 / (n * (n - 1)))
    return vertex, edge.reshape(-1)


def _summary(values: np.ndarray) -> tuple[float, float, int]:
    return float(np.mean(values)), float(np.std(values)), int(np.max(values))


def _degree_block(prefix: str, name: str, degrees: np.ndarray) -> dict[str, float]:
    mean, std, largest = _summary(degrees)
    return {
        f"{prefix}_{name}_mean": mean,
        f"{prefix}_{name}_std": std,
        f"{prefix}_{name}_max": largest,
    }


def _shared_properties(
    prefix: str, graph: nx.Graph, backend: str, measures: _DistanceMeasures
) -> dict[str, float]:
    vertex_betweenness, edge_betweenness = _betweenness(graph, backend)
    hist = measures.path_length_hist
    pairs = int(hist.sum())
    lengths = np.arange(len(hist))
    degrees = np.array([d for _, d in graph.degree], dtype=np.int64)
    properties: dict[str, float] = {
        f"{prefix}_vertices": graph.number_of_nodes(),
        f"{prefix}_edges": graph.number_of_edges(),
        f"{prefix}_density": float(nx.density(graph)),
        f"{prefix}_reachable_pairs": pairs,
        f"{prefix}_diameter": int(lengths[hist > 0].max()) if pairs else 0,
        f"{prefix}_avg_shortest_path": float(int((lengths * hist).sum()) / pairs) if pairs else 0.0,
        f"{prefix}_avg_eccentricity": float(np.mean(measures.eccentricity)),
        f"{prefix}_avg_betweenness": float(np.mean(vertex_betweenness)),
        f"{prefix}_avg_closeness": float(np.mean(measures.closeness)),
        f"{prefix}_avg_edge_betweenness": (
            float(np.mean(edge_betweenness)) if len(edge_betweenness) else 0.0
        ),
    }
    properties.update(_degree_block(prefix, "degree", degrees))
    return properties


def _same_undirected_structure(dag: nx.DiGraph, prior: nx.Graph) -> bool:
    """Whether ``prior`` is the DAG's undirected view, vertices matched by position (as
    :func:`structrob.graphs.to_dag` numbers them)."""
    if (
        dag.number_of_nodes() != prior.number_of_nodes()
        or dag.number_of_edges() != prior.number_of_edges()
    ):
        return False
    dag_index = {node: i for i, node in enumerate(dag.nodes)}
    prior_index = {node: i for i, node in enumerate(prior.nodes)}

    def unordered(index, edges):
        return {(min(index[u], index[v]), max(index[u], index[v])) for u, v in edges}

    return unordered(dag_index, dag.edges) == unordered(prior_index, prior.edges)


def _undirected_view_measures(
    dag: nx.DiGraph,
    prior: nx.Graph | None,
    prior_measures: _DistanceMeasures | None,
    backend: str,
) -> _DistanceMeasures:
    """Distance measures of the DAG with edge directions ignored (igraph's ``mode="all"``),
    reusing the prior's when the prior is that view (no second all-pairs pass)."""
    if prior is not None and prior_measures is not None and _same_undirected_structure(dag, prior):
        return prior_measures
    view = nx.Graph()
    view.add_nodes_from(dag.nodes)
    view.add_edges_from(dag.edges)
    return _distance_measures(view, backend, closeness=False)


def _study_properties(
    dag: nx.DiGraph, measures: _DistanceMeasures, undirected: _DistanceMeasures
) -> dict[str, float]:
    """The study code's igraph-default properties of the DAG (PROPERTY_DEFINITIONS words them).

    ``measures`` are the DAG's directed distance measures, ``undirected`` those of its
    undirected view. Betweenness averages use the identity of the module docstring (a
    shortest path of length d has d - 1 inner vertices and d edges), so no Brandes pass."""
    n, m = dag.number_of_nodes(), dag.number_of_edges()
    hist = measures.path_length_hist
    pairs = int(hist.sum())
    lengths = np.arange(len(hist))
    total_length = int((lengths * hist).sum())
    if n > 1:
        # igraph < 0.9: an unreachable vertex counts at distance n; normalized: times n - 1.
        unreachable = n - undirected.reached_from
        farness = undirected.distance_from + unreachable * n
        closeness = (n - 1) / farness.astype(np.float64)
    else:
        closeness = np.zeros(1, dtype=np.float64)
    return {
        "dag_study_avg_path_length": float(total_length / pairs) if pairs else 0.0,
        "dag_study_diameter": int(lengths[hist > 0].max()) if pairs else 0,
        "dag_study_avg_eccentricity": float(np.mean(measures.eccentricity)),
        "dag_study_radius": int(np.min(measures.eccentricity)),
        "dag_study_avg_betweenness": float((total_length - pairs) / n),
        "dag_study_avg_closeness": float(np.mean(closeness)),
        "dag_study_avg_edge_betweenness": float(total_length / m) if m else 0.0,
        "dag_study_density": float(m / n / (n - 1)) if n > 1 else 0.0,
    }


def graph_properties(
    dag: nx.DiGraph, prior: nx.Graph | None = None, backend: str = "auto", sinks: str = "own"
) -> dict[str, float]:
    """Scalar graph properties of a study graph's DAG and (optionally) its undirected prior.

    For each graph (keys prefixed ``dag_`` / ``prior_``): ``vertices``, ``edges``,
    ``density``, ``reachable_pairs``, ``diameter``, ``avg_shortest_path``,
    ``avg_eccentricity``, ``avg_betweenness``, ``avg_closeness``, ``avg_edge_betweenness``,
    ``degree_mean``, ``degree_std``, ``degree_max``. For the DAG also ``in_degree_*`` and
    ``out_degree_*`` (mean, std, max), ``layers``, ``sources``, ``sinks``, ``parameters``; for
    the prior also ``components``. :data:`PROPERTY_DEFINITIONS` holds a one-line definition of
    each key. The paper [1]_ correlates such properties with robustness.

    Definitions (networkx is the reference):

    - density: networkx ``density`` (directed: m / (n (n - 1)); undirected: 2m / (n (n - 1))).
    - On the DAG, distances are directed and many pairs are unreachable: diameter and average
      shortest path length are taken over ordered reachable pairs (u != v, v reachable from u);
      ``reachable_pairs`` counts them. The eccentricity of a vertex is the largest distance to
      any vertex reachable from it (0 for a sink). Closeness is networkx's
      ``closeness_centrality``, which for a directed graph uses *incoming* distances and the
      Wasserman-Faust scaling [3]_ for unreachable vertices:
      ``(r - 1) / sum_of_distances * (r - 1) / (n - 1)``, r the number of vertices that reach
      the vertex, itself included (0 for a source). Betweenness is networkx's normalised
      ``betweenness_centrality`` (directed, ``normalized=True``, endpoints excluded; divided by
      (n - 1)(n - 2)) [2]_; edge betweenness is networkx's normalised
      ``edge_betweenness_centrality`` (divided by n (n - 1)).
    - On the undirected prior: if it is disconnected, diameter, average path length and
      eccentricity are over reachable pairs the same way (pairs in the same component; an
      isolated vertex has eccentricity 0), else they are the plain networkx values
      (``diameter``, ``average_shortest_path_length``, ``eccentricity``). Closeness and
      betweenness are the networkx undirected ones (betweenness divided by
      (n - 1)(n - 2) / 2, edge betweenness by n (n - 1) / 2).
    - Degree on the DAG is the total degree (in + out); in- and out-degree are given
      separately. ``degree_std`` is the population standard deviation (ddof = 0).
    - With no reachable pair, diameter and average path length are 0; without edges, the
      average edge betweenness is 0. Counts are ints, everything else floats; all finite.
    - ``layers`` is the depth, ``1 + max(structrob.graphs.layers(dag))`` (the same for either
      ``sinks``); ``parameters`` is ``structrob.graphs.count_parameters(dag, n_in=784,
      n_out=10, sinks=sinks)``, the network the study builds on the DAG.

    The averages of betweenness and edge betweenness follow from the distances alone (see
    the module docstring), so they are redundant with ``avg_shortest_path``.

    Last come the study code's definitions [1]_, python-igraph 0.7/0.8 defaults on the
    directed DAG (module docstring; each key's definition in :data:`PROPERTY_DEFINITIONS`):
    ``dag_study_avg_path_length``, ``dag_study_diameter``, ``dag_study_avg_eccentricity``,
    ``dag_study_radius``, ``dag_study_avg_betweenness`` (unnormalised),
    ``dag_study_avg_closeness`` (undirected, unreachable vertices at distance n),
    ``dag_study_avg_edge_betweenness`` (unnormalised) and ``dag_study_density``. Where igraph
    gives NaN (one vertex, no reachable pair) they are 0. They are computed from the DAG
    alone; a ``prior`` that is the DAG's undirected view only saves a distance pass.

    Parameters
    ----------
    dag : networkx.DiGraph
        Acyclic hidden structure, e.g. ``structrob.graphs.to_dag(prior)``; n >= 1 vertices.
    prior : networkx.Graph or None
        Undirected simple graph the DAG was oriented from; its block is left out when None.
    backend : {"auto", "igraph", "networkx"}
        ``"networkx"`` computes everything with networkx (the reference); ``"igraph"`` computes
        shortest paths, eccentricity, closeness and (edge) betweenness with igraph [4]_ (about
        an order of magnitude faster on study graphs, same values); ``"auto"`` uses igraph when
        it is installed.
    sinks : {"own", "last"}
        The layering of :func:`structrob.graphs.layers` the network uses; it changes
        ``dag_parameters`` (an isolated vertex reads no input with ``"last"``).

    Returns
    -------
    dict of str to float
        Flat, in a fixed key order: the DAG block, then the prior block, then the study
        block (``dag_study_*``).

    Raises
    ------
    TypeError
        If ``dag`` is not a DiGraph or ``prior`` is not an undirected simple Graph.
    ValueError
        If a graph is empty, the DAG has a cycle, the prior has self-loops, or the backend is
        unknown.
    ImportError
        If ``backend="igraph"`` and igraph is not installed.

    References
    ----------
    .. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness
       of sparse neural networks and their random hidden structural priors", 2021.
    .. [2] U. Brandes, "A faster algorithm for betweenness centrality", 2001.
    .. [3] S. Wasserman, K. Faust, "Social Network Analysis", 1994, p. 201.
    .. [4] G. Csardi, T. Nepusz, "The igraph software package", 2006.

    Examples
    --------
    >>> import networkx as nx
    >>> from structrob.graphs import to_dag
    >>> prior = nx.path_graph(3)            # 0 - 1 - 2
    >>> props = graph_properties(to_dag(prior), prior, backend="networkx")  # 2 -> 1 -> 0
    >>> props["dag_diameter"], props["dag_avg_shortest_path"], props["dag_layers"]
    (2, 1.3333333333333333, 3)
    >>> props["dag_avg_betweenness"], props["prior_avg_betweenness"]  # vertex 1 on path 2 -> 0
    (0.16666666666666666, 0.3333333333333333)
    >>> props["dag_parameters"]             # 784 x 1 + 2 + 10 x 1 + 3 + 10
    809
    >>> props["dag_study_avg_betweenness"]  # unnormalised: 1 pair through vertex 1, over 3
    0.3333333333333333
    >>> props["dag_study_avg_closeness"]    # undirected: (2/3 + 2/2 + 2/3) / 3
    0.7777777777777777
    """
    _check_dag(dag)
    if prior is not None:
        _check_prior(prior)
    backend = _resolve_backend(backend)

    dag_measures = _distance_measures(dag, backend)
    properties = _shared_properties("dag", dag, backend, dag_measures)
    properties.update(
        _degree_block("dag", "in_degree", np.array([d for _, d in dag.in_degree], dtype=np.int64))
    )
    properties.update(
        _degree_block("dag", "out_degree", np.array([d for _, d in dag.out_degree], dtype=np.int64))
    )
    properties["dag_layers"] = 1 + max(layers(dag).values())
    properties["dag_sources"] = len(sources(dag))
    properties["dag_sinks"] = len(sink_vertices(dag))
    properties["dag_parameters"] = count_parameters(dag, n_in=784, n_out=10, sinks=sinks)
    prior_measures = None
    if prior is not None:
        prior_measures = _distance_measures(prior, backend)
        properties.update(_shared_properties("prior", prior, backend, prior_measures))
        properties["prior_components"] = nx.number_connected_components(prior)
    undirected = _undirected_view_measures(dag, prior, prior_measures, backend)
    properties.update(_study_properties(dag, dag_measures, undirected))
    return properties


def _histogram(values) -> list[int]:
    return [int(c) for c in np.bincount(np.asarray(list(values), dtype=np.int64), minlength=1)]


def graph_distributions(
    dag: nx.DiGraph, prior: nx.Graph | None = None, backend: str = "auto", sinks: str = "own"
) -> dict[str, list[int]]:
    """Degree, shortest-path-length and eccentricity histograms of the DAG and the prior.

    Every histogram is a list of counts whose index is the value: ``hist[k]`` is the number
    of vertices (or pairs) with value ``k``. Keys: ``dag_degree_hist`` (total degree),
    ``dag_in_degree_hist``, ``dag_out_degree_hist``, ``dag_layer_hist`` (vertices per layer),
    ``dag_path_length_hist``, ``dag_eccentricity_hist``, and, when ``prior`` is given,
    ``prior_degree_hist``, ``prior_path_length_hist``, ``prior_eccentricity_hist``.

    Path lengths count ordered reachable pairs (u != v, v reachable from u; on the undirected
    prior, both orders of each pair in the same component), so ``path_length_hist`` sums to
    ``reachable_pairs`` of :func:`graph_properties` and its entry 0 is 0. Degree, layer and
    eccentricity histograms sum to the number of vertices. Eccentricity is defined as in
    :func:`graph_properties` (0 for a sink of the DAG). Plain lists of ints, so the result is
    JSON-serialisable. The paper [1]_ reports such distributions for its graphs.

    Parameters
    ----------
    dag : networkx.DiGraph
        Acyclic hidden structure, e.g. ``structrob.graphs.to_dag(prior)``.
    prior : networkx.Graph or None
        Undirected simple graph the DAG was oriented from.
    backend : {"auto", "igraph", "networkx"}
        As in :func:`graph_properties`; both give identical histograms.
    sinks : {"own", "last"}
        The layering behind ``dag_layer_hist`` (see :func:`graph_properties`).

    Returns
    -------
    dict of str to list of int

    References
    ----------
    .. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness
       of sparse neural networks and their random hidden structural priors", 2021.

    Examples
    --------
    >>> import networkx as nx
    >>> from structrob.graphs import to_dag
    >>> prior = nx.path_graph(3)            # 0 - 1 - 2, oriented 2 -> 1 -> 0
    >>> hists = graph_distributions(to_dag(prior), prior, backend="networkx")
    >>> hists["dag_path_length_hist"], hists["dag_eccentricity_hist"]
    ([0, 2, 1], [1, 1, 1])
    >>> hists["prior_degree_hist"], hists["prior_path_length_hist"]
    ([0, 2, 1], [0, 4, 2])
    """
    _check_dag(dag)
    if prior is not None:
        _check_prior(prior)
    backend = _resolve_backend(backend)

    distributions: dict[str, list[int]] = {}
    graphs = [("dag", dag)] + ([("prior", prior)] if prior is not None else [])
    for prefix, graph in graphs:
        measures = _distance_measures(graph, backend)
        distributions[f"{prefix}_degree_hist"] = _histogram(d for _, d in graph.degree)
        if prefix == "dag":
            distributions["dag_in_degree_hist"] = _histogram(d for _, d in dag.in_degree)
            distributions["dag_out_degree_hist"] = _histogram(d for _, d in dag.out_degree)
            distributions["dag_layer_hist"] = _histogram(layers(dag, sinks).values())
        distributions[f"{prefix}_path_length_hist"] = [int(c) for c in measures.path_length_hist]
        distributions[f"{prefix}_eccentricity_hist"] = _histogram(measures.eccentricity)
    return distributions
