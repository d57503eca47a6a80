"""The differential-evolution engine of :class:`structrob.attacks.OnePixel`, batched over searches.

Every search (for One-Pixel: every attacked (copy, image) pair) runs its own DE from its own
random stream; a generation of all searches still running is evaluated in one batch by an
evaluator (for One-Pixel :class:`structrob.attacks._candidates.Candidates`), and searches that
stop drop out. :func:`minimize` runs the same engine on any objective over the One-Pixel box
(the scipy comparison in the tests uses it). The options are described in
:class:`structrob.attacks.OnePixel`; the scipy facts they follow are listed in :class:`Settings`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from structrob.validation import check_int, check_number

STRATEGIES = ("rand1", "best1bin")
SELECTIONS = ("greedy", "strict", "study")
OUT_OF_BOUNDS = ("clip", "resample")
EARLY_STOPS = ("any", "best")
INITS = ("onepixel", "uniform")

# upper bounds of (row, col, intensity); every lower bound is 0
CONTINUOUS_UPPER = (28.0, 28.0, 255.0)
# the study's scipy bounds [(0, 27), (0, 27), (0, 255)] (utils/attacks.py, one_pixel)
INTEGER_UPPER = (27.0, 27.0, 255.0)

# uniform draws of one search kept ahead, at most, when its numbers are drawn generations ahead
BLOCK_NUMBERS = 1 << 16
BLOCK_GENERATIONS = 32


def distinct_others(u: Tensor) -> Tensor:
    """Random member indices, distinct per row and different from the row's own index.

    ``u`` [..., P, m] uniform in [0, 1) -> int64 [..., P, m]: for member i, m distinct
    indices drawn uniformly from {0..P-1} minus {i}, without rejection: the t-th draw picks
    the v-th element of the set left (``v = floor(u_t * (P - 1 - t))``), found by stepping
    over the excluded values in ascending order.

    Examples
    --------
    >>> import torch
    >>> r = distinct_others(torch.rand(4, 3, dtype=torch.float64))  # 4 members, 3 partners each
    >>> all(i not in row and len(set(row)) == 3 for i, row in enumerate(r.tolist()))
    True
    """
    P, m = u.shape[-2], u.shape[-1]
    index = torch.int32 if P < 2**30 else torch.int64
    excluded = [torch.arange(P, dtype=index).expand(*u.shape[:-1])]  # kept sorted per element
    drawn = []
    for t in range(m):
        left = P - 1 - t
        v = (u[..., t] * left).to(index).clamp_(max=left - 1)  # truncation: u * left >= 0
        for column in excluded:  # ascending
            v += v >= column
        drawn.append(v)
        if t == m - 1:
            break
        carry, merged = v, []
        for column in excluded:  # insert v, keeping the list sorted
            merged.append(torch.minimum(column, carry))
            carry = torch.maximum(column, carry)
        excluded = [*merged, carry]
    return torch.stack(drawn, dim=-1).long()


def _check_mutation(value: Any) -> float | tuple[float, float]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"mutation must be a number or (low, high), got {value!r}")
        low = check_number("mutation low", value[0], 0.0, 2.0, low_open=True)
        high = check_number("mutation high", value[1], 0.0, 2.0, low_open=True)
        if not low < high:
            raise ValueError(f"mutation (low, high) needs low < high, got {value!r}")
        return (low, high)
    return check_number("mutation", value, 0.0, 2.0, low_open=True)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return str(value)


@dataclass(frozen=True)
class Settings:
    """One DE configuration, validated: what :class:`structrob.attacks.OnePixel` documents.

    Every search minimises over the box ``[0, upper]`` (``upper`` = (28, 28, 255), or
    (27, 27, 255) with ``integer_candidates``, the study's bounds). A generation builds one trial
    per member from the population at its start, evaluates all trials, then selects. Facts of
    scipy's ``differential_evolution`` these options follow (read in scipy 1.2.0, 1.3.0 and
    1.17.1 ``scipy/optimize/_differentialevolution.py``, and in the study's copy,
    ``utils/differential_evolution.py`` of mehdibenamorr/Adv_attacks_Framework, taken from scipy
    commit 70e61dee and changed to evaluate a whole generation at once):

    - ``best1bin``: ``mutant = x_best + F (x_r0 - x_r1)``, r0 != r1 drawn from the members other
      than the target; binomial crossover: each parameter from the mutant with probability
      ``recombination``, and one parameter drawn uniformly (scipy's ``fill_point``) always;
    - dithering (``mutation=(low, high)``): F ~ U[low, high) drawn once per generation;
    - a trial parameter outside its bounds is redrawn uniformly within them (all three versions
      and the study's copy; ``out_of_bounds="resample"``), not clipped;
    - the initial population given as an array is clipped to the bounds;
    - the callback runs after every generation, not on the initial population;
    - selection: ``trial < parent`` (scipy 1.2/1.3 and the study's copy; ``"strict"``),
      ``trial <= parent`` (scipy 1.17.1, ``_accept_trial``; ``"greedy"``). scipy swaps the best
      member into position 0 after each deferred generation; the study's copy instead keeps the
      best in member 0 by overwriting it with every trial that beats it (``"study"``: the
      previous member 0 is lost and the new best held twice).

    Swapping the best into position 0 only relabels members, so it does not change the
    search's distribution; it is not modelled.
    """

    pop_size: int
    max_iter: int
    strategy: str = "rand1"
    mutation: float | tuple[float, float] = 0.5
    recombination: float = 0.7
    integer_candidates: bool = False
    out_of_bounds: str = "clip"
    selection: str = "greedy"
    early_stop: str = "any"
    init: str = "onepixel"

    def __post_init__(self) -> None:
        _check_choice("strategy", self.strategy, STRATEGIES)
        set_ = object.__setattr__
        set_(self, "pop_size", check_int("pop_size", self.pop_size, self.partners + 1))
        set_(self, "max_iter", check_int("max_iter", self.max_iter, 0))
        set_(self, "mutation", _check_mutation(self.mutation))
        set_(self, "recombination", check_number("recombination", self.recombination, 0.0, 1.0))
        if not isinstance(self.integer_candidates, bool):
            raise ValueError(
                f"integer_candidates must be True or False, got {self.integer_candidates!r}"
            )
        _check_choice("out_of_bounds", self.out_of_bounds, OUT_OF_BOUNDS)
        _check_choice("selection", self.selection, SELECTIONS)
        _check_choice("early_stop", self.early_stop, EARLY_STOPS)
        _check_choice("init", self.init, INITS)

    @property
    def partners(self) -> int:
        """Other members each trial reads: 3 for ``rand1``, 2 for ``best1bin``."""
        return 3 if self.strategy == "rand1" else 2

    @property
    def upper(self) -> Tensor:
        return torch.tensor(
            INTEGER_UPPER if self.integer_candidates else CONTINUOUS_UPPER, dtype=torch.float64
        )

    @property
    def dither(self) -> bool:
        return isinstance(self.mutation, tuple)

    @property
    def columns(self) -> int:
        """Uniform numbers per member and generation: partners, then crossover (best1bin)."""
        return 3 if self.strategy == "rand1" else 6

    @property
    def per_generation(self) -> int:
        """Uniform numbers one search draws per generation.

        ``[P, columns]`` (partners; for best1bin 3 crossover draws and the forced parameter),
        then 1 for a dithered F, then ``[P, 3]`` for redrawing out-of-bounds parameters.
        Options left at their defaults draw nothing extra, so their numbers are unchanged.
        """
        P = self.pop_size
        return (
            P * self.columns + int(self.dither) + (3 * P if self.out_of_bounds == "resample" else 0)
        )


class Evaluator(Protocol):
    def fitness(
        self, rows: Tensor, candidates: Tensor, fooled: bool
    ) -> tuple[Tensor, Tensor | None]: ...


class Stops(Protocol):
    def accept(
        self, rows: Tensor, candidates: Tensor, fooled: Tensor, generation: int
    ) -> Tensor: ...


class DifferentialEvolution:
    """One DE per search row, all advanced together generation by generation.

    Parameters
    ----------
    settings : Settings
    seeds : list of int
        Search r draws from a CPU generator seeded ``seeds[r]``: its numbers depend on nothing
        else. Per generation it draws ``settings.per_generation`` uniform numbers in one
        stream; they are drawn a block of generations at a time (CPU ``torch.rand`` gives the
        same numbers in one call as in consecutive calls).
    """

    def __init__(self, settings: Settings, seeds: list[int]) -> None:
        self.settings = settings
        self.generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]

    # -- random numbers ---------------------------------------------------------------------

    def _initial(self, generators: list[torch.Generator]) -> Tensor:
        """[A, P, 3] initial populations, clipped to the box."""
        S, P = self.settings, self.settings.pop_size
        upper = S.upper
        if S.init == "uniform":
            population = torch.stack(
                [torch.rand(P, 3, generator=g, dtype=torch.float64) for g in generators]
            )
            return population * upper
        coords = torch.stack(
            [torch.rand(P, 2, generator=g, dtype=torch.float64) for g in generators]
        )
        intensity = torch.stack(
            [torch.randn(P, 1, generator=g, dtype=torch.float64) for g in generators]
        )
        population = torch.cat([coords * 28, intensity * 127 + 128], dim=-1)
        return torch.minimum(population.clamp(min=0), upper)

    def _block(self, generators: list[torch.Generator], generations: int) -> Tensor:
        """[A, generations, per_generation] uniform numbers, each search from its own stream."""
        n = self.settings.per_generation
        return torch.stack(
            [torch.rand(generations, n, generator=g, dtype=torch.float64) for g in generators]
        )

    # -- one generation ---------------------------------------------------------------------

    def _trials(
        self, population: Tensor, fitness: Tensor, numbers: Tensor, partners: Tensor
    ) -> Tensor:
        """One trial per member [A, P, 3] from this generation's numbers and partners."""
        S = self.settings
        A, P, _ = population.shape
        if S.dither:
            low, high = S.mutation  # type: ignore[misc]
            F: Tensor | float = (low + numbers[:, P * S.columns] * (high - low)).view(A, 1, 1)
        else:
            F = S.mutation  # type: ignore[assignment]
        flat = population.view(A * P, 3)
        base = (torch.arange(A) * P).view(A, 1)
        pick = [
            flat.index_select(0, (partners[..., j] + base).view(-1)).view(A, P, 3)
            for j in range(S.partners)
        ]
        if S.strategy == "rand1":
            trial = pick[0] + F * (pick[1] - pick[2])
        else:
            u = numbers[:, : P * 6].view(A, P, 6)
            best = flat.index_select(0, fitness.argmin(1) + base.view(-1)).view(A, 1, 3)
            mutant = best + F * (pick[0] - pick[1])
            cross = u[..., 2:5] < S.recombination
            forced = (u[..., 5] * 3).floor().long().clamp_(max=2)
            cross.scatter_(-1, forced.unsqueeze(-1), True)
            trial = torch.where(cross, mutant, population)
        upper = S.upper
        if S.out_of_bounds == "clip":
            return torch.minimum(trial.clamp(min=0), upper)
        redraw = numbers[:, -3 * P :].view(A, P, 3) * upper
        outside = (trial < 0) | (trial > upper)
        return torch.where(outside, redraw, trial)

    def _select(
        self, population: Tensor, fitness: Tensor, trials: Tensor, trial_fitness: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Greedy selection after all trials of the generation are evaluated."""
        S = self.settings
        better = trial_fitness <= fitness if S.selection == "greedy" else trial_fitness < fitness
        population = torch.where(better.unsqueeze(-1), trials, population)
        fitness = torch.where(better, trial_fitness, fitness)
        if S.selection == "study":
            _overwrite_first(population, fitness)
        return population, fitness

    # -- the search -------------------------------------------------------------------------

    def run(
        self,
        evaluator: Evaluator,
        stops: Stops | None = None,
        record: Callable[[Tensor, Tensor, int], None] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Search until every row has stopped or ``max_iter`` generations ran.

        ``stops.accept(rows, candidates, fooled, generation)`` is offered, per running row, the
        misclassified candidates the evaluator reports (``early_stop="any"``: every evaluated
        candidate, the initial population included; ``"best"``: the fittest member after each
        generation, or of the initial population when ``max_iter`` is 0) and returns which rows
        stop. Without ``stops`` no row stops early. ``record(rows, fitness, generation)`` sees
        every running row's fitness [A, P] after each generation's selection.

        Returns
        -------
        stopped_at : Tensor int64 [R]
            Generation each row stopped at (``max_iter`` if it never did).
        rows : Tensor int64 [A]
            Rows that never stopped, ascending, with their final ``population`` [A, P, 3] and
            ``fitness`` [A, P].
        """
        S = self.settings
        R = len(self.generators)
        stopped_at = torch.full((R,), S.max_iter, dtype=torch.long)
        rows = torch.arange(R)
        generators = list(self.generators)
        any_stop = stops is not None and S.early_stop == "any"
        best_stop = stops is not None and S.early_stop == "best"

        if R == 0:
            P = S.pop_size
            empty = torch.zeros(0, P, dtype=torch.float64)
            return stopped_at, rows, empty.unsqueeze(-1).expand(0, P, 3), empty
        population = self._initial(generators)
        fitness, fooled = evaluator.fitness(rows, population, any_stop)
        if S.selection == "study":
            _promote_first(population, fitness)
        stop = torch.zeros(R, dtype=torch.bool)
        if any_stop:
            assert stops is not None and fooled is not None
            stop = stops.accept(rows, population, fooled, 0)
        if best_stop and S.max_iter == 0:
            stop = self._best_stops(evaluator, stops, rows, population, fitness, 0)
        if record is not None:
            record(rows, fitness, 0)
        stopped_at[rows[stop]] = 0

        keep = ~stop
        numbers = partners = torch.empty(0)
        left = 0  # generations left in the current block of numbers
        for generation in range(1, S.max_iter + 1):
            if not bool(keep.all()):
                rows, population, fitness = rows[keep], population[keep], fitness[keep]
                generators = [g for g, k in zip(generators, keep.tolist()) if k]
                if left:
                    numbers, partners = numbers[keep], partners[keep]
                keep = torch.ones(len(rows), dtype=torch.bool)
            if len(rows) == 0:
                break
            if left == 0:
                left = min(
                    S.max_iter - generation + 1,
                    BLOCK_GENERATIONS,
                    max(1, BLOCK_NUMBERS // S.per_generation),
                )
                numbers = self._block(generators, left)
                P = S.pop_size
                u = numbers[..., : P * S.columns].view(len(rows), left, P, S.columns)
                partners = distinct_others(u[..., : S.partners])
                used = 0
            A = len(rows)
            trials = self._trials(population, fitness, numbers[:, used], partners[:, used])
            used += 1
            left -= 1
            trial_fitness, fooled = evaluator.fitness(rows, trials, any_stop)
            stop = torch.zeros(A, dtype=torch.bool)
            if any_stop:
                assert stops is not None and fooled is not None
                stop = stops.accept(rows, trials, fooled, generation)
            population, fitness = self._select(population, fitness, trials, trial_fitness)
            if best_stop:
                stop = self._best_stops(evaluator, stops, rows, population, fitness, generation)
            if record is not None:
                record(rows, fitness, generation)
            stopped_at[rows[stop]] = generation
            keep = ~stop
        if not bool(keep.all()):
            rows, population, fitness = rows[keep], population[keep], fitness[keep]
        return stopped_at, rows, population, fitness

    @staticmethod
    def _best_stops(
        evaluator: Evaluator,
        stops: Any,
        rows: Tensor,
        population: Tensor,
        fitness: Tensor,
        generation: int,
    ) -> Tensor:
        """Stop the rows whose fittest member is misclassified (and confirmed by ``stops``)."""
        best = population[torch.arange(len(rows)), fitness.argmin(1)].unsqueeze(1)
        _, fooled = evaluator.fitness(rows, best, True)
        assert fooled is not None
        if not bool(fooled.any()):
            return torch.zeros(len(rows), dtype=torch.bool)
        return stops.accept(rows, best, fooled, generation)


def _promote_first(population: Tensor, fitness: Tensor) -> None:
    """Swap each row's fittest member (lowest index among ties) into member 0, in place."""
    rows = torch.arange(population.shape[0])
    best = fitness.argmin(1)
    first_p, first_f = population[:, 0].clone(), fitness[:, 0].clone()
    population[:, 0], fitness[:, 0] = population[rows, best], fitness[rows, best]
    population[rows, best], fitness[rows, best] = first_p, first_f


def _overwrite_first(population: Tensor, fitness: Tensor) -> None:
    """The study's copy of scipy: member 0 holds the best; a fitter member is copied over it.

    Its sequential loop over the trials of a generation (``if energy < energies[0]``) leaves in
    member 0 the first member, in index order, that holds the generation's lowest fitness when
    that is strictly below member 0's; that member then appears twice.
    """
    rows = torch.arange(population.shape[0])
    best = fitness.argmin(1)  # lowest index among ties
    beats = fitness[rows, best] < fitness[:, 0]
    if bool(beats.any()):
        r, b = rows[beats], best[beats]
        population[r, 0] = population[r, b]
        fitness[r, 0] = fitness[r, b]


# -- a toy objective on the same engine ----------------------------------------------------------


@dataclass
class Minimized:
    """What :func:`minimize` found: per run the best fitness after every generation and more."""

    best_fitness: Tensor  # float64 [runs, max_iter + 1]; column g: after generation g
    best: Tensor  # float64 [runs, 3]: the final fittest member
    population: Tensor  # float64 [runs, P, 3]
    fitness: Tensor  # float64 [runs, P]


class _Objective:
    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        self.fn = fn

    def fitness(self, rows: Tensor, candidates: Tensor, fooled: bool) -> tuple[Tensor, None]:
        out = torch.as_tensor(self.fn(candidates), dtype=torch.float64)
        if out.shape != candidates.shape[:-1]:
            raise ValueError(
                f"the objective must return one value per candidate, {tuple(candidates.shape[:-1])}"
                f", got {tuple(out.shape)}"
            )
        return out, None


def minimize(
    fn: Callable[[Tensor], Tensor],
    seeds: list[int],
    settings: Settings | None = None,
    **options: Any,
) -> Minimized:
    """Minimise ``fn`` over the One-Pixel box with the engine of :class:`OnePixel`, once per seed.

    Internal API (for tests and studies of the search itself): the same
    :class:`DifferentialEvolution` One-Pixel runs, with an objective in place of a model.
    ``fn`` maps candidates float64 [A, P, 3] (row, col, intensity, within ``[0, upper]``) to
    fitness [A, P]; with ``integer_candidates`` it must truncate them itself, as One-Pixel's
    evaluator does. Nothing stops early (``early_stop`` is ignored).

    Parameters
    ----------
    fn : callable
    seeds : list of int
        One independent run per seed (run r draws from a generator seeded ``seeds[r]``).
    settings : Settings, optional
        Or its fields as keywords (``pop_size`` and ``max_iter`` required).

    Returns
    -------
    Minimized

    Examples
    --------
    >>> import torch
    >>> target = torch.tensor([20.0, 6.0, 180.0], dtype=torch.float64)
    >>> distance = lambda c: (c.floor() - target).abs().sum(-1)
    >>> found = minimize(distance, seeds=[0, 1], pop_size=30, max_iter=60,
    ...                  strategy="best1bin", mutation=(0.5, 1.0), recombination=1.0,
    ...                  integer_candidates=True, out_of_bounds="resample", init="uniform")
    >>> found.best_fitness.shape, bool((found.best_fitness.diff(dim=1) <= 0).all())
    (torch.Size([2, 61]), True)
    """
    if settings is None:
        settings = Settings(**options)
    elif options:
        raise ValueError("pass either settings or its fields as keywords, not both")
    seeds = [int(s) for s in seeds]
    if any(not isinstance(s, numbers.Integral) or s < 0 for s in seeds):
        raise ValueError("seeds must be integers >= 0")
    history = torch.full((len(seeds), settings.max_iter + 1), math.nan, dtype=torch.float64)

    def record(rows: Tensor, fitness: Tensor, generation: int) -> None:
        history[rows, generation] = fitness.min(1).values

    engine = DifferentialEvolution(settings, seeds)
    _, rows, population, fitness = engine.run(_Objective(fn), None, record)
    best = population[torch.arange(len(rows)), fitness.argmin(1)]
    return Minimized(history, best, population, fitness)
