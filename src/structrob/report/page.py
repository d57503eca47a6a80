"""The study report as one self-contained HTML page, plus its tables and figure files.

The page embeds its figures as base64 PNG data URIs and its CSS inline, loads nothing from the
network (a Content-Security-Policy forbids it) and runs no JavaScript, so it can be mailed,
archived or opened offline. Every piece of text that comes from the data is HTML-escaped.

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from structrob.report.figures import (
    ATTACKS,
    ReportFigure,
    _frame,
    _is_missing,
    _of_study,
    _order_measures,
    _split_measure,
    build_figures,
    measure_key,
    measure_label,
    property_label,
    save_figure,
    significance_stars,
)

__all__ = [
    "correlation_table",
    "format_config",
    "format_estimate",
    "render_page",
    "summary_counts",
    "write_report",
]

STUDY_TABLES = {"prior": ("Table 1", "graph priors"), "pruning": ("Table 2", "random-pruning baseline")}
# display width of a figure on the page per inch of figure width: 8 pt text shows at ~14 px
_PIXELS_PER_INCH = 130

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
       margin: 0 auto; max-width: 1480px; padding: 1rem 1.5rem 4rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem;
     border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.sub { color: #555; margin-top: 0; } nav a { margin-right: .9rem; }
table { border-collapse: collapse; margin: .6rem 0; }
th, td { border: 1px solid #d4d4d4; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; }
table.kv td:first-child { font-family: ui-monospace, Menlo, Consolas, monospace; color: #333; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
table.corr { font-size: 12px; } table.corr td, table.corr th { padding: .2rem .35rem; }
table.corr td { white-space: nowrap; font-variant-numeric: tabular-nums; }
table.corr th { text-align: center; } table.corr th.prop { text-align: left; }
table.corr .sig { font-weight: 700; } table.corr .minor { color: #555; font-size: 10.5px; }
table.corr .ci { padding-left: 1.1em; color: #333; }
pre { background: #f7f7f7; border: 1px solid #e2e2e2; padding: .6rem .8rem; overflow-x: auto;
      font-size: 13px; }
pre.err { white-space: pre-wrap; margin: 0; padding: .2rem .4rem; max-width: 60rem; }
.na { color: #8a4b00; background: #fff6e5; border-left: 4px solid #e0a040; padding: .4rem .7rem; }
figure { margin: 1.6rem 0; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 14px; color: #333; max-width: 60rem; margin-top: .4rem; }
.legend { font-size: 13px; color: #444; max-width: 60rem; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


# ---------------------------------------------------------------------------------------------
# numbers and tables
# ---------------------------------------------------------------------------------------------


def _number(value: object, digits: int = 2) -> str:
    return "–" if _is_missing(value) else f"{float(value):.{digits}f}"


def format_estimate(value: object, q: object = None, low: object = None, high: object = None) -> str:
    """One correlation estimate as the report prints it: ``"rho (q) [ci]"``.

    Parameters
    ----------
    value : float
        Estimate (Spearman rho or Kendall tau) in [-1, 1]; None or NaN prints ``–``.
    q : float or None
        Adjusted p-value; adds significance marks (``*`` < .05, ``**`` < .01, ``***`` < .001)
        and ``(q=...)``, printed as ``q<0.001`` below 0.001.
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
    if _is_missing(value):
        return "–"
    text = f"{float(value):.2f}{significance_stars(q)}"
    if not _is_missing(q):
        text += " (q<0.001)" if float(q) < 0.001 else f" (q={float(q):.3f})"
    if not (_is_missing(low) or _is_missing(high)):
        text += f" [{float(low):.2f}, {float(high):.2f}]"
    return text


def _correlation_rows(correlations: pd.DataFrame, study: str) -> tuple[list[str], list[str], dict]:
    """Properties, measure columns (report order) and the row of each (property, measure)."""
    table = _of_study(_frame(correlations), study)
    if table.empty or not {"property", "measure"} <= set(table.columns):
        return [], [], {}
    cells: dict[tuple[str, str], dict] = {}
    for row in table.to_dict("records"):
        key = (str(row["property"]), measure_key(row.get("attack"), row["measure"]))
        cells.setdefault(key, row)
    properties = list(dict.fromkeys(p for p, _ in cells))
    measures = _order_measures(m for _, m in cells)
    return properties, measures, cells


def correlation_table(correlations: pd.DataFrame | None, study: str = "prior") -> pd.DataFrame:
    """A study's correlation table in the paper's layout, as text cells.

    Rows are (graph property, statistic) with statistic ``rho`` (Spearman) and ``tau``
    (Kendall); columns are measures; each cell reads ``"estimate (q) [ci]"``, see
    :func:`format_estimate`.

    Parameters
    ----------
    correlations : pandas.DataFrame or None
        Long table from ``structrob.stats.correlation_table`` (columns ``study, property,
        measure, attack, rho, rho_q, rho_ci_low, rho_ci_high, tau, tau_q, tau_ci_low,
        tau_ci_high``; a table without ``study`` belongs to the graph-prior study).
    study : str
        ``"prior"`` (Table 1) or ``"pruning"`` (Table 2).

    Returns
    -------
    pandas.DataFrame
        Index: MultiIndex (property, statistic); columns: runs-table measure columns such as
        ``fgsm_error_rate``. Empty when the study has no correlations.

    Examples
    --------
    >>> table = pd.DataFrame({"property": ["dag_layers"], "measure": ["error_rate"],
    ...                       "attack": ["fgsm"], "rho": [0.52], "rho_q": [0.003],
    ...                       "rho_ci_low": [0.31], "rho_ci_high": [0.68], "tau": [0.4]})
    >>> cells = correlation_table(table)["fgsm_error_rate"]
    >>> cells["dag_layers", "rho"], cells["dag_layers", "tau"]
    ('0.52** (q=0.003) [0.31, 0.68]', '0.40')
    """
    properties, measures, cells = _correlation_rows(_frame(correlations), study)
    rows = {}
    for prop in properties:
        for statistic in ("rho", "tau"):
            rows[(prop, statistic)] = {
                measure: _cell_text(cells.get((prop, measure)), statistic) for measure in measures
            }
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=measures)
    if rows:
        frame.index = pd.MultiIndex.from_tuples(frame.index, names=["property", "statistic"])
    return frame


def _cell_text(row: Mapping[str, Any] | None, statistic: str) -> str:
    if row is None:
        return "–"
    return format_estimate(row.get(statistic), row.get(f"{statistic}_q"),
                           row.get(f"{statistic}_ci_low"), row.get(f"{statistic}_ci_high"))


def summary_counts(runs: pd.DataFrame | None, graphs: pd.DataFrame | None,
                   draws: pd.DataFrame | None) -> dict[str, float]:
    """The counts a reader checks first: graphs, draws, runs, failures, censored images, time.

    Parameters
    ----------
    runs, graphs, draws : pandas.DataFrame or None
        The study's tables (layout in :func:`write_report`); missing columns count as zero.

    Returns
    -------
    dict
        ``graphs_accepted`` (distinct graph-prior graphs), ``pruned_networks`` (distinct
        pruning-study graphs), ``draws`` and ``draws_accepted``, ``runs_ok`` and
        ``runs_failed`` (status other than ``ok``), ``min_fgsm_attacked`` and
        ``min_fgsm_censored`` (sums over finished runs of the clean-correct images the minimal
        eps search ran on, and of those it did not fool up to the largest eps),
        ``train_hours`` and ``attack_hours`` (sums over all runs).

    Examples
    --------
    >>> runs = pd.DataFrame({"status": ["ok", "ok", "failed"], "min_fgsm_n_correct": [90, 80, None],
    ...                      "min_fgsm_n_censored": [2, 3, None], "train_seconds": [1800, 1800, 0]})
    >>> counts = summary_counts(runs, None, pd.DataFrame({"accepted": [True, False, False]}))
    >>> counts["runs_ok"], counts["runs_failed"], counts["min_fgsm_censored"], counts["train_hours"]
    (2, 1, 5, 1.0)
    >>> counts["draws"], counts["draws_accepted"]
    (3, 1)
    """
    runs, graphs, draws = _frame(runs), _frame(graphs), _frame(draws)

    def distinct_graphs(study: str) -> int:
        rows = _of_study(graphs, study)
        return int(rows["graph_id"].nunique()) if "graph_id" in rows.columns else len(rows)

    def total(frame: pd.DataFrame, column: str) -> float:
        if column not in frame.columns:
            return 0.0
        return float(pd.to_numeric(frame[column], errors="coerce").sum())

    status = runs["status"] if "status" in runs.columns else pd.Series("ok", index=runs.index)
    finished = runs[status == "ok"]
    accepted = draws["accepted"].astype(bool).sum() if "accepted" in draws.columns else 0
    return {
        "graphs_accepted": distinct_graphs("prior"),
        "pruned_networks": distinct_graphs("pruning"),
        "draws": len(draws),
        "draws_accepted": int(accepted),
        "runs_ok": int((status == "ok").sum()),
        "runs_failed": int((status != "ok").sum()),
        "min_fgsm_attacked": int(total(finished, "min_fgsm_n_correct")),
        "min_fgsm_censored": int(total(finished, "min_fgsm_n_censored")),
        "train_hours": total(runs, "train_seconds") / 3600.0,
        "attack_hours": total(runs, "attack_seconds") / 3600.0,
    }


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: object) -> str:
    key = str(key)
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value) if not (isinstance(value, float) and math.isnan(value)) else "nan"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def format_config(config: Mapping[str, Any]) -> str:
    """A nested configuration as TOML-like text: top-level keys, then one ``[section]`` per table.

    Parameters
    ----------
    config : mapping
        Nested dict of the study configuration. Strings are double-quoted, None prints as
        ``null``, other objects (paths, ...) as quoted strings.

    Returns
    -------
    str
        Plain text (not escaped; escape it before putting it into HTML).

    Examples
    --------
    >>> print(format_config({"name": "quick", "seed": 0, "plan": {"sizes": [400, 500],
    ...                      "train": {"lr": 0.001}}}))
    name = "quick"
    seed = 0
    <BLANKLINE>
    [plan]
    sizes = [400, 500]
    <BLANKLINE>
    [plan.train]
    lr = 0.001
    """
    if not isinstance(config, Mapping):
        raise TypeError(
            f"config must be a mapping (the study config as a nested dict), got {type(config).__name__}")
    lines: list[str] = []

    def emit(table: Mapping[str, Any], path: list[str]) -> None:
        scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
        tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
        if path and (scalars or not tables):
            if lines:
                lines.append("")
            lines.append("[" + ".".join(path) + "]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars)
        for key, sub in tables:
            emit(sub, [*path, _toml_key(key)])

    emit(config, [])
    return "\n".join(lines)


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            items.extend(_flatten(value, name + "."))
        else:
            items.append((name, value))
    return items


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, Mapping)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


# ---------------------------------------------------------------------------------------------
# HTML sections
# ---------------------------------------------------------------------------------------------


def _key_value_table(items: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(_plain(v))}</td></tr>" for k, v in items)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _not_available(text: str) -> str:
    return f'<p class="na">{_e(text)}</p>'


def _summary_section(counts: Mapping[str, float]) -> str:
    drawn = counts["draws"]
    rate = f" ({100.0 * counts['draws_accepted'] / drawn:.1f} % of draws accepted)" if drawn else ""
    attacked = counts["min_fgsm_attacked"]
    censored_share = f" of {attacked:,} attacked clean-correct images" if attacked else ""
    rows = [
        ("Graph priors accepted / drawn", f"{counts['graphs_accepted']:,} / {drawn:,}{rate}"),
        ("Pruned networks (baseline)", f"{counts['pruned_networks']:,}"),
        ("Runs finished / failed", f"{counts['runs_ok']:,} / {counts['runs_failed']:,}"),
        ("Censored images, min-FGSM (not fooled up to the largest eps)",
         f"{counts['min_fgsm_censored']:,}{censored_share}"),
        ("Compute: training / attacks", f"{counts['train_hours']:.2f} h / {counts['attack_hours']:.2f} h"),
    ]
    body = "".join(f'<tr><th scope="row">{_e(k)}</th><td class="num">{_e(v)}</td></tr>' for k, v in rows)
    return f'<section id="summary"><h2>Summary</h2><table><tbody>{body}</tbody></table></section>'


def _shade(rho: object) -> str:
    if _is_missing(rho):
        return ""
    rho = max(-1.0, min(1.0, float(rho)))
    red, green, blue = (214, 96, 77) if rho > 0 else (67, 147, 195)
    return f' style="background: rgba({red}, {green}, {blue}, {0.6 * abs(rho):.2f})"'


def _estimate_html(row: Mapping[str, Any], statistic: str, symbol: str, bold: bool = False) -> str:
    # "value (q) [ci]" with the interval on its own line keeps a 10-measure table on screen
    head, bracket, interval = _cell_text(row, statistic).partition(" [")
    text = f'<span class="sig">{symbol} {_e(head)}</span>' if bold else f"{symbol} {_e(head)}"
    return text + (f'<br><span class="ci">[{_e(interval)}</span>' if bracket else "")


def _correlation_section(correlations: pd.DataFrame, study: str) -> str:
    number, title = STUDY_TABLES[study]
    anchor = f"table{number[-1]}"
    heading = f'<section id="{anchor}"><h2>{_e(number)}: {_e(title)}</h2>'
    properties, measures, cells = _correlation_rows(correlations, study)
    if not cells:
        note = _not_available(f"{number} not available: no correlations for study '{study}' yet.")
        return f"{heading}{note}</section>"
    n_graphs = sorted({int(r["n_graphs"]) for r in cells.values() if not _is_missing(r.get("n_graphs"))})
    n_text = ""
    if n_graphs:
        n_text = f"n = {n_graphs[0]}" if len(n_graphs) == 1 else f"n = {n_graphs[0]}–{n_graphs[-1]}"
    groups: list[tuple[str, int]] = []
    for measure in measures:
        attack = (_split_measure(measure) or ("", measure))[0]
        label = ATTACKS.get(attack, attack) if attack else "clean"
        if groups and groups[-1][0] == label:
            groups[-1] = (label, groups[-1][1] + 1)
        else:
            groups.append((label, 1))
    head_top = '<th rowspan="2" class="prop">graph property</th>' + "".join(
        f'<th colspan="{span}">{_e(label)}</th>' for label, span in groups)
    head_bottom = "".join(f"<th>{_e(measure_label(m, attack=False))}</th>" for m in measures)
    body = []
    for prop in properties:
        tds = []
        for measure in measures:
            row = cells.get((prop, measure))
            if row is None:
                tds.append("<td>–</td>")
                continue
            significant = not _is_missing(row.get("rho_q")) and float(row["rho_q"]) < 0.05
            lines = [_estimate_html(row, "rho", "ρ", bold=significant), _estimate_html(row, "tau", "τ")]
            if not _is_missing(row.get("strength")):
                lines.append(f'<span class="minor">{_e(row["strength"])}</span>')
            if not _is_missing(row.get("partial_rho")):
                partial = f"partial ρ {float(row['partial_rho']):.2f}"
                if not _is_missing(row.get("partial_p")):
                    partial += f" (p={float(row['partial_p']):.3f})"
                lines.append(f'<span class="minor">{_e(partial)}</span>')
            tds.append(f"<td{_shade(row.get('rho'))}>{'<br>'.join(lines)}</td>")
        body.append(f'<tr><th scope="row" class="prop">{_e(property_label(prop))}</th>{"".join(tds)}</tr>')
    legend = (
        "Spearman ρ and Kendall τ between each graph property and each measure averaged over "
        f"initialisations{', ' + n_text + ' graphs per cell' if n_text else ''}. Each estimate "
        "reads “value (q) [confidence interval]”, the interval on the next line; q is the "
        "false-discovery-rate adjusted p-value; marks: * q < .05, ** q < .01, *** q < .001; "
        "bold ρ: q < .05. Shading: red positive, blue negative, darker for larger |ρ|. Small "
        "print, where available: strength of the association and the partial ρ with its p-value."
    )
    return (f'{heading}<div class="scroll"><table class="corr"><thead><tr>{head_top}</tr>'
            f'<tr>{head_bottom}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
            f'<p class="legend">{_e(legend)}</p></section>')


_DEFINITIONS = (
    ("parameters", "784 x sources + edges + 10 x sinks + hidden vertices + 10"),
    ("error rate", "successful attacks / images classified correctly when clean"),
    ("average confidence", "mean softmax probability of the wrong predicted class, over successful attacks"),
    ("minimal eps",
     "first eps in 0.001 + 0.01 k (k = 0, 1, ...) that misclassifies; censored if none up to max"),
    ("average eps",
     "mean minimal eps over images fooled within the grid (censored count reported beside it)"),
    ("F1", "macro F1 over the 10 classes on the 10,000 test images"),
    ("pixels, eps", "pixels are in [0, 1]; eps is a change of pixel value on that scale (L-infinity)"),
)


def _definitions_section() -> str:
    rows = "".join(f'<tr><th scope="row">{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in _DEFINITIONS)
    return f'<section id="definitions"><h2>Definitions</h2><table><tbody>{rows}</tbody></table></section>'


def _failures_section(runs: pd.DataFrame) -> str:
    if "status" not in runs.columns:
        return ""
    failed = runs[runs["status"] != "ok"]
    if failed.empty:
        return ""
    columns = [c for c in ("run_id", "graph_id", "study", "init", "status") if c in failed.columns]
    head = "".join(f"<th>{_e(c)}</th>" for c in [*columns, "error"])
    body = []
    for row in failed.to_dict("records"):
        cells = "".join(f"<td>{_e('' if _is_missing(row[c]) else row[c])}</td>" for c in columns)
        error = row.get("error")
        error_text = _e("" if _is_missing(error) else error)
        body.append(f'<tr>{cells}<td><pre class="err">{error_text}</pre></td></tr>')
    return (f'<section id="failures"><h2>Failed runs ({len(failed)})</h2><div class="scroll"><table>'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div></section>')


def _figures_section(figures: Sequence[ReportFigure], images: Mapping[str, bytes]) -> str:
    parts = ['<section id="figures"><h2>Figures</h2>']
    if not figures:
        parts.append(_not_available("No figures were drawn for this page."))
    number = 0
    for item in figures:
        png = images.get(item.name)
        if item.figure is None or png is None:
            reason = item.missing or "no image was written"
            parts.append(_not_available(f"Figure '{item.name}' not available: {reason}."))
            continue
        number += 1
        width = round(item.figure.get_size_inches()[0] * _PIXELS_PER_INCH)
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure id="fig-{_e(item.name)}"><img src="data:image/png;base64,{data}" '
            f'alt="{_e(item.name)}" style="width: {width}px">'
            f"<figcaption><b>Figure {number}.</b> {_e(item.caption)} "
            f"<span class=\"minor\">(figures/{_e(item.name)}.png, .pdf)</span></figcaption></figure>"
        )
    parts.append("</section>")
    return "".join(parts)


def render_page(runs: pd.DataFrame | None, graphs: pd.DataFrame | None, draws: pd.DataFrame | None,
                correlations: pd.DataFrame | None, meta: Mapping[str, Any] | None,
                figures: Sequence[ReportFigure] = (), images: Mapping[str, bytes] | None = None) -> str:
    """The report page as an HTML string, with figures embedded as data URIs.

    Sections: title and summary counts, configuration, environment, other metadata, Table 1
    (graph priors) and Table 2 (random pruning) of rho and tau per property x measure,
    definitions, failed runs (if any), figures with captions. Absent data give a "not
    available" note, never an error.

    Parameters
    ----------
    runs, graphs, draws, correlations : pandas.DataFrame or None
        The study's tables (layout in :func:`write_report`).
    meta : mapping or None
        ``name``, ``config`` (nested dict), ``environment`` (dict), ``created`` and any other
        keys (shown as a key-value table).
    figures : sequence of ReportFigure
        Figures to show, in order (see :func:`structrob.report.figures.build_figures`).
    images : mapping of str to bytes, optional
        PNG bytes per figure name; a figure without bytes is shown as not available.

    Returns
    -------
    str
        A complete HTML document.

    Examples
    --------
    >>> page = render_page(None, None, None, None, {"name": "a<b"})
    >>> "<title>structrob report: a&lt;b</title>" in page, "Table 1 not available" in page
    (True, True)
    """
    runs, graphs, draws, correlations = _frame(runs), _frame(graphs), _frame(draws), _frame(correlations)
    meta = dict(meta or {})
    name = str(meta.pop("name", "") or "unnamed study")
    created = meta.pop("created", None)
    config = meta.pop("config", None)
    environment = meta.pop("environment", None)
    subtitle = "Does the graph structure of a sparse network predict its adversarial robustness?"
    if created is not None:
        subtitle += f" · created {created}"
    sections = [
        ("summary", "Summary"), ("config", "Configuration"), ("environment", "Environment"),
        ("table1", "Table 1"), ("table2", "Table 2"), ("definitions", "Definitions"),
    ]
    failures = _failures_section(runs)
    if failures:
        sections.append(("failures", "Failures"))
    sections.append(("figures", "Figures"))
    nav = "".join(f'<a href="#{anchor}">{_e(label)}</a>' for anchor, label in sections)

    if isinstance(config, Mapping) and config:
        config_html = f"<pre>{_e(format_config(config))}</pre>"
    elif config:
        config_html = f"<pre>{_e(_plain(config))}</pre>"
    else:
        config_html = _not_available("Configuration not available.")
    if isinstance(environment, Mapping) and environment:
        environment_html = _key_value_table(_flatten(environment))
    elif environment:
        environment_html = f"<pre>{_e(_plain(environment))}</pre>"
    else:
        environment_html = _not_available("Environment not available (not recorded).")
    other = ""
    if meta:
        other = f'<section id="metadata"><h2>Other metadata</h2>{_key_value_table(_flatten(meta))}</section>'

    body = "".join([
        f"<header><h1>structrob report: {_e(name)}</h1><p class=\"sub\">{_e(subtitle)}</p>",
        f"<nav>{nav}</nav></header>",
        _summary_section(summary_counts(runs, graphs, draws)),
        f'<section id="config"><h2>Configuration</h2>{config_html}</section>',
        f'<section id="environment"><h2>Environment</h2>{environment_html}</section>',
        other,
        _correlation_section(correlations, "prior"),
        _correlation_section(correlations, "pruning"),
        _definitions_section(),
        failures,
        _figures_section(figures, images or {}),
    ])
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        # the page must never touch the network: images are data URIs, no scripts at all
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "img-src data:; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>structrob report: {_e(name)}</title>"
        # an empty icon stops the browser from requesting /favicon.ico
        '<link rel="icon" href="data:,">'
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


# ---------------------------------------------------------------------------------------------
# the report directory
# ---------------------------------------------------------------------------------------------


def _check_frame(name: str, value: object) -> pd.DataFrame:
    if value is None:
        return pd.DataFrame()
    if not isinstance(value, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame (an empty one if there is no data), "
                        f"got {type(value).__name__}")
    return value


def _write_text(path: Path, text: str) -> None:
    # write then rename, so a reader never sees a half-written page
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_report(out_dir: str | PathLike[str], runs: pd.DataFrame | None, graphs: pd.DataFrame | None,
                 draws: pd.DataFrame | None, correlations: pd.DataFrame | None,
                 meta: Mapping[str, Any] | None) -> Path:
    """Write a study's report: ``report.html``, ``figures/*.png|pdf`` and ``tables/*.csv``.

    Built from the study's tables alone (it never trains or attacks), so it can be regenerated
    at any time. Figures whose data are missing are left out (and stale files of theirs
    removed); the page says so.

    Parameters
    ----------
    out_dir : path-like
        Study directory; created if missing.
    runs : pandas.DataFrame or None
        One row per run: ``run_id, graph_id, study`` (``"prior"`` or ``"pruning"``), ``step``
        (pruning step or NaN), ``init``, ``status`` (``"ok"``/``"failed"``), ``error``,
        ``accuracy``, ``f1_macro`` (fractions in [0, 1]), ``{attack}_{measure}`` for attacks
        ``fgsm, min_fgsm, onepixel, pgd`` and measures ``error_rate, avg_confidence`` (fractions)
        and ``avg_eps`` (min_fgsm, pixel units in [0, 1]), counts ``{attack}_n_correct``,
        ``{attack}_n_success``, ``{attack}_n_censored``, and ``train_seconds, attack_seconds``.
    graphs : pandas.DataFrame or None
        One row per accepted graph: ``graph_id, study, step, generator, size, nei, p, seed,
        n_parameters`` and property columns ``dag_*``, ``prior_*``.
    draws : pandas.DataFrame or None
        Every sampled draw: ``generator, size, nei, p, seed, n_parameters, accepted`` (bool).
    correlations : pandas.DataFrame or None
        Long table from ``structrob.stats.correlation_table`` with a ``study`` column.
    meta : mapping or None
        ``name``, ``config``, ``environment``, ``created`` and anything else worth showing.

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.

    Examples
    --------
    >>> import tempfile
    >>> path = write_report(tempfile.mkdtemp(), None, None, None, None, {"name": "empty"})
    >>> path.name, "not available" in path.read_text()
    ('report.html', True)
    """
    runs = _check_frame("runs", runs)
    graphs = _check_frame("graphs", graphs)
    draws = _check_frame("draws", draws)
    correlations = _check_frame("correlations", correlations)
    if meta is not None and not isinstance(meta, Mapping):
        raise TypeError(
            f"meta must be a dict (name, config, environment, created, ...), got {type(meta).__name__}")
    out = Path(out_dir)
    figure_dir = out / "figures"
    table_dir = out / "tables"
    out.mkdir(parents=True, exist_ok=True)

    figures = build_figures(runs, graphs, draws, correlations)
    images = {}
    for item in figures:
        if item.figure is None:
            for suffix in (".png", ".pdf"):
                (figure_dir / f"{item.name}{suffix}").unlink(missing_ok=True)
            continue
        png, _ = save_figure(item.figure, figure_dir, item.name)
        images[item.name] = png.read_bytes()

    for study, (number, _) in STUDY_TABLES.items():
        path = table_dir / f"table{number[-1]}_{study}.csv"
        table = correlation_table(correlations, study)
        if table.empty:
            path.unlink(missing_ok=True)
            continue
        table_dir.mkdir(parents=True, exist_ok=True)
        table.to_csv(path)

    page = out / "report.html"
    _write_text(page, render_page(runs, graphs, draws, correlations, meta, figures, images))
    return page

