"""Writing out of a study directory: flat tables, the report, and its trained models.

:func:`export` writes what a published results folder holds besides the report: the flat
tables, the study's configuration as TOML (``structrob run --config`` reproduces it), its
environment, the worker-seconds per arm and stage (:func:`stages_frame`) and the driver's
sessions (:func:`structrob.study.sessions.sessions_frame`).

Everything reads the store (:class:`~structrob.study.store.Store`) opened read-only, so a
finished study can be read from read-only media (the report and the exports then go to another
folder). :func:`export` and :func:`write_study_report` take the study's
:class:`~structrob.study.analysis.Analysis` when it is already computed. Every file is written
atomically (temp file and rename), so a reader or a killed process never leaves a half-written
table, figure or page.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import pandas as pd
import torch

from structrob.model import SparseDAGNet
from structrob.pruning import dense_layered_dag
from structrob.study.config import StudyConfig, config_hash, science, to_toml
from structrob.study.errors import StoreError
from structrob.study.files import atomic_path
from structrob.study.progress import Progress, progress_of, unit_of_run
from structrob.study.records import is_stage
from structrob.study.sessions import sessions_frame
from structrob.study.store import Store
from structrob.validation import check_arm
from structrob.vocabulary import ARM, ARMS

if TYPE_CHECKING:
    from structrob.study.analysis import Analysis

__all__ = [
    "STAGE_COLUMNS",
    "STAGING_PREFIX",
    "config_text",
    "export",
    "load_run_model",
    "stages_frame",
    "write_study_report",
]

#: Columns of :func:`stages_frame` (and of an exported ``stages.csv``).
STAGE_COLUMNS = [
    ARM,
    "stage",
    "units",
    "total_seconds",
    "mean_seconds",
    "max_seconds",
    "workers",
    "wall_seconds",
]


def _output_dir(directory: Path, out: str | os.PathLike[str] | None) -> Path:
    target = Path(out) if out is not None else directory
    target.mkdir(parents=True, exist_ok=True)
    return target


def _workers(store: Store) -> int:
    """The study's worker processes: its config's ``workers``, else one per core it ran on."""
    config = store.get_meta("config") or {}
    env = store.get_meta("environment") or {}
    return int(config.get("workers") or env.get("cpu_count") or 1)


def stages_frame(store: Store, arm: str | None = None) -> pd.DataFrame:
    """Worker-seconds per arm and stage of the finished units, with a wall-time estimate.

    The stages are what each unit times for itself (``units.timings``): ``build`` (data set,
    network, initialisation or pruning), ``train`` (training and the clean evaluation),
    ``attack`` (every enabled attack together), its parts ``attack.fgsm``, ``attack.min_fgsm``,
    ``attack.onepixel``, ... (each attack alone; units stored before attacks were timed one by
    one have none) and ``properties`` (the graph properties). Only finished units (status
    ``done``) count: a failed attempt's time is not recorded.

    Parameters
    ----------
    store : Store
    arm : {"prior", "pruning"}, optional
        This arm's units only (then no ``all`` row). Default: both arms.

    Returns
    -------
    pandas.DataFrame
        :data:`STAGE_COLUMNS`: one row per arm x stage or part, then per arm a ``total`` row
        (each unit's stages summed, not their parts), then an ``all`` x ``total`` row over
        both arms. ``units`` counts the units timed, ``total_seconds`` is their
        worker-seconds, ``mean_seconds`` and ``max_seconds`` are per unit, ``workers`` is the
        study's worker processes (its ``workers`` setting, else the cores it ran on) and
        ``wall_seconds`` estimates the wall time as ``total_seconds / workers``. That
        estimate is low for the pruning arm, whose steps run one after another within a
        chain; the driver's measured wall time is in
        :func:`structrob.study.sessions.sessions_frame`.

    Examples
    --------
    >>> import tempfile
    >>> from structrob.study.records import GraphRecord, UnitResult
    >>> store = Store(tempfile.mkdtemp())
    >>> graph = GraphRecord("dense_layered", {"widths": [2]}, None, 1, 2, [], {}, {})
    >>> for unit_id, seconds in (("u1", 2.0), ("u2", 4.0)):
    ...     timings = {"train": seconds, "attack": 3.0, "attack.fgsm": 1.0}
    ...     store.save_unit(UnitResult(unit_id, "pruning", 0, graph, (), timings))
    >>> frame = stages_frame(store)
    >>> frame[["stage", "total_seconds", "max_seconds"]].values.tolist()[:4]
    [['train', 6.0, 4.0], ['attack', 6.0, 3.0], ['attack.fgsm', 2.0, 1.0], ['total', 12.0, 7.0]]
    >>> stages_frame(store, "prior").empty
    True
    """
    arms = ARMS if arm is None else (check_arm(arm),)
    units = store.units_frame()
    workers = _workers(store)
    rows: list[dict[str, Any]] = []

    def row(arm: str, stage: str, seconds: pd.Series) -> dict[str, Any]:
        total = float(seconds.sum())
        return {
            ARM: arm,
            "stage": stage,
            "units": int(seconds.size),
            "total_seconds": total,
            "mean_seconds": float(seconds.mean()) if seconds.size else None,
            "max_seconds": float(seconds.max()) if seconds.size else None,
            "workers": workers,
            "wall_seconds": total / workers,
        }

    done = units[(units["status"] == "done") & units["timings"].notna()] if len(units) else units
    per_unit = []
    for name in arms:
        mine = done[done[ARM] == name] if len(done) else done
        if mine.empty:
            continue
        timings = pd.DataFrame([json.loads(t) for t in mine["timings"]], index=mine.index)
        for stage in timings.columns:
            rows.append(row(name, stage, timings[stage].dropna()))
        unit_totals = timings[[key for key in timings.columns if is_stage(key)]].sum(axis=1)
        rows.append(row(name, "total", unit_totals))
        per_unit.append(unit_totals)
    if per_unit and arm is None:
        rows.append(row("all", "total", pd.concat(per_unit)))
    return pd.DataFrame(rows, columns=STAGE_COLUMNS)


def config_text(store: Store) -> str | None:
    """The study's stored configuration as TOML that ``structrob run --config`` takes.

    Parameters
    ----------
    store : Store

    Returns
    -------
    str or None
        TOML (:func:`structrob.study.config.to_toml`) behind a comment naming the study and
        its science hash; None for a store no run wrote a configuration into.

    Raises
    ------
    StoreError
        The stored configuration does not load under this release, or loads into other
        science (another science hash) than the study's: such a file would not reproduce it.

    Examples
    --------
    >>> import tempfile, tomllib
    >>> from structrob.study.config import load_preset
    >>> store = Store(tempfile.mkdtemp())
    >>> config_text(store) is None
    True
    >>> store.set_meta(config=load_preset("quick").model_dump(mode="json"))
    >>> tomllib.loads(config_text(store))["graphs"]["count"]
    20
    """
    stored = store.get_meta("config")
    if stored is None:
        return None
    try:
        config = StudyConfig.model_validate(stored)
    except ValueError as error:  # pydantic's ValidationError is one
        raise StoreError(
            f"the configuration stored in {store.path} does not load under this release of "
            f"structrob ({' '.join(str(error).split())[:300]}); export it with the release "
            "that ran the study"
        ) from None
    text = to_toml(config)
    digest = config_hash(science(config))
    expected = store.get_meta("config_hash")
    if expected is not None and digest != expected:
        raise StoreError(
            f"the configuration stored in {store.path} gives science hash {digest}, the study "
            f"has {expected}: a config.toml written from it would not reproduce the study"
        )
    header = (
        f"# The configuration of study {config.name!r} (science hash {digest}), written by\n"
        "# `structrob export`; `structrob run --config config.toml` reproduces its units.\n"
    )
    return header + text


def _analysis_of(store: Store, analysis: Analysis | None, arm: str | None) -> Analysis:
    """``analysis`` if given (it must hold ``arm``), else the store's analysis of ``arm``."""
    from structrob.study.analysis import analyse  # analysis imports this module

    if arm is not None:
        check_arm(arm)
    if analysis is None:
        return analyse(store, arm=arm)
    if analysis.arm != arm:
        raise ValueError(
            f"the analysis given holds arm {analysis.arm!r}, the export asks for {arm!r}: "
            "pass analyse(store, arm=...) with the same arm, or no analysis"
        )
    return analysis


def _write_table(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    with atomic_path(path) as tmp:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)


def _write_text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def export(
    directory: str | os.PathLike[str],
    fmt: str = "csv",
    analysis: Analysis | None = None,
    out: str | os.PathLike[str] | None = None,
    arm: str | None = None,
) -> list[Path]:
    """Write the flat tables, the configuration, the environment and the timings of a study.

    Into the study directory or ``out``: ``runs`` (one row per run with its graph's
    properties joined), ``graphs`` (one row per graph), ``draws`` (every sampled graph) and
    ``correlations`` (one row per arm x property x measure: rho, tau, p, q, intervals, partial
    rho, n graphs, strength), as CSV or Parquet; ``config.toml``, the study's stored
    configuration (:func:`config_text`: ``structrob run --config config.toml`` reproduces the
    science hash and unit ids); ``environment.json``, the stored environment (versions,
    platform, device, workers, git commit; that of the last run); ``stages``, worker-seconds
    per arm x stage with a wall-time estimate (:func:`stages_frame`); ``sessions``, every run
    of the driver with its measured wall time and a total row
    (:func:`structrob.study.sessions.sessions_frame`; no rows for a study run before sessions
    were recorded). A store no run wrote settings into (nothing but a bare database) has no
    ``config.toml`` or ``environment.json``. Each file is written atomically; the store is
    opened read-only.

    Parameters
    ----------
    directory : path-like
        The study directory.
    fmt : str
        ``"csv"`` or ``"parquet"`` (the tables; the configuration is TOML, the environment
        JSON).
    analysis : Analysis, optional
        The study's analysis if already computed (else computed here).
    out : path-like, optional
        Where the files go (created if missing); default: the study directory. Give one for a
        study on read-only media, or for a results folder (``structrob export DIR --out
        results/NAME --report`` adds the report).
    arm : {"prior", "pruning"}, optional
        Write this arm only (:func:`~structrob.study.analysis.analyse` with ``arm``; stages of
        its units only). ``config.toml`` stays the study's whole configuration and
        ``sessions`` the driver's wall time for both arms: one arm of a study published while
        the other is still running. Default: both arms.

    Returns
    -------
    list of pathlib.Path
        ``runs``, ``graphs``, ``draws``, ``correlations``, ``config.toml``,
        ``environment.json``, ``stages``, ``sessions``, in that order (less the two a bare
        store lacks).

    Raises
    ------
    StoreError
        ``directory`` holds no study, or its database is damaged or foreign, or its stored
        configuration would not reproduce it (:func:`config_text`).

    Examples
    --------
    >>> import tempfile
    >>> from structrob.study.config import load_preset
    >>> store = Store(tempfile.mkdtemp())
    >>> store.set_meta(config=load_preset("quick").model_dump(mode="json"),
    ...                environment={"python": "3.12.1"})
    >>> [p.name for p in export(store.directory)]  # doctest: +NORMALIZE_WHITESPACE
    ['runs.csv', 'graphs.csv', 'draws.csv', 'correlations.csv', 'config.toml',
     'environment.json', 'stages.csv', 'sessions.csv']
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', got {fmt!r}")
    from structrob.study.analysis import runs_with_properties  # analysis imports this module

    with Store(directory, readonly=True) as store:
        analysis = _analysis_of(store, analysis, arm)
        # everything read (and the configuration checked) before the first file is written
        toml = config_text(store)
        env = store.get_meta("environment")
        tables = {
            "runs": runs_with_properties(analysis.runs, analysis.graphs),
            "graphs": analysis.graphs,
            "draws": analysis.draws,
            "correlations": analysis.correlations,
        }
        after = {"stages": stages_frame(store, arm), "sessions": sessions_frame(store)}
        target = _output_dir(store.directory, out)
        paths = []
        for name, frame in tables.items():
            paths.append(target / f"{name}.{fmt}")
            _write_table(frame, paths[-1], fmt)
        if toml is not None:
            paths.append(target / "config.toml")
            _write_text(toml, paths[-1])
        if env is not None:
            paths.append(target / "environment.json")
            _write_text(json.dumps(env, indent=2, sort_keys=True) + "\n", paths[-1])
        for name, frame in after.items():
            paths.append(target / f"{name}.{fmt}")
            _write_table(frame, paths[-1], fmt)
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
    arm: str | None = None,
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
    arm : {"prior", "pruning"}, optional
        Report this arm only: its runs, graphs and table, and ``completion`` over its units
        (the page says which arm it covers). Default: both arms.

    Returns
    -------
    pathlib.Path
        The page, ``report.html`` in ``out`` (or the study directory), once moved into place.

    Examples
    --------
    >>> import tempfile
    >>> write_study_report(Store(tempfile.mkdtemp()).directory).name
    'report.html'
    """
    from structrob.report import write_report

    with Store(directory, readonly=True) as store:
        analysis = _analysis_of(store, analysis, arm)
        progress = progress_of(store, arm)
        config = store.get_meta("config")
        meta = {
            "name": store.get_meta("name"),
            "config": config,
            "environment": store.get_meta("environment"),
            "created": store.get_meta("created"),
            "completion": progress.as_meta(),
        }
        if arm is not None:
            meta["arm"] = arm
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
