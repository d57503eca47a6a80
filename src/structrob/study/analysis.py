"""Reading a study directory: the correlation analysis (and, re-exported, progress and exports).

Nothing here trains, attacks or changes results; everything reads the store
(:class:`~structrob.study.store.Store`). :func:`analyse` computes a study's correlation table
(bootstrap and all) once into an :class:`Analysis`, which :func:`write_study_report`,
:func:`export` and the command line's headline all take, so one ``structrob run`` computes it
once. How far a study got (:func:`progress_of`, :func:`status`) lives in
:mod:`structrob.study.progress`; the tables, the report and the trained models
(:func:`export`, :func:`write_study_report`, :func:`load_run_model`) in
:mod:`structrob.study.exports`. Both are importable from here, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from structrob import stats
from structrob.study.exports import STAGING_PREFIX, export, load_run_model, write_study_report
from structrob.study.progress import (
    STAGE_LABELS,
    Progress,
    error_kind,
    progress_of,
    status,
    unit_of_run,
)
from structrob.study.store import Store
from structrob.validation import check_arm, check_int
from structrob.vocabulary import ARM, ARMS

__all__ = [
    "STAGE_LABELS",
    "STAGING_PREFIX",
    "Analysis",
    "AnalysisSettings",
    "Progress",
    "analyse",
    "error_kind",
    "export",
    "load_run_model",
    "progress_of",
    "runs_with_properties",
    "status",
    "unit_of_run",
    "write_study_report",
]

#: Values of ``analysis.properties``.
PROPERTY_SETS = ("networkx", "study_code", "both")
# The study code's columns, and the networkx columns whose quantity they redefine under
# another name (dag_study_avg_path_length is the study's dag_avg_shortest_path).
_STUDY_PREFIX = "dag_study_"
_REDEFINED = ("dag_avg_shortest_path",)

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
    arm : {"prior", "pruning"} or None
        The one arm the tables hold (:func:`analyse` with ``arm``), or None for both.

    Examples
    --------
    >>> import tempfile
    >>> analysis = analyse(Store(tempfile.mkdtemp()))
    >>> analysis.correlations.columns[0], len(analysis.runs), analysis.arm
    ('arm', 0, None)
    """

    runs: pd.DataFrame
    graphs: pd.DataFrame
    draws: pd.DataFrame
    correlations: pd.DataFrame
    settings: AnalysisSettings
    arm: str | None = None


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


def analyse(
    store: Store, settings: AnalysisSettings | None = None, arm: str | None = None
) -> Analysis:
    """A study's tables and its correlation tables, one block per arm.

    Each arm's block (``prior``: Table 1, ``pruning``: Table 2) is
    :func:`structrob.stats.correlation_table` over that arm's graphs (at least three),
    controlling for ``dag_parameters`` where it varies. An arm's block depends on that arm's
    runs and graphs alone, so the analysis of one arm equals that arm's part of the whole.

    Parameters
    ----------
    store : Store
    settings : AnalysisSettings, optional
        Bootstrap settings (default: the study's ``analysis`` section).
    arm : {"prior", "pruning"}, optional
        Keep this arm only (:func:`structrob.validation.check_arm`): its runs, graphs and
        correlations, and the draws if it is ``"prior"`` (the draws are the priors' sampling;
        none for ``"pruning"``). This publishes one arm of a study on its own, e.g. while
        the other still runs. Default: both arms.

    Returns
    -------
    Analysis

    Examples
    --------
    >>> import tempfile
    >>> analyse(Store(tempfile.mkdtemp())).correlations.empty
    True
    >>> analyse(Store(tempfile.mkdtemp()), arm="pruning").arm
    'pruning'
    """
    if arm is not None:
        check_arm(arm)
    if settings is None:
        settings = AnalysisSettings.from_config((store.get_meta("config") or {}).get("analysis"))
    runs, graphs, draws = store.runs_frame(), store.graphs_frame(), store.draws_frame()
    if arm is not None:
        runs = runs[runs[ARM] == arm].reset_index(drop=True) if not runs.empty else runs
        graphs = graphs[graphs[ARM] == arm].reset_index(drop=True) if not graphs.empty else graphs
        draws = draws if arm == "prior" else draws.iloc[:0]
    return Analysis(
        runs=runs,
        graphs=graphs,
        draws=draws,
        correlations=_correlations(runs, graphs, settings),
        settings=settings,
        arm=arm,
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
