"""Figures of a study report, drawn from the study store's tables alone.

Every figure is a :class:`matplotlib.figure.Figure` built without pyplot, so drawing a report
neither changes a user's pyplot state nor depends on a GUI backend, and it is safe in threads
and worker processes. Figures are sized for papers (3.5 in column or 7.2 in page width, 7-8 pt
text) and saved as PNG (for the HTML page) and PDF (for papers).

Input frames follow the store's layout (see :func:`structrob.report.write_report`). Rates
(accuracy, macro F1, error rate, average confidence) are stored as fractions in [0, 1] and drawn
in percent; eps is in pixel units, pixels being in [0, 1].

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
.. [2] R. L. Iman, W. J. Conover, "The use of the rank transform in regression",
   Technometrics 21(4), 1979.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy.stats import rankdata

__all__ = [
    "ATTACKS",
    "FIGURE_NAMES",
    "INITS",
    "ReportFigure",
    "build_figures",
    "correlation_pivot",
    "figure_generator_params",
    "figure_heatmap",
    "figure_measures_by_init",
    "figure_parameters",
    "figure_properties",
    "figure_pruning",
    "figure_top_correlations",
    "measure_columns",
    "measure_key",
    "measure_label",
    "property_label",
    "rank_regression_curve",
    "save_figure",
    "significance_stars",
    "strongest_pairs",
]

#: Attacks in the order the report shows them, with their display names.
ATTACKS: dict[str, str] = {
    "fgsm": "FGSM",
    "min_fgsm": "min-FGSM",
    "onepixel": "One-Pixel",
    "pgd": "PGD",
}
#: Initialisations in the order the report shows them, with short display names.
INITS: dict[str, str] = {
    "glorot_normal": "Glorot N",
    "glorot_uniform": "Glorot U",
    "he_normal": "He N",
    "he_uniform": "He U",
    "normal": "Normal",
    "uniform": "Uniform",
}
# measure -> (display name, unit, factor from the stored value to the unit)
_MEASURES: dict[str, tuple[str, str, float]] = {
    "accuracy": ("accuracy", "%", 100.0),
    "f1_macro": ("macro F1", "%", 100.0),
    "error_rate": ("error rate", "%", 100.0),
    "avg_confidence": ("avg confidence", "%", 100.0),
    "avg_eps": ("avg ε", "pixels, 0–1", 1.0),
}
_CLEAN_MEASURES = ("accuracy", "f1_macro")
_PROPERTY_LABELS: dict[str, str] = {
    "n_parameters": "parameters (count)",
    "dag_parameters": "parameters (count)",
    "dag_layers": "layers (count)",
    "dag_density": "density (0–1)",
    "dag_diameter": "diameter (edges)",
    "dag_avg_shortest_path": "avg shortest path (edges)",
    "dag_sources": "sources (vertices)",
    "dag_sinks": "sinks (vertices)",
    "dag_edges": "edges (count)",
    "dag_vertices": "vertices (count)",
}
#: Stable figure names; each is written as ``figures/<name>.png`` and ``.pdf``.
FIGURE_NAMES = (
    "parameters",
    "generator_params",
    "properties",
    "measures_by_init",
    "top_correlations",
    "heatmap",
    "pruning",
)

FULL_WIDTH = 7.2  # inches, a two-column page
COLUMN_WIDTH = 3.5  # inches, one column
_LABEL_PT = 8
_TICK_PT = 7
_ANNOTATION_PT = 6


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: its stable name, caption and the drawing (if data allowed it).

    Parameters
    ----------
    name : str
        Stable name, one of :data:`FIGURE_NAMES`; the files are ``<name>.png`` and ``<name>.pdf``.
    caption : str
        What the figure shows, in one or two sentences.
    figure : matplotlib.figure.Figure or None
        The drawing, or None when the data it needs are missing.
    missing : str
        Why the figure is absent (empty when ``figure`` is not None).

    Examples
    --------
    >>> ReportFigure("heatmap", "Spearman rho.", None, "no correlations yet").available
    False
    """

    name: str
    caption: str
    figure: Figure | None
    missing: str = ""

    @property
    def available(self) -> bool:
        """Whether the figure could be drawn."""
        return self.figure is not None


# ---------------------------------------------------------------------------------------------
# labels and column conventions
# ---------------------------------------------------------------------------------------------


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _split_measure(column: str) -> tuple[str, str] | None:
    """``"min_fgsm_avg_eps" -> ("min_fgsm", "avg_eps")``; ``"accuracy" -> ("", "accuracy")``."""
    for measure in sorted(_MEASURES, key=len, reverse=True):
        if column == measure:
            return "", measure
        if column.endswith("_" + measure):
            return column[: -len(measure) - 1], measure
    return None


def measure_key(attack: object, measure: str) -> str:
    """Column name in the runs table of a correlation row's (attack, measure).

    Parameters
    ----------
    attack : str or None
        Attack name (``fgsm``, ``min_fgsm``, ``onepixel``, ``pgd``, ...); None, NaN, ``""`` or
        ``"clean"`` for clean measures (accuracy, F1).
    measure : str
        Measure name, bare (``error_rate``) or already prefixed by the attack
        (``fgsm_error_rate``).

    Returns
    -------
    str
        ``"{attack}_{measure}"``, or ``measure`` for clean or already prefixed measures.

    Examples
    --------
    >>> measure_key("fgsm", "error_rate"), measure_key("fgsm", "fgsm_error_rate")
    ('fgsm_error_rate', 'fgsm_error_rate')
    >>> measure_key(None, "f1_macro")
    'f1_macro'
    """
    if _is_missing(attack) or str(attack) in ("", "clean"):
        return str(measure)
    attack = str(attack)
    if str(measure).startswith(attack + "_"):
        return str(measure)
    return f"{attack}_{measure}"


def _measure_sort_key(column: str) -> tuple[int, int, str]:
    attack, measure = _split_measure(column) or ("~", column)
    attack_rank = -1 if attack == "" else list(ATTACKS).index(attack) if attack in ATTACKS else 99
    measure_rank = list(_MEASURES).index(measure) if measure in _MEASURES else 99
    return attack_rank, measure_rank, column


def _order_measures(columns: Iterable[str]) -> list[str]:
    return sorted(dict.fromkeys(columns), key=_measure_sort_key)


def measure_label(column: str, *, attack: bool = True, unit: bool = True) -> str:
    """Readable label of a measure column, e.g. ``"FGSM error rate (%)"``.

    Parameters
    ----------
    column : str
        Runs-table column: ``accuracy``, ``f1_macro`` or ``{attack}_{measure}``.
    attack : bool
        Whether to name the attack.
    unit : bool
        Whether to append the unit in parentheses.

    Returns
    -------
    str
        The label; unknown columns are returned with underscores as spaces.

    Examples
    --------
    >>> measure_label("min_fgsm_avg_eps")
    'min-FGSM avg ε (pixels, 0–1)'
    >>> measure_label("f1_macro", unit=False), measure_label("pgd_error_rate", attack=False)
    ('macro F1', 'error rate (%)')
    """
    parts = _split_measure(column)
    if parts is None:
        return column.replace("_", " ")
    attack_name, measure = parts
    name, unit_text, _ = _MEASURES[measure]
    text = name
    if attack and attack_name:
        text = f"{ATTACKS.get(attack_name, attack_name)} {name}"
    return f"{text} ({unit_text})" if unit else text


def _measure_factor(column: str) -> float:
    parts = _split_measure(column)
    return _MEASURES[parts[1]][2] if parts else 1.0


def _attack_title(column: str) -> str:
    parts = _split_measure(column)
    if parts is None or parts[0] == "":
        return "clean"
    return ATTACKS.get(parts[0], parts[0])


def property_label(name: str) -> str:
    """Readable label of a graph-property column, with its unit where known.

    ``dag_`` properties describe the network's DAG and lose their prefix; ``prior_`` properties
    describe the undirected prior graph and keep the word "prior".

    Parameters
    ----------
    name : str
        Column of the graphs table, e.g. ``dag_layers`` or ``prior_avg_betweenness``.

    Returns
    -------
    str

    Examples
    --------
    >>> property_label("dag_layers"), property_label("prior_avg_betweenness")
    ('layers (count)', 'prior avg betweenness')
    """
    if name in _PROPERTY_LABELS:
        return _PROPERTY_LABELS[name]
    if name.startswith("dag_"):
        name = name[len("dag_") :]
    elif name.startswith("prior_"):
        name = "prior " + name[len("prior_") :]
    return name.replace("_", " ")


def significance_stars(q: object) -> str:
    """Significance marks of a q-value: ``***`` q < .001, ``**`` q < .01, ``*`` q < .05.

    Parameters
    ----------
    q : float or None
        False-discovery-rate adjusted p-value in [0, 1]; None or NaN gives no mark.

    Returns
    -------
    str

    Examples
    --------
    >>> [significance_stars(q) for q in (0.0005, 0.001, 0.02, 0.05, float("nan"))]
    ['***', '**', '*', '', '']
    """
    if _is_missing(q):
        return ""
    q = float(q)
    if q < 0.001:
        return "***"
    if q < 0.01:
        return "**"
    if q < 0.05:
        return "*"
    return ""


def measure_columns(runs: pd.DataFrame) -> list[str]:
    """Measure columns of a runs table that hold at least one value, in report order.

    Clean measures (accuracy, macro F1) come first, then each attack in :data:`ATTACKS` order
    (unknown attacks last) with error rate, average confidence and average eps.

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs table; count columns such as ``fgsm_n_correct`` are not measures.

    Returns
    -------
    list of str

    Examples
    --------
    >>> runs = pd.DataFrame({"pgd_error_rate": [0.5], "accuracy": [0.9], "fgsm_n_correct": [9],
    ...                      "fgsm_error_rate": [0.3], "onepixel_avg_confidence": [None]})
    >>> measure_columns(runs)
    ['accuracy', 'fgsm_error_rate', 'pgd_error_rate']
    """
    columns = []
    for column in runs.columns:
        if not isinstance(column, str) or _split_measure(column) is None:
            continue
        if pd.to_numeric(runs[column], errors="coerce").notna().any():
            columns.append(column)
    return _order_measures(columns)


# ---------------------------------------------------------------------------------------------
# selection helpers
# ---------------------------------------------------------------------------------------------


def _frame(value: pd.DataFrame | None) -> pd.DataFrame:
    return pd.DataFrame() if value is None else value


def _of_study(frame: pd.DataFrame, study: str) -> pd.DataFrame:
    """Rows of one study; a table without a study column belongs to the graph-prior study."""
    if "study" not in frame.columns:
        return frame if study == "prior" else frame.iloc[0:0]
    return frame[frame["study"] == study]


def _ok_runs(runs: pd.DataFrame, study: str) -> pd.DataFrame:
    runs = _of_study(_frame(runs), study)
    if "status" in runs.columns:
        runs = runs[runs["status"] == "ok"]
    return runs


def _numeric(series: pd.Series) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    return values[np.isfinite(values)]


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _style(ax) -> None:
    ax.tick_params(labelsize=_TICK_PT)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


def _grid(figure: Figure, n_panels: int, n_columns: int):
    n_rows = math.ceil(n_panels / n_columns)
    axes = figure.subplots(n_rows, n_columns, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return axes[:n_panels]


def _format_tick(value: object) -> str:
    return f"{value:g}" if isinstance(value, (int, float, np.number)) else str(value)


# ---------------------------------------------------------------------------------------------
# statistics drawn in figures
# ---------------------------------------------------------------------------------------------


def rank_regression_curve(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray, float]:
    """Rank regression of y on x, back-transformed to the data's scale [2]_.

    Fits the least-squares line ``rank(y) = a + b rank(x)`` (average ranks for ties), then maps
    each fitted rank back to a y value by linear interpolation in the sorted y values. The
    result is a monotone curve through the data whose direction and steepness in rank space is
    the one Spearman's rho measures: without ties, ``b`` equals Spearman's rho.

    Parameters
    ----------
    x, y : sequence of float, shape [n]
        Paired finite observations, ``n >= 2``.

    Returns
    -------
    x_sorted : numpy.ndarray, shape [n]
        ``x`` in ascending order.
    y_fit : numpy.ndarray, shape [n]
        Fitted y at ``x_sorted``; non-decreasing when ``slope >= 0``, non-increasing otherwise.
    slope : float
        Least-squares slope ``b`` in rank space; 0 when x is constant.

    Examples
    --------
    >>> xs, fit, slope = rank_regression_curve([1, 2, 3, 4], [10, 30, 20, 40])
    >>> round(slope, 2), xs.tolist()
    (0.8, [1.0, 2.0, 3.0, 4.0])
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of equal length, got shapes {x.shape} and {y.shape}")
    if x.size < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y need at least 2 finite pairs; drop NaN/inf values first")
    rank_x = rankdata(x)
    rank_y = rankdata(y)
    centred_x = rank_x - rank_x.mean()
    spread = float(centred_x @ centred_x)
    slope = 0.0 if spread == 0 else float(centred_x @ (rank_y - rank_y.mean())) / spread
    intercept = rank_y.mean() - slope * rank_x.mean()
    order = np.argsort(x, kind="stable")
    fitted_rank = intercept + slope * rank_x[order]
    # tied y values share one rank; np.interp needs strictly increasing knots
    knots, first = np.unique(np.sort(rank_y), return_index=True)
    y_fit = np.interp(fitted_rank, knots, np.sort(y)[first])
    return x[order], y_fit, slope


def strongest_pairs(correlations: pd.DataFrame, study: str = "prior", k: int | None = 6) -> pd.DataFrame:
    """The (property, measure) pairs with the largest |Spearman rho| of one study.

    Parameters
    ----------
    correlations : pandas.DataFrame
        Long correlation table (columns ``property, measure, attack, rho`` and optionally
        ``study``; a table without ``study`` belongs to the graph-prior study).
    study : str
        ``"prior"`` (Table 1) or ``"pruning"`` (Table 2).
    k : int or None
        How many pairs; None for all.

    Returns
    -------
    pandas.DataFrame
        Rows sorted by |rho| descending (ties by property, then measure), with an added column
        ``measure_key``: the runs-table column of the measure (see :func:`measure_key`).

    Examples
    --------
    >>> table = pd.DataFrame({"property": ["dag_layers", "dag_density", "dag_layers"],
    ...                       "measure": ["error_rate", "error_rate", "f1_macro"],
    ...                       "attack": ["fgsm", "fgsm", None], "rho": [0.2, -0.7, 0.5]})
    >>> strongest_pairs(table, k=2)[["property", "measure_key", "rho"]].to_numpy().tolist()
    [['dag_density', 'fgsm_error_rate', -0.7], ['dag_layers', 'f1_macro', 0.5]]
    """
    table = _of_study(_frame(correlations), study)
    if table.empty or not {"property", "measure", "rho"} <= set(table.columns):
        return pd.DataFrame(columns=[*table.columns, "measure_key"])
    table = table[pd.to_numeric(table["rho"], errors="coerce").notna()].copy()
    attacks = table["attack"] if "attack" in table.columns else pd.Series(None, index=table.index)
    table["measure_key"] = [measure_key(a, m) for a, m in zip(attacks, table["measure"])]
    table["_abs"] = pd.to_numeric(table["rho"]).abs()
    table = table.sort_values(["_abs", "property", "measure_key"], ascending=[False, True, True],
                              kind="stable")
    table = table.drop(columns="_abs").reset_index(drop=True)
    return table if k is None else table.head(k)


def correlation_pivot(correlations: pd.DataFrame, study: str = "prior", value: str = "rho") -> pd.DataFrame:
    """One statistic of the correlation table in the study's layout: properties x measures.

    Parameters
    ----------
    correlations : pandas.DataFrame
        Long correlation table (see :func:`strongest_pairs`).
    study : str
        ``"prior"`` or ``"pruning"``.
    value : str
        Column to spread, e.g. ``rho``, ``rho_q``, ``tau``.

    Returns
    -------
    pandas.DataFrame
        Index: properties in order of first appearance; columns: runs-table measure columns in
        report order (see :func:`measure_columns`); NaN where the table has no value. The first
        row of a duplicated (property, measure) pair wins.

    Examples
    --------
    >>> table = pd.DataFrame({"property": ["dag_layers", "dag_layers"],
    ...                       "measure": ["error_rate", "accuracy"],
    ...                       "attack": ["pgd", None], "rho": [0.3, -0.1]})
    >>> correlation_pivot(table).to_dict("index")
    {'dag_layers': {'accuracy': -0.1, 'pgd_error_rate': 0.3}}
    """
    table = _of_study(_frame(correlations), study)
    if table.empty or value not in table.columns or not {"property", "measure"} <= set(table.columns):
        return pd.DataFrame()
    attacks = table["attack"] if "attack" in table.columns else pd.Series(None, index=table.index)
    keys = [measure_key(a, m) for a, m in zip(attacks, table["measure"])]
    long = pd.DataFrame({"property": table["property"].astype(str).to_numpy(), "key": keys,
                         "value": pd.to_numeric(table[value], errors="coerce").to_numpy()})
    long = long.drop_duplicates(["property", "key"], keep="first")
    wide = long.set_index(["property", "key"])["value"].unstack("key")
    wide = wide.reindex(index=list(dict.fromkeys(long["property"])), columns=_order_measures(long["key"]))
    wide.index.name = None
    wide.columns.name = None
    return wide


def _graph_means(runs: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Per-graph mean of each measure over its initialisations (no outlier filter)."""
    if runs.empty or "graph_id" not in runs.columns or not columns:
        return pd.DataFrame()
    values = runs[columns].apply(pd.to_numeric, errors="coerce")
    return values.groupby(runs["graph_id"]).mean()


def _graph_table(graphs: pd.DataFrame, study: str) -> pd.DataFrame:
    graphs = _of_study(_frame(graphs), study)
    if "graph_id" not in graphs.columns:
        return pd.DataFrame()
    return graphs.drop_duplicates("graph_id").set_index("graph_id")


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def figure_parameters(graphs: pd.DataFrame | None, draws: pd.DataFrame | None) -> Figure | None:
    """Histogram of the accepted graphs' parameter counts over the rejected draws.

    Parameters
    ----------
    graphs : pandas.DataFrame or None
        Accepted graphs (``study``, ``n_parameters``); only the graph-prior study is drawn.
    draws : pandas.DataFrame or None
        Every sampled draw (``n_parameters``, ``accepted``); rejected ones are drawn in grey.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no parameter counts are available.

    Examples
    --------
    >>> graphs = pd.DataFrame({"study": ["prior"] * 3, "n_parameters": [52e3, 60e3, 71e3]})
    >>> draws = pd.DataFrame({"n_parameters": [52e3, 60e3, 71e3, 3e5, 9e5],
    ...                       "accepted": [True, True, True, False, False]})
    >>> figure_parameters(graphs, draws).axes[0].get_xscale()
    'log'
    """
    graphs = _of_study(_frame(graphs), "prior")
    draws = _frame(draws)
    accepted = _numeric(graphs["n_parameters"]) if "n_parameters" in graphs.columns else np.array([])
    rejected = np.array([])
    if {"n_parameters", "accepted"} <= set(draws.columns):
        rejected = _numeric(draws.loc[~draws["accepted"].astype(bool), "n_parameters"])
    accepted, rejected = accepted[accepted > 0], rejected[rejected > 0]
    if accepted.size + rejected.size == 0:
        return None
    both = np.concatenate([accepted, rejected])
    low, high = both.min() / 1.05, both.max() * 1.05
    bins = np.geomspace(low, high, 41)
    figure = _new_figure(COLUMN_WIDTH, 2.4)
    ax = figure.subplots()
    if rejected.size:
        ax.hist(rejected, bins=bins, color="0.78", label=f"rejected draws (n = {rejected.size})")
    if accepted.size:
        ax.hist(accepted, bins=bins, color="C0", label=f"accepted graphs (n = {accepted.size})")
    ax.set_xscale("log")
    counts = np.concatenate([np.histogram(v, bins=bins)[0] for v in (accepted, rejected) if v.size])
    # a log count axis only pays off when rejected draws dwarf the accepted graphs
    log_counts = counts.max() / counts[counts > 0].min() > 30
    if log_counts:
        ax.set_yscale("log")
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("parameters (count, log scale)", fontsize=_LABEL_PT)
    ax.set_ylabel("graphs (count, log scale)" if log_counts else "graphs (count)", fontsize=_LABEL_PT)
    ax.legend(fontsize=_TICK_PT, frameon=False)
    _style(ax)
    return figure


def figure_generator_params(graphs: pd.DataFrame | None, draws: pd.DataFrame | None) -> Figure | None:
    """Accepted graphs per generator parameter value (size, nei, p), and the acceptance rate.

    Top row: number of accepted graph-prior graphs per value, stacked by generator. Bottom row
    (when draws are available): percentage of draws with that value that were accepted.

    Parameters
    ----------
    graphs : pandas.DataFrame or None
        Accepted graphs (``study``, ``generator``, ``size``, ``nei``, ``p``).
    draws : pandas.DataFrame or None
        Every sampled draw (``size``, ``nei``, ``p``, ``accepted``).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when neither table has a generator parameter.

    Examples
    --------
    >>> graphs = pd.DataFrame({"generator": ["ws"] * 2, "size": [400, 500], "nei": [2, 2],
    ...                        "p": [0.1, 0.5]})
    >>> len(figure_generator_params(graphs, None).axes)
    3
    """
    graphs = _of_study(_frame(graphs), "prior")
    draws = _frame(draws)
    has_rate = "accepted" in draws.columns and not draws.empty
    parameters = [
        name
        for name in ("size", "nei", "p")
        if (name in graphs.columns and graphs[name].notna().any())
        or (has_rate and name in draws.columns and draws[name].notna().any())
    ]
    if not parameters:
        return None
    n_rows = 2 if has_rate else 1
    figure = _new_figure(FULL_WIDTH, 1.9 * n_rows + 0.2)
    axes = figure.subplots(n_rows, len(parameters), squeeze=False)
    if "generator" in graphs.columns:
        generators = graphs["generator"].astype(str)
    else:
        generators = pd.Series("graph", index=graphs.index)
    for column, name in enumerate(parameters):
        values = set()
        if name in graphs.columns:
            values |= set(graphs[name].dropna())
        if has_rate and name in draws.columns:
            values |= set(draws[name].dropna())
        values = sorted(values)
        positions = np.arange(len(values))
        ax = axes[0, column]
        bottom = np.zeros(len(values))
        if name in graphs.columns:
            for index, generator in enumerate(sorted(generators.unique())):
                counts = graphs.loc[generators == generator, name].value_counts()
                heights = np.array([counts.get(v, 0) for v in values], dtype=float)
                ax.bar(positions, heights, bottom=bottom, color=f"C{index}", label=generator)
                bottom += heights
        ax.set_title(name, fontsize=_LABEL_PT)
        ax.set_ylabel("accepted graphs (count)", fontsize=_LABEL_PT)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if generators.nunique() > 1 and column == 0:
            ax.legend(fontsize=_TICK_PT, frameon=False)
        axes_of_column = [ax]
        if has_rate:
            rate_ax = axes[1, column]
            if name in draws.columns:
                rate = draws.groupby(name)["accepted"].mean() * 100.0
                rate_ax.bar(positions, [rate.get(v, np.nan) for v in values], color="0.45")
            rate_ax.set_ylabel("accepted draws (%)", fontsize=_LABEL_PT)
            axes_of_column.append(rate_ax)
        for each in axes_of_column:
            each.set_xticks(positions, [_format_tick(v) for v in values],
                            rotation=45 if len(values) > 6 else 0)
            _style(each)
        axes_of_column[-1].set_xlabel(f"{name} (generator parameter)", fontsize=_LABEL_PT)
    return figure


def figure_properties(graphs: pd.DataFrame | None, max_panels: int = 16) -> Figure | None:
    """Grid of histograms of the DAG properties (``dag_*`` columns) of the accepted graphs.

    Parameters
    ----------
    graphs : pandas.DataFrame or None
        Accepted graphs; only the graph-prior study is drawn.
    max_panels : int
        At most this many properties, in column order.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no ``dag_*`` column holds a value.

    Examples
    --------
    >>> graphs = pd.DataFrame({"dag_layers": [12, 15, 29], "dag_density": [0.01, 0.02, 0.02]})
    >>> [ax.get_xlabel() for ax in figure_properties(graphs).axes]
    ['density (0–1)', 'layers (count)']
    """
    graphs = _of_study(_frame(graphs), "prior")
    columns = [c for c in graphs.columns
               if isinstance(c, str) and c.startswith("dag_") and _numeric(graphs[c]).size]
    columns = sorted(columns)[:max_panels]
    if not columns:
        return None
    n_columns = min(4, len(columns))
    n_rows = math.ceil(len(columns) / n_columns)
    figure = _new_figure(FULL_WIDTH if n_columns > 2 else COLUMN_WIDTH, 1.55 * n_rows + 0.1)
    for ax, column in zip(_grid(figure, len(columns), n_columns), columns):
        values = _numeric(graphs[column])
        integral = np.all(values == np.round(values))
        if integral and np.ptp(values) < 30:
            bins = np.arange(values.min() - 0.5, values.max() + 1.5)
        else:
            bins = min(20, max(1, len(np.unique(values))))
        ax.hist(values, bins=bins, color="C0")
        ax.set_xlabel(property_label(column), fontsize=_LABEL_PT)
        ax.set_ylabel("graphs (count)", fontsize=_LABEL_PT)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        _style(ax)
    return figure


def _measure_panels(runs: pd.DataFrame, draw: Callable, x_label: str) -> Figure | None:
    columns = measure_columns(runs)
    if runs.empty or not columns:
        return None
    n_columns = min(4, len(columns))
    figure = _new_figure(FULL_WIDTH, 1.75 * math.ceil(len(columns) / n_columns) + 0.3)
    for ax, column in zip(_grid(figure, len(columns), n_columns), columns):
        draw(ax, column, _measure_factor(column))
        ax.set_title(_attack_title(column), fontsize=_LABEL_PT)
        ax.set_ylabel(measure_label(column, attack=False), fontsize=_LABEL_PT)
        _style(ax)
    figure.supxlabel(x_label, fontsize=_LABEL_PT)
    return figure


def figure_measures_by_init(runs: pd.DataFrame | None) -> Figure | None:
    """Box plots of every measure per initialisation, one panel per attack x measure.

    Clean accuracy and macro F1 come first. Each box summarises the graph-prior networks of one
    initialisation (one point per run, drawn over the box); whiskers reach 1.5 IQR.

    Parameters
    ----------
    runs : pandas.DataFrame or None
        Runs table (``study``, ``status``, ``init`` and measure columns); only runs of the
        graph-prior study with status ``ok`` are drawn.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when there is no finished run with a measure and an initialisation.

    Examples
    --------
    >>> runs = pd.DataFrame({"init": ["he_normal", "uniform"] * 2, "status": "ok",
    ...                      "accuracy": [0.97, 0.95, 0.96, 0.94],
    ...                      "fgsm_error_rate": [0.6, 0.7, 0.65, 0.8]})
    >>> [ax.get_title() for ax in figure_measures_by_init(runs).axes]
    ['clean', 'FGSM']
    """
    runs = _ok_runs(runs, "prior")
    if "init" not in runs.columns:
        return None
    present = [str(i) for i in runs["init"].dropna().unique()]
    inits = [i for i in INITS if i in present] + sorted(i for i in present if i not in INITS)
    rng = np.random.default_rng(0)  # jitter only; fixed so reruns give identical files

    def draw(ax, column: str, factor: float) -> None:
        values = pd.to_numeric(runs[column], errors="coerce") * factor
        groups = [values[runs["init"].astype(str) == init].dropna().to_numpy() for init in inits]
        filled = [k for k, group in enumerate(groups) if group.size]
        if filled:
            ax.boxplot([groups[k] for k in filled], positions=filled, widths=0.6, showfliers=False,
                       medianprops={"color": "C1"})
        for k in filled:
            ax.plot(k + rng.uniform(-0.18, 0.18, groups[k].size), groups[k], "o", ms=2,
                    color="C0", alpha=0.6)
        ax.set_xticks(range(len(inits)), [INITS.get(i, i) for i in inits], rotation=45, ha="right")
        ax.set_xlim(-0.6, len(inits) - 0.4)

    return _measure_panels(runs, draw, "initialisation")


def figure_top_correlations(runs: pd.DataFrame | None, graphs: pd.DataFrame | None,
                            correlations: pd.DataFrame | None, k: int = 6) -> Figure | None:
    """Scatter plots of the k strongest |rho| (property, measure) pairs of the graph-prior study.

    Points are graphs: the property against the measure averaged over the graph's
    initialisations (plain mean, no outlier filter). The line is the rank regression of the
    measure on the property, back-transformed to the data's scale (see
    :func:`rank_regression_curve`). Panel titles give rho and its q-value from the
    correlation table.

    Parameters
    ----------
    runs : pandas.DataFrame or None
        Runs table (``graph_id``, ``study``, ``status`` and measure columns).
    graphs : pandas.DataFrame or None
        Graphs table (``graph_id`` and property columns).
    correlations : pandas.DataFrame or None
        Long correlation table (``property, measure, attack, rho`` and optionally ``rho_q``).
    k : int
        Number of panels, >= 1.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no pair has at least 3 graphs with both values.

    Examples
    --------
    >>> runs = pd.DataFrame({"graph_id": [1, 1, 2, 3], "accuracy": [0.9, 0.8, 0.95, 0.99]})
    >>> graphs = pd.DataFrame({"graph_id": [1, 2, 3], "dag_layers": [12, 20, 29]})
    >>> table = pd.DataFrame({"property": ["dag_layers"], "measure": ["accuracy"], "rho": [1.0]})
    >>> figure_top_correlations(runs, graphs, table).axes[0].get_title()
    'ρ = 1.00, n = 3'
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    pairs = strongest_pairs(correlations, "prior", k=None)
    runs = _ok_runs(runs, "prior")
    properties = _graph_table(graphs, "prior")
    keys = [key for key in dict.fromkeys(pairs.get("measure_key", [])) if key in runs.columns]
    means = _graph_means(runs, keys)
    chosen = []
    for row in pairs.itertuples(index=False):
        if len(chosen) == k:
            break
        if row.property not in properties.columns or row.measure_key not in means.columns:
            continue
        joined = pd.concat([pd.to_numeric(properties[row.property], errors="coerce").rename("x"),
                            means[row.measure_key].rename("y")], axis=1, join="inner").dropna()
        if len(joined) >= 3:
            chosen.append((row, joined))
    if not chosen:
        return None
    n_columns = min(3, len(chosen))
    n_rows = math.ceil(len(chosen) / n_columns)
    figure = _new_figure(FULL_WIDTH if n_columns > 1 else COLUMN_WIDTH, 2.25 * n_rows)
    for ax, (row, joined) in zip(_grid(figure, len(chosen), n_columns), chosen):
        factor = _measure_factor(row.measure_key)
        x, y = joined["x"].to_numpy(), joined["y"].to_numpy() * factor
        ax.plot(x, y, "o", ms=3, color="C0", alpha=0.7)
        line_x, line_y, _ = rank_regression_curve(x, y)
        ax.plot(line_x, line_y, "-", color="C3", lw=1.2)
        q = getattr(row, "rho_q", None)
        title = f"ρ = {float(row.rho):.2f}{significance_stars(q)}"
        if not _is_missing(q):
            title += f" (q {_format_q(q)})"
        ax.set_title(f"{title}, n = {len(joined)}", fontsize=_LABEL_PT)
        ax.set_xlabel(property_label(row.property), fontsize=_LABEL_PT)
        ax.set_ylabel(measure_label(row.measure_key), fontsize=_LABEL_PT)
        _style(ax)
    return figure


def _format_q(q: object) -> str:
    q = float(q)
    return "< 0.001" if q < 0.001 else f"= {q:.3f}"


_STUDY_TITLES = {"prior": "Table 1: graph priors", "pruning": "Table 2: random pruning"}


def figure_heatmap(correlations: pd.DataFrame | None) -> Figure | None:
    """Heatmap of Spearman rho, properties x measures, one panel per study.

    Cells show rho and its significance marks (``*`` q < .05, ``**`` q < .01, ``***`` q < .001,
    q being the adjusted p-value ``rho_q``).

    Parameters
    ----------
    correlations : pandas.DataFrame or None
        Long correlation table (``study, property, measure, attack, rho, rho_q``).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the table has no rho.

    Examples
    --------
    >>> table = pd.DataFrame({"study": "prior", "property": ["dag_layers", "dag_density"],
    ...                       "measure": "error_rate", "attack": "fgsm",
    ...                       "rho": [0.6, -0.2], "rho_q": [0.004, 0.3]})
    >>> [t.get_text() for t in figure_heatmap(table).axes[0].texts]
    ['0.60**', '-0.20']
    """
    correlations = _frame(correlations)
    studies = ["prior", "pruning"]
    if "study" in correlations.columns:
        studies += sorted(set(correlations["study"].dropna().astype(str)) - set(studies))
    panels = [(study, correlation_pivot(correlations, study, "rho")) for study in studies]
    panels = [(study, rho) for study, rho in panels if not rho.empty and rho.notna().any().any()]
    if not panels:
        return None
    # stacked panels share one column order, so a measure sits at the same x in both tables
    columns = _order_measures(c for _, rho in panels for c in rho.columns)
    panels = [(study, rho.reindex(columns=columns)) for study, rho in panels]
    heights = [len(rho.index) for _, rho in panels]
    longest_property = max(len(property_label(p)) for _, rho in panels for p in rho.index)
    width = min(FULL_WIDTH, 0.055 * longest_property + 0.42 * len(columns) + 1.0)
    figure = _new_figure(max(width, COLUMN_WIDTH), 0.2 * sum(heights) + 0.35 * len(panels) + 1.3)
    axes = figure.subplots(len(panels), 1, squeeze=False, height_ratios=heights).ravel()
    image = None
    for index, (ax, (study, rho)) in enumerate(zip(axes, panels)):
        q = correlation_pivot(correlations, study, "rho_q").reindex(index=rho.index, columns=rho.columns)
        values = rho.to_numpy(dtype=float)
        image = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.2f}{significance_stars(q.iat[i, j])}",
                        ha="center", va="center", fontsize=_ANNOTATION_PT,
                        color="white" if abs(value) > 0.6 else "black")
        bottom = index == len(panels) - 1
        ax.set_xticks(range(len(columns)), [measure_label(c, unit=False) for c in columns] if bottom else [],
                      rotation=50, ha="right")
        ax.set_yticks(range(len(rho.index)), [property_label(p) for p in rho.index])
        ax.tick_params(labelsize=_TICK_PT, length=0)
        ax.set_title(_STUDY_TITLES.get(study, study), fontsize=_LABEL_PT)
    colorbar = figure.colorbar(image, ax=list(axes), shrink=0.8)
    colorbar.set_label("Spearman ρ", fontsize=_LABEL_PT)
    colorbar.ax.tick_params(labelsize=_TICK_PT)
    return figure


def figure_pruning(runs: pd.DataFrame | None) -> Figure | None:
    """Measures against pruning step for the random-pruning baseline: mean ± sd.

    Each point is the mean over all finished runs at that step (initialisations x pruned
    networks), the bar one standard deviation (absent with a single run).

    Parameters
    ----------
    runs : pandas.DataFrame or None
        Runs table; only rows of study ``"pruning"`` with status ``ok`` and a ``step`` are used.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the pruning study has no finished run.

    Examples
    --------
    >>> runs = pd.DataFrame({"study": "pruning", "step": [0, 0, 1, 1],
    ...                      "accuracy": [0.97, 0.96, 0.9, 0.92]})
    >>> [ax.get_title() for ax in figure_pruning(runs).axes]
    ['clean']
    """
    runs = _ok_runs(runs, "pruning")
    if "step" not in runs.columns:
        return None
    runs = runs[pd.to_numeric(runs["step"], errors="coerce").notna()]
    steps = pd.to_numeric(runs["step"])

    def draw(ax, column: str, factor: float) -> None:
        values = pd.to_numeric(runs[column], errors="coerce") * factor
        summary = values.groupby(steps).agg(["mean", "std"]).dropna(subset=["mean"])
        ax.errorbar(summary.index.to_numpy(dtype=float), summary["mean"].to_numpy(),
                    yerr=summary["std"].fillna(0.0).to_numpy(), fmt="o-", ms=3, lw=1, capsize=2)
        ax.xaxis.get_major_locator().set_params(integer=True)

    return _measure_panels(runs, draw, "pruning step")


# ---------------------------------------------------------------------------------------------
# all figures, saving
# ---------------------------------------------------------------------------------------------

_CAPTIONS = {
    "parameters": (
        "Parameter counts (784 x sources + edges + 10 x sinks + hidden vertices + 10) of the "
        "accepted graph priors (blue) over all rejected draws (grey); parameter axis logarithmic.",
        "needs graphs or draws with n_parameters",
    ),
    "generator_params": (
        "Accepted graphs per generator parameter value (top) and the percentage of draws with "
        "that value that were accepted (bottom).",
        "needs graphs or draws with size, nei or p",
    ),
    "properties": (
        "Distributions of the DAG properties of the accepted graph priors.",
        "needs graphs with dag_* property columns",
    ),
    "measures_by_init": (
        "Clean accuracy and macro F1, and each attack's robustness measures per initialisation "
        "(graph-prior study). Boxes: quartiles and median, whiskers 1.5 IQR, points: runs. "
        "Error rate: successful attacks / clean-correct images; avg confidence: softmax "
        "probability of the wrong class over successful attacks; avg ε: minimal eps over fooled "
        "images, in pixel units (pixels in [0, 1]).",
        "needs finished runs of the graph-prior study with measures and init",
    ),
    "top_correlations": (
        "The strongest |Spearman ρ| property-measure pairs of the graph-prior study. Points: "
        "graphs, the measure averaged over initialisations (plain mean, no outlier filter). "
        "Line: least-squares rank regression (a line through the ranks), mapped back to the "
        "data's scale by interpolating the sorted measure (Iman & Conover 1979); its rank-space "
        "slope equals ρ without ties. ρ and q from Table 1; * q < .05, ** q < .01, *** q < .001.",
        "needs a correlation table and at least 3 graphs with both values of a pair",
    ),
    "heatmap": (
        "Spearman ρ per graph property and measure (Table 1: graph priors; Table 2: random "
        "pruning). Marks: * q < .05, ** q < .01, *** q < .001 (q: false-discovery-rate adjusted p-value).",
        "needs a correlation table with rho",
    ),
    "pruning": (
        "Random-pruning baseline: measures against pruning step, mean ± standard deviation over "
        "all finished runs at a step (initialisations x pruned networks).",
        "needs finished runs of study 'pruning' with a step",
    ),
}


def build_figures(runs: pd.DataFrame | None, graphs: pd.DataFrame | None, draws: pd.DataFrame | None,
                  correlations: pd.DataFrame | None) -> list[ReportFigure]:
    """All report figures, in :data:`FIGURE_NAMES` order; absent ones say what they need.

    Parameters
    ----------
    runs, graphs, draws, correlations : pandas.DataFrame or None
        The study's tables (layout in :func:`structrob.report.write_report`); any may be empty.

    Returns
    -------
    list of ReportFigure
        One entry per name in :data:`FIGURE_NAMES`.

    Examples
    --------
    >>> figures = build_figures(None, None, None, None)
    >>> [f.name for f in figures] == list(FIGURE_NAMES), any(f.available for f in figures)
    (True, False)
    """
    drawings = {
        "parameters": lambda: figure_parameters(graphs, draws),
        "generator_params": lambda: figure_generator_params(graphs, draws),
        "properties": lambda: figure_properties(graphs),
        "measures_by_init": lambda: figure_measures_by_init(runs),
        "top_correlations": lambda: figure_top_correlations(runs, graphs, correlations),
        "heatmap": lambda: figure_heatmap(correlations),
        "pruning": lambda: figure_pruning(runs),
    }
    figures = []
    for name in FIGURE_NAMES:
        caption, needs = _CAPTIONS[name]
        figure = drawings[name]()
        figures.append(ReportFigure(name, caption, figure, "" if figure is not None else needs))
    return figures


def save_figure(figure: Figure, directory: str | PathLike[str], name: str,
                dpi: int = 200) -> tuple[Path, Path]:
    """Write a figure as ``<directory>/<name>.png`` (for the page) and ``.pdf`` (for papers).

    The PDF carries no creation date, so an unchanged figure gives an identical file.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    directory : path-like
        Created if missing.
    name : str
        File stem, letters, digits, ``_`` and ``-`` only.
    dpi : int
        Resolution of the PNG (the PDF is vector).

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The PNG and PDF paths.

    Examples
    --------
    >>> import tempfile
    >>> figure = Figure(figsize=(1, 1))
    >>> png, pdf = save_figure(figure, tempfile.mkdtemp(), "demo", dpi=20)
    >>> png.name, pdf.read_bytes()[:5]
    ('demo.png', b'%PDF-')
    """
    if not name or not all(ch.isalnum() or ch in "_-" for ch in name):
        raise ValueError(f"figure name must use letters, digits, '_' or '-', got {name!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    png = directory / f"{name}.png"
    pdf = directory / f"{name}.pdf"
    for axes in figure.axes:
        # an offset label ("+1e2") on a near-constant panel reads as a different unit
        for axis in (axes.xaxis, axes.yaxis):
            formatter = axis.get_major_formatter()
            if hasattr(formatter, "set_useOffset"):
                formatter.set_useOffset(False)
    figure.savefig(png, dpi=dpi, format="png", metadata={"Software": None})
    figure.savefig(pdf, format="pdf", metadata={"CreationDate": None})
    return png, pdf
