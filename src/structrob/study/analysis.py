"""Reading a study directory: progress, the correlation analysis, exports, the report, models.

Nothing here trains, attacks or changes results; everything reads the store
(:class:`~structrob.study.store.Store`). :func:`analyse` computes a study's correlation table
(bootstrap and all) once into an :class:`Analysis`, which :func:`write_study_report`,
:func:`export` and the command line's headline all take, so one ``structrob run`` computes it
once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
import torch

from structrob import stats
from structrob.model import SparseDAGNet
from structrob.pruning import dense_layered_dag
from structrob.study.store import Store
from structrob.validation import check_int
from structrob.vocabulary import ARM, ARMS

__all__ = [
    "STAGE_LABELS",
    "Analysis",
    "AnalysisSettings",
    "analyse",
    "export",
    "load_run_model",
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


def export(
    directory: str | os.PathLike[str], fmt: str = "csv", analysis: Analysis | None = None
) -> list[Path]:
    """Write flat tables into the study directory: runs, graphs, draws, correlations.

    ``runs``: one row per run with its graph's properties joined; ``graphs``: one row per
    graph; ``draws``: every sampled graph; ``correlations``: one row per arm x property x
    measure (rho, tau, p, q, intervals, partial rho, n graphs, strength).

    Parameters
    ----------
    directory : path-like
        The study directory.
    fmt : str
        ``"csv"`` or ``"parquet"``.
    analysis : Analysis, optional
        The study's analysis if already computed (else computed here).

    Returns
    -------
    list of pathlib.Path
        ``runs``, ``graphs``, ``draws``, ``correlations``, in that order.

    Examples
    --------
    >>> import tempfile
    >>> [p.name for p in export(tempfile.mkdtemp())]
    ['runs.csv', 'graphs.csv', 'draws.csv', 'correlations.csv']
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', got {fmt!r}")
    store = Store(directory)
    analysis = analysis or analyse(store)
    tables = {
        "runs": runs_with_properties(analysis.runs, analysis.graphs),
        "graphs": analysis.graphs,
        "draws": analysis.draws,
        "correlations": analysis.correlations,
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


def write_study_report(directory: str | os.PathLike[str], analysis: Analysis | None = None) -> Path:
    """Write ``report.html`` (and figures, tables) from the store alone: no training, no attacks.

    Parameters
    ----------
    directory : path-like
        The study directory.
    analysis : Analysis, optional
        The study's analysis if already computed (else computed here).

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.

    Examples
    --------
    >>> import tempfile
    >>> write_study_report(tempfile.mkdtemp()).name
    'report.html'
    """
    from structrob.report import write_report

    store = Store(directory)
    analysis = analysis or analyse(store)
    units = store.units_frame()
    done = {
        "done": int((units["status"] == "done").sum()),
        "failed": int((units["status"] == "failed").sum()),
    }
    meta = {
        "name": store.get_meta("name"),
        "config": store.get_meta("config"),
        "environment": store.get_meta("environment"),
        "created": store.get_meta("created"),
        "units": done if not units.empty else {},
    }
    return write_report(
        store.directory,
        analysis.runs,
        analysis.graphs,
        analysis.draws,
        analysis.correlations,
        meta,
    )


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
        "detail": f"{len(draws)} draws, {accepted} accepted ({planned} planned)",
    }


def status(directory: str | os.PathLike[str]) -> pd.DataFrame:
    """Progress by stage: graph sampling, graph-prior units, pruning steps.

    Parameters
    ----------
    directory : path-like
        A study directory.

    Returns
    -------
    pandas.DataFrame
        One row per stage: ``planned`` (graphs to accept / units planned), ``done`` (graphs
        accepted / units finished), ``failed`` (for good), ``retry`` (failed, to be retried),
        ``pending`` (planned, not finished or failed) and ``detail``: for ``sample graphs``
        the draws made and graphs accepted, e.g. ``660 draws, 20 accepted (20 planned)``.

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
    store = Store(directory)
    planned = store.get_meta("planned") or {}
    units = store.units_frame()
    rows = [row] if (row := _sampling_row(store)) else []
    for arm, label in STAGE_LABELS.items():
        mine = units[units[ARM] == arm] if not units.empty else units
        counts = {
            state: int((mine["status"] == state).sum()) if not mine.empty else 0
            for state in ("done", "failed", "retry")
        }
        total = planned.get(arm, sum(counts.values()))
        if total:
            rows.append({"stage": label, "planned": total, **counts, "detail": ""})
    columns = ["stage", "planned", "done", "failed", "retry", "pending", "detail"]
    table = pd.DataFrame(rows, columns=[c for c in columns if c != "pending"])
    table.insert(5, "pending", table["planned"] - table["done"] - table["failed"])
    return table


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
    store = Store(directory)
    graph_id, arm, weights = store.run_weights(run_id)
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
