"""The correlation table of a study: every graph property against every robustness measure.

:func:`correlation_table` follows the study's procedure [1]_ (outlier filter, mean over
initialisations, Spearman and Kendall over graphs) and adds p-values, q-values, bootstrap
intervals and partial correlations; :func:`study_table` spreads it into the paper's layout.

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from structrob.stats._checks import (
    check_bootstrap_args,
    measure_attack,
    numeric_column,
    require_columns,
)
from structrob.stats.coefficients import (
    benjamini_hochberg,
    kendall,
    partial_spearman,
    spearman,
    strength,
)
from structrob.stats.filtering import aggregate
from structrob.stats.uncertainty import bootstrap_intervals
from structrob.vocabulary import CLEAN, CLEAN_MEASURES

__all__ = ["TABLE_COLUMNS", "correlation_table", "study_table"]

#: Columns of :func:`correlation_table`, in order.
TABLE_COLUMNS = (
    "property", "measure", "attack", "n_graphs",
    "rho", "rho_p", "rho_q", "rho_ci_low", "rho_ci_high",
    "tau", "tau_p", "tau_q", "tau_ci_low", "tau_ci_high",
    "partial_rho", "partial_p", "strength",
)  # fmt: skip


def _default_measures(runs: pd.DataFrame) -> list[str]:
    attacked = [c for c in runs.columns if measure_attack(c) not in (CLEAN, "other")]
    return attacked + [c for c in CLEAN_MEASURES if c in runs.columns]


def _default_properties(graphs: pd.DataFrame) -> list[str]:
    chosen = []
    for column in graphs.columns:
        if not (isinstance(column, str) and column.startswith(("dag_", "prior_"))):
            continue
        if not pd.api.types.is_numeric_dtype(graphs[column]):
            continue
        if graphs[column].nunique(dropna=True) > 1:
            chosen.append(column)
    return chosen


def correlation_table(
    runs: pd.DataFrame,
    graphs: pd.DataFrame,
    properties: Sequence[str] | None = None,
    measures: Sequence[str] | None = None,
    control: str | None = "dag_parameters",
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Rank correlations between graph properties and robustness measures, with uncertainty.

    The runs are filtered and averaged per graph by :func:`aggregate` (IQR filter per measure,
    the study's procedure [1]_, applied to ``accuracy`` and ``f1_macro`` too), joined to the
    graph properties on ``graph_id``, and every (property, measure) pair is correlated over the
    graphs where both are present (NaNs dropped pairwise):

    - ``rho``, ``rho_p``: ``scipy.stats.spearmanr``, with the exact permutation p-value
      (:func:`spearman_exact_pvalue`) for at most ``EXACT_SPEARMAN_MAX_N`` graphs without
      ties; ``tau``, ``tau_p``: ``scipy.stats.kendalltau`` (tau-b; scipy's exact p-value for
      small samples without ties);
    - ``rho_q``, ``tau_q``: :func:`benjamini_hochberg` over the whole table, rho and tau apart;
    - ``*_ci_low``, ``*_ci_high``: :func:`bootstrap_ci` over graphs; every pair with the same
      ``n_graphs`` uses the same resamples (drawn from ``seed``), so each interval equals
      ``bootstrap_ci(x, y, method, n_boot, level, seed)`` on that pair's complete graphs;
    - ``partial_rho``, ``partial_p``: :func:`partial_spearman` controlling for ``control``,
      over the graphs where the control is present too (NaN for the control itself);
    - ``strength``: :func:`strength` of ``rho``.

    Coefficients are NaN where fewer than 3 graphs remain or a column is constant.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per run: ``graph_id``, ``status`` (only ``"ok"`` rows count), and the measure
        columns (``{attack}_{error_rate|avg_confidence|avg_eps}``, ``accuracy``, ``f1_macro``).
    graphs : pandas.DataFrame
        One row per graph: ``graph_id`` and the property columns.
    properties : sequence of str, optional
        Numeric columns of ``graphs``. Default: every numeric ``dag_*`` / ``prior_*`` column
        that is not constant.
    measures : sequence of str, optional
        Numeric columns of ``runs``. Default: every attacked measure column
        (``{attack}_{measure}`` for a measure of ``vocabulary.ROBUSTNESS_MEASURES``, as
        ``vocabulary.split_measure`` reads it), then ``vocabulary.CLEAN_MEASURES`` if present.
    control : str or None
        Column of ``graphs`` to control for in the partial correlation; None leaves
        ``partial_rho`` and ``partial_p`` NaN.
    n_boot : int
        Bootstrap resamples, ``>= 0``; 0 skips the bootstrap (intervals NaN).
    seed : int
        Seed of the bootstrap.
    level : float
        Confidence level of the intervals, in (0, 1).

    Returns
    -------
    pandas.DataFrame
        One row per (property, measure), property-major, with columns ``TABLE_COLUMNS``:
        ``property, measure, attack, n_graphs, rho, rho_p, rho_q, rho_ci_low, rho_ci_high, tau,
        tau_p, tau_q, tau_ci_low, tau_ci_high, partial_rho, partial_p, strength``; ``attack`` is
        the measure's attack prefix, ``"clean"`` for accuracy and F1, ``"other"`` otherwise.

    References
    ----------
    .. [1] Ben Amor, Stier, Granitzer, 2021 (see :mod:`structrob.stats`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> graphs = pd.DataFrame({"graph_id": range(20), "dag_density": rng.uniform(size=20),
    ...                        "dag_parameters": rng.integers(50_000, 90_000, size=20)})
    >>> runs = pd.DataFrame({"graph_id": np.repeat(range(20), 3), "status": "ok",
    ...                      "fgsm_error_rate": np.repeat(graphs.dag_density, 3)
    ...                      + rng.normal(0, 0.1, size=60)})
    >>> table = correlation_table(runs, graphs, n_boot=200)
    >>> table[["property", "measure", "attack", "n_graphs", "strength"]]
             property          measure attack  n_graphs    strength
    0     dag_density  fgsm_error_rate   fgsm        20       large
    1  dag_parameters  fgsm_error_rate   fgsm        20  negligible
    """
    check_bootstrap_args("spearman", n_boot, level, minimum_boot=0)
    require_columns("runs", runs, ["graph_id"])
    require_columns("graphs", graphs, ["graph_id"])
    if graphs["graph_id"].duplicated().any():
        duplicated = graphs.loc[graphs["graph_id"].duplicated(), "graph_id"].unique()[:5].tolist()
        raise ValueError(f"graphs must hold one row per graph_id; repeated: {duplicated}")
    properties = _default_properties(graphs) if properties is None else list(properties)
    measures = _default_measures(runs) if measures is None else list(measures)
    if control is not None and control not in graphs.columns:
        raise ValueError(f"control column {control!r} not in graphs; pass control=None to skip")
    require_columns("graphs", graphs, properties)

    per_graph = aggregate(runs, measures)
    if len(per_graph) and not per_graph.index.isin(graphs["graph_id"]).any():
        raise ValueError(
            "no graph_id of runs occurs in graphs; check that both use the same ids and dtype "
            f"(runs: {per_graph.index.dtype}, graphs: {graphs['graph_id'].dtype})"
        )
    by_graph = graphs.set_index("graph_id").reindex(per_graph.index)
    property_values = {p: numeric_column("graphs", by_graph, p) for p in properties}
    measure_values = {m: per_graph[m].to_numpy(dtype=float) for m in measures}
    control_values = None if control is None else numeric_column("graphs", by_graph, control)

    pairs = [(p, m) for p in properties for m in measures]
    rows: list[dict[str, Any]] = []
    masks: list[np.ndarray] = []
    for p, m in pairs:
        x, y = property_values[p], measure_values[m]
        mask = np.isfinite(x) & np.isfinite(y)
        xs, ys = x[mask], y[mask]
        rho, rho_p = spearman(xs, ys)
        tau, tau_p = kendall(xs, ys)
        partial = (float("nan"), float("nan"))
        if control_values is not None:
            partial = partial_spearman(xs, ys, control_values[mask])
        rows.append({
            "property": p, "measure": m, "attack": measure_attack(m), "n_graphs": int(mask.sum()),
            "rho": rho, "rho_p": rho_p, "tau": tau, "tau_p": tau_p,
            "partial_rho": partial[0], "partial_p": partial[1], "strength": strength(rho),
        })  # fmt: skip
        masks.append(mask)

    skip = [not np.isfinite(row["rho"]) for row in rows]  # constant or too few: no interval
    intervals = bootstrap_intervals(
        pairs, masks, property_values, measure_values, n_boot, level, seed, skip=skip
    )
    row_columns = [c for c in TABLE_COLUMNS if c not in intervals and not c.endswith("_q")]
    table = pd.DataFrame(rows, columns=row_columns)
    for name, column in intervals.items():
        table[name] = column
    table["n_graphs"] = table["n_graphs"].astype(int)
    table["rho_q"] = benjamini_hochberg(table["rho_p"].to_numpy(dtype=float))
    table["tau_q"] = benjamini_hochberg(table["tau_p"].to_numpy(dtype=float))
    return table[list(TABLE_COLUMNS)]


def study_table(corr: pd.DataFrame, value: str = "rho") -> pd.DataFrame:
    """Wide property x measure view of a :func:`correlation_table` (the layout of [1]_, Table 1).

    The one pivot of the correlation table: the report's
    :func:`structrob.report.tables.correlation_pivot` keys an arm's rows by their runs-table
    column and spreads them with this function.

    Parameters
    ----------
    corr : pandas.DataFrame
        Output of :func:`correlation_table`.
    value : str
        The column to spread, e.g. ``"rho"``, ``"tau"``, ``"rho_q"``, ``"strength"``.

    Returns
    -------
    pandas.DataFrame
        Index: properties; columns: measures; both in their order of first appearance.

    References
    ----------
    .. [1] Ben Amor, Stier, Granitzer, 2021 (see :mod:`structrob.stats`).

    Examples
    --------
    >>> corr = pd.DataFrame({"property": ["dag_a", "dag_a", "dag_b", "dag_b"],
    ...                      "measure": ["fgsm_error_rate", "accuracy"] * 2,
    ...                      "rho": [0.5, -0.1, 0.2, 0.0]})
    >>> wide = study_table(corr)
    >>> wide.index.tolist(), wide.columns.tolist()
    (['dag_a', 'dag_b'], ['fgsm_error_rate', 'accuracy'])
    >>> wide.to_numpy().tolist()
    [[0.5, -0.1], [0.2, 0.0]]
    """
    require_columns("corr", corr, ["property", "measure", value])
    if corr.duplicated(["property", "measure"]).any():
        raise ValueError("corr holds a (property, measure) pair twice; pass one correlation_table")
    wide = corr.pivot(index="property", columns="measure", values=value)
    return wide.reindex(index=pd.unique(corr["property"]), columns=pd.unique(corr["measure"]))
