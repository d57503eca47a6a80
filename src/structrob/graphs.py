"""Random graph priors, their orientation to a DAG, layering and parameter counts.

A sparse network's hidden structure starts as an undirected random graph (the *prior*),
is oriented to a directed acyclic graph (DAG) by keeping the lower-triangular part of its
adjacency matrix, and is layered by a topological sort. This module does not import torch.

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
.. [2] D. J. Watts, S. H. Strogatz, "Collective dynamics of 'small-world' networks",
   Nature 393, 1998.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from structrob.validation import check_int, check_probability

__all__ = [
    "GENERATORS",
    "REWIRING",
    "SINKS",
    "barabasi_albert",
    "check_parameters",
    "count_parameters",
    "erdos_renyi",
    "from_edgelist",
    "generate",
    "generated_parameters",
    "layers",
    "sinks",
    "sources",
    "to_dag",
    "watts_strogatz",
]


REWIRING = ("edges", "endpoints")
SINKS = ("own", "last")


def watts_strogatz(
    size: int, nei: int, p: float, seed: int | None = None, rewiring: str = "edges"
) -> nx.Graph:
    """Watts-Strogatz small-world graph with the study's parametrisation.

    A ring of ``size`` vertices, each joined to every vertex within ring distance ``nei``
    (degree ``2 * nei``, igraph's definition; networkx's ``k`` equals ``2 * nei``), whose
    edges are then rewired with probability ``p`` [2]_, never creating a self-loop or a
    multi-edge. Two rewiring rules are offered:

    - ``"edges"`` (networkx's ``watts_strogatz_graph``): each lattice edge ``(u, v)`` has its
      far end ``v`` moved, with probability ``p``, to a vertex drawn uniformly from those not
      yet joined to ``u``.
    - ``"endpoints"`` (python-igraph's ``Graph.Watts_Strogatz(1, size, nei, p)``, which the
      study's code called [1]_): BOTH ends of every edge are moved, each with probability
      ``p``. A first pass takes the edges in order of their larger end and moves the smaller
      one; a second pass takes them in order of their (possibly moved) smaller end and moves
      the larger one. A moved end goes to a vertex drawn uniformly from all but the kept end,
      drawn again while it would duplicate an edge; drawing the end it already has leaves the
      edge as it is. So an edge survives unchanged with probability of about ``(1 - p)^2``
      rather than ``1 - p``, and vertices can be left isolated.

    Parameters
    ----------
    size : int
        Number of hidden vertices, ``size > 2 * nei``.
    nei : int
        Neighbourhood radius on the ring, ``>= 1``.
    p : float
        Rewiring probability in [0, 1].
    seed : int or None
        Seed of the random generator; the same seed gives the same graph.
    rewiring : {"edges", "endpoints"}
        Which rewiring rule (above).

    Returns
    -------
    networkx.Graph
        Undirected graph on vertices ``0 .. size - 1`` with ``size * nei`` edges.

    Examples
    --------
    >>> g = watts_strogatz(10, 2, 0.0, seed=0)
    >>> g.number_of_edges(), sorted(g[0])
    (20, [1, 2, 8, 9])
    >>> watts_strogatz(10, 2, 1.0, seed=0, rewiring="endpoints").number_of_edges()
    20
    """
    p = _check_watts_strogatz(size, nei, p, rewiring)
    if rewiring == "edges":
        return nx.watts_strogatz_graph(size, 2 * nei, p, seed=seed)
    return _rewire_endpoints(size, nei, p, np.random.default_rng(seed))


def _check_watts_strogatz(size: int, nei: int, p: float, rewiring: str = "edges") -> float:
    check_int("nei", nei, 1)
    check_int("size", size, 2 * nei + 1)
    p = check_probability("p", p)
    if rewiring not in REWIRING:
        raise ValueError(f"rewiring must be one of {list(REWIRING)}, got {rewiring!r}")
    return p


def _rewire_endpoints(size: int, nei: int, p: float, rng: np.random.Generator) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(range(size))
    graph.add_edges_from(_endpoint_edges(size, nei, p, rng).tolist())
    return graph


def _endpoint_edges(size: int, nei: int, p: float, rng: np.random.Generator) -> np.ndarray:
    # the edges [E, 2] of watts_strogatz(..., rewiring="endpoints"), in lattice order.
    # ends[e] = [larger, smaller] end of lattice edge e; pass 0 keeps ends[e][0] and moves
    # ends[e][1], pass 1 the reverse (see watts_strogatz).
    u = np.repeat(np.arange(size), nei)
    v = (u + np.tile(np.arange(1, nei + 1), size)) % size
    ends = np.stack([np.maximum(u, v), np.minimum(u, v)], axis=1)
    adjacent = [set() for _ in range(size)]
    for a, b in ends.tolist():
        adjacent[a].add(b)
        adjacent[b].add(a)
    # candidate ends are drawn in blocks (one call per block, not per draw): uniform over the
    # size - 1 vertices other than the kept end once shifted past it
    block = np.empty(0, dtype=np.int64)
    used = 0
    for keep in (0, 1):
        move = 1 - keep
        order = np.argsort(ends[:, keep], kind="stable")
        chosen = rng.random(len(ends)) < p
        for e in order[chosen[order]].tolist():
            kept, old = int(ends[e, keep]), int(ends[e, move])
            neighbours = adjacent[kept]
            while True:
                if used == len(block):
                    block, used = rng.integers(size - 1, size=4096), 0
                new = int(block[used])
                used += 1
                new += new >= kept
                if new == old or new not in neighbours:
                    break
            if new != old:
                neighbours.discard(old)
                adjacent[old].discard(kept)
                neighbours.add(new)
                adjacent[new].add(kept)
                ends[e, move] = new
    return ends


def erdos_renyi(n: int, p: float, seed: int | None = None) -> nx.Graph:
    """Erdos-Renyi G(n, p) random graph: every pair joined independently with probability ``p``.

    Parameters
    ----------
    n : int
        Number of vertices, ``>= 1``.
    p : float
        Edge probability in [0, 1].
    seed : int or None
        Seed of the random generator.

    Returns
    -------
    networkx.Graph

    Examples
    --------
    >>> erdos_renyi(5, 1.0, seed=0).number_of_edges()
    10
    """
    p = _check_erdos_renyi(n, p)
    return nx.gnp_random_graph(n, p, seed=seed)


def _check_erdos_renyi(n: int, p: float) -> float:
    check_int("n", n, 1)
    return check_probability("p", p)


def barabasi_albert(n: int, m: int, seed: int | None = None) -> nx.Graph:
    """Barabasi-Albert preferential-attachment graph: each new vertex attaches ``m`` edges.

    Parameters
    ----------
    n : int
        Number of vertices, ``> m``.
    m : int
        Edges added with each new vertex, ``>= 1``.
    seed : int or None
        Seed of the random generator.

    Returns
    -------
    networkx.Graph
        ``(n - m) * m`` edges.

    Examples
    --------
    >>> barabasi_albert(10, 2, seed=0).number_of_edges()
    16
    """
    _check_barabasi_albert(n, m)
    return nx.barabasi_albert_graph(n, m, seed=seed)


def _check_barabasi_albert(n: int, m: int) -> None:
    check_int("m", m, 1)
    check_int("n", n, m + 1)


def from_edgelist(path: str | PathLike[str], directed: bool = False) -> nx.Graph:
    """Read a user graph from a whitespace-separated edge-list file of integer vertex ids.

    Lines starting with ``#`` are comments; each other line holds ``u v``.

    Parameters
    ----------
    path : str or path-like
        The edge-list file.
    directed : bool
        Read the edges as directed (``u -> v``); the result must then be acyclic for ``to_dag``.

    Returns
    -------
    networkx.Graph or networkx.DiGraph

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "g.txt")
    >>> _ = open(f, "w").write("0 1\\n1 2\\n")
    >>> from_edgelist(f).number_of_edges()
    2
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"edge-list file not found: {path}")
    graph = nx.DiGraph() if directed else nx.Graph()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) < 2:
            raise ValueError(f"{path}:{number}: expected 'u v', got {line!r}")
        try:
            u, v = int(fields[0]), int(fields[1])
        except ValueError:
            raise ValueError(
                f"{path}:{number}: vertex ids must be integers, got {line!r}"
            ) from None
        graph.add_edge(u, v)
    return graph


GENERATORS = {
    "watts_strogatz": watts_strogatz,
    "erdos_renyi": erdos_renyi,
    "barabasi_albert": barabasi_albert,
}

# Each generator's checks of its parameters, the ones it runs itself before drawing (every
# error a generator raises for its parameters comes from these), so checking a grid of
# parameters costs no graph.
_CHECKS = {
    "watts_strogatz": _check_watts_strogatz,
    "erdos_renyi": _check_erdos_renyi,
    "barabasi_albert": _check_barabasi_albert,
}


def check_parameters(generator: str, **params: Any) -> None:
    """Check a generator's parameters as drawing a graph would, without drawing one.

    Runs the checks the generator itself runs first (so the same ``ValueError`` with the same
    message), e.g. ``size > 2 * nei`` for Watts-Strogatz: a whole grid of parameters is
    checked in microseconds, where drawing its graphs takes seconds.

    Parameters
    ----------
    generator : {"watts_strogatz", "erdos_renyi", "barabasi_albert"}
    **params
        The generator's own parameters, as for :func:`generate` (without ``seed``).

    Raises
    ------
    ValueError
        An unknown generator, or a parameter the generator refuses (naming it first).
    TypeError
        A parameter the generator does not take, or one missing.

    Examples
    --------
    >>> check_parameters("watts_strogatz", size=10, nei=2, p=0.5)
    >>> check_parameters("watts_strogatz", size=10, nei=5, p=0.5)
    Traceback (most recent call last):
    ...
    ValueError: size must be an integer >= 11, got 10
    """
    if generator not in GENERATORS:
        raise ValueError(f"unknown generator {generator!r}; choose one of {sorted(GENERATORS)}")
    _CHECKS[generator](**params)


def generate(generator: str, seed: int | None = None, **params: Any) -> nx.Graph:
    """Draw a graph from a named generator (a key of ``GENERATORS``).

    Parameters
    ----------
    generator : {"watts_strogatz", "erdos_renyi", "barabasi_albert"}
    seed : int or None
    **params
        The generator's own parameters, e.g. ``size``, ``nei``, ``p``.

    Examples
    --------
    >>> generate("watts_strogatz", size=10, nei=2, p=0.5, seed=1).number_of_nodes()
    10
    """
    if generator not in GENERATORS:
        raise ValueError(f"unknown generator {generator!r}; choose one of {sorted(GENERATORS)}")
    return GENERATORS[generator](seed=seed, **params)


def generated_parameters(
    generator: str,
    seed: int | None = None,
    n_in: int = 784,
    n_out: int = 10,
    sinks: str = "own",
    **params: Any,
) -> int:
    """``count_parameters(to_dag(generate(generator, seed, **params)), n_in, n_out, sinks)``.

    What a study's sampling computes for every draw (:func:`structrob.study.plan.sample_graphs`).
    For Watts-Strogatz with ``rewiring="endpoints"`` it is computed from the edge list itself,
    without building either graph: to_dag orients every edge from its larger end to its
    smaller one, so a vertex has no incoming edge when it is the smaller end of none and no
    outgoing edge when it is the larger end of none, and that is all the count reads. Other
    generators build the graphs.

    Parameters
    ----------
    generator, seed, **params
        As for :func:`generate`.
    n_in, n_out, sinks
        As for :func:`count_parameters`.

    Returns
    -------
    int

    Examples
    --------
    >>> params = dict(size=40, nei=2, p=0.7, rewiring="endpoints")
    >>> dag = to_dag(generate("watts_strogatz", seed=3, **params))
    >>> generated_parameters("watts_strogatz", 3, **params) == count_parameters(dag)
    True
    """
    if sinks not in SINKS:
        raise ValueError(f"sinks must be one of {list(SINKS)}, got {sinks!r}")
    if generator != "watts_strogatz" or params.get("rewiring") != "endpoints":
        return count_parameters(to_dag(generate(generator, seed, **params)), n_in, n_out, sinks)
    size, nei = params["size"], params["nei"]
    p = _check_watts_strogatz(size, nei, params["p"], "endpoints")
    ends = _endpoint_edges(size, nei, p, np.random.default_rng(seed))
    fed = np.bincount(ends.min(1), minlength=size) == 0  # no incoming edge
    feeds = np.bincount(ends.max(1), minlength=size) > 0  # an outgoing edge
    if sinks == "last" and len(ends):  # count_parameters' rule: these move to the last layer
        fed &= feeds
    return int(n_in * fed.sum() + len(ends) + n_out * (~feeds).sum() + size + n_out)


def to_dag(graph: nx.Graph) -> nx.DiGraph:
    """Orient a graph as a DAG by keeping the lower-triangular part of its adjacency matrix.

    Vertices are first relabelled ``0 .. n - 1`` in the graph's node order; every undirected
    edge ``{i, j}`` becomes ``i -> j`` with ``i > j`` (the study's orientation [1]_). A directed
    graph that is already acyclic is returned as is (relabelled the same way); a directed graph
    with a cycle is rejected. Self-loops are rejected.

    Parameters
    ----------
    graph : networkx.Graph or networkx.DiGraph

    Returns
    -------
    networkx.DiGraph
        Acyclic, on vertices ``0 .. n - 1``; the original label is kept in attribute ``"label"``.

    Raises
    ------
    ValueError
        If the graph is empty, has a self-loop, or is directed with a cycle.

    Examples
    --------
    >>> import networkx as nx
    >>> sorted(to_dag(nx.path_graph(3)).edges())
    [(1, 0), (2, 1)]
    """
    if graph.number_of_nodes() == 0:
        raise ValueError("the graph has no vertices")
    loops = list(nx.selfloop_edges(graph))
    if loops:
        raise ValueError(
            f"the graph has self-loops (e.g. at vertex {loops[0][0]!r}); remove them first"
        )
    index = {node: i for i, node in enumerate(graph.nodes)}
    dag = nx.DiGraph()
    dag.add_nodes_from((i, {"label": node}) for node, i in index.items())
    if graph.is_directed():
        dag.add_edges_from((index[u], index[v]) for u, v in graph.edges)
        if not nx.is_directed_acyclic_graph(dag):
            cycle = [graph_node for graph_node, _ in nx.find_cycle(graph)]
            raise ValueError(
                f"the directed graph has a cycle through {cycle[:5]!r}; pass an acyclic graph "
                "or an undirected one (it is then oriented lower-triangular)"
            )
        return dag
    for u, v in graph.edges:
        i, j = index[u], index[v]
        dag.add_edge(max(i, j), min(i, j))
    return dag


def layers(dag: nx.DiGraph, sinks: str = "own") -> dict[int, int]:
    """Layer of every vertex: 0 for sources, else 1 + the largest layer of its predecessors.

    Iterative (a topological sort, no recursion), so graphs hundreds of layers deep are fine.
    With ``sinks="last"`` every vertex without outgoing edges is then moved to the last
    (deepest) layer, as the study's code did (``layer_indexing`` in ``utils/common.py`` [1]_):
    an isolated vertex then reads no input (it is a constant unit ``relu(b)`` feeding the
    output), and a sink's incoming block ends in the last layer. A graph without edges has
    one layer either way.

    Parameters
    ----------
    dag : networkx.DiGraph
        Acyclic.
    sinks : {"own", "last"}
        Where vertices without outgoing edges sit: at their own depth, or in the last layer.

    Returns
    -------
    dict
        vertex -> layer (int >= 0).

    Examples
    --------
    >>> import networkx as nx
    >>> layers(nx.DiGraph([(2, 1), (1, 0), (2, 0)]))
    {2: 0, 1: 1, 0: 2}
    >>> dag = nx.DiGraph([(3, 2), (2, 1), (3, 0)]); dag.add_node(4)  # 0 and 4: sinks
    >>> layers(dag)[0], layers(dag)[4], layers(dag, sinks="last")[0], layers(dag, "last")[4]
    (1, 0, 2, 2)
    """
    if sinks not in SINKS:
        raise ValueError(f"sinks must be one of {list(SINKS)}, got {sinks!r}")
    layer: dict[int, int] = {}
    for vertex in nx.topological_sort(dag):
        preds = dag.pred[vertex]
        layer[vertex] = 1 + max(layer[u] for u in preds) if preds else 0
    if sinks == "last" and layer:
        last = max(layer.values())
        for vertex in dag.nodes:
            if dag.out_degree(vertex) == 0:
                layer[vertex] = last
    return layer


def sources(dag: nx.DiGraph) -> list:
    """Vertices without incoming edges (fed by the whole input), in node order.

    Examples
    --------
    >>> import networkx as nx
    >>> sources(nx.DiGraph([(2, 1), (1, 0)]))
    [2]
    """
    return [v for v in dag.nodes if dag.in_degree(v) == 0]


def sinks(dag: nx.DiGraph) -> list:
    """Vertices without outgoing edges (each feeds all outputs), in node order.

    Examples
    --------
    >>> import networkx as nx
    >>> sinks(nx.DiGraph([(2, 1), (1, 0)]))
    [0]
    """
    return [v for v in dag.nodes if dag.out_degree(v) == 0]


def count_parameters(dag: nx.DiGraph, n_in: int = 784, n_out: int = 10, sinks: str = "own") -> int:
    """Exact number of trainable parameters of the sparse network built on ``dag``.

    ``n_in x sources + edges + n_out x sinks + hidden vertices + n_out``: the input is fully
    connected to every source, every hidden edge is one weight, every sink feeds all outputs,
    and every hidden vertex and output has one bias. "Sources" are the vertices of layer 0 of
    :func:`layers` with the same ``sinks``: with ``"last"`` an isolated vertex sits in the last
    layer and has no input weights (unless the graph has no edges, hence one layer).

    Parameters
    ----------
    dag : networkx.DiGraph
        Acyclic hidden structure.
    n_in, n_out : int
        Input width (784 for MNIST) and number of classes.
    sinks : {"own", "last"}
        Where vertices without outgoing edges sit (see :func:`layers`).

    Returns
    -------
    int

    Examples
    --------
    >>> import networkx as nx
    >>> count_parameters(nx.DiGraph([(1, 0)]), n_in=4, n_out=2)  # 4 + 1 + 2 + 2 + 2
    11
    >>> dag = nx.DiGraph([(1, 0)]); dag.add_node(2)  # 2 is isolated
    >>> count_parameters(dag, 4, 2), count_parameters(dag, 4, 2, sinks="last")  # 4 fewer
    (18, 14)
    """
    if not isinstance(dag, nx.DiGraph):
        raise TypeError(
            f"count_parameters takes a networkx.DiGraph (see to_dag), got {type(dag).__name__}"
        )
    if sinks not in SINKS:
        raise ValueError(f"sinks must be one of {list(SINKS)}, got {sinks!r}")
    # layer 0 of layers(dag, sinks): the vertices without incoming edges, less (with "last")
    # those without outgoing edges too, which move to the last layer, unless there is no edge
    # and hence one layer
    n_input_fed = sum(
        1
        for v in dag.nodes
        if dag.in_degree(v) == 0
        and (sinks == "own" or dag.out_degree(v) > 0 or dag.number_of_edges() == 0)
    )
    return (
        n_in * n_input_fed
        + dag.number_of_edges()
        + n_out * sum(1 for v in dag.nodes if dag.out_degree(v) == 0)
        + dag.number_of_nodes()
        + n_out
    )
