"""The one-line definition of every graph property (``properties.PROPERTY_DEFINITIONS``).

The table is built from templates: the properties the DAG and its prior share, worded for
each; those of one graph only; the study code's igraph-default columns (``dag_study_*``); and
the distributions. :mod:`structrob.properties` computes them and re-exports the table.
"""

from __future__ import annotations

__all__ = ["PROPERTY_DEFINITIONS"]

_REACHABLE = {
    "dag": "ordered pairs (u, v), u != v, with v reachable from u along edge directions",
    "prior": "ordered pairs (u, v), u != v, in the same connected component",
}

_SHARED_DEFINITIONS = {
    "vertices": "number of vertices n",
    "edges": "number of edges m",
    "density": "networkx density: {density}",
    "reachable_pairs": "number of {reachable}",
    "diameter": "largest shortest-path length over {reachable} (0 if there are none)",
    "avg_shortest_path": "mean shortest-path length over {reachable} (0 if there are none)",
    "avg_eccentricity": (
        "mean over vertices of the eccentricity: the largest distance from the vertex to any "
        "vertex {eccentricity}"
    ),
    "avg_betweenness": (
        "mean over vertices of networkx betweenness_centrality (normalized=True, "
        "endpoints=False): {betweenness}"
    ),
    "avg_closeness": ("mean over vertices of networkx closeness_centrality: {closeness}"),
    "avg_edge_betweenness": (
        "mean over edges of networkx edge_betweenness_centrality (normalized=True): "
        "{edge_betweenness} (0 for a graph without edges)"
    ),
    "degree_mean": "mean vertex degree{degree}",
    "degree_std": "population standard deviation (ddof=0) of the vertex degree{degree}",
    "degree_max": "largest vertex degree{degree}",
}

_WORDING = {
    "dag": {
        "density": "m / (n (n - 1))",
        "reachable": _REACHABLE["dag"],
        "eccentricity": "reachable from it along edge directions (0 for a sink)",
        "betweenness": (
            "sum over ordered pairs (s, t) of the fraction of directed shortest s-t paths "
            "through the vertex, divided by (n - 1)(n - 2)"
        ),
        "closeness": (
            "(r - 1) / (sum of distances from the r - 1 vertices that reach it) x "
            "(r - 1) / (n - 1), r counting the vertex itself (incoming distances, "
            "Wasserman-Faust scaling for unreachable vertices; 0 for a source)"
        ),
        "edge_betweenness": (
            "sum over ordered pairs (s, t) of the fraction of directed shortest s-t paths "
            "through the edge, divided by n (n - 1)"
        ),
        "degree": " (total degree: in + out)",
    },
    "prior": {
        "density": "2 m / (n (n - 1))",
        "reachable": _REACHABLE["prior"],
        "eccentricity": "in its connected component (networkx eccentricity when connected)",
        "betweenness": (
            "sum over unordered pairs {s, t} of the fraction of shortest s-t paths through the "
            "vertex, divided by (n - 1)(n - 2) / 2"
        ),
        "closeness": (
            "(r - 1) / (sum of distances to the r - 1 other vertices of its component) x "
            "(r - 1) / (n - 1), r the component size (Wasserman-Faust scaling; 0 if isolated)"
        ),
        "edge_betweenness": (
            "sum over unordered pairs {s, t} of the fraction of shortest s-t paths through the "
            "edge, divided by n (n - 1) / 2"
        ),
        "degree": "",
    },
}

_DAG_ONLY_DEFINITIONS = {
    "dag_in_degree_mean": "mean vertex in-degree of the DAG (equals m / n)",
    "dag_in_degree_std": "population standard deviation (ddof=0) of the DAG in-degree",
    "dag_in_degree_max": "largest in-degree of the DAG",
    "dag_out_degree_mean": "mean vertex out-degree of the DAG (equals m / n)",
    "dag_out_degree_std": "population standard deviation (ddof=0) of the DAG out-degree",
    "dag_out_degree_max": "largest out-degree of the DAG",
    "dag_layers": (
        "depth: number of layers, layer 0 = sources, else 1 + largest layer of a predecessor"
    ),
    "dag_sources": "number of vertices without incoming edges (each fed by all 784 pixels)",
    "dag_sinks": "number of vertices without outgoing edges (each feeding all 10 outputs)",
    "dag_parameters": (
        "trainable parameters: 784 x sources + edges + 10 x sinks + hidden vertices + 10"
    ),
}

_PRIOR_ONLY_DEFINITIONS = {
    "prior_components": "number of connected components of the prior",
}

_STUDY = "the study code's {name}: python-igraph 0.7/0.8 default {call} on the directed DAG"

_STUDY_DEFINITIONS = {
    "dag_study_avg_path_length": (
        _STUDY.format(name="avg_path_length", call="average_path_length()")
        + " (directed=True, unconn=True): mean shortest-path length over "
        + _REACHABLE["dag"]
        + "; equals dag_avg_shortest_path (0 where igraph gives NaN: no reachable pair)"
    ),
    "dag_study_diameter": (
        _STUDY.format(name="diameter", call="diameter()")
        + " (directed=True, unconn=True): longest directed shortest path; equals dag_diameter"
    ),
    "dag_study_avg_eccentricity": (
        _STUDY.format(name="avg_eccentricity", call="eccentricity()")
        + ", i.e. mode OUT (the binding's default from 0.7 to 1.0, although its docstring says "
        "mode=ALL): mean over vertices of the largest distance to a vertex reachable from it "
        "(0 for a sink); equals dag_avg_eccentricity (mode ALL would give "
        "prior_avg_eccentricity)"
    ),
    "dag_study_radius": (
        _STUDY.format(name="radius", call="radius()")
        + " (mode OUT): smallest eccentricity, which is 0 for every DAG (its sinks reach "
        "nothing), so the study's radius is constant"
    ),
    "dag_study_avg_betweenness": (
        _STUDY.format(name="avg_betweenness", call="betweenness()")
        + " (directed=True, not normalised): mean over vertices of the sum over ordered pairs "
        "(s, t) of the fraction of directed shortest s-t paths through the vertex; equals "
        "dag_avg_betweenness x (n - 1)(n - 2)"
    ),
    "dag_study_avg_closeness": (
        _STUDY.format(name="avg_closeness", call="closeness()")
        + " (mode ALL, normalized=True): mean over vertices of (n - 1) / (sum of the undirected "
        "distances to the n - 1 other vertices), an unreachable vertex counted at distance n; "
        "igraph's rule before 0.9 (0.9 and later skip unreachable vertices), which the study "
        "ran under in 2019-2020 (1 / n for an isolated vertex; 0 for a one-vertex graph, where "
        "igraph gives NaN)"
    ),
    "dag_study_avg_edge_betweenness": (
        _STUDY.format(name="avg_edge_betweenness", call="edge_betweenness()")
        + " (directed=True, not normalised): mean over edges of the sum over ordered pairs "
        "(s, t) of the fraction of directed shortest s-t paths through the edge; equals "
        "dag_avg_edge_betweenness x n (n - 1) (0 for a graph without edges)"
    ),
    "dag_study_density": (
        _STUDY.format(name="density", call="density()")
        + " (loops=False): m / (n (n - 1)); equals dag_density (0 for one vertex, where igraph "
        "gives NaN)"
    ),
}

_DISTRIBUTION_DEFINITIONS = {
    "dag_degree_hist": "DAG total degree histogram: entry k = number of vertices of degree k",
    "dag_in_degree_hist": "histogram of the DAG in-degree: entry k = number of vertices",
    "dag_out_degree_hist": "histogram of the DAG out-degree: entry k = number of vertices",
    "dag_layer_hist": "layer widths: entry k = number of vertices in layer k",
    "dag_path_length_hist": (
        f"entry d = number of {_REACHABLE['dag']} at distance d (entry 0 is 0)"
    ),
    "dag_eccentricity_hist": "entry e = number of DAG vertices of eccentricity e",
    "prior_degree_hist": "histogram of the prior degree: entry k = number of vertices of degree k",
    "prior_path_length_hist": (
        f"entry d = number of {_REACHABLE['prior']} at distance d (entry 0 is 0)"
    ),
    "prior_eccentricity_hist": "entry e = number of prior vertices of eccentricity e",
}


def _build_definitions() -> dict[str, str]:
    definitions: dict[str, str] = {}
    for prefix in ("dag", "prior"):
        for name, template in _SHARED_DEFINITIONS.items():
            definitions[f"{prefix}_{name}"] = template.format(**_WORDING[prefix])
        if prefix == "dag":
            definitions.update(_DAG_ONLY_DEFINITIONS)
        else:
            definitions.update(_PRIOR_ONLY_DEFINITIONS)
    definitions.update(_STUDY_DEFINITIONS)
    definitions.update(_DISTRIBUTION_DEFINITIONS)
    return definitions


PROPERTY_DEFINITIONS: dict[str, str] = _build_definitions()
"""One-line definition of every key returned by :func:`graph_properties` and
:func:`graph_distributions` (for reports and documentation)."""
