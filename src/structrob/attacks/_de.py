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

from structrob import _compiled
from structrob.seeds import derive_seed
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

# the numbers drawn ahead for all searches together, at most (float64 values)
BLOCK_NUMBERS = 1 << 22
BLOCK_GENERATIONS = 32
# redraw numbers kept per search, in generations' worth of the most a generation may need
# (at least; up to BLOCK_GENERATIONS while all searches' together stay within REDRAW_NUMBERS)
REDRAW_GENERATIONS = 4
REDRAW_NUMBERS = 1 << 21


def _partner_planes(u: list[Tensor]) -> list[Tensor]:
    """:func:`distinct_others` on planes: ``u[t]`` [..., P] -> integer planes (int16 for
    P < 2**15)."""
    P = u[0].shape[-1]
    # the narrowest type that holds the indices: the stepping below is memory-bound
    index = torch.int16 if P < 2**15 else torch.int32 if P < 2**31 else torch.int64
    excluded = [torch.arange(P, dtype=index).expand(u[0].shape)]  # kept sorted per element
    drawn = []
    for t, plane in enumerate(u):
        left = P - 1 - t
        v = (plane * left).to(index).clamp_(max=left - 1)  # truncation: u * left >= 0
        for column in excluded:  # ascending
            v += v >= column
        drawn.append(v)
        if t == len(u) - 1:
            break
        carry, merged = v, []
        for column in excluded:  # insert v, keeping the list sorted
            merged.append(torch.minimum(column, carry))
            carry = torch.maximum(column, carry)
        excluded = [*merged, carry]
    return drawn


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
    planes = _partner_planes([u[..., t] for t in range(u.shape[-1])])
    return torch.stack(planes, dim=-1).long()


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
    def crossover(self) -> bool:
        """best1bin with ``recombination < 1``: some parameters may come from the parent."""
        return self.strategy == "best1bin" and self.recombination < 1

    @property
    def columns(self) -> int:
        """Uniform numbers per member and generation: partners, then crossover (best1bin)."""
        return 6 if self.crossover else self.partners

    @property
    def per_generation(self) -> int:
        """Uniform numbers one search draws from its main stream per generation.

        ``[P, columns]``: the partners, then for best1bin with ``recombination < 1`` three
        crossover draws and the forced parameter (with recombination 1 every parameter comes
        from the mutant, and nothing is drawn for crossover); then 1 for a dithered F. Options
        at their defaults draw nothing extra, so their numbers are unchanged. Redrawn
        out-of-bounds parameters come from a second stream of the search, one number each.
        """
        return self.pop_size * self.columns + int(self.dither)


class Evaluator(Protocol):
    """What the engine asks of an objective (see :class:`Candidates` and :class:`_Objective`)."""

    def key(self, candidates: Tensor) -> Tensor:
        """[..., k] or [...]: equal exactly when two candidates are evaluated the same."""
        ...

    def fitness(
        self, rows: Tensor, candidates: Tensor, fooled: bool, keys: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Fitness float64 [Q, R] of candidates [Q, R, 3] of search ``rows`` [Q]; with
        ``fooled`` also whether each is misclassified (bool [Q, R]). ``keys``: theirs, if
        known."""
        ...

    def misclassified(self, rows: Tensor, candidates: Tensor) -> Tensor: ...


class Stops(Protocol):
    def accept(
        self, rows: Tensor, candidates: Tensor, fooled: Tensor, generation: int
    ) -> Tensor: ...


def _choose(mask: Tensor, a: Tensor, b: Tensor, ones: Tensor | None = None) -> Tensor:
    """``torch.where(mask, a, b)`` for 64-bit ``a``, ``b`` of one shape, by bit operations.

    Exact (it moves bits), and a few times faster than ``torch.where`` on the CPU. ``mask``
    may lack trailing dimensions of ``a`` (broadcast over them). ``ones``: ``-mask`` as int64
    (all bits set where True), if already made for another choice by the same mask.
    """
    if a.element_size() != 8 or a.dtype != b.dtype or a.shape != b.shape:
        return torch.where(mask.view(*mask.shape, *[1] * (a.dim() - mask.dim())), a, b)
    if ones is None:
        ones = mask.to(torch.int64).neg_()
    ones = ones.view(*mask.shape, *[1] * (a.dim() - mask.dim()))
    ai, bi = a.view(torch.int64), b.view(torch.int64)
    return (ai ^ bi).bitwise_and_(ones).bitwise_xor_(bi).view(a.dtype)


def _plain(*tensors: Tensor) -> bool:
    """Whether the compiled loops can read these CPU tensors as they are: populations [A, P, 3]
    float64 kept as planes (:func:`_as_planes`), fitness [A, P] float64 and keys [A, P] int64,
    contiguous."""
    for t in tensors:
        if t.device.type != "cpu":
            return False
        if t.dim() == 3:
            ok = t.dtype == torch.float64 and t.permute(2, 0, 1).is_contiguous()
        else:
            ok = t.dim() == 2 and t.dtype in (torch.float64, torch.int64) and t.is_contiguous()
        if not ok:
            return False
    return True


def _same(a: Tensor, b: Tensor) -> Tensor:
    """Keys equal, per candidate (a key may be one value or a last dimension of several)."""
    equal = a == b
    return equal if a.dim() == 2 else equal.all(-1)


def _as_planes(population: Tensor) -> Tensor:
    """``population`` [A, P, 3] laid out as planes: memory ``[3, A, P]``, each parameter's values
    contiguous (a view when it already is).

    The engine keeps its populations so: a gather of whole members then moves three
    contiguous planes, not rows of three numbers (about twice as fast on the CPU), and
    per-parameter arithmetic runs over contiguous memory. The layout changes no value.
    """
    planes = population.permute(2, 0, 1)
    return (planes if planes.is_contiguous() else planes.contiguous()).permute(1, 2, 0)


def _by_member(values: Tensor) -> bool:
    """Whether ``values`` ([A, P], or [A, P, 3] as planes) can be copied into member by member
    with :func:`_copy_members`."""
    if values.dim() == 2:
        return values.is_contiguous()
    return values.dim() == 3 and values.permute(2, 0, 1).is_contiguous()


def _copy_members(target: Tensor, source: Tensor, at: Tensor) -> None:
    """``target[a, p] = source[a, p]`` in place for the members at flat positions ``at``
    (``a * P + p``); ``target`` [A, P], or [A, P, 3] as planes (:func:`_by_member`), ``source``
    of its shape, in any layout."""
    if target.dim() == 2:
        target.view(-1).index_copy_(0, at, source.reshape(-1).index_select(0, at))
        return
    A, P = target.shape[:2]
    planes = source.permute(2, 0, 1).reshape(3, A * P)
    target.permute(2, 0, 1).view(3, A * P).index_copy_(1, at, planes.index_select(1, at))


class _Searches:
    """The running searches: their rows, populations, fitness, keys and random streams."""

    def __init__(
        self,
        rows: Tensor,
        generators: list[torch.Generator],
        redraws: list[torch.Generator] | None,
    ) -> None:
        self.rows, self.generators, self.redraws = rows, generators, redraws
        self.population = self.fitness = self.keys = torch.empty(0)
        self.checked = torch.empty(0)  # key of each row's fittest member at its last check
        self.numbers = torch.empty(0, 0, 0)  # [A, block, per_generation]
        self.used = 0  # generations of the block used
        self.spare = torch.empty(0, 0)  # [A, L] redraw numbers not used yet, from ``start``
        self.start = torch.empty(0, dtype=torch.long)
        self.settings_width = 0  # the most numbers one generation may redraw per search

    def keep(self, keep: Tensor) -> None:
        """Drop the searches not in ``keep`` (bool [A])."""
        if bool(keep.all()):
            return
        self.rows = self.rows[keep]
        self.population, self.fitness = _as_planes(self.population[keep]), self.fitness[keep]
        self.keys = self.keys[keep] if self.keys.dim() == 2 else _as_planes(self.keys[keep])
        if len(self.checked):
            self.checked = self.checked[keep]
        flags = keep.tolist()
        self.generators = [g for g, k in zip(self.generators, flags) if k]
        if self.used < self.numbers.shape[1]:
            self.numbers = self.numbers[keep]
        if self.redraws is not None:
            self.redraws = [g for g, k in zip(self.redraws, flags) if k]
            if len(self.start):  # nothing to drop before the first redraw
                self.spare, self.start = self.spare[keep], self.start[keep]

    def next_numbers(self, settings: Settings, generations_left: int) -> Tensor:
        """This generation's uniform numbers [A, per_generation], drawn a block ahead."""
        A, n = len(self.rows), settings.per_generation
        if self.used == self.numbers.shape[1]:
            block = min(generations_left, BLOCK_GENERATIONS, max(1, BLOCK_NUMBERS // (A * n)))
            self.numbers = torch.empty(A, block, n, dtype=torch.float64)
            for r, g in enumerate(self.generators):
                torch.rand(block, n, generator=g, dtype=torch.float64, out=self.numbers[r])
            self.used = 0
        self.used += 1
        return self.numbers[:, self.used - 1]

    def reserve(self, count: Tensor | int) -> None:
        """Make sure every search has ``count`` (per search, or for all) redraw numbers not used
        yet: ``spare[r, start[r]:]``, the next numbers of search r's second stream, in order.

        A refill draws every search's stream on from where it stopped (CPU ``torch.rand``
        gives the same numbers in one call as in consecutive calls), so when it happens
        changes no number a search uses.
        """
        assert self.redraws is not None
        A = len(self.rows)
        if len(self.start) == A and not bool((self.start + count > self.spare.shape[1]).any()):
            return
        ahead = min(BLOCK_GENERATIONS, REDRAW_NUMBERS // max(1, A * self.settings_width))
        width = max(self.spare.shape[1], max(REDRAW_GENERATIONS, ahead) * self.settings_width)
        spare = torch.empty(A, width, dtype=torch.float64)
        for r, g in enumerate(self.redraws):
            rest = self.spare[r, int(self.start[r]) :] if len(self.start) else spare[r, :0]
            spare[r, : len(rest)] = rest
            torch.rand(
                width - len(rest), generator=g, dtype=torch.float64, out=spare[r, len(rest) :]
            )
        self.spare, self.start = spare, torch.zeros(A, dtype=torch.long)

    def redraw(self, q: Tensor, count: Tensor) -> Tensor:
        """Fresh uniform numbers, ``count[r]`` for search r (``q``: the search of each, sorted),
        each search's from its own second stream, in order."""
        A = len(count)
        self.reserve(count)
        # the position of each number in the flattened spare numbers: row start, then rank
        offset = self.start + torch.arange(0, A * self.spare.shape[1], self.spare.shape[1])
        offset -= count.cumsum(0) - count
        values = self.spare.view(-1).index_select(
            0, offset.index_select(0, q) + torch.arange(len(q))
        )
        self.start += count
        return values


class DifferentialEvolution:
    """One DE per search row, all advanced together generation by generation.

    A trial whose key (:meth:`Evaluator.key`) equals its parent's is given the parent's fitness
    without being evaluated again: evaluation is deterministic, so this changes nothing but
    the time (late in a search most trials repeat their parent). Nor is it offered to
    ``stops``: its parent was, when it was evaluated.

    Parameters
    ----------
    settings : Settings
    seeds : list of int
        Search r draws from CPU generators seeded from ``seeds[r]`` alone: its numbers depend
        on nothing else. Per generation it draws ``settings.per_generation`` uniform numbers
        from its main stream (seeded ``seeds[r]``), a block of generations at a time (CPU
        ``torch.rand`` gives the same numbers in one call as in consecutive calls); the
        out-of-bounds parameters ``out_of_bounds="resample"`` redraws take one number each
        from a second stream, seeded ``derive_seed(seeds[r], 1)``.
    """

    # evaluate a generation's trials in full (not only those unlike their parent) while at
    # least this fraction of them is new: picking them out costs more than it saves
    FULL_ABOVE = 0.9
    # replace the members that trials beat in place while they are fewer than this fraction
    SPARSE_BELOW = 0.05

    def __init__(self, settings: Settings, seeds: list[int]) -> None:
        self.settings = settings
        self.seeds = [int(seed) for seed in seeds]

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

    # -- one generation ---------------------------------------------------------------------

    def _trials(self, searches: _Searches, numbers: Tensor) -> Tensor:
        """One trial per member [A, P, 3] from this generation's numbers [A, per_generation]."""
        S = self.settings
        population, fitness = searches.population, searches.fitness
        A, P, _ = population.shape
        rows_ok = numbers.dtype == torch.float64 and numbers.stride(1) == 1
        if _compiled.native is not None and rows_ok and _plain(population, fitness):
            return self._compiled_trials(searches, numbers)
        u = numbers[:, : P * S.columns].view(A, P, S.columns)
        partners = _partner_planes([u[..., t] for t in range(S.partners)])
        if S.dither:
            low, high = S.mutation  # type: ignore[misc]
            F: Tensor | float = (low + numbers[:, P * S.columns] * (high - low)).view(1, A, 1)
        else:
            F = S.mutation  # type: ignore[assignment]
        planes = population.permute(2, 0, 1).view(3, A * P)  # the engine keeps planes
        index = torch.int32 if A * P < 2**31 else torch.int64
        base = torch.arange(0, A * P, P, dtype=index).view(A, 1)
        pick = []
        for r in partners:  # every parameter plane of the picked members
            at = (base + r).view(-1)
            picked = torch.empty(3, A * P, dtype=population.dtype)
            for j in range(3):
                torch.index_select(planes[j], 0, at, out=picked[j])
            pick.append(picked.view(3, A, P))
        # in place on the picks: x + F (a - b), as (a - b) * F + x (the same float operations)
        if S.strategy == "rand1":
            trial = pick[1].sub_(pick[2]).mul_(F).add_(pick[0]).permute(1, 2, 0)
        else:
            best = planes.index_select(1, fitness.argmin(1) + base.view(-1)).view(3, A, 1)
            trial = pick[0].sub_(pick[1]).mul_(F).add_(best).permute(1, 2, 0)
            if S.crossover:
                cross = u[..., 2:5] < S.recombination
                forced = (u[..., 5] * 3).floor().long().clamp_(max=2)
                cross.scatter_(-1, forced.unsqueeze(-1), True)
                trial = _as_planes(torch.where(cross, trial, population))
        upper = S.upper
        if S.out_of_bounds == "clip":
            return torch.minimum(trial.clamp_(min=0), upper, out=trial)
        outside = (trial < 0) | (trial > upper)
        at = outside.reshape(-1).nonzero().view(-1)  # row-major: by search, member, parameter
        if len(at):
            parameter = at % 3
            scale = upper.index_select(0, parameter)
            q = at // (P * 3)
            values = searches.redraw(q, outside.sum((1, 2))) * scale
            # member a * P + p's parameter j lies at j * A * P + a * P + p of the planes
            trial.permute(2, 0, 1).view(-1).index_copy_(0, parameter * (A * P) + at // 3, values)
        return trial

    def _compiled_trials(self, searches: _Searches, numbers: Tensor) -> Tensor:
        """:meth:`_trials` by the compiled loop (``_native.c``): the same values, one pass."""
        S = self.settings
        population, fitness = searches.population, searches.fitness
        A, P, _ = population.shape
        low, span, mutation = 0.0, 0.0, 0.0
        if S.dither:
            low, high = S.mutation  # type: ignore[misc]
            span = high - low  # > 0 (checked by Settings)
        else:
            mutation = float(S.mutation)  # type: ignore[arg-type]
        resample = S.out_of_bounds == "resample"
        spare = start = torch.zeros(1, dtype=torch.float64)
        if resample:  # a generation redraws at most every parameter of every member
            searches.reserve(3 * P)
            spare, start = searches.spare, searches.start
        trial = torch.empty(3, A, P, dtype=torch.float64)
        upper = INTEGER_UPPER if S.integer_candidates else CONTINUOUS_UPPER
        _compiled.native.trials(  # type: ignore[union-attr]
            population.permute(2, 0, 1).data_ptr(),
            fitness.data_ptr(),
            numbers.data_ptr(),
            numbers.stride(0),
            A,
            P,
            S.columns,
            S.strategy == "best1bin",
            mutation,
            low,
            span,
            P * S.columns,
            S.crossover,
            S.recombination,
            resample,
            *upper,
            spare.data_ptr(),
            spare.shape[-1],
            start.data_ptr(),
            trial.data_ptr(),
        )
        return trial.permute(1, 2, 0)

    def _evaluate(
        self,
        evaluator: Evaluator,
        searches: _Searches,
        trials: Tensor,
        keys: Tensor,
        fooled: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """Fitness [A, P] of the trials; those keyed like their parent take its fitness."""
        rows = searches.rows
        if getattr(evaluator, "remembers", False):  # it keeps every fitness it computed
            return evaluator.fitness(rows, trials, fooled, keys)
        same = _same(keys, searches.keys)
        new = ~same
        n_new = int(new.sum())
        if n_new >= self.FULL_ABOVE * new.numel():
            return evaluator.fitness(rows, trials, fooled, keys)
        out = searches.fitness.clone()
        wrong = torch.zeros(same.shape, dtype=torch.bool) if fooled else None
        if n_new:
            # the new trials by flat position (row-major, as nonzero lists [q, p]): gathers and
            # scatters of rows are cheaper than indexing by (q, p), and move the same values
            at = new.view(-1).nonzero().view(-1)
            q = at // new.shape[1]
            picked = trials.reshape(-1, 3).index_select(0, at).unsqueeze(1)
            flat_keys = keys.reshape(-1) if keys.dim() == 2 else keys.reshape(-1, keys.shape[-1])
            picked_keys = flat_keys.index_select(0, at).unsqueeze(1)
            fit, bad = evaluator.fitness(rows.index_select(0, q), picked, fooled, picked_keys)
            out.view(-1).index_copy_(0, at, fit.view(-1))
            if wrong is not None:
                assert bad is not None
                wrong.view(-1).index_copy_(0, at, bad.view(-1))
        return out, wrong

    def _select(
        self, searches: _Searches, trials: Tensor, trial_fitness: Tensor, trial_keys: Tensor
    ) -> bool:
        """Selection after all trials of the generation are evaluated; whether any member was
        replaced.

        Late in a search few trials beat their parent (with ``"strict"`` and ``"study"`` ties do
        not replace): below :attr:`SPARSE_BELOW` of the members the replaced ones are copied
        in place (the same values as a choice over every member, which costs a full pass
        over the population per tensor).
        """
        S = self.settings
        fitness = searches.fitness
        if _compiled.native is not None and _plain(
            searches.population, fitness, searches.keys, trials, trial_fitness, trial_keys
        ):
            return _compiled.native.select(
                searches.population.permute(2, 0, 1).data_ptr(),
                fitness.data_ptr(),
                searches.keys.data_ptr(),
                trials.permute(2, 0, 1).data_ptr(),
                trial_fitness.data_ptr(),
                trial_keys.data_ptr(),
                *fitness.shape,
                SELECTIONS.index(S.selection),
            )
        better = trial_fitness <= fitness if S.selection == "greedy" else trial_fitness < fitness
        n_better = int(better.sum())
        if n_better == 0:
            return False
        population, keys = searches.population, searches.keys
        targets = (population, fitness, keys)
        if n_better < self.SPARSE_BELOW * better.numel() and all(map(_by_member, targets)):
            at = better.view(-1).nonzero().view(-1)
            _copy_members(population, trials, at)
            _copy_members(fitness, trial_fitness, at)
            _copy_members(keys, trial_keys, at)
        else:
            ones = better.to(torch.int64).neg_()  # the bit mask, made once for all three
            searches.population = _choose(better, trials, population, ones)
            searches.fitness = _choose(better, trial_fitness, fitness, ones)
            searches.keys = _choose(better, trial_keys, keys, ones)
        if S.selection == "study":
            _overwrite_first(searches.population, searches.fitness, searches.keys)
        return True

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
        R = len(self.seeds)
        stopped_at = torch.full((R,), S.max_iter, dtype=torch.long)
        any_stop = stops is not None and S.early_stop == "any"
        best_stop = stops is not None and S.early_stop == "best"
        if R == 0:
            P = S.pop_size
            empty = torch.zeros(0, P, dtype=torch.float64)
            return stopped_at, torch.arange(0), empty.unsqueeze(-1).expand(0, P, 3), empty

        generators = [torch.Generator().manual_seed(seed) for seed in self.seeds]
        redraws = None
        if S.out_of_bounds == "resample":
            redraws = [torch.Generator().manual_seed(derive_seed(seed, 1)) for seed in self.seeds]
        searches = _Searches(torch.arange(R), generators, redraws)
        searches.settings_width = 3 * S.pop_size
        rows = searches.rows
        population = _as_planes(self._initial(generators))
        keys = evaluator.key(population)
        fitness, fooled = evaluator.fitness(rows, population, any_stop, keys)
        if S.selection == "study":
            _promote_first(population, fitness, keys)
        # the engine's own tensors, updated in place by selection: an objective's fitness
        # or key may be a view of the candidates it was given
        searches.population = population
        searches.fitness, searches.keys = fitness.clone(), keys.clone()
        # nothing checked yet: a key no member has (keys are >= 0, or candidates in the box)
        searches.checked = torch.full_like(keys[:, 0], -1)
        stop = torch.zeros(R, dtype=torch.bool)
        if any_stop:
            assert stops is not None and fooled is not None
            stop = stops.accept(rows, population, fooled, 0)
        if best_stop and S.max_iter == 0:
            stop = self._best_stops(evaluator, stops, searches, 0)
        if record is not None:
            record(rows, fitness, 0)
        stopped_at[rows[stop]] = 0
        searches.keep(~stop)

        for generation in range(1, S.max_iter + 1):
            if len(searches.rows) == 0:
                break
            numbers = searches.next_numbers(S, S.max_iter - generation + 1)
            trials = self._trials(searches, numbers)
            trial_keys = evaluator.key(trials)
            trial_fitness, fooled = self._evaluate(
                evaluator, searches, trials, trial_keys, any_stop
            )
            stop = torch.zeros(len(searches.rows), dtype=torch.bool)
            if any_stop:
                assert stops is not None and fooled is not None
                stop = stops.accept(searches.rows, trials, fooled, generation)
            replaced = self._select(searches, trials, trial_fitness, trial_keys)
            # with no member replaced every row's fittest was checked already (generation 1
            # checks the initial population's)
            if best_stop and (replaced or generation == 1):
                stop = self._best_stops(evaluator, stops, searches, generation)
            if record is not None:
                record(searches.rows, searches.fitness, generation)
            stopped_at[searches.rows[stop]] = generation
            searches.keep(~stop)
        return stopped_at, searches.rows, searches.population, searches.fitness

    @staticmethod
    def _best_stops(
        evaluator: Evaluator, stops: Any, searches: _Searches, generation: int
    ) -> Tensor:
        """Stop the rows whose fittest member is misclassified (and confirmed by ``stops``).

        A row whose fittest member has the key it had at the last check is not checked again
        (the check is deterministic, and it was not confirmed then).
        """
        rows, population = searches.rows, searches.population
        at = searches.fitness.argmin(1)
        index = torch.arange(len(rows))
        best, key = population[index, at].unsqueeze(1), searches.keys[index, at]
        stop = torch.zeros(len(rows), dtype=torch.bool)
        changed = ~_same(key.unsqueeze(1), searches.checked.unsqueeze(1)).view(-1)
        searches.checked = key
        if not bool(changed.any()):
            return stop
        q = changed.nonzero().view(-1)
        fooled = evaluator.misclassified(rows[q], best[q])
        if bool(fooled.any()):
            stop[q] = stops.accept(rows[q], best[q], fooled, generation)
        return stop


def _promote_first(population: Tensor, fitness: Tensor, keys: Tensor) -> None:
    """Swap each row's fittest member (lowest index among ties) into member 0, in place."""
    rows = torch.arange(population.shape[0])
    best = fitness.argmin(1)
    for values in (population, fitness, keys):
        first = values[:, 0].clone()
        values[:, 0] = values[rows, best]
        values[rows, best] = first


def _overwrite_first(population: Tensor, fitness: Tensor, keys: Tensor) -> None:
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
        for values in (population, fitness, keys):
            values[r, 0] = values[r, b]


# -- a toy objective on the same engine ----------------------------------------------------------


@dataclass
class Minimized:
    """What :func:`minimize` found: per run the best fitness after every generation and more."""

    best_fitness: Tensor  # float64 [runs, max_iter + 1]; column g: after generation g
    best: Tensor  # float64 [runs, 3]: the final fittest member
    population: Tensor  # float64 [runs, P, 3]
    fitness: Tensor  # float64 [runs, P]


class _Objective:
    """An objective as an evaluator: keyed by the exact candidate, never misclassified."""

    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        self.fn = fn

    def key(self, candidates: Tensor) -> Tensor:
        return candidates.clone()  # never the population itself: the engine moves both

    def misclassified(self, rows: Tensor, candidates: Tensor) -> Tensor:
        return torch.zeros(candidates.shape[:-1], dtype=torch.bool)

    def fitness(
        self, rows: Tensor, candidates: Tensor, fooled: bool, keys: Tensor | None = None
    ) -> tuple[Tensor, None]:
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
