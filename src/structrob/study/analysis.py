"""Reading a study directory: progress, the correlation analysis, exports, the report, models.

Nothing here trains, attacks or changes results; everything reads the store
(:class:`~structrob.study.store.Store`), opened read-only, so a finished study can be read
from read-only media (the report and the exports then go to another folder). :func:`analyse`
computes a study's correlation table (bootstrap and all) once into an :class:`Analysis`, which
:func:`write_study_report`, :func:`export` and the command line's headline all take, so one
``structrob run`` computes it once. :func:`progress_of` says how far a study got: planned,
finished and failed units, and why they failed. Every file is written atomically (temp file and
rename), so a reader or a killed process never leaves a half-written table, figure or page.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
import torch

from structrob import stats
from structrob.model import SparseDAGNet
from structrob.pruning import dense_layered_dag
from structrob.study.files import atomic_path
from structrob.study.store import Store
from structrob.validation import check_int
from structrob.vocabulary import ARM, ARMS

__all__ = [
    "STAGE_LABELS",
    "Analysis",
    "AnalysisSettings",
    "Progress",
    "analyse",
    "export",
    "load_run_model",
    "progress_of",
    "runs_with_properties",
    "status",
    "write_study_report",
]

#: Values of ``analysis.properties``.
PROPERTY_SETS = ("networkx", "study_code", "both")
# The study code's columns, and the networkx columns whose quantity they redefine under
# another name (dag_study_avg_path_length is the study's dag_avg_shortest_path).
_STUDY_PREFIX = "dag_study_"
_REDEFINED = ("dag_avg_shortest_path",)

#: Progress stage of each arm (status rows, progress bars), in display order.
STAGE_LABELS = {"prior": "graph priors", "pruning": "pruning steps"}
#: An arm's correlations need at least this many graphs.
MIN_GRAPHS = 3


def unit_of_run(run_ids: pd.Series) -> pd.Series:
    """The unit of each run: run ids are ``<unit_id>-<init>``.

    Parameters
    ----------
    run_ids : pandas.Series of str

    Returns
    -------
    pandas.Series of str

    Examples
    --------
    >>> unit_of_run(pd.Series(["0123abcd-he_uniform"])).tolist()
    ['0123abcd']
    """
    return run_ids.astype(str).str.split("-", n=1).str[0]


def error_kind(error: str | None) -> str:
    """What kind of failure an error text is: the part before its first colon.

    Parameters
    ----------
    error : str or None

    Returns
    -------
    str

    Examples
    --------
    >>> error_kind("DataError: corrupt gzip stream in /d/train.gz"), error_kind("worker failed: x")
    ('DataError', 'worker failed')
    >>> error_kind("non-finite training loss (nan) in epoch 1")
    'non-finite training loss'
    """
    text = (error or "unknown error").strip()
    return text.split(":", 1)[0].split(" (", 1)[0].strip() or "unknown error"


@dataclass(frozen=True, eq=False)
class Progress:
    """How far a study got: planned, finished and failed units, per arm, and why they failed.

    Parameters
    ----------
    arms : dict
        Per arm (``"prior"``, ``"pruning"``), counts of units: ``planned``, ``done`` (finished
        with their weight files), ``failed`` (last attempt raised; run again by the next
        ``structrob run``), ``retry`` (left between attempts by a stopped driver), ``pending``
        (planned, neither done nor failed), ``missing_weights`` (finished, but weight files
        gone: run again) and ``diverged_runs`` (runs of finished units whose training diverged,
        a deterministic failure: ``--retry-failed`` runs them again).
    failures : list of dict
        One per planned unit whose last attempt failed: ``unit_id, arm, step, status,
        attempts, error``.
    diverged : list of dict
        One per diverged run: ``run_id, arm, error``.
    missing_weights : dict
        Unit id -> its missing weight files.

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> store.set_meta(planned_units={"prior": ["a", "b"], "pruning": []})
    >>> store.record_failure("a", "prior", None, "MemoryError: out of memory", final=True)
    >>> progress = progress_of(store)
    >>> progress.planned, progress.done, progress.failed, progress.pending, progress.complete
    (2, 0, 1, 1, False)
    >>> progress.kinds()
    [('MemoryError', 1, 'MemoryError: out of memory')]
    """

    arms: dict[str, dict[str, int]]
    failures: list[dict[str, Any]] = field(default_factory=list)
    diverged: list[dict[str, Any]] = field(default_factory=list)
    missing_weights: dict[str, list[str]] = field(default_factory=dict)

    def _total(self, key: str) -> int:
        return sum(counts[key] for counts in self.arms.values())

    @property
    def planned(self) -> int:
        """Planned units."""
        return self._total("planned")

    @property
    def done(self) -> int:
        """Finished units (weight files present)."""
        return self._total("done")

    @property
    def failed(self) -> int:
        """Units whose last attempt failed (``failed`` or ``retry``)."""
        return self._total("failed") + self._total("retry")

    @property
    def pending(self) -> int:
        """Planned units neither finished nor failed (never run, or missing weights)."""
        return self.planned - self.done - self.failed

    @property
    def complete(self) -> bool:
        """Whether every planned unit finished."""
        return self.done >= self.planned

    def kinds(self) -> list[tuple[str, int, str]]:
        """Unit failures by kind: ``(kind, units, first error)``, most frequent first."""
        groups: dict[str, list[str]] = {}
        for failure in self.failures:
            groups.setdefault(error_kind(failure["error"]), []).append(failure["error"] or "")
        return sorted(
            ((kind, len(errors), errors[0]) for kind, errors in groups.items()),
            key=lambda item: -item[1],
        )

    def summary(self) -> str:
        """A few lines for people: what is missing, the first error of each kind, what to do."""
        lines = [
            f"{self.done} of {self.planned} planned units finished"
            + (f", {self.failed} failed" if self.failed else "")
            + (f", {self.pending} not run" if self.pending else "")
        ]
        for kind, count, first in self.kinds():
            lines.append(f"  {kind}: {count} unit{'s' if count != 1 else ''}; first: {first}")
        if self.missing_weights:
            unit_id, files = next(iter(self.missing_weights.items()))
            lines.append(
                f"  missing weights: {len(self.missing_weights)} finished units (e.g. {unit_id}:"
                f" {files[0]}); they are computed again"
            )
        if self.diverged:
            first = self.diverged[0]
            lines.append(
                f"  diverged runs (seeded, kept as results): {len(self.diverged)}; first: "
                f"{first['run_id']}: {first['error']}; `--retry-failed` runs them again"
            )
        return "\n".join(lines)

    def as_meta(self) -> dict[str, Any]:
        """The report's ``completion`` entry: totals, per-arm counts, failure kinds."""
        return {
            "complete": self.complete,
            "planned": self.planned,
            "done": self.done,
            "failed": self.failed,
            "pending": self.pending,
            "arms": self.arms,
            "failure_kinds": [
                {"kind": kind, "units": count, "first_error": first}
                for kind, count, first in self.kinds()
            ],
            "diverged_runs": len(self.diverged),
            "missing_weights": len(self.missing_weights),
        }


def progress_of(store: Store) -> Progress:
    """A study's :class:`Progress`, read from its store (the units the last run planned).

    Parameters
    ----------
    store : Store

    Returns
    -------
    Progress
    """
    planned_units = store.get_meta("planned_units")
    planned_counts = store.get_meta("planned") or {}
    units = store.units_frame()
    missing = store.missing_weights()
    runs = store.runs_frame()
    arms: dict[str, dict[str, int]] = {}
    failures: list[dict[str, Any]] = []
    diverged: list[dict[str, Any]] = []
    for arm in ARMS:
        mine = units[units[ARM] == arm] if not units.empty else units
        if planned_units is not None:
            ids = set(planned_units.get(arm, []))
            mine = mine[mine["unit_id"].isin(ids)] if not mine.empty else mine
            planned = len(ids)
        else:  # a store written before the planned ids were kept
            planned = int(planned_counts.get(arm, len(mine)))
        status = mine["status"] if not mine.empty else pd.Series(dtype=str)
        done_ids = set(mine.loc[status == "done", "unit_id"]) if not mine.empty else set()
        gone = done_ids & set(missing)
        rows = mine[status.isin(["failed", "retry"])] if not mine.empty else mine
        failures += [
            {k: row[k] for k in ("unit_id", ARM, "step", "status", "attempts", "error")}
            for row in rows.to_dict("records")
        ]
        bad = runs[(runs[ARM] == arm) & (runs["status"] != "ok")] if not runs.empty else runs
        bad = bad[unit_of_run(bad["run_id"]).isin(done_ids)] if not bad.empty else bad
        diverged += [
            {"run_id": r["run_id"], ARM: arm, "error": r["error"]} for r in bad.to_dict("records")
        ]
        counts = {
            "planned": planned,
            "done": len(done_ids - gone),
            "failed": int((status == "failed").sum()),
            "retry": int((status == "retry").sum()),
            "missing_weights": len(gone),
            "diverged_runs": len(bad),
        }
        counts["pending"] = max(0, planned - counts["done"] - counts["failed"] - counts["retry"])
        arms[arm] = counts
    return Progress(
        arms=arms,
        failures=failures,
        diverged=diverged,
        missing_weights={k: v for k, v in missing.items()},
    )


@dataclass(frozen=True)
class AnalysisSettings:
    """How a study's correlations are computed (checked when made, so before a study starts).

    The fields are those of the ``analysis`` section of a study config
    (:class:`~structrob.study.config.AnalysisConfig`, :meth:`from_config`).

    Parameters
    ----------
    n_boot : int
        Bootstrap resamples of the confidence intervals, ``>= 0`` (0: no intervals).
    seed : int
        Seed of the bootstrap, ``>= 0``.
    outlier_rule : {"per_measure", "per_attack"}
        The IQR filter's unit (:func:`structrob.stats.iqr_keep`): one measure, or all of an
        attack's measures of a run at once (the study code's rule).
    pruning_rows : {"step_means", "pooled"}
        Table 2's rows: the mean of each pruning step's runs, or every run (the study code's).
    properties : {"networkx", "study_code", "both"}
        The graph properties correlated: the networkx definitions (``dag_*``, ``prior_*``),
        the study code's igraph defaults (``dag_study_*`` in place of the ``dag_*`` columns
        they redefine), or both.

    Examples
    --------
    >>> AnalysisSettings().n_boot
    1000
    >>> AnalysisSettings.from_config({"outlier_rule": "per_attack"}).outlier_rule
    'per_attack'
    >>> AnalysisSettings(n_boot=-1)
    Traceback (most recent call last):
    ...
    ValueError: n_boot must be an integer >= 0, got -1
    """

    n_boot: int = 1000
    seed: int = 0
    outlier_rule: str = "per_measure"
    pruning_rows: str = "step_means"
    properties: str = "networkx"

    def __post_init__(self) -> None:
        check_int("n_boot", self.n_boot, 0)
        check_int("seed", self.seed, 0)
        for name, allowed in (
            ("outlier_rule", stats.OUTLIER_RULES),
            ("pruning_rows", stats.PRUNING_ROWS),
            ("properties", PROPERTY_SETS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"analysis.{name} must be one of {list(allowed)}, got {getattr(self, name)!r}"
                )

    @classmethod
    def from_config(cls, analysis: Any) -> AnalysisSettings:
        """Settings from a config's ``analysis`` section (model or dict; missing keys default).

        Parameters
        ----------
        analysis : AnalysisConfig or dict or None

        Returns
        -------
        AnalysisSettings
        """
        if analysis is None:
            return cls()
        values = analysis if isinstance(analysis, dict) else analysis.model_dump()
        return cls(**{k: values[k] for k in cls.__dataclass_fields__ if k in values})

    def select_properties(self, graphs: pd.DataFrame) -> list[str] | None:
        """The property columns of ``graphs`` to correlate (None: the statistics' default).

        Parameters
        ----------
        graphs : pandas.DataFrame
            One arm's graphs table.

        Returns
        -------
        list of str or None
        """
        if self.properties == "both":
            return None
        study = [c for c in graphs.columns if str(c).startswith(_STUDY_PREFIX)]
        if self.properties == "networkx":
            exclude = set(study)
        else:  # the study code's definitions replace the networkx columns they redefine
            exclude = {"dag_" + c[len(_STUDY_PREFIX) :] for c in study} | set(_REDEFINED)
        kept = [c for c in graphs.columns if c not in exclude]
        return stats.default_properties(graphs[kept]) if kept else []


@dataclass(frozen=True, eq=False)
class Analysis:
    """A study's tables and its correlation table, read and computed once.

    Parameters
    ----------
    runs : pandas.DataFrame
        :meth:`Store.runs_frame`: one row per run.
    graphs : pandas.DataFrame
        :meth:`Store.graphs_frame`: one row per graph.
    draws : pandas.DataFrame
        :meth:`Store.draws_frame`: every sampled draw.
    correlations : pandas.DataFrame
        One block per arm with at least three graphs: ``arm`` then
        :data:`structrob.stats.TABLE_COLUMNS`.
    settings : AnalysisSettings
        How ``correlations`` was computed.

    Examples
    --------
    >>> import tempfile
    >>> analysis = analyse(Store(tempfile.mkdtemp()))
    >>> analysis.correlations.columns[0], len(analysis.runs)
    ('arm', 0)
    """

    runs: pd.DataFrame
    graphs: pd.DataFrame
    draws: pd.DataFrame
    correlations: pd.DataFrame
    settings: AnalysisSettings


def _correlations(
    runs: pd.DataFrame, graphs: pd.DataFrame, settings: AnalysisSettings
) -> pd.DataFrame:
    blocks = []
    for arm in ARMS:
        r = runs[runs[ARM] == arm] if not runs.empty else runs
        g = graphs[graphs[ARM] == arm] if not graphs.empty else graphs
        if len(g) < MIN_GRAPHS:
            continue
        control = "dag_parameters" if g["dag_parameters"].nunique() > 1 else None
        table = stats.correlation_table(
            r,
            g,
            properties=settings.select_properties(g),
            control=control,
            n_boot=settings.n_boot,
            seed=settings.seed,
            outlier_rule=settings.outlier_rule,
            pruning_rows=settings.pruning_rows if arm == "pruning" else "step_means",
        )
        table.insert(0, ARM, arm)
        blocks.append(table)
    if not blocks:
        return pd.DataFrame(columns=[ARM, *stats.TABLE_COLUMNS])
    return pd.concat(blocks, ignore_index=True)


def analyse(store: Store, settings: AnalysisSettings | None = None) -> Analysis:
    """A study's tables and its correlation tables, one block per arm.

    Each arm's block (``prior``: Table 1, ``pruning``: Table 2) is
    :func:`structrob.stats.correlation_table` over that arm's graphs (at least three),
    controlling for ``dag_parameters`` where it varies.

    Parameters
    ----------
    store : Store
    settings : AnalysisSettings, optional
        Bootstrap settings (default: 1,000 resamples, seed 0).

    Returns
    -------
    Analysis

    Examples
    --------
    >>> import tempfile
    >>> analyse(Store(tempfile.mkdtemp())).correlations.empty
    True
    """
    if settings is None:
        settings = AnalysisSettings.from_config((store.get_meta("config") or {}).get("analysis"))
    runs, graphs = store.runs_frame(), store.graphs_frame()
    return Analysis(
        runs=runs,
        graphs=graphs,
        draws=store.draws_frame(),
        correlations=_correlations(runs, graphs, settings),
        settings=settings,
    )


def runs_with_properties(runs: pd.DataFrame, graphs: pd.DataFrame) -> pd.DataFrame:
    """Runs joined with their graph's properties (one row per run).

    Parameters
    ----------
    runs, graphs : pandas.DataFrame
        As :class:`Analysis` holds them.

    Returns
    -------
    pandas.DataFrame
        ``runs`` with the columns of ``graphs`` (but ``arm`` and ``step``) added by
        ``graph_id``.

    Examples
    --------
    >>> runs = pd.DataFrame({"graph_id": ["a", "a"], "arm": "prior", "step": None,
    ...                      "accuracy": [0.9, 0.8]})
    >>> graphs = pd.DataFrame({"graph_id": ["a"], "arm": "prior", "step": None,
    ...                        "dag_layers": [4]})
    >>> runs_with_properties(runs, graphs)["dag_layers"].tolist()
    [4, 4]
    """
    if runs.empty:
        return runs
    return runs.merge(graphs.drop(columns=[ARM, "step"]), on="graph_id", how="left")


def _output_dir(directory: Path, out: str | os.PathLike[str] | None) -> Path:
    target = Path(out) if out is not None else directory
    target.mkdir(parents=True, exist_ok=True)
    return target


def export(
    directory: str | os.PathLike[str],
    fmt: str = "csv",
    analysis: Analysis | None = None,
    out: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Write flat tables: runs, graphs, draws, correlations (into the study directory or ``out``).

    ``runs``: one row per run with its graph's properties joined; ``graphs``: one row per
    graph; ``draws``: every sampled graph; ``correlations``: one row per arm x property x
    measure (rho, tau, p, q, intervals, partial rho, n graphs, strength). Each file is written
    atomically; the store is opened read-only.

    Parameters
    ----------
    directory : path-like
        The study directory.
    fmt : str
        ``"csv"`` or ``"parquet"``.
    analysis : Analysis, optional
        The study's analysis if already computed (else computed here).
    out : path-like, optional
        Where the tables go (created if missing); default: the study directory. Give one for a
        study on read-only media.

    Returns
    -------
    list of pathlib.Path
        ``runs``, ``graphs``, ``draws``, ``correlations``, in that order.

    Raises
    ------
    StoreError
        ``directory`` holds no study, or its database is damaged or foreign.

    Examples
    --------
    >>> import tempfile
    >>> directory = Store(tempfile.mkdtemp()).directory
    >>> [p.name for p in export(directory)]
    ['runs.csv', 'graphs.csv', 'draws.csv', 'correlations.csv']
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', got {fmt!r}")
    with Store(directory, readonly=True) as store:
        analysis = analysis or analyse(store)
        target = _output_dir(store.directory, out)
        tables = {
            "runs": runs_with_properties(analysis.runs, analysis.graphs),
            "graphs": analysis.graphs,
            "draws": analysis.draws,
            "correlations": analysis.correlations,
        }
        paths = []
        for name, frame in tables.items():
            path = target / f"{name}.{fmt}"
            with atomic_path(path) as tmp:
                if fmt == "csv":
                    frame.to_csv(tmp, index=False)
                else:
                    frame.to_parquet(tmp, index=False)
            paths.append(path)
        return paths


#: Prefix of the staging folders a report is written into before it is moved into place.
STAGING_PREFIX = ".report-"


def _runs_for_report(runs: pd.DataFrame, progress: Progress, config: dict | None) -> pd.DataFrame:
    """The runs, plus one ``failed`` row per initialisation of each unit that produced none.

    The page's failures section lists the runs whose status is not ``ok``; a unit that raised
    left no run, so its error would appear nowhere without these rows.
    """
    inits = ((config or {}).get("train") or {}).get("inits") or ["(all)"]
    have = set(unit_of_run(runs["run_id"])) if "run_id" in runs.columns else set()
    rows = []
    for failure in progress.failures:
        if failure["unit_id"] in have:
            continue
        attempts = failure["attempts"]
        error = f"unit failed ({attempts} attempt{'s' if attempts != 1 else ''}): "
        error += str(failure["error"])
        for copy, init in enumerate(inits):
            rows.append(
                {
                    "run_id": f"{failure['unit_id']}-{init}",
                    "graph_id": failure["unit_id"],
                    ARM: failure[ARM],
                    "step": failure["step"],
                    "init": init,
                    "copy": copy,
                    "status": "failed",
                    "error": error,
                }
            )
    if not rows:
        return runs
    extra = pd.DataFrame(rows).astype({"step": "Int64"})
    return pd.concat([runs, extra], ignore_index=True) if not runs.empty else extra


def _clean_staging(target: Path) -> None:
    """Remove staging folders left by report writers that were killed (their pid is gone)."""
    for folder in target.glob(f"{STAGING_PREFIX}*"):
        try:
            pid = int(folder.name[len(STAGING_PREFIX) :].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue


def _move_into_place(staging: Path, target: Path) -> Path:
    """Move a report written into ``staging`` over ``target``'s, file by file, page last."""
    from structrob.report import FIGURE_NAMES

    for sub, stale in (
        ("figures", {f"{name}{suffix}" for name in FIGURE_NAMES for suffix in (".png", ".pdf")}),
        ("tables", {p.name for p in (target / "tables").glob("*.csv")}),
    ):
        produced = sorted((staging / sub).glob("*")) if (staging / sub).is_dir() else []
        if produced:
            (target / sub).mkdir(exist_ok=True)
        for path in produced:
            os.replace(path, target / sub / path.name)
        for name in stale - {p.name for p in produced}:  # what the report would have removed
            (target / sub / name).unlink(missing_ok=True)
    page = target / "report.html"
    os.replace(staging / "report.html", page)
    return page


def write_study_report(
    directory: str | os.PathLike[str],
    analysis: Analysis | None = None,
    out: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``report.html`` (and figures, tables) from the store alone: no training, no attacks.

    The report is written into a staging folder and moved into place file by file (the page
    last), so a process killed while writing leaves the previous files whole, never a 0-byte
    figure. Units that failed without a run are shown as failed runs (one per
    initialisation, with the unit's error), and the page's metadata carries ``completion``
    (:meth:`Progress.as_meta`: planned, finished, failed units and failure kinds).

    Parameters
    ----------
    directory : path-like
        The study directory (opened read-only).
    analysis : Analysis, optional
        The study's analysis if already computed (else computed here).
    out : path-like, optional
        Where the report goes (created if missing); default: the study directory.

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.

    Examples
    --------
    >>> import tempfile
    >>> write_study_report(Store(tempfile.mkdtemp()).directory).name
    'report.html'
    """
    from structrob.report import write_report

    with Store(directory, readonly=True) as store:
        analysis = analysis or analyse(store)
        progress = progress_of(store)
        config = store.get_meta("config")
        meta = {
            "name": store.get_meta("name"),
            "config": config,
            "environment": store.get_meta("environment"),
            "created": store.get_meta("created"),
            "completion": progress.as_meta(),
        }
        target = _output_dir(store.directory, out)
        _clean_staging(target)
        staging = target / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            write_report(
                staging,
                _runs_for_report(analysis.runs, progress, config),
                analysis.graphs,
                analysis.draws,
                analysis.correlations,
                meta,
            )
            return _move_into_place(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _sampling_row(store: Store) -> dict[str, Any] | None:
    draws = store.draws_frame()
    if draws.empty:
        return None
    accepted = int(draws["accepted"].sum())
    config = store.get_meta("config") or {}
    planned = int(config.get("graphs", {}).get("count", accepted))
    return {
        "stage": "sample graphs",
        "planned": planned,
        "done": accepted,
        "failed": 0,
        "retry": 0,
        "pending": max(0, planned - accepted),
        "detail": f"{len(draws)} draws, {accepted} accepted ({planned} planned)",
    }


def status(directory: str | os.PathLike[str], progress: Progress | None = None) -> pd.DataFrame:
    """Progress by stage: graph sampling, graph-prior units, pruning steps (read-only).

    Parameters
    ----------
    directory : path-like
        A study directory.
    progress : Progress, optional
        The study's progress if already read.

    Returns
    -------
    pandas.DataFrame
        One row per stage: ``planned`` (graphs to accept / units planned), ``done`` (graphs
        accepted / units finished with their weight files), ``failed`` (last attempt failed:
        the next ``structrob run`` tries again), ``retry`` (failed, left between attempts),
        ``pending`` (planned, neither finished nor failed) and ``detail``: for ``sample
        graphs`` the draws made and graphs accepted, e.g. ``660 draws, 20 accepted (20
        planned)``; for units, finished units whose weight files are missing (run again) and
        diverged runs.

    Examples
    --------
    >>> import tempfile
    >>> from structrob.study.records import Draw
    >>> store = Store(tempfile.mkdtemp())
    >>> store.set_meta(config={"graphs": {"count": 1}}, planned={"prior": 1})
    >>> store.save_draws([Draw(0, "watts_strogatz", {"size": 30}, 5, 900, False),
    ...                   Draw(1, "watts_strogatz", {"size": 40}, 6, 1200, True)])
    >>> table = status(store.directory)
    >>> table.columns.tolist()
    ['stage', 'planned', 'done', 'failed', 'retry', 'pending', 'detail']
    >>> table[["stage", "planned", "done", "pending"]].values.tolist()
    [['sample graphs', 1, 1, 0], ['graph priors', 1, 0, 1]]
    >>> table.loc[0, "detail"]
    '2 draws, 1 accepted (1 planned)'
    """
    with Store(directory, readonly=True) as store:
        progress = progress or progress_of(store)
        rows = [row] if (row := _sampling_row(store)) else []
        for arm, label in STAGE_LABELS.items():
            counts = progress.arms.get(arm)
            if not counts or not counts["planned"]:
                continue
            detail = []
            if counts["missing_weights"]:
                detail.append(f"{counts['missing_weights']} missing weight files (run again)")
            if counts["diverged_runs"]:
                detail.append(f"{counts['diverged_runs']} diverged runs")
            rows.append(
                {
                    "stage": label,
                    **{k: counts[k] for k in ("planned", "done", "failed", "retry", "pending")},
                    "detail": "; ".join(detail),
                }
            )
        columns = ["stage", "planned", "done", "failed", "retry", "pending", "detail"]
        return pd.DataFrame(rows, columns=columns)


def load_run_model(directory: str | os.PathLike[str], run_id: str) -> SparseDAGNet:
    """The trained model of one run, rebuilt from the store (``weights_only`` loading).

    Parameters
    ----------
    directory : path-like
        A study directory.
    run_id : str
        ``<graph_id>-<init>``; ``structrob export`` lists them in runs.csv.

    Returns
    -------
    SparseDAGNet
        A single-copy model in eval mode, on the CPU.

    Raises
    ------
    KeyError
        For a run the store does not hold.

    Examples
    --------
    A one-run study written by hand (a study run stores its units the same way), then its
    model rebuilt:

    >>> import tempfile
    >>> from structrob.study.records import GraphRecord, RunRecord, UnitResult
    >>> from structrob.study.units import weights_to_bytes
    >>> dag = nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3)])
    >>> net = SparseDAGNet(dag)
    >>> edges = [list(e) for e in dag.edges]
    >>> graph = GraphRecord("watts_strogatz", {}, 7, net.count_parameters(), 4, edges, {}, {})
    >>> run = RunRecord("he_uniform", 0, "ok", None, {}, weights_to_bytes(net.state_dict()))
    >>> store = Store(tempfile.mkdtemp())
    >>> store.save_unit(UnitResult("g1", "prior", None, graph, (run,), {}))
    >>> model = load_run_model(store.directory, "g1-he_uniform")
    >>> x = torch.rand(5, 784)
    >>> torch.equal(model(x), net.eval()(x))
    True
    """
    with Store(directory, readonly=True) as store:
        graph_id, arm, weights = store.run_weights(run_id)
        if not weights.is_file():
            raise FileNotFoundError(
                f"the weights of run {run_id} ({weights}) are missing; `structrob run` on the "
                "study computes them again"
            )
        if arm == "pruning":
            dag = dense_layered_dag(store.get_meta("config")["pruning"]["widths"])
        else:
            n_vertices, edges = store.graph_edges(graph_id)
            dag = nx.DiGraph()
            dag.add_nodes_from(range(n_vertices))
            dag.add_edges_from(edges)
        net = SparseDAGNet(dag)
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return net.eval()
