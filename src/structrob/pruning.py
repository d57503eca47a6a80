"""Random pruning of a layered network's hidden connections: the study's baseline (Table 2).

A dense network 784 -> 50 -> 100 -> 100 -> 50 -> 10 is written as a layered DAG, so it is the
same :class:`structrob.model.SparseDAGNet` as the graph-prior networks and goes through the same
training, attack, property and storage code. Each pruning step removes a fraction of the hidden
connections still present, chosen uniformly at random with an exact count; the input and output
connections are never pruned [1]_. The study code pruned each of its 60 networks (10 repetitions
x 6 initialisations) with its own random masks; ``prune_random(..., per_copy=True)`` does the
same for the stacked copies of one network (:meth:`~structrob.model.SparseDAGNet.split_masks`).

Rule for vertices cut off by pruning: the network keeps its layered structure (the input feeds
the first hidden layer only, the last hidden layer feeds the output only), it is not rebuilt. A
hidden vertex outside the first layer that loses all its incoming connections outputs the
constant ``relu(bias)``; one outside the last layer that loses all its outgoing connections no
longer reaches the output. Both are counted per step (:func:`cut_off_vertices`) and stay in the
hidden DAG whose graph properties are reported.

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import torch

from structrob.model import SparseDAGNet
from structrob.seeds import derive_seed
from structrob.validation import check_int

__all__ = ["cut_off_vertices", "dense_layered_dag", "hidden_dag", "n_to_remove", "prune_random"]


def dense_layered_dag(widths: Sequence[int]) -> nx.DiGraph:
    """Fully connected layered DAG: every vertex of layer i feeds every vertex of layer i + 1.

    Vertices are numbered layer by layer from 0, so :func:`structrob.graphs.layers` gives
    layer i to the i-th block.

    Parameters
    ----------
    widths : sequence of int
        Hidden layer widths, e.g. ``(50, 100, 100, 50)``; at least one, each ``>= 1``.

    Returns
    -------
    networkx.DiGraph
        ``sum(widths)`` vertices, ``sum(w_i * w_{i+1})`` edges.

    Examples
    --------
    >>> dag = dense_layered_dag([2, 3, 1])
    >>> dag.number_of_nodes(), dag.number_of_edges()
    (6, 9)
    """
    widths = list(widths)
    if not widths:
        raise ValueError("widths must name at least one hidden layer width, got []")
    widths = [check_int(f"widths[{i}]", w, 1) for i, w in enumerate(widths)]
    dag = nx.DiGraph()
    dag.add_nodes_from(range(sum(widths)))
    start = 0
    for a, b in zip(widths, widths[1:]):
        dag.add_edges_from(
            (u, v) for u in range(start, start + a) for v in range(start + a, start + a + b)
        )
        start += a
    return dag


def n_to_remove(n_active: int, fraction: float) -> int:
    """Exact number of connections a step removes: ``floor(fraction * n_active + 0.5)``.

    Examples
    --------
    >>> n_to_remove(20_000, 0.2), n_to_remove(7, 0.2), n_to_remove(0, 0.2)
    (4000, 1, 0)
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    return int(fraction * n_active + 0.5)


@torch.no_grad()
def prune_random(
    net: SparseDAGNet, fraction: float, seed: int, per_copy: bool = False
) -> list[tuple] | list[list[tuple]]:
    """Remove a fraction of the hidden connections still present, uniformly at random.

    Shared (``per_copy=False``): the same connections are removed from every stacked copy; the
    choice is a permutation of :meth:`SparseDAGNet.hidden_edges` (a fixed order) drawn from a
    generator seeded ``seed``. Per copy (``per_copy=True``): the masks are split
    (:meth:`SparseDAGNet.split_masks`) if they are not yet, and copy k removes its own
    ``n_to_remove(active_k, fraction)`` connections, a permutation of
    ``hidden_edges(copy=k)`` drawn from a generator seeded ``derive_seed(seed, k)``
    (:func:`structrob.seeds.derive_seed`), so each copy's choice depends only on its own
    masks and ``(seed, k)``. Either way the same seed and network prune the same connections.

    Counts are exact: a step removes exactly :func:`n_to_remove` connections (of each copy).
    The study code removed fewer than asked (its index sampling dropped some); this shortfall
    is deliberately not reproduced.

    Parameters
    ----------
    net : SparseDAGNet
        Modified in place: masks and weights of the removed connections become zero.
    fraction : float in (0, 1)
        Share of the currently present hidden connections to remove (:func:`n_to_remove`).
    seed : int
        ``>= 0`` when ``per_copy``.
    per_copy : bool
        Prune every copy with its own random choice.

    Returns
    -------
    list of tuple, or list of list of tuple
        The removed edges ``(u, v)`` in :meth:`SparseDAGNet.hidden_edges` order; per copy, one
        such list per copy k.

    Raises
    ------
    ValueError
        ``per_copy`` is false and the copies' masks differ (see
        :meth:`SparseDAGNet.layer_masks`).

    Examples
    --------
    >>> net = SparseDAGNet(dense_layered_dag([4, 5]), n_in=3, n_out=2)
    >>> len(prune_random(net, 0.2, seed=0)), len(net.hidden_edges())
    (4, 16)
    >>> net = SparseDAGNet(dense_layered_dag([4, 5]), n_in=3, n_out=2, copies=3)
    >>> removed = prune_random(net, 0.2, seed=0, per_copy=True)
    >>> [len(r) for r in removed], [len(net.hidden_edges(copy=k)) for k in range(3)]
    ([4, 4, 4], [16, 16, 16])
    >>> removed[0] != removed[1]
    True
    """
    if not per_copy:
        return _prune(net, fraction, torch.Generator().manual_seed(seed), None)
    net.split_masks()
    return [
        _prune(net, fraction, torch.Generator().manual_seed(derive_seed(seed, k)), k)
        for k in range(net.copies)
    ]


def _prune(
    net: SparseDAGNet, fraction: float, generator: torch.Generator, copy: int | None
) -> list[tuple]:
    """Remove ``n_to_remove`` of ``copy``'s present edges (all copies' when None)."""
    edges = net.hidden_edges(copy=copy)
    count = n_to_remove(len(edges), fraction)
    order = torch.randperm(len(edges), generator=generator)
    removed = [edges[i] for i in sorted(order[:count].tolist())]
    net.remove_edges(removed, copy=copy)
    return removed


def hidden_dag(net: SparseDAGNet, copy: int | None = None) -> nx.DiGraph:
    """The hidden DAG of the connections still present, with every hidden vertex kept.

    Parameters
    ----------
    net : SparseDAGNet
    copy : int or None
        Copy ``k``'s connections; ``None``: those of every copy, which must then be the same
        (:meth:`SparseDAGNet.hidden_edges`).

    Examples
    --------
    >>> net = SparseDAGNet(dense_layered_dag([2, 2]), n_in=3, n_out=2, copies=2)
    >>> net.remove_edges([(0, 2)]); sorted(hidden_dag(net).edges())
    [(0, 3), (1, 2), (1, 3)]
    >>> net.split_masks().remove_edges([(1, 3)], copy=1); sorted(hidden_dag(net, copy=1).edges())
    [(0, 3), (1, 2)]
    """
    dag = nx.DiGraph()
    dag.add_nodes_from(net.vertices)
    dag.add_edges_from(net.hidden_edges(copy=copy))
    return dag


def cut_off_vertices(net: SparseDAGNet, copy: int | None = None) -> dict[str, int]:
    """Vertices that pruning cut off (see the module docstring for the rule).

    Parameters
    ----------
    net : SparseDAGNet
    copy : int or None
        Count in copy ``k``; ``None``: in every copy, whose masks must then be the same
        (:func:`hidden_dag`).

    Returns
    -------
    dict
        ``no_input``: vertices outside the first layer without incoming connections;
        ``no_output``: vertices outside the last layer without outgoing connections.

    Examples
    --------
    >>> net = SparseDAGNet(dense_layered_dag([1, 1, 1]), n_in=3, n_out=2)
    >>> net.remove_edges([(0, 1)]); cut_off_vertices(net)
    {'no_input': 1, 'no_output': 1}
    """
    dag = hidden_dag(net, copy=copy)
    first = set(net.vertices[: net.offsets[1]])
    last = set(net.vertices[net.offsets[-2] :])
    return {
        "no_input": sum(1 for v in dag if v not in first and dag.in_degree(v) == 0),
        "no_output": sum(1 for v in dag if v not in last and dag.out_degree(v) == 0),
    }
