"""Figures of a study report and their captions, drawn from the study store's tables alone.

Every figure is a :class:`matplotlib.figure.Figure` built without pyplot, so drawing a report
neither changes a user's pyplot state nor depends on a GUI backend, and it is safe in threads
and worker processes. Figures are sized for papers (3.5 in column or 7.2 in page width, 7-8 pt
text); :func:`structrob.report.page.save_figure` writes them as PNG (for the HTML page) and
PDF (for papers).

Input frames follow the store's layout (see :func:`structrob.report.write_report`); a row's
arm is its :data:`structrob.vocabulary.ARM` column. Rates (accuracy, macro F1, error rate,
average confidence) are stored as fractions in [0, 1] and drawn in percent; eps is in pixel
units, pixels being in [0, 1]. Labels, units and the correlation pivots come from
:mod:`structrob.report.tables`; the captions from :mod:`structrob.report.captions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from structrob.report.captions import CAPTIONS
from structrob.report.tables import (
    arm_title,
    attack_label,
    correlation_pivot,
    is_missing,
    measure_columns,
    measure_factor,
    measure_label,
    of_arm,
    order_measures,
    property_label,
    significance_stars,
    strongest_pairs,
)
from structrob.stats import rank_regression_curve
from structrob.vocabulary import ARM, ARMS, INIT_LABELS

__all__ = [
    "FIGURE_NAMES",
    "ReportFigure",
    "build_figures",
    "figure_generator_params",
    "figure_heatmap",
    "figure_measures_by_init",
    "figure_parameters",
    "figure_properties",
    "figure_pruning",
    "figure_top_correlations",
]

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
# selection helpers
# ---------------------------------------------------------------------------------------------


def _ok_runs(runs: pd.DataFrame | None, arm: str) -> pd.DataFrame:
    runs = of_arm(runs, arm)
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


def _graph_means(runs: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Per-graph mean of each measure over its initialisations (no outlier filter)."""
    if runs.empty or "graph_id" not in runs.columns or not columns:
        return pd.DataFrame()
    values = runs[columns].apply(pd.to_numeric, errors="coerce")
    return values.groupby(runs["graph_id"]).mean()


def _graph_table(graphs: pd.DataFrame | None, arm: str) -> pd.DataFrame:
    graphs = of_arm(graphs, arm)
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
        Accepted graphs (``arm``, ``n_parameters``); only the graph-prior arm is drawn.
    draws : pandas.DataFrame or None
        Every sampled draw (``n_parameters``, ``accepted``); rejected ones are drawn in grey.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no parameter counts are available.

    Examples
    --------
    >>> graphs = pd.DataFrame({"arm": ["prior"] * 3, "n_parameters": [52e3, 60e3, 71e3]})
    >>> draws = pd.DataFrame({"n_parameters": [52e3, 60e3, 71e3, 3e5, 9e5],
    ...                       "accepted": [True, True, True, False, False]})
    >>> figure_parameters(graphs, draws).axes[0].get_xscale()
    'log'
    """
    graphs = of_arm(graphs, "prior")
    draws = pd.DataFrame() if draws is None else draws
    accepted = (
        _numeric(graphs["n_parameters"]) if "n_parameters" in graphs.columns else np.array([])
    )
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
    ax.set_ylabel(
        "graphs (count, log scale)" if log_counts else "graphs (count)", fontsize=_LABEL_PT
    )
    ax.legend(fontsize=_TICK_PT, frameon=False)
    _style(ax)
    return figure


def figure_generator_params(
    graphs: pd.DataFrame | None, draws: pd.DataFrame | None
) -> Figure | None:
    """Accepted graphs per generator parameter value (size, nei, p), and the acceptance rate.

    Top row: number of accepted graph-prior graphs per value, stacked by generator. Bottom row
    (when draws are available): percentage of draws with that value that were accepted.

    Parameters
    ----------
    graphs : pandas.DataFrame or None
        Accepted graphs (``arm``, ``generator``, ``size``, ``nei``, ``p``).
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
    graphs = of_arm(graphs, "prior")
    draws = pd.DataFrame() if draws is None else draws
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
            each.set_xticks(
                positions, [_format_tick(v) for v in values], rotation=45 if len(values) > 6 else 0
            )
            _style(each)
        axes_of_column[-1].set_xlabel(f"{name} (generator parameter)", fontsize=_LABEL_PT)
    return figure


def figure_properties(graphs: pd.DataFrame | None, max_panels: int = 16) -> Figure | None:
    """Grid of histograms of the DAG properties (``dag_*`` columns) of the accepted graphs.

    Parameters
    ----------
    graphs : pandas.DataFrame or None
        Accepted graphs; only the graph-prior arm is drawn.
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
    graphs = of_arm(graphs, "prior")
    columns = [
        c
        for c in graphs.columns
        if isinstance(c, str) and c.startswith("dag_") and _numeric(graphs[c]).size
    ]
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
        draw(ax, column, measure_factor(column))
        ax.set_title(attack_label(column), fontsize=_LABEL_PT)
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
        Runs table (``arm``, ``status``, ``init`` and measure columns); only runs of the
        graph-prior arm with status ``ok`` are drawn.

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
    known = [i for i in INIT_LABELS if i in present]
    inits = known + sorted(i for i in present if i not in INIT_LABELS)
    rng = np.random.default_rng(0)  # jitter only; fixed so reruns give identical files

    def draw(ax, column: str, factor: float) -> None:
        values = pd.to_numeric(runs[column], errors="coerce") * factor
        groups = [values[runs["init"].astype(str) == init].dropna().to_numpy() for init in inits]
        filled = [k for k, group in enumerate(groups) if group.size]
        if filled:
            boxes = [groups[k] for k in filled]
            ax.boxplot(
                boxes, positions=filled, widths=0.6, showfliers=False, medianprops={"color": "C1"}
            )
        for k in filled:
            jitter = rng.uniform(-0.18, 0.18, groups[k].size)
            ax.plot(k + jitter, groups[k], "o", ms=2, color="C0", alpha=0.6)
        ax.set_xticks(
            range(len(inits)), [INIT_LABELS.get(i, i) for i in inits], rotation=45, ha="right"
        )
        ax.set_xlim(-0.6, len(inits) - 0.4)

    return _measure_panels(runs, draw, "initialisation")


def figure_top_correlations(
    runs: pd.DataFrame | None,
    graphs: pd.DataFrame | None,
    correlations: pd.DataFrame | None,
    k: int = 6,
) -> Figure | None:
    """Scatter plots of the k strongest |rho| (property, measure) pairs of the graph-prior arm.

    Points are graphs: the property against the measure averaged over the graph's
    initialisations (plain mean, no outlier filter). The line is the rank regression of the
    measure on the property, back-transformed to the data's scale (see
    :func:`structrob.stats.rank_regression_curve`). Panel titles give rho and its q-value from the
    correlation table.

    Parameters
    ----------
    runs : pandas.DataFrame or None
        Runs table (``graph_id``, ``arm``, ``status`` and measure columns).
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
        x = pd.to_numeric(properties[row.property], errors="coerce").rename("x")
        y = means[row.measure_key].rename("y")
        joined = pd.concat([x, y], axis=1, join="inner").dropna()
        if len(joined) >= 3:
            chosen.append((row, joined))
    if not chosen:
        return None
    n_columns = min(3, len(chosen))
    n_rows = math.ceil(len(chosen) / n_columns)
    figure = _new_figure(FULL_WIDTH if n_columns > 1 else COLUMN_WIDTH, 2.25 * n_rows)
    for ax, (row, joined) in zip(_grid(figure, len(chosen), n_columns), chosen):
        factor = measure_factor(row.measure_key)
        x, y = joined["x"].to_numpy(), joined["y"].to_numpy() * factor
        ax.plot(x, y, "o", ms=3, color="C0", alpha=0.7)
        line_x, line_y, _ = rank_regression_curve(x, y)
        ax.plot(line_x, line_y, "-", color="C3", lw=1.2)
        q = getattr(row, "rho_q", None)
        title = f"ρ = {float(row.rho):.2f}{significance_stars(q)}"
        if not is_missing(q):
            title += f" (q {_format_q(q)})"
        ax.set_title(f"{title}, n = {len(joined)}", fontsize=_LABEL_PT)
        ax.set_xlabel(property_label(row.property), fontsize=_LABEL_PT)
        ax.set_ylabel(measure_label(row.measure_key), fontsize=_LABEL_PT)
        _style(ax)
    return figure


def _format_q(q: object) -> str:
    q = float(q)
    return "< 0.001" if q < 0.001 else f"= {q:.3f}"


def figure_heatmap(correlations: pd.DataFrame | None) -> Figure | None:
    """Heatmap of Spearman rho, properties x measures, one panel per arm.

    Cells show rho and its significance marks (``*`` q < .05, ``**`` q < .01, ``***`` q < .001,
    q being the adjusted p-value ``rho_q``).

    Parameters
    ----------
    correlations : pandas.DataFrame or None
        Long correlation table (``arm, property, measure, attack, rho, rho_q``).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the table has no rho.

    Examples
    --------
    >>> table = pd.DataFrame({"arm": "prior", "property": ["dag_layers", "dag_density"],
    ...                       "measure": "error_rate", "attack": "fgsm",
    ...                       "rho": [0.6, -0.2], "rho_q": [0.004, 0.3]})
    >>> [t.get_text() for t in figure_heatmap(table).axes[0].texts]
    ['0.60**', '-0.20']
    """
    correlations = pd.DataFrame() if correlations is None else correlations
    arms = list(ARMS)
    if ARM in correlations.columns:
        arms += sorted(set(correlations[ARM].dropna().astype(str)) - set(arms))
    panels = [(arm, correlation_pivot(correlations, arm, "rho")) for arm in arms]
    panels = [(arm, rho) for arm, rho in panels if not rho.empty and rho.notna().any().any()]
    if not panels:
        return None
    # stacked panels share one column order, so a measure sits at the same x in both tables
    columns = order_measures(c for _, rho in panels for c in rho.columns)
    panels = [(arm, rho.reindex(columns=columns)) for arm, rho in panels]
    heights = [len(rho.index) for _, rho in panels]
    longest_property = max(len(property_label(p)) for _, rho in panels for p in rho.index)
    width = min(FULL_WIDTH, 0.055 * longest_property + 0.42 * len(columns) + 1.0)
    figure = _new_figure(max(width, COLUMN_WIDTH), 0.2 * sum(heights) + 0.35 * len(panels) + 1.3)
    axes = figure.subplots(len(panels), 1, squeeze=False, height_ratios=heights).ravel()
    image = None
    for index, (ax, (arm, rho)) in enumerate(zip(axes, panels)):
        q = correlation_pivot(correlations, arm, "rho_q")
        q = q.reindex(index=rho.index, columns=rho.columns)
        values = rho.to_numpy(dtype=float)
        image = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            if np.isfinite(value):
                text = f"{value:.2f}{significance_stars(q.iat[i, j])}"
                colour = "white" if abs(value) > 0.6 else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=_ANNOTATION_PT, color=colour)
        bottom = index == len(panels) - 1
        labels = [measure_label(c, unit=False) for c in columns] if bottom else []
        ax.set_xticks(range(len(columns)), labels, rotation=50, ha="right")
        ax.set_yticks(range(len(rho.index)), [property_label(p) for p in rho.index])
        ax.tick_params(labelsize=_TICK_PT, length=0)
        ax.set_title(arm_title(arm, short=True), fontsize=_LABEL_PT)
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
        Runs table; only rows of arm ``"pruning"`` with status ``ok`` and a ``step`` are used.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the pruning arm has no finished run.

    Examples
    --------
    >>> runs = pd.DataFrame({"arm": "pruning", "step": [0, 0, 1, 1],
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
        steps_drawn = summary.index.to_numpy(dtype=float)
        spread = summary["std"].fillna(0.0).to_numpy()
        ax.errorbar(
            steps_drawn, summary["mean"].to_numpy(), yerr=spread, fmt="o-", ms=3, lw=1, capsize=2
        )
        ax.xaxis.get_major_locator().set_params(integer=True)

    return _measure_panels(runs, draw, "pruning step")


# ---------------------------------------------------------------------------------------------
# all figures, saving
# ---------------------------------------------------------------------------------------------


def build_figures(
    runs: pd.DataFrame | None,
    graphs: pd.DataFrame | None,
    draws: pd.DataFrame | None,
    correlations: pd.DataFrame | None,
) -> list[ReportFigure]:
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
        caption, needs = CAPTIONS[name]
        figure = drawings[name]()
        figures.append(ReportFigure(name, caption, figure, "" if figure is not None else needs))
    return figures
