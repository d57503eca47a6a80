"""The study driver: plan, run the missing units, store every result, analyse, report.

Only this driver writes to the study directory. A rerun of the same study skips finished
units (their ids hash their full configuration), so an interrupted study resumes where it
stopped; a changed setting that affects results is refused under an existing directory.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
import torch

from structrob import __version__, stats
from structrob.model import SparseDAGNet
from structrob.pruning import dense_layered_dag
from structrob.study.config import StudyConfig, config_hash, science
from structrob.study.executors import make_executor
from structrob.study.plan import Unit, plan_units, sample_graphs
from structrob.study.store import Store
from structrob.study.units import resolve_device

__all__ = [
    "StudyError", "analyse", "environment", "export", "load_run_model", "run_study", "runs_with_properties", "status",
    "write_study_report",
]


class StudyError(RuntimeError):
    """A study that cannot run as asked (e.g. a changed setting under an existing directory)."""


def environment(config: StudyConfig) -> dict[str, Any]:
    """Versions, device and threads: what a reader needs to reproduce the numbers."""
    import networkx
    import numpy
    import scipy

    return {
        "structrob": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "networkx": networkx.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "device": str(resolve_device(config.device)),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "executor": config.executor,
        "workers": config.workers,
        "threads_per_worker": config.threads,
    }


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _diff(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


def _check_same_study(store: Store, config: StudyConfig) -> None:
    previous = store.get_meta("science")
    if previous is not None and previous != science(config):
        changes = "\n".join(f"  {line}" for line in _diff(previous, science(config)))
        raise StudyError(
            f"{store.directory} holds a study with other settings that change results:\n{changes}\n"
            "Use a new --out directory for the new settings, or rerun with the old ones to resume."
        )


def run_study(
    config: StudyConfig,
    directory: str | os.PathLike[str],
    data_root: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Store:
    """Run (or resume) a study into ``directory``; returns its store.

    Parameters
    ----------
    config : StudyConfig
    directory : path
        The study directory (``study.sqlite``, ``weights/``, the report).
    data_root : str or None
        Folder with the data set's IDX files (else ``STRUCTROB_DATA`` or the cache).
    progress : bool
        Show one tqdm bar per stage.
    log : callable
        Where messages go.
    """
    store = Store(directory)
    _check_same_study(store, config)
    store.set_meta(
        name=config.name, science=science(config), config=config.model_dump(mode="json"),
        config_hash=config_hash(science(config)), environment=environment(config),
        created=store.get_meta("created") or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
    draws = sample_graphs(config) if config.priors else []
    store.save_draws(draws)
    units = plan_units(config, draws)
    store.set_meta(planned={kind: sum(u.kind == kind for u in units) for kind in ("prior", "pruning")})
    done = store.finished_units()
    failed = store.failed_units()
    todo = [u for u in units if u.unit_id not in done and u.unit_id not in failed]
    log(f"{config.name}: {len(units)} units ({len(done & {u.unit_id for u in units})} done, {len(todo)} to run)")
    if todo:
        executor = make_executor(config.executor, config.workers, config.threads, store.directory, config.ray_address, config.device)
        try:
            _drive(store, config, todo, executor, data_root, progress, log)
        finally:
            executor.close()
    return store


def _drive(store: Store, config: StudyConfig, todo: list[Unit], executor: Any, data_root: str | None, progress: bool, log: Callable[[str], None]) -> None:
    from tqdm.auto import tqdm

    waiting = {u.unit_id: u for u in todo}
    bars = {}
    for kind, label in (("prior", "graph priors"), ("pruning", "pruning steps")):
        total = sum(u.kind == kind for u in todo)
        if total:
            bars[kind] = tqdm(total=total, desc=label, unit="unit", disable=not progress, dynamic_ncols=True)
    in_flight: dict[Any, Unit] = {}
    finished = store.finished_units()

    def payload(unit: Unit) -> dict[str, Any]:
        extra = {}
        if unit.depends_on is not None:
            extra["previous_weights"] = store.stacked_weights(unit.depends_on)
        return {"unit_id": unit.unit_id, "device": config.device, "threads": config.threads, "data_root": data_root, **extra}

    def ready(unit: Unit) -> bool:
        return unit.depends_on is None or unit.depends_on in finished

    try:
        while waiting or in_flight:
            slots = max(1, executor.workers) * 2 - len(in_flight)
            for unit in [u for u in waiting.values() if ready(u)][: max(slots, 0)]:
                del waiting[unit.unit_id]
                in_flight[executor.submit(unit.spec, payload(unit))] = unit
            if not in_flight:
                for unit in waiting.values():  # their dependency failed for good
                    store.record_failure(unit.unit_id, unit.kind, unit.spec.get("step"), "an earlier pruning step failed", final=True)
                break
            for handle, record in executor.wait(list(in_flight)):
                unit = in_flight.pop(handle)
                if "error" in record:
                    final = store.attempts(unit.unit_id) + 1 > config.retries
                    store.record_failure(unit.unit_id, unit.kind, unit.spec.get("step"), record["error"], final)
                    log(f"unit {unit.unit_id} ({unit.kind}) failed: {record['error']}" + ("" if final else "; retrying"))
                    if not final:
                        waiting[unit.unit_id] = unit
                    elif unit.kind in bars:
                        bars[unit.kind].update(1)
                    continue
                store.save_unit(record)
                finished.add(unit.unit_id)
                bars[unit.kind].update(1)
    finally:
        for bar in bars.values():
            bar.close()


def status(directory: str | os.PathLike[str]) -> pd.DataFrame:
    """Progress by stage: graph sampling, graph-prior units, pruning steps.

    Returns
    -------
    pandas.DataFrame
        One row per stage: ``planned`` (draws made / units planned), ``done`` (graphs
        accepted / units finished), ``failed`` (for good), ``retry`` (failed, to be retried)
        and ``pending`` (planned, not finished or failed).

    Examples
    --------
    >>> import tempfile
    >>> status(tempfile.mkdtemp()).columns.tolist()
    ['stage', 'planned', 'done', 'failed', 'retry', 'pending']
    """
    store = Store(directory)
    planned = store.get_meta("planned") or {}
    units = store.units_frame()
    draws = store.draws_frame()
    rows = []
    if not draws.empty:
        rows.append({"stage": "sample graphs", "planned": len(draws), "done": int(draws["accepted"].sum()), "failed": 0, "retry": 0})
    for kind, label in (("prior", "graph priors"), ("pruning", "pruning steps")):
        mine = units[units["kind"] == kind] if not units.empty else units
        counts = {state: int((mine["status"] == state).sum()) if not mine.empty else 0 for state in ("done", "failed", "retry")}
        total = planned.get(kind, sum(counts.values()))
        if total:
            rows.append({"stage": label, "planned": total, **counts})
    table = pd.DataFrame(rows, columns=["stage", "planned", "done", "failed", "retry"])
    table["pending"] = table["planned"] - table["done"] - table["failed"]
    table.loc[table["stage"] == "sample graphs", "pending"] = 0
    return table


def analyse(store: Store, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The correlation tables of a study: one block per study kind (``prior``: Table 1, ``pruning``: Table 2).

    Each block is :func:`structrob.stats.correlation_table` over that kind's graphs (at least
    three), controlling for ``dag_parameters`` where it varies.

    Examples
    --------
    >>> import tempfile
    >>> analyse(Store(tempfile.mkdtemp())).empty
    True
    """
    runs, graphs = store.runs_frame(), store.graphs_frame()
    blocks = []
    for kind in ("prior", "pruning"):
        r = runs[runs["study"] == kind] if not runs.empty else runs
        g = graphs[graphs["study"] == kind] if not graphs.empty else graphs
        if len(g) < 3:
            continue
        control = "dag_parameters" if g["dag_parameters"].nunique() > 1 else None
        table = stats.correlation_table(r, g, control=control, n_boot=n_boot, seed=seed)
        table.insert(0, "study", kind)
        blocks.append(table)
    return pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame(columns=["study", *stats.TABLE_COLUMNS])


def runs_with_properties(store: Store) -> pd.DataFrame:
    """Runs joined with their graph's properties (one row per run).

    Examples
    --------
    >>> import tempfile
    >>> len(runs_with_properties(Store(tempfile.mkdtemp())))
    0
    """
    runs, graphs = store.runs_frame(), store.graphs_frame()
    if runs.empty:
        return runs
    return runs.merge(graphs.drop(columns=["study", "step"]), on="graph_id", how="left")


def export(directory: str | os.PathLike[str], fmt: str = "csv") -> list[Path]:
    """Write flat tables into the study directory: runs, graphs, draws, correlations.

    ``runs``: one row per run with its graph's properties joined; ``graphs``: one row per
    graph; ``draws``: every sampled graph; ``correlations``: one row per study x property x
    measure (rho, tau, p, q, intervals, partial rho, n graphs, strength).

    Examples
    --------
    >>> import tempfile
    >>> [p.name for p in export(tempfile.mkdtemp())]
    ['runs.csv', 'graphs.csv', 'draws.csv', 'correlations.csv']
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', got {fmt!r}")
    store = Store(directory)
    tables = {
        "runs": runs_with_properties(store),
        "graphs": store.graphs_frame(),
        "draws": store.draws_frame(),
        "correlations": analyse(store),
    }
    paths = []
    for name, frame in tables.items():
        path = store.directory / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        paths.append(path)
    return paths


def write_study_report(directory: str | os.PathLike[str]) -> Path:
    """Regenerate ``report.html`` (and figures) from the store alone: no training, no attacks."""
    from structrob.report import write_report

    store = Store(directory)
    correlations = analyse(store)
    units = store.units_frame()
    meta = {
        "name": store.get_meta("name"),
        "config": store.get_meta("config"),
        "environment": store.get_meta("environment"),
        "created": store.get_meta("created"),
        "units": {"done": int((units["status"] == "done").sum()), "failed": int((units["status"] == "failed").sum())} if not units.empty else {},
    }
    return write_report(store.directory, store.runs_frame(), store.graphs_frame(), store.draws_frame(), correlations, meta)


def load_run_model(directory: str | os.PathLike[str], run_id: str) -> SparseDAGNet:
    """The trained model of one run, rebuilt from the store (``weights_only`` loading).

    Examples
    --------
    A study's run id is ``<graph_id>-<init>``; ``structrob export`` lists them in runs.csv.
    """
    store = Store(directory)
    row = store.connection.execute("SELECT graph_id, study, weights FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        raise KeyError(f"no run {run_id!r} in {store.path}")
    graph_id, study, weights = row
    if study == "pruning":
        widths = store.get_meta("config")["pruning"]["widths"]
        dag = dense_layered_dag(widths)
    else:
        n_vertices, edges = store.graph_edges(graph_id)
        dag = nx.DiGraph()
        dag.add_nodes_from(range(n_vertices))
        dag.add_edges_from(edges)
    net = SparseDAGNet(dag)
    net.load_state_dict(torch.load(store.directory / weights, map_location="cpu", weights_only=True))
    return net.eval()
