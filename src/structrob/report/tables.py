"""Everything tabular in a study report: labels, pivots, strongest pairs and estimates.

Names of attacks, measures and arms and their definitions come from
:mod:`structrob.vocabulary`; this module turns them into display labels and lays the long
correlation table of :func:`structrob.stats.correlation_table` out as the report shows it.
Input frames follow the store's layout (see :func:`structrob.report.write_report`); the column
:data:`structrob.vocabulary.ARM` says which arm of the study a row belongs to, and a frame
without it belongs to the graph-prior arm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from structrob import stats
from structrob.vocabulary import ARM, ARMS, ATTACKS, CLEAN, MEASURES, measure_column, split_measure

__all__ = [
    "Q_DEFINITION",
    "SIGNIFICANCE_MARKS",
    "arm_title",
    "attack_label",
    "correlation_cells",
    "correlation_pivot",
    "correlation_table",
    "format_cell",
    "format_estimate",
    "is_missing",
    "measure_columns",
    "measure_factor",
    "measure_key",
    "measure_label",
    "of_arm",
    "order_measures",
    "property_label",
    "significance_stars",
    "strongest_pairs",
]

# q-value thresholds of the significance marks, strictest first
_STARS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))
#: What the q-value of a correlation is.
Q_DEFINITION = "false-discovery-rate adjusted p-value"
#: The significance marks as the report's legends state them.
SIGNIFICANCE_MARKS = ", ".join(
    f"{stars} q < {f'{threshold:g}'.removeprefix('0')}" for threshold, stars in reversed(_STARS)
)

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


# ---------------------------------------------------------------------------------------------
# selection
# ---------------------------------------------------------------------------------------------


def is_missing(value: object) -> bool:
    """Whether a table cell holds no value: None, NaN or ``pd.NA``.

    Parameters
    ----------
    value : object
        A scalar; values pandas cannot test (lists, ...) count as present.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_missing(None), is_missing(float("nan")), is_missing(0.0), is_missing("")
    (True, True, False, False)
    """
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def of_arm(frame: pd.DataFrame | None, arm: str) -> pd.DataFrame:
    """Rows of one arm of a study; a frame without an :data:`~structrob.vocabulary.ARM` column
    belongs to the graph-prior arm.

    Parameters
    ----------
    frame : pandas.DataFrame or None
        Any table of the store (runs, graphs, correlations); None reads as an empty frame.
    arm : str
        ``"prior"`` or ``"pruning"``.

    Returns
    -------
    pandas.DataFrame
        The rows whose ``arm`` is ``arm`` (a view, not a copy).

    Examples
    --------
    >>> runs = pd.DataFrame({"arm": ["prior", "pruning", "prior"], "accuracy": [0.9, 0.8, 0.7]})
    >>> of_arm(runs, "prior")["accuracy"].tolist(), len(of_arm(None, "prior"))
    ([0.9, 0.7], 0)
    >>> unlabelled = runs.drop(columns="arm")
    >>> len(of_arm(unlabelled, "prior")), len(of_arm(unlabelled, "pruning"))
    (3, 0)
    """
    frame = pd.DataFrame() if frame is None else frame
    if ARM not in frame.columns:
        return frame if arm == "prior" else frame.iloc[0:0]
    return frame[frame[ARM] == arm]


def arm_title(arm: str, short: bool = False) -> str:
    """Title of an arm's correlation table, ``"Table 1: graph priors"``, from ``vocabulary.ARMS``.

    Parameters
    ----------
    arm : str
        ``"prior"`` or ``"pruning"``; an unknown arm is its own title.
    short : bool
        The short title of a figure panel (``vocabulary.ARMS[arm].short``).

    Returns
    -------
    str

    Examples
    --------
    >>> arm_title("pruning"), arm_title("pruning", short=True), arm_title("other")
    ('Table 2: random-pruning baseline', 'Table 2: random pruning', 'other')
    """
    if arm not in ARMS:
        return arm
    entry = ARMS[arm]
    return f"{entry.table}: {entry.short if short else entry.title}"


# ---------------------------------------------------------------------------------------------
# labels and column conventions
# ---------------------------------------------------------------------------------------------


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
        ``"{attack}_{measure}"``, or ``measure`` for clean or already prefixed measures (see
        :func:`structrob.vocabulary.measure_column`).

    Examples
    --------
    >>> measure_key("fgsm", "error_rate"), measure_key("fgsm", "fgsm_error_rate")
    ('fgsm_error_rate', 'fgsm_error_rate')
    >>> measure_key(None, "f1_macro"), measure_key(float("nan"), "accuracy")
    ('f1_macro', 'accuracy')
    """
    return measure_column(None if is_missing(attack) else str(attack), str(measure))


def _measure_sort_key(column: str) -> tuple[int, int, str]:
    attack, measure = split_measure(column) or ("~", column)
    if attack == CLEAN:
        attack_rank = -1
    else:
        attack_rank = list(ATTACKS).index(attack) if attack in ATTACKS else 99
    measure_rank = list(MEASURES).index(measure) if measure in MEASURES else 99
    return attack_rank, measure_rank, column


def order_measures(columns: Iterable[str]) -> list[str]:
    """Measure columns in report order, each once: clean measures, then attacks in
    ``vocabulary.ATTACKS`` order (unknown attacks, then non-measures, last).

    Parameters
    ----------
    columns : iterable of str
        Runs-table columns.

    Returns
    -------
    list of str

    Examples
    --------
    >>> order_measures(["pgd_error_rate", "fgsm_avg_eps", "fgsm_error_rate", "accuracy"])
    ['accuracy', 'fgsm_error_rate', 'fgsm_avg_eps', 'pgd_error_rate']
    """
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
    parts = split_measure(column)
    if parts is None:
        return column.replace("_", " ")
    attack_name, measure = parts
    text = MEASURES[measure].label
    if attack and attack_name != CLEAN:
        text = f"{ATTACKS.get(attack_name, attack_name)} {text}"
    return f"{text} ({MEASURES[measure].unit})" if unit else text


def measure_factor(column: str) -> float:
    """Factor from a measure column's stored value to its display unit (100 for rates).

    Parameters
    ----------
    column : str
        Runs-table column; a column that is no measure has factor 1.

    Returns
    -------
    float

    Examples
    --------
    >>> measure_factor("fgsm_error_rate"), measure_factor("min_fgsm_avg_eps"), measure_factor("x")
    (100.0, 1.0, 1.0)
    """
    parts = split_measure(column)
    return MEASURES[parts[1]].factor if parts else 1.0


def attack_label(column: str) -> str:
    """Display name of a measure column's attack; ``"clean"`` for clean and unknown columns.

    Parameters
    ----------
    column : str
        Runs-table column.

    Returns
    -------
    str

    Examples
    --------
    >>> attack_label("onepixel_error_rate"), attack_label("accuracy"), attack_label("cw_avg_eps")
    ('One-Pixel', 'clean', 'cw')
    """
    parts = split_measure(column)
    if parts is None or parts[0] == CLEAN:
        return CLEAN
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
    >>> SIGNIFICANCE_MARKS
    '* q < .05, ** q < .01, *** q < .001'
    """
    if is_missing(q):
        return ""
    q = float(q)
    for threshold, stars in _STARS:
        if q < threshold:
            return stars
    return ""


def measure_columns(runs: pd.DataFrame) -> list[str]:
    """Measure columns of a runs table that hold at least one value, in report order.

    Clean measures (accuracy, macro F1) come first, then each attack in
    ``vocabulary.ATTACKS`` order (unknown attacks last) with error rate, average confidence and
    average eps (see :func:`order_measures`).

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
        if split_measure(column) is None:
            continue
        if pd.to_numeric(runs[column], errors="coerce").notna().any():
            columns.append(column)
    return order_measures(columns)


# ---------------------------------------------------------------------------------------------
# the correlation table
# ---------------------------------------------------------------------------------------------


def _keyed(table: pd.DataFrame) -> pd.DataFrame:
    """Correlation rows with a ``measure_key`` column (the runs-table column of the measure)."""
    if not {"property", "measure"} <= set(table.columns):
        return table.iloc[0:0].assign(measure_key=pd.Series(dtype=object))
    attacks = table["attack"] if "attack" in table.columns else pd.Series(None, index=table.index)
    keys = [measure_key(a, m) for a, m in zip(attacks, table["measure"])]
    return table.assign(measure_key=keys)


def strongest_pairs(
    correlations: pd.DataFrame, arm: str = "prior", k: int | None = 6
) -> pd.DataFrame:
    """The (property, measure) pairs with the largest |Spearman rho| of one arm.

    Parameters
    ----------
    correlations : pandas.DataFrame
        Long correlation table (columns ``property, measure, attack, rho`` and optionally
        ``arm``; a table without ``arm`` belongs to the graph-prior arm).
    arm : str
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
    table = of_arm(correlations, arm)
    if table.empty or not {"property", "measure", "rho"} <= set(table.columns):
        return pd.DataFrame(columns=[*table.columns, "measure_key"])
    table = _keyed(table[pd.to_numeric(table["rho"], errors="coerce").notna()])
    table["_abs"] = pd.to_numeric(table["rho"]).abs()
    table = table.sort_values(
        ["_abs", "property", "measure_key"], ascending=[False, True, True], kind="stable"
    )
    table = table.drop(columns="_abs").reset_index(drop=True)
    return table if k is None else table.head(k)


def correlation_pivot(
    correlations: pd.DataFrame, arm: str = "prior", value: str = "rho"
) -> pd.DataFrame:
    """One statistic of the correlation table in the arm's layout: properties x measures.

    The arm's rows are keyed by their runs-table measure column (:func:`measure_key`) and
    spread by :func:`structrob.stats.study_table`, the one pivot of the correlation table.

    Parameters
    ----------
    correlations : pandas.DataFrame
        Long correlation table (see :func:`strongest_pairs`).
    arm : str
        ``"prior"`` or ``"pruning"``.
    value : str
        Column to spread, e.g. ``rho``, ``rho_q``, ``tau``; read as numbers.

    Returns
    -------
    pandas.DataFrame
        Index: properties in order of first appearance; columns: runs-table measure columns in
        report order (see :func:`order_measures`); NaN where the table has no value. The first
        row of a duplicated (property, measure) pair wins. Empty when the arm has no rows.

    Examples
    --------
    >>> table = pd.DataFrame({"property": ["dag_layers", "dag_layers"],
    ...                       "measure": ["error_rate", "accuracy"],
    ...                       "attack": ["pgd", None], "rho": [0.3, -0.1]})
    >>> correlation_pivot(table).to_dict("index")
    {'dag_layers': {'accuracy': -0.1, 'pgd_error_rate': 0.3}}
    """
    table = _keyed(of_arm(correlations, arm))
    if table.empty or value not in table.columns:
        return pd.DataFrame()
    long = pd.DataFrame(
        {
            "property": table["property"].astype(str).to_numpy(),
            "measure": table["measure_key"].to_numpy(),
            "value": pd.to_numeric(table[value], errors="coerce").to_numpy(),
        }
    ).drop_duplicates(["property", "measure"], keep="first")
    wide = stats.study_table(long, "value").reindex(columns=order_measures(long["measure"]))
    wide.index.name = None
    wide.columns.name = None
    return wide


def correlation_cells(
    correlations: pd.DataFrame | None, arm: str
) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, Any]]]:
    """An arm's correlation rows laid out as table cells.

    Parameters
    ----------
    correlations : pandas.DataFrame or None
        Long correlation table (see :func:`strongest_pairs`).
    arm : str
        ``"prior"`` or ``"pruning"``.

    Returns
    -------
    properties : list of str
        Row labels, in order of first appearance.
    measures : list of str
        Runs-table measure columns, in report order (:func:`order_measures`).
    cells : dict
        ``(property, measure) -> row`` (the row as a dict); the first row of a duplicated pair
        wins.

    Examples
    --------
    >>> table = pd.DataFrame({"property": ["dag_layers"] * 2, "measure": ["error_rate", "accuracy"],
    ...                       "attack": ["fgsm", None], "rho": [0.4, 0.1]})
    >>> properties, measures, cells = correlation_cells(table, "prior")
    >>> properties, measures, cells["dag_layers", "fgsm_error_rate"]["rho"]
    (['dag_layers'], ['accuracy', 'fgsm_error_rate'], 0.4)
    """
    table = _keyed(of_arm(correlations, arm))
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for row in table.to_dict("records"):
        cells.setdefault((str(row["property"]), row.pop("measure_key")), row)
    properties = list(dict.fromkeys(p for p, _ in cells))
    measures = order_measures(m for _, m in cells)
    return properties, measures, cells


def format_estimate(
    value: object, q: object = None, low: object = None, high: object = None
) -> str:
    """One correlation estimate as the report prints it: ``"rho (q) [ci]"``.

    Parameters
    ----------
    value : float
        Estimate (Spearman rho or Kendall tau) in [-1, 1]; None or NaN prints ``–``.
    q : float or None
        Adjusted p-value; adds significance marks (:func:`significance_stars`) and
        ``(q=...)``, printed as ``q<0.001`` below 0.001.
    low, high : float or None
        Confidence interval bounds; omitted when either is missing.

    Returns
    -------
    str

    Examples
    --------
    >>> format_estimate(0.5234, 0.0031, 0.31, 0.684)
    '0.52** (q=0.003) [0.31, 0.68]'
    >>> format_estimate(-0.1, 0.0002), format_estimate(float("nan"))
    ('-0.10*** (q<0.001)', '–')
    """
    if is_missing(value):
        return "–"
    text = f"{float(value):.2f}{significance_stars(q)}"
    if not is_missing(q):
        text += " (q<0.001)" if float(q) < 0.001 else f" (q={float(q):.3f})"
    if not (is_missing(low) or is_missing(high)):
        text += f" [{float(low):.2f}, {float(high):.2f}]"
    return text


def format_cell(row: Mapping[str, Any] | None, statistic: str) -> str:
    """One statistic of a correlation row as :func:`format_estimate` prints it.

    Parameters
    ----------
    row : mapping or None
        A row of the correlation table; None (no row) prints ``–``.
    statistic : str
        ``"rho"`` or ``"tau"``: reads ``statistic``, ``{statistic}_q``,
        ``{statistic}_ci_low`` and ``{statistic}_ci_high``.

    Returns
    -------
    str

    Examples
    --------
    >>> format_cell({"tau": 0.4, "tau_q": 0.02}, "tau"), format_cell(None, "rho")
    ('0.40* (q=0.020)', '–')
    """
    if row is None:
        return "–"
    return format_estimate(
        row.get(statistic),
        row.get(f"{statistic}_q"),
        row.get(f"{statistic}_ci_low"),
        row.get(f"{statistic}_ci_high"),
    )


def correlation_table(correlations: pd.DataFrame | None, arm: str = "prior") -> pd.DataFrame:
    """An arm's correlation table in the paper's layout, as text cells.

    Rows are (graph property, statistic) with statistic ``rho`` (Spearman) and ``tau``
    (Kendall); columns are measures; each cell reads ``"estimate (q) [ci]"``, see
    :func:`format_estimate`.

    Parameters
    ----------
    correlations : pandas.DataFrame or None
        Long table from ``structrob.stats.correlation_table`` (columns ``arm, property,
        measure, attack, rho, rho_q, rho_ci_low, rho_ci_high, tau, tau_q, tau_ci_low,
        tau_ci_high``; a table without ``arm`` belongs to the graph-prior arm).
    arm : str
        ``"prior"`` (Table 1) or ``"pruning"`` (Table 2).

    Returns
    -------
    pandas.DataFrame
        Index: MultiIndex (property, statistic); columns: runs-table measure columns such as
        ``fgsm_error_rate``. Empty when the arm has no correlations.

    Examples
    --------
    >>> table = pd.DataFrame({"property": ["dag_layers"], "measure": ["error_rate"],
    ...                       "attack": ["fgsm"], "rho": [0.52], "rho_q": [0.003],
    ...                       "rho_ci_low": [0.31], "rho_ci_high": [0.68], "tau": [0.4]})
    >>> cells = correlation_table(table)["fgsm_error_rate"]
    >>> cells["dag_layers", "rho"], cells["dag_layers", "tau"]
    ('0.52** (q=0.003) [0.31, 0.68]', '0.40')
    """
    properties, measures, cells = correlation_cells(correlations, arm)
    rows = {}
    for prop in properties:
        for statistic in ("rho", "tau"):
            rows[(prop, statistic)] = {
                measure: format_cell(cells.get((prop, measure)), statistic) for measure in measures
            }
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=measures)
    if rows:
        frame.index = pd.MultiIndex.from_tuples(frame.index, names=["property", "statistic"])
    return frame
