"""Planning a study: graph sampling by grid search, and the units of work.

Every seed derives from the one study seed and a name (:func:`structrob.seeds.derive_seed`),
so a unit's result does not depend on the executor, the number of workers or the order units
run in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from structrob import graphs
from structrob.seeds import derive_seed
from structrob.study.config import StudyConfig, grid_axes
from structrob.study.records import Draw, PriorSpec, PruningSpec, UnitSpec

__all__ = ["Draw", "PlanError", "Unit", "plan_units", "sample_graphs"]


class PlanError(RuntimeError):
    """The study cannot be planned as configured (e.g. the parameter range is unreachable).

    Examples
    --------
    >>> from structrob.study.config import apply_overrides, load_preset
    >>> far = ["graphs.min_parameters=10000000", "graphs.max_parameters=20000000"]
    >>> cfg = apply_overrides(load_preset("quick"), [*far, "graphs.max_draws=2"])
    >>> try:
    ...     sample_graphs(cfg)
    ... except PlanError as error:
    ...     print(str(error).split(";")[0])
    only 0 of 20 graphs reached 10000000-20000000 parameters in 2 draws
    """


def sample_graphs(config: StudyConfig) -> list[Draw]:
    """Draw generator parameters uniformly from the grid until ``count`` graphs are in range.

    Draw i takes its grid point from a generator seeded ``derive_seed(seed, "grid", i)``, one
    value per axis in the generator's signature order (:func:`~structrob.study.config.grid_axes`:
    a config's key order does not matter), and its graph seed from ``derive_seed(seed, "graph",
    i)``; a graph is accepted when its network has ``min_parameters <= parameters <=
    max_parameters``. Rejected draws are returned too.

    Parameters
    ----------
    config : StudyConfig
        Its ``seed`` and ``graphs`` settings are used.

    Returns
    -------
    list of Draw
        Every draw up to the one that brought the accepted count to ``graphs.count``.

    Raises
    ------
    PlanError
        After ``max_draws`` draws without enough accepted graphs: says which grid values were
        tried and the parameter counts they gave.

    Examples
    --------
    >>> from structrob.study.config import apply_overrides, load_preset
    >>> small = ["graphs.grid.size=[30]", "graphs.grid.nei=[2]", "graphs.grid.p=[0.5]"]
    >>> cfg = apply_overrides(load_preset("quick"), ["graphs.count=2", *small])
    >>> cfg = apply_overrides(cfg, ["graphs.min_parameters=0"])
    >>> [(d.index, d.params["size"], d.accepted) for d in sample_graphs(cfg)]
    [(0, 30, True), (1, 30, True)]
    """
    grid = config.graphs
    keys = grid_axes(grid.generator)
    draws: list[Draw] = []
    accepted = 0
    for i in range(grid.max_draws):
        rng = np.random.default_rng(derive_seed(config.seed, "grid", i))
        params = {k: grid.grid[k][int(rng.integers(len(grid.grid[k])))] for k in keys}
        seed = derive_seed(config.seed, "graph", i)
        options = {"rewiring": grid.rewiring} if grid.generator == "watts_strogatz" else {}
        count = graphs.generated_parameters(
            grid.generator, seed, sinks=grid.sinks, **params, **options
        )
        ok = grid.min_parameters <= count <= grid.max_parameters
        draws.append(Draw(i, grid.generator, params, seed, count, ok))
        accepted += ok
        if accepted == grid.count:
            return draws
    summary: dict[tuple, list[int]] = {}
    for d in draws:
        summary.setdefault(tuple(d.params[k] for k in keys), []).append(d.n_parameters)
    lines = [
        f"  {dict(zip(keys, point))}: {min(c)}-{max(c)} parameters ({len(c)} draws)"
        for point, c in sorted(summary.items())
    ]
    raise PlanError(
        f"only {accepted} of {grid.count} graphs reached "
        f"{grid.min_parameters}-{grid.max_parameters} parameters in {grid.max_draws} draws; "
        "widen the grid or the range. Tried:\n" + "\n".join(lines)
    )


@dataclass(frozen=True)
class Unit:
    """One unit of work: a graph (all initialisations) or one pruning step.

    Parameters
    ----------
    spec : PriorSpec or PruningSpec
        Everything that determines the unit's result.
    depends_on : str or None
        Id of the unit whose weights this one starts from (the previous pruning step).

    Attributes
    ----------
    unit_id : str
        Hash of the spec, so a rerun recognises finished units and a changed setting gives new
        ids.
    arm : str
        ``"prior"`` or ``"pruning"``.

    Examples
    --------
    >>> from structrob.study.config import load_preset
    >>> unit = Unit(PruningSpec.from_config(load_preset("quick"), step=0))
    >>> unit.arm, unit.unit_id == unit.spec.unit_id, unit.depends_on
    ('pruning', True, None)
    """

    spec: UnitSpec = field(hash=False)
    depends_on: str | None = None

    @property
    def unit_id(self) -> str:
        """The spec's id (:attr:`PriorSpec.unit_id <structrob.study.records.PriorSpec>`)."""
        return self.spec.unit_id

    @property
    def arm(self) -> str:
        """The spec's arm, ``"prior"`` or ``"pruning"``."""
        return self.spec.arm


def plan_units(config: StudyConfig, draws: list[Draw]) -> list[Unit]:
    """The study's units: one per accepted graph, then one per pruning step (chained).

    Parameters
    ----------
    config : StudyConfig
    draws : list of Draw
        From :func:`sample_graphs`; rejected draws are skipped.

    Returns
    -------
    list of Unit
        Graph priors in draw order (when ``config.priors``), then for each of the
        ``config.pruning.repetitions`` pruning chains its steps ``0 .. config.pruning.steps``
        (when ``config.pruning.enabled``), each step depending on the one before.

    Examples
    --------
    >>> from structrob.study.config import load_preset, apply_overrides
    >>> cfg = apply_overrides(load_preset("quick"), ["priors=false", "pruning.steps=2"])
    >>> [u.spec.step for u in plan_units(cfg, [])]
    [0, 1, 2]
    >>> cfg = apply_overrides(cfg, ["pruning.repetitions=2"])
    >>> [(u.spec.repetition, u.spec.step) for u in plan_units(cfg, [])]
    [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    """
    units: list[Unit] = []
    if config.priors:
        units += [Unit(PriorSpec.from_draw(config, d)) for d in draws if d.accepted]
    if config.pruning.enabled:
        for repetition in range(config.pruning.repetitions):
            previous = None
            for step in range(config.pruning.steps + 1):
                spec = PruningSpec.from_config(config, step, repetition)
                unit = Unit(spec, depends_on=previous)
                units.append(unit)
                previous = unit.unit_id
    return units
