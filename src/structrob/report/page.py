"""The study report as one self-contained HTML page, plus its tables and figure files.

The page embeds its figures as base64 PNG data URIs and its CSS inline, loads nothing from the
network (a Content-Security-Policy forbids it) and runs no JavaScript, so it can be mailed,
archived or opened offline. Every piece of text that comes from the data is HTML-escaped.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import html
import io
import json
import multiprocessing
import os
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from structrob.report.figures import ReportFigure, build_figures
from structrob.report.summary import summary_counts
from structrob.report.tables import (
    Q_DEFINITION,
    SIGNIFICANCE_MARKS,
    arm_title,
    attack_label,
    correlation_cells,
    correlation_table,
    format_cell,
    is_missing,
    measure_label,
    property_label,
    significance_stars,
)
from structrob.stats import small_sample_warning
from structrob.toml_writer import dumps as format_config
from structrob.validation import check_int
from structrob.vocabulary import ARM, ARMS, DEFINITIONS, MEASURES, SIGN_NOTE

__all__ = [
    "figure_bytes",
    "format_config",
    "render_page",
    "save_figure",
    "write_report",
]
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
.warn { color: #7a1010; background: #fdecec; border-left: 4px solid #c03030; padding: .4rem .7rem;
        font-weight: 600; max-width: 60rem; }
figure { margin: 1.6rem 0; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 14px; color: #333; max-width: 60rem; margin-top: .4rem; }
.legend { font-size: 13px; color: #444; max-width: 60rem; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


# ---------------------------------------------------------------------------------------------
# configuration and metadata as text
# ---------------------------------------------------------------------------------------------


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


def _completion_section(completion: Mapping[str, Any] | None) -> str:
    # meta["completion"] (structrob.study.analysis.Progress.as_meta): a banner at the top of
    # the page when not every planned unit finished
    if not isinstance(completion, Mapping) or completion.get("complete", True):
        return ""
    done, planned = completion.get("done", 0), completion.get("planned", 0)
    failed, pending = completion.get("failed", 0), completion.get("pending", 0)
    text = (
        f"Unfinished study: {done:,} of {planned:,} planned units finished"
        f" ({failed:,} failed, {pending:,} not run yet); every number below covers the finished"
        " units only. Run the same `structrob run` again to complete it."
    )
    kinds = "".join(
        f"<li>{_e(k.get('kind'))}: {_e(k.get('units'))} units; first: "
        f"<code>{_e(k.get('first_error'))}</code></li>"
        for k in completion.get("failure_kinds") or []
    )
    listing = f"<ul>{kinds}</ul>" if kinds else ""
    return f'<section id="unfinished"><p class="na">{_e(text)}</p>{listing}</section>'


def _arm_section(arm: Any) -> str:
    # meta["arm"] (structrob export --arm): the page covers one arm of its study
    if arm not in ARMS:
        return ""
    others = ", ".join(arm_title(a) for a in ARMS if a != arm)
    text = (
        f"This page covers one arm of the study, {arm_title(arm)}. The other ({others}) is "
        "not on it and is published on its own; every count, table and figure below is this "
        "arm's."
    )
    return f'<section id="arm"><p class="na">{_e(text)}</p></section>'


def _summary_section(counts: Mapping[str, float]) -> str:
    drawn = counts["draws"]
    rate = f" ({100.0 * counts['draws_accepted'] / drawn:.1f} % of draws accepted)" if drawn else ""
    attacked = counts["min_fgsm_attacked"]
    censored_share = f" of {attacked:,} attacked clean-correct images" if attacked else ""
    rows = [
        (
            "Graph priors finished / accepted / drawn",
            f"{counts['graphs_accepted']:,} / {counts['draws_accepted']:,} / {drawn:,}{rate}",
        ),
        ("Pruned networks (baseline)", f"{counts['pruned_networks']:,}"),
        ("Runs finished / failed", f"{counts['runs_ok']:,} / {counts['runs_failed']:,}"),
        (
            "Censored images, min-FGSM (not fooled up to the largest eps)",
            f"{counts['min_fgsm_censored']:,}{censored_share}",
        ),
        (
            "Compute: training / attacks",
            f"{counts['train_hours']:.2f} h / {counts['attack_hours']:.2f} h",
        ),
    ]
    body = "".join(
        f'<tr><th scope="row">{_e(k)}</th><td class="num">{_e(v)}</td></tr>' for k, v in rows
    )
    return f'<section id="summary"><h2>Summary</h2><table><tbody>{body}</tbody></table></section>'


def _shade(rho: object) -> str:
    # the cell's Spearman rho, clipped to [-1, 1]: red above 0, blue otherwise, alpha 0.6 |rho|
    if is_missing(rho):
        return ""
    rho = max(-1.0, min(1.0, float(rho)))
    red, green, blue = (214, 96, 77) if rho > 0 else (67, 147, 195)
    return f' style="background: rgba({red}, {green}, {blue}, {0.6 * abs(rho):.2f})"'


def _estimate_html(row: Mapping[str, Any], statistic: str, symbol: str, bold: bool = False) -> str:
    # "value (q) [ci]" with the interval on its own line keeps a 10-measure table on screen
    head, bracket, interval = format_cell(row, statistic).partition(" [")
    text = f'<span class="sig">{symbol} {_e(head)}</span>' if bold else f"{symbol} {_e(head)}"
    return text + (f'<br><span class="ci">[{_e(interval)}</span>' if bracket else "")


def _table_anchor(arm: str) -> str:
    return f"table{ARMS[arm].table.split()[-1]}"


def _rows_text(arm: str, analysis: Mapping[str, Any]) -> str:
    """What one observation of an arm's table is, from the config's ``analysis`` section."""
    if arm == "pruning" and analysis.get("pruning_rows") == "pooled":
        return (
            "each finished run of every pruning step (pooled rows: no outlier filter, no "
            "average over initialisations)"
        )
    rule = str(analysis.get("outlier_rule", "per_measure")).replace("_", " ")
    return f"each measure averaged over initialisations after the IQR outlier filter ({rule})"


def _correlation_section(
    correlations: pd.DataFrame, arm: str, analysis: Mapping[str, Any] | None = None
) -> str:
    number = ARMS[arm].table
    heading = f'<section id="{_table_anchor(arm)}"><h2>{_e(arm_title(arm))}</h2>'
    properties, measures, cells = correlation_cells(correlations, arm)
    if not cells:
        note = _not_available(f"{number} not available: no correlations for {ARM} '{arm}' yet.")
        return f"{heading}{note}</section>"
    n_graphs = sorted(
        {int(r["n_graphs"]) for r in cells.values() if not is_missing(r.get("n_graphs"))}
    )
    warning = small_sample_warning(pd.DataFrame({"n_graphs": n_graphs}))
    if warning:
        heading += f'<p class="warn">{_e(warning)}</p>'
    n_text = ""
    if n_graphs:
        n_text = f"n = {n_graphs[0]}" if len(n_graphs) == 1 else f"n = {n_graphs[0]}–{n_graphs[-1]}"
    groups: list[tuple[str, int]] = []
    for measure in measures:
        label = attack_label(measure)
        if groups and groups[-1][0] == label:
            groups[-1] = (label, groups[-1][1] + 1)
        else:
            groups.append((label, 1))
    head_top = '<th rowspan="2" class="prop">graph property</th>' + "".join(
        f'<th colspan="{span}">{_e(label)}</th>' for label, span in groups
    )
    head_bottom = "".join(f"<th>{_e(measure_label(m, attack=False))}</th>" for m in measures)
    body = []
    for prop in properties:
        tds = []
        for measure in measures:
            row = cells.get((prop, measure))
            if row is None:
                tds.append("<td>–</td>")
                continue
            significant = bool(significance_stars(row.get("rho_q")))
            lines = [
                _estimate_html(row, "rho", "ρ", bold=significant),
                _estimate_html(row, "tau", "τ"),
            ]
            if not is_missing(row.get("strength")):
                lines.append(f'<span class="minor">{_e(row["strength"])}</span>')
            if not is_missing(row.get("partial_rho")):
                partial = f"partial ρ {float(row['partial_rho']):.2f}"
                if not is_missing(row.get("partial_p")):
                    partial += f" (p={float(row['partial_p']):.3f})"
                lines.append(f'<span class="minor">{_e(partial)}</span>')
            tds.append(f"<td{_shade(row.get('rho'))}>{'<br>'.join(lines)}</td>")
        body.append(
            f'<tr><th scope="row" class="prop">{_e(property_label(prop))}</th>{"".join(tds)}</tr>'
        )
    legend = (
        "Spearman ρ and Kendall τ between each graph property and "
        f"{_rows_text(arm, analysis or {})}"
        f"{', ' + n_text + ' per cell' if n_text else ''}. Each estimate "
        "reads “value (q) [confidence interval]”, the interval on the next line; q is the "
        f"{Q_DEFINITION}; marks: {SIGNIFICANCE_MARKS}; bold ρ: at least one mark. Shading: the "
        "cell's ρ, red for positive and blue for negative, more opaque for larger |ρ| (opacity "
        "0.6 |ρ|). Small print, where available: strength of the association and the partial ρ "
        f"with its p-value. {SIGN_NOTE}"
    )
    return (
        f'{heading}<div class="scroll"><table class="corr"><thead><tr>{head_top}</tr>'
        f"<tr>{head_bottom}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        f'<p class="legend">{_e(legend)}</p></section>'
    )


def _definitions_section() -> str:
    rows = "".join(f'<tr><th scope="row">{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in DEFINITIONS)
    table = f"<table><tbody>{rows}</tbody></table>"
    signs = "".join(
        f'<tr><th scope="row">{_e(m.label)}</th><td>{_e(m.direction)}</td></tr>'
        for m in MEASURES.values()
    )
    sign_table = (
        f'<table id="signs"><caption>Sign conventions</caption><tbody>{signs}</tbody></table>'
    )
    note = f'<p class="legend">{_e(SIGN_NOTE)}</p>'
    return f'<section id="definitions"><h2>Definitions</h2>{table}{sign_table}{note}</section>'


def _failures_section(runs: pd.DataFrame) -> str:
    if "status" not in runs.columns:
        return ""
    failed = runs[runs["status"] != "ok"]
    if failed.empty:
        return ""
    columns = [c for c in ("run_id", "graph_id", ARM, "init", "status") if c in failed.columns]
    head = "".join(f"<th>{_e(c)}</th>" for c in [*columns, "error"])
    body = []
    for row in failed.to_dict("records"):
        cells = "".join(f"<td>{_e('' if is_missing(row[c]) else row[c])}</td>" for c in columns)
        error = row.get("error")
        error_text = _e("" if is_missing(error) else error)
        body.append(f'<tr>{cells}<td><pre class="err">{error_text}</pre></td></tr>')
    return (
        f'<section id="failures"><h2>Failed runs ({len(failed)})</h2><div class="scroll"><table>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div></section>"
    )


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
            f'<span class="minor">(figures/{_e(item.name)}.png, .pdf)</span></figcaption></figure>'
        )
    parts.append("</section>")
    return "".join(parts)


def render_page(
    runs: pd.DataFrame | None,
    graphs: pd.DataFrame | None,
    draws: pd.DataFrame | None,
    correlations: pd.DataFrame | None,
    meta: Mapping[str, Any] | None,
    figures: Sequence[ReportFigure] = (),
    images: Mapping[str, bytes] | None = None,
) -> str:
    """The report page as an HTML string, with figures embedded as data URIs.

    Sections: title and summary counts, configuration, environment, other metadata, one table
    of rho and tau per property x measure for each arm (Table 1: graph priors, Table 2:
    random-pruning baseline), each headed by :func:`structrob.stats.small_sample_warning` when
    it rests on fewer than ``structrob.stats.MIN_GRAPHS`` graphs and with the sign conventions
    (``vocabulary.SIGN_NOTE``) in its legend, definitions with each measure's sign convention
    (``vocabulary.Measure.direction``), failed runs (if any), figures with captions. Absent
    data give a "not available" note, never an error.

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
    runs, graphs, draws, correlations = (
        pd.DataFrame() if frame is None else frame for frame in (runs, graphs, draws, correlations)
    )
    meta = dict(meta or {})
    name = str(meta.pop("name", "") or "unnamed study")
    created = meta.pop("created", None)
    config = meta.pop("config", None)
    environment = meta.pop("environment", None)
    completion = meta.get("completion")  # the banner; also listed under other metadata
    arm = meta.get("arm")  # one arm only (banner; also listed under other metadata)
    shown = [arm] if arm in ARMS else list(ARMS)
    subtitle = "Does the graph structure of a sparse network predict its adversarial robustness?"
    if created is not None:
        subtitle += f" · created {created}"
    sections = [
        ("summary", "Summary"),
        ("config", "Configuration"),
        ("environment", "Environment"),
        *((_table_anchor(a), ARMS[a].table) for a in shown),
        ("definitions", "Definitions"),
    ]
    failures = _failures_section(runs)
    if failures:
        sections.append(("failures", "Failures"))
    sections.append(("figures", "Figures"))
    nav = "".join(f'<a href="#{anchor}">{_e(label)}</a>' for anchor, label in sections)

    analysis = config.get("analysis") if isinstance(config, Mapping) else None
    analysis = analysis if isinstance(analysis, Mapping) else {}
    if isinstance(config, Mapping) and config:
        config_text = format_config(config).rstrip("\n")
        config_html = f"<pre>{_e(config_text)}</pre>"
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
        metadata = _key_value_table(_flatten(meta))
        other = f'<section id="metadata"><h2>Other metadata</h2>{metadata}</section>'

    body = "".join(
        [
            f'<header><h1>structrob report: {_e(name)}</h1><p class="sub">{_e(subtitle)}</p>',
            f"<nav>{nav}</nav></header>",
            _arm_section(arm),
            _completion_section(completion),
            _summary_section(summary_counts(runs, graphs, draws)),
            f'<section id="config"><h2>Configuration</h2>{config_html}</section>',
            f'<section id="environment"><h2>Environment</h2>{environment_html}</section>',
            other,
            *(_correlation_section(correlations, a, analysis) for a in shown),
            _definitions_section(),
            failures,
            _figures_section(figures, images or {}),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # the page must never touch the network: images are data URIs, no scripts at all
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
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


def save_figure(
    figure: Figure, directory: str | PathLike[str], name: str, dpi: int = 200
) -> tuple[Path, Path]:
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
    _check_figure_name(name)
    return _write_figure(figure_bytes(figure, dpi), directory, name)


def _check_figure_name(name: str) -> None:
    if not name or not all(ch.isalnum() or ch in "_-" for ch in name):
        raise ValueError(f"figure name must use letters, digits, '_' or '-', got {name!r}")


def _write_figure(
    files: tuple[bytes, bytes], directory: str | PathLike[str], name: str
) -> tuple[Path, Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / f"{name}.png", directory / f"{name}.pdf"
    # write then rename, so a killed process never leaves a 0-byte or partial figure
    for path, content in zip(paths, files):
        with _atomic_path(path) as temporary:
            temporary.write_bytes(content)
    return paths


def figure_bytes(figure: Figure, dpi: int = 200) -> tuple[bytes, bytes]:
    """A figure drawn as PNG and as PDF: the bytes :func:`save_figure` writes.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        Its layout engine is left as it came; its tick formatters show no offset afterwards.
    dpi : int
        Resolution of the PNG (the PDF is vector).

    Returns
    -------
    (bytes, bytes)
        The PNG and the PDF (without creation date, so an unchanged figure gives the same).

    Examples
    --------
    >>> png, pdf = figure_bytes(Figure(figsize=(1, 1)), dpi=20)
    >>> png[:4], pdf[:5]
    (b'\\x89PNG', b'%PDF-')
    """
    for axes in figure.axes:
        # an offset label ("+1e2") on a near-constant panel reads as a different unit
        for axis in (axes.xaxis, axes.yaxis):
            formatter = axis.get_major_formatter()
            if hasattr(formatter, "set_useOffset"):
                formatter.set_useOffset(False)
    engine = figure.get_layout_engine()
    files = []
    for options in (
        {"dpi": dpi, "format": "png", "metadata": {"Software": None}},
        {"format": "pdf", "metadata": {"CreationDate": None}},
    ):
        buffer = io.BytesIO()
        figure.savefig(buffer, **options)
        files.append(buffer.getvalue())
        # the PDF keeps the layout the PNG's draw computed: a layout engine (constrained
        # layout) is a third of a report's time, and it would place the same axes again
        figure.set_layout_engine("none")
    figure.set_layout_engine(engine)
    return files[0], files[1]


# The figures a forked drawing process inherits (set only while :func:`_draw_figures` runs):
# a child reads them from the memory it shares with the parent, so nothing is pickled to it.
_INHERITED: list[Figure] = []


def _draw_inherited(index: int) -> tuple[bytes, bytes]:
    return figure_bytes(_INHERITED[index])


def _can_fork() -> bool:
    # a child forked from a process with other threads may inherit a lock one of them held
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def _draw_figures(figures: Sequence[Figure], processes: int) -> list[tuple[bytes, bytes]]:
    """Every figure's PNG and PDF bytes, drawn by up to ``processes`` forked processes.

    Drawing is nearly all of a report's time and each figure is drawn on its own, so they are
    drawn side by side where the platform forks (a fork inherits matplotlib already imported
    and the figures already built, so a child costs milliseconds); elsewhere, or with
    ``processes == 1``, one after the other in this process. The bytes are the same either way.
    """
    processes = min(processes, len(figures))
    if processes < 2 or not _can_fork():
        return [figure_bytes(figure) for figure in figures]
    global _INHERITED
    _INHERITED = list(figures)
    pool = cf.ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))
    try:
        return list(pool.map(_draw_inherited, range(len(figures))))
    finally:
        # after an error (or Ctrl-C) the figures not begun are not drawn
        pool.shutdown(wait=True, cancel_futures=True)
        _INHERITED = []


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temp path next to ``path``, unique to this process, renamed over it on success."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _check_frame(name: str, value: object) -> pd.DataFrame:
    if value is None:
        return pd.DataFrame()
    if not isinstance(value, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame (an empty one if there is no data), "
            f"got {type(value).__name__}"
        )
    return value


def _write_text(path: Path, text: str) -> None:
    # write then rename (a temp name unique to this process), so a reader never sees a
    # half-written page
    with _atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_report(
    out_dir: str | PathLike[str],
    runs: pd.DataFrame | None,
    graphs: pd.DataFrame | None,
    draws: pd.DataFrame | None,
    correlations: pd.DataFrame | None,
    meta: Mapping[str, Any] | None,
    processes: int | None = None,
) -> Path:
    """Write a study's report: ``report.html``, ``figures/*.png|pdf`` and ``tables/*.csv``.

    Built from the study's tables alone (it never trains or attacks), so it can be regenerated
    at any time. Figures whose data are missing are left out (and stale files of theirs
    removed); the page says so.

    Parameters
    ----------
    out_dir : path-like
        Study directory; created if missing.
    runs : pandas.DataFrame or None
        One row per run: ``run_id, graph_id, arm`` (``"prior"`` or ``"pruning"``), ``step``
        (pruning step or NaN), ``init``, ``status`` (``"ok"``/``"failed"``), ``error``,
        ``accuracy``, ``f1_macro`` (fractions in [0, 1]), ``{attack}_{measure}`` for attacks
        ``fgsm, min_fgsm, onepixel, pgd`` and measures ``error_rate, avg_confidence`` (fractions)
        and ``avg_eps`` (min_fgsm, pixel units in [0, 1]), counts ``{attack}_n_correct``,
        ``{attack}_n_success``, ``{attack}_n_censored``, and ``train_seconds, attack_seconds``.
    graphs : pandas.DataFrame or None
        One row per accepted graph: ``graph_id, arm, step, generator, size, nei, p, seed,
        n_parameters`` and property columns ``dag_*``, ``prior_*``.
    draws : pandas.DataFrame or None
        Every sampled draw: ``generator, size, nei, p, seed, n_parameters, accepted`` (bool).
    correlations : pandas.DataFrame or None
        Long table from ``structrob.stats.correlation_table`` with an ``arm`` column.
    meta : mapping or None
        ``name``, ``config``, ``environment``, ``created`` and anything else worth showing.
    processes : int, optional
        Processes drawing the figures side by side (forked, where the platform forks; the
        files are the same with any number), ``>= 1``; default: one per core.

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
            "meta must be a dict (name, config, environment, created, ...), "
            f"got {type(meta).__name__}"
        )
    if processes is None:
        processes = os.cpu_count() or 1
    processes = check_int("processes", processes, 1)
    out = Path(out_dir)
    figure_dir = out / "figures"
    table_dir = out / "tables"
    out.mkdir(parents=True, exist_ok=True)

    figures = build_figures(runs, graphs, draws, correlations)
    for item in figures:
        if item.figure is None:
            for suffix in (".png", ".pdf"):
                (figure_dir / f"{item.name}{suffix}").unlink(missing_ok=True)
    drawn = [item for item in figures if item.figure is not None]
    images = {}
    for item, files in zip(drawn, _draw_figures([i.figure for i in drawn], processes)):
        _write_figure(files, figure_dir, item.name)
        images[item.name] = files[0]

    for arm in ARMS:
        path = table_dir / f"{_table_anchor(arm)}_{arm}.csv"
        table = correlation_table(correlations, arm)
        if table.empty:
            path.unlink(missing_ok=True)
            continue
        table_dir.mkdir(parents=True, exist_ok=True)
        with _atomic_path(path) as temporary:
            table.to_csv(temporary)

    page = out / "report.html"
    _write_text(page, render_page(runs, graphs, draws, correlations, meta, figures, images))
    return page
