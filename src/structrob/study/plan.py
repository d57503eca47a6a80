"""Planning a study: derived seeds, graph sampling by grid search, and the units of work.

Every seed derives from the one study seed and a name (:func:`derive_seed`), so a unit's
result does not depend on the executor, the number of workers or the order units run in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from structrob import graphs
from structrob.study.config import StudyConfig, config_hash, science

__all__ = ["Draw", "PlanError", "Unit", "derive_seed", "plan_units", "sample_graphs"]


class PlanError(RuntimeError):
    """The study cannot be planned as configured (e.g. the parameter range is unreachable)."""


def derive_seed(seed: int, *names: Any) -> int:
    """A 63-bit seed derived from the study seed and a path of names.

    Examples
    --------
    >>> derive_seed(0, "graph", 3) == derive_seed(0, "graph", 3) != derive_seed(0, "graph", 4)
    True
    """
    key = "/".join(str(n) for n in names).encode()
    words = np.frombuffer(hashlib.sha256(key).digest()[:16], dtype=np.uint32).tolist()
    return int(np.random.SeedSequence(entropy=seed, spawn_key=words).generate_state(1, np.uint64)[0] >> 1)


@dataclass(frozen=True)
class Draw:
    """One sampled graph: its generator parameters, seed, parameter count and fate."""

    index: int
    generator: str
    params: dict[str, Any]
    seed: int
    n_parameters: int
    accepted: bool


def sample_graphs(config: StudyConfig) -> list[Draw]:
    """Draw generator parameters uniformly from the grid until ``count`` graphs are in range.

    Draw i takes its grid point from a generator seeded ``derive_seed(seed, "grid", i)`` and
    its graph seed from ``derive_seed(seed, "graph", i)``; a graph is accepted when its network
    has ``min_parameters <= parameters <= max_parameters``. Rejected draws are returned too.

    Raises
    ------
    PlanError
        After ``max_draws`` draws without enough accepted graphs: says which grid values were
        tried and the parameter counts they gave.
    """
    spec = config.graphs
    keys = list(spec.grid)
    draws: list[Draw] = []
    accepted = 0
    for i in range(spec.max_draws):
        rng = np.random.default_rng(derive_seed(config.seed, "grid", i))
        params = {k: spec.grid[k][int(rng.integers(len(spec.grid[k])))] for k in keys}
        seed = derive_seed(config.seed, "graph", i)
        dag = graphs.to_dag(graphs.generate(spec.generator, seed=seed, **params))
        count = graphs.count_parameters(dag)
        ok = spec.min_parameters <= count <= spec.max_parameters
        draws.append(Draw(i, spec.generator, params, seed, count, ok))
        accepted += ok
        if accepted == spec.count:
            return draws
    summary: dict[tuple, list[int]] = {}
    for d in draws:
        summary.setdefault(tuple(d.params[k] for k in keys), []).append(d.n_parameters)
    lines = [
        f"  {dict(zip(keys, point))}: {min(c)}-{max(c)} parameters ({len(c)} draws)"
        for point, c in sorted(summary.items())
    ]
    raise PlanError(
        f"only {accepted} of {spec.count} graphs reached {spec.min_parameters}-{spec.max_parameters} "
        f"parameters in {spec.max_draws} draws; widen the grid or the range. Tried:\n" + "\n".join(lines)
    )


@dataclass(frozen=True)
class Unit:
    """One unit of work: a graph (all initialisations) or one pruning step.

    ``unit_id`` hashes everything that determines the unit's result, so a rerun recognises
    finished units and a changed setting gives new ids.
    """

    unit_id: str
    kind: str  # "prior" or "pruning"
    spec: dict[str, Any] = field(hash=False)
    depends_on: str | None = None


def plan_units(config: StudyConfig, draws: list[Draw]) -> list[Unit]:
    """The study's units: one per accepted graph, then one per pruning step (chained).

    Examples
    --------
    >>> from structrob.study.config import load_preset, apply_overrides
    >>> cfg = apply_overrides(load_preset("quick"), ["priors=false", "pruning.steps=2"])
    >>> [u.spec["step"] for u in plan_units(cfg, [])]
    [0, 1, 2]
    """
    shared = science(config)
    common = {k: shared[k] for k in ("seed", "dataset", "train", "attacks")}
    units: list[Unit] = []
    if config.priors:
        for d in draws:
            if not d.accepted:
                continue
            spec = {"kind": "prior", "index": d.index, "generator": d.generator, "params": d.params, "graph_seed": d.seed, **common}
            units.append(Unit(config_hash(spec), "prior", spec))
    if config.pruning.enabled:
        previous = None
        for step in range(config.pruning.steps + 1):
            spec = {"kind": "pruning", "step": step, "pruning": shared["pruning"], **common}
            unit = Unit(config_hash(spec), "pruning", spec, depends_on=previous)
            units.append(unit)
            previous = unit.unit_id
    return units
