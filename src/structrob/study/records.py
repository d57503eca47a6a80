"""Typed records passed between the study's stages: plan -> units -> store.

The planner makes a :class:`Draw` per sampled graph and a unit spec per unit of work
(:class:`PriorSpec` for a graph prior, :class:`PruningSpec` for a pruning step); the driver
sends a spec and a :class:`UnitPayload` (how to run it, not what it computes) to a worker,
which answers with a :class:`UnitResult` or a :class:`UnitFailure`; the store writes the
result. Every record is a frozen dataclass of plain values and pydantic settings, so it
pickles for worker processes and Ray. The nested settings and dicts are shared, not copied:
treat them as read-only.

A record's arm (:data:`structrob.vocabulary.ARMS`: ``"prior"`` or ``"pruning"``) is its
``arm`` attribute, the same word as the store's and the tables' :data:`~structrob.vocabulary.ARM`
column.

Examples
--------
>>> import pickle
>>> from structrob.study.config import load_preset
>>> config = load_preset("quick")
>>> spec = PruningSpec.from_config(config, step=0)
>>> spec.arm, spec.step, len(spec.unit_id)
('pruning', 0, 16)
>>> pickle.loads(pickle.dumps(spec)) == spec
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from structrob.study.config import (
    AttacksConfig,
    PruningConfig,
    StudyConfig,
    TrainConfig,
    config_hash,
    hashed,
)
from structrob.validation import check_int

__all__ = [
    "Draw",
    "GraphRecord",
    "PriorSpec",
    "PruningSpec",
    "RunRecord",
    "UnitFailure",
    "UnitPayload",
    "UnitResult",
    "UnitSpec",
]

#: The key under which a unit's identity has always named its arm. Unit ids hash the identity,
#: and the initialisation and batch-order seeds derive from unit ids, so renaming this key
#: would change every id and every number of every existing study.
_IDENTITY_ARM_KEY = "kind"


@dataclass(frozen=True)
class Draw:
    """One sampled graph: its generator parameters, seed, parameter count and fate.

    Parameters
    ----------
    index : int
        Draw number ``i`` (its grid point and graph seed derive from it).
    generator : str
        Graph generator (:data:`structrob.graphs.GENERATORS`).
    params : dict
        Generator parameters drawn from the grid.
    seed : int
        Graph seed.
    n_parameters : int
        Trainable parameters of the network built from the graph.
    accepted : bool
        Whether ``n_parameters`` lies in the configured range.

    Examples
    --------
    >>> Draw(0, "watts_strogatz", {"size": 30, "nei": 2, "p": 0.5}, 7, 25_000, True).accepted
    True
    """

    index: int
    generator: str
    params: dict[str, Any]
    seed: int
    n_parameters: int
    accepted: bool


@dataclass(frozen=True)
class _Shared:
    """Settings every unit of a study shares: the study seed, data set, training, attacks."""

    seed: int
    dataset: str
    train: TrainConfig
    attacks: AttacksConfig

    def _shared_identity(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "dataset": self.dataset,
            "train": hashed(self.train),
            "attacks": hashed(self.attacks),
        }

    @property
    def unit_id(self) -> str:
        """16 hex digits hashing :meth:`identity`: equal ids, equal results."""
        return config_hash(self.identity())

    def identity(self) -> dict[str, Any]:  # pragma: no cover - defined by the subclasses
        raise NotImplementedError


@dataclass(frozen=True)
class PriorSpec(_Shared):
    """What determines the result of one graph-prior unit: a graph, all initialisations.

    Parameters
    ----------
    seed, dataset, train, attacks
        The study seed, data set name and the training and attack settings.
    index : int
        The graph's draw number.
    generator : str
        Graph generator.
    params : dict
        Generator parameters.
    graph_seed : int
        Seed of the graph generator.
    rewiring : {"edges", "endpoints"}
        Watts-Strogatz rewiring rule (``graphs.rewiring``).
    sinks : {"own", "last"}
        Where vertices without outgoing edges sit (``graphs.sinks``).

    Examples
    --------
    >>> from structrob.study.config import load_preset
    >>> draw = Draw(3, "watts_strogatz", {"size": 250, "nei": 4, "p": 0.5}, 11, 60_000, True)
    >>> spec = PriorSpec.from_draw(load_preset("quick"), draw)
    >>> spec.arm, spec.step, spec.index, spec.identity()["kind"]
    ('prior', None, 3, 'prior')
    """

    index: int
    generator: str
    params: dict[str, Any]
    graph_seed: int
    rewiring: str = "edges"
    sinks: str = "own"

    arm: ClassVar[str] = "prior"
    #: A graph prior is not a pruning step.
    step: ClassVar[None] = None

    @classmethod
    def from_draw(cls, config: StudyConfig, draw: Draw) -> PriorSpec:
        """The spec of the unit training and attacking ``draw``'s graph under ``config``.

        Parameters
        ----------
        config : StudyConfig
        draw : Draw
            An accepted draw of :func:`structrob.study.plan.sample_graphs`.

        Returns
        -------
        PriorSpec
        """
        return cls(
            seed=config.seed,
            dataset=config.dataset,
            train=config.train,
            attacks=config.attacks,
            index=draw.index,
            generator=draw.generator,
            params=draw.params,
            graph_seed=draw.seed,
            rewiring=config.graphs.rewiring,
            sinks=config.graphs.sinks,
        )

    def identity(self) -> dict[str, Any]:
        """Everything that determines the result, as the JSON mapping the unit id hashes.

        Returns
        -------
        dict
            The arm (under the historical key ``"kind"``), the graph and the shared settings.
        """
        return {
            _IDENTITY_ARM_KEY: self.arm,
            "index": self.index,
            "generator": self.generator,
            "params": self.params,
            "graph_seed": self.graph_seed,
            # options added later enter the identity only when used (ids of older studies stay)
            **({"rewiring": self.rewiring} if self.rewiring != "edges" else {}),
            **({"sinks": self.sinks} if self.sinks != "own" else {}),
            **self._shared_identity(),
        }

    def graph_options(self) -> dict[str, Any]:
        """Keyword options of the generator: ``rewiring`` for ``watts_strogatz``, else none."""
        return {"rewiring": self.rewiring} if self.generator == "watts_strogatz" else {}


@dataclass(frozen=True)
class PruningSpec(_Shared):
    """What determines the result of one pruning step of the random-pruning baseline.

    Parameters
    ----------
    seed, dataset, train, attacks
        The study seed, data set name and the training and attack settings.
    step : int
        Pruning step, 0 = the trained dense network; step ``s > 0`` continues from step
        ``s - 1``'s weights.
    pruning : PruningConfig
        The baseline's settings.
    repetition : int
        Which of the ``pruning.repetitions`` independent chains (0 for the first).

    Examples
    --------
    >>> from structrob.study.config import load_preset
    >>> spec = PruningSpec.from_config(load_preset("quick"), step=2)
    >>> spec.arm, spec.step, spec.pruning.widths
    ('pruning', 2, [50, 100, 100, 50])
    """

    step: int
    pruning: PruningConfig
    repetition: int = 0

    arm: ClassVar[str] = "pruning"

    @classmethod
    def from_config(cls, config: StudyConfig, step: int, repetition: int = 0) -> PruningSpec:
        """The spec of pruning step ``step`` of chain ``repetition`` under ``config``.

        Parameters
        ----------
        config : StudyConfig
        step : int
            ``0 <= step <= config.pruning.steps``.
        repetition : int
            ``0 <= repetition < config.pruning.repetitions``.

        Returns
        -------
        PruningSpec
        """
        step = check_int("step", step, 0, config.pruning.steps)
        repetition = check_int("repetition", repetition, 0, config.pruning.repetitions - 1)
        return cls(
            seed=config.seed,
            dataset=config.dataset,
            train=config.train,
            attacks=config.attacks,
            step=step,
            pruning=config.pruning,
            repetition=repetition,
        )

    def identity(self) -> dict[str, Any]:
        """Everything that determines the result, as the JSON mapping the unit id hashes.

        Returns
        -------
        dict
            The arm (under the historical key ``"kind"``), the step, the pruning settings and
            the shared settings.
        """
        return {
            _IDENTITY_ARM_KEY: self.arm,
            "step": self.step,
            # the first chain keeps the identity it had before chains were repeated
            **({"repetition": self.repetition} if self.repetition else {}),
            "pruning": hashed(self.pruning),
            **self._shared_identity(),
        }


#: The spec of any unit.
UnitSpec = PriorSpec | PruningSpec


@dataclass(frozen=True)
class UnitPayload:
    """How a worker runs a unit; nothing here changes the unit's result.

    Parameters
    ----------
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    threads : int
        Torch threads in the worker, ``>= 1``.
    data_root : str or None
        Folder with the data set's IDX files (else ``STRUCTROB_DATA`` or the cache).
    previous_weights : bytes or None
        For a pruning step > 0, the previous step's stacked ``state_dict``.

    Examples
    --------
    >>> UnitPayload(device="cpu").threads
    1
    >>> UnitPayload(threads=0)
    Traceback (most recent call last):
    ...
    ValueError: threads must be an integer >= 1, got 0
    """

    device: str = "auto"
    threads: int = 1
    data_root: str | None = None
    previous_weights: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_int("threads", self.threads, 1)


@dataclass(frozen=True)
class GraphRecord:
    """The graph of a finished unit, as the store keeps it.

    Parameters
    ----------
    generator : str
        Graph generator, ``"dense_layered"`` for the pruning baseline.
    params : dict
        Generator parameters (``{"widths": [...]}`` for the pruning baseline).
    seed : int or None
        Graph seed (None for the pruning baseline).
    n_parameters : int
        Trainable parameters of one copy of the network.
    n_vertices : int
        Hidden vertices.
    edges : list of [int, int]
        Hidden edges (the DAG's; for a pruning step, those left).
    properties : dict
        ``dag_*``/``prior_*`` graph properties and, for pruning, ``removed_edges`` and
        ``cut_off_*`` counts.
    distributions : dict
        Per-vertex distributions of the graph properties.

    Examples
    --------
    >>> GraphRecord("dense_layered", {"widths": [2, 2]}, None, 100, 4, [[0, 2]], {}, {}).seed
    """

    generator: str
    params: dict[str, Any]
    seed: int | None
    n_parameters: int
    n_vertices: int
    edges: list[list[int]]
    properties: dict[str, Any]
    distributions: dict[str, Any]


@dataclass(frozen=True)
class RunRecord:
    """One initialisation of a finished unit: its status, metrics and trained weights.

    Parameters
    ----------
    init : str
        Initialisation scheme.
    copy : int
        Index of the copy in the stacked model.
    status : str
        ``"ok"``, or ``"failed"`` when training diverged.
    error : str or None
        Why training failed.
    metrics : dict
        Clean and robustness measures (non-finite values as None).
    weights : bytes
        The copy's ``state_dict`` (:func:`structrob.study.units.weights_to_bytes`).
    graph : GraphRecord or None
        The copy's own graph, when the copies of a unit differ in structure (pruning with
        ``pruning.masks = "per_init"``); None when they share the unit's graph.

    Examples
    --------
    >>> RunRecord("he_uniform", 0, "ok", None, {"accuracy": 0.9}, b"").metrics["accuracy"]
    0.9
    """

    init: str
    copy: int
    status: str
    error: str | None
    metrics: dict[str, Any]
    weights: bytes = field(repr=False)
    graph: GraphRecord | None = field(default=None, repr=False)


#: The stage a unit times its attacks in (:attr:`UnitResult.timings`). Each attack's own seconds
#: are a part of it, keyed ``"attack.<name>"``: a key with a dot is a part of the stage before
#: the dot and never counts again in a unit's total.
ATTACK_STAGE = "attack"


def is_stage(key: str) -> bool:
    """Whether a :attr:`UnitResult.timings` key is a stage (True) or a part of one (False).

    Examples
    --------
    >>> [is_stage(key) for key in ("train", "attack", "attack.onepixel")]
    [True, True, False]
    """
    return "." not in key


@dataclass(frozen=True)
class UnitResult:
    """What a worker returns for a finished unit; the store writes it in one transaction.

    Parameters
    ----------
    unit_id : str
        The unit's id (its spec's :attr:`~PriorSpec.unit_id`).
    arm : str
        ``"prior"`` or ``"pruning"``.
    step : int or None
        Pruning step (None for a graph prior).
    graph : GraphRecord
    runs : tuple of RunRecord
        One per initialisation, in the config's order.
    timings : dict
        Seconds per stage (``build``, ``train``, ``attack``, ``properties``), and per part
        of a stage: ``attack.<name>`` for each attack (see :data:`ATTACK_STAGE`).
    stacked_weights : bytes or None
        For a pruning step, the stacked ``state_dict`` the next step starts from.

    Examples
    --------
    >>> graph = GraphRecord("dense_layered", {"widths": [2, 2]}, None, 100, 4, [], {}, {})
    >>> UnitResult("ab12", "pruning", 0, graph, (), {"train": 1.5}).runs
    ()
    """

    unit_id: str
    arm: str
    step: int | None
    graph: GraphRecord
    runs: tuple[RunRecord, ...]
    timings: dict[str, float]
    stacked_weights: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class UnitFailure:
    """A unit that did not finish: an exception in the unit or a worker that died.

    Parameters
    ----------
    unit_id : str or None
        The unit's id (None when only the executor knows which unit it was).
    error : str
        ``"<exception type>: <message>"``, or what happened to the worker.
    traceback : str or None
        The formatted traceback, when there was one.

    Examples
    --------
    >>> UnitFailure("ab12", "RuntimeError: boom").error
    'RuntimeError: boom'
    """

    unit_id: str | None
    error: str
    traceback: str | None = None
