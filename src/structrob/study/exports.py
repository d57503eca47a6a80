"""Writing out of a study directory: flat tables, the report, and its trained models.

Everything reads the store (:class:`~structrob.study.store.Store`) opened read-only, so a
finished study can be read from read-only media (the report and the exports then go to another
folder). :func:`export` and :func:`write_study_report` take the study's
:class:`~structrob.study.analysis.Analysis` when it is already computed. Every file is written
atomically (temp file and rename), so a reader or a killed process never leaves a half-written
table, figure or page.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx
import pandas as pd
import torch

from structrob.model import SparseDAGNet
from structrob.pruning import dense_layered_dag
from structrob.study.files import atomic_path
from structrob.study.progress import Progress, progress_of, unit_of_run
from structrob.study.store import Store
from structrob.vocabulary import ARM

if TYPE_CHECKING:
    from structrob.study.analysis import Analysis

__all__ = ["STAGING_PREFIX", "export", "load_run_model", "write_study_report"]


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
    from structrob.study.analysis import analyse, runs_with_properties  # analysis imports this

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
        The page, ``report.html`` in ``out`` (or the study directory), once moved into place.

    Examples
    --------
    >>> import tempfile
    >>> write_study_report(Store(tempfile.mkdtemp()).directory).name
    'report.html'
    """
    from structrob.report import write_report
    from structrob.study.analysis import analyse  # analysis imports this module

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
