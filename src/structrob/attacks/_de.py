"""The differential-evolution engine of :class:`structrob.attacks.OnePixel`, batched over images.

Every attacked (copy, image) pair runs its own DE from its own random stream; a generation of
all pairs still searching is evaluated in one batch by the candidate evaluator
(:class:`structrob.attacks._candidates.Candidates`). The strategies and the selection rule are
described in :class:`structrob.attacks.OnePixel`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from structrob.attacks._base import SIDE, AttackResult
from structrob.attacks._candidates import Candidates, Outcome
from structrob.seeds import derive_seed

STRATEGIES = ("rand1", "best1bin")


def distinct_others(u: Tensor) -> Tensor:
    """Random member indices, distinct per row and different from the row's own index.

    ``u`` [..., P, m] uniform in [0, 1) -> int64 [..., P, m]: for member i, m distinct
    indices drawn uniformly from {0..P-1} minus {i}, without rejection: the t-th draw picks
    the v-th element of the set left, found by stepping over the excluded values in order.

    Examples
    --------
    >>> import torch
    >>> r = distinct_others(torch.rand(4, 3, dtype=torch.float64))  # 4 members, 3 partners each
    >>> all(i not in row and len(set(row)) == 3 for i, row in enumerate(r.tolist()))
    True
    """
    P, m = u.shape[-2], u.shape[-1]
    excluded = [torch.arange(P).expand(*u.shape[:-1])]  # kept sorted per element
    drawn = []
    for t in range(m):
        left = P - 1 - t
        v = (u[..., t] * left).floor().long().clamp_(max=left - 1)
        for column in excluded:  # ascending
            v = v + (v >= column)
        drawn.append(v)
        carry, merged = v, []
        for column in excluded:  # insert v, keeping the list sorted
            merged.append(torch.minimum(column, carry))
            carry = torch.maximum(column, carry)
        excluded = [*merged, carry]
    return torch.stack(drawn, dim=-1)


class DifferentialEvolution:
    """One DE per (copy, slot) pair of ``candidates``, advanced together generation by generation.

    Parameters
    ----------
    candidates : Candidates
        The evaluator: the pairs attacked and how a candidate is scored.
    pop_size, max_iter, seed, strategy, mutation, crossover
        As :class:`structrob.attacks.OnePixel` documents them (validated there). The pair of
        image i draws from a CPU generator seeded ``derive_seed(seed, i)``: its search depends
        on nothing else (not on the other images, copies, batch or device).
    """

    def __init__(
        self,
        candidates: Candidates,
        pop_size: int,
        max_iter: int,
        seed: int,
        strategy: str,
        mutation: float,
        crossover: float,
    ) -> None:
        self.candidates = candidates
        self.outcome = Outcome(candidates, iterations=max_iter)
        self.pop_size, self.max_iter = pop_size, max_iter
        self.strategy, self.mutation, self.crossover = strategy, mutation, crossover
        self.generators = [
            [
                torch.Generator().manual_seed(derive_seed(seed, int(i)))
                for i in candidates.image[k, :n]
            ]
            for k, n in enumerate(candidates.sizes)
        ]
        K, S = candidates.valid.shape
        self.population = torch.zeros(K, S, pop_size, 3, dtype=torch.float64)
        self.fitness = torch.full((K, S, pop_size), math.inf, dtype=torch.float64)

    def _draw(self, k: Tensor, s: Tensor, columns: int, normal: bool = False) -> Tensor:
        """[Q, P, columns] float64 from each pair's own generator (uniform [0,1) or N(0, 1))."""
        draw = torch.randn if normal else torch.rand
        return torch.stack(
            [
                draw(self.pop_size, columns, generator=self.generators[kk][ss], dtype=torch.float64)
                for kk, ss in zip(k.tolist(), s.tolist())
            ]
        )

    def _trials(self, k: Tensor, s: Tensor) -> Tensor:
        """One trial per member of pairs ``(k, s)``, clipped to the bounds: [Q, P, 3]."""
        population, fitness = self.population[k, s], self.fitness[k, s]
        F = self.mutation
        if self.strategy == "rand1":
            r = distinct_others(self._draw(k, s, 3))
            pick = [population.gather(1, r[..., j : j + 1].expand(-1, -1, 3)) for j in range(3)]
            trial = pick[0] + F * (pick[1] - pick[2])
        else:
            u = self._draw(k, s, 6)
            r = distinct_others(u[..., :2])
            pick = [population.gather(1, r[..., j : j + 1].expand(-1, -1, 3)) for j in range(2)]
            best = population.gather(1, fitness.argmin(1)[:, None, None].expand(-1, 1, 3))
            mutant = best + F * (pick[0] - pick[1])
            cross = u[..., 2:5] < self.crossover
            forced = (u[..., 5] * 3).floor().long().clamp_(max=2)
            cross.scatter_(-1, forced.unsqueeze(-1), True)
            trial = torch.where(cross, mutant, population)
        upper = torch.tensor([SIDE, SIDE, 255.0], dtype=torch.float64)
        return torch.minimum(trial.clamp(min=0), upper)

    def run(self) -> list[AttackResult]:
        """Search until every pair is fooled or ``max_iter`` generations ran; a result per copy."""
        evaluate, outcome = self.candidates.fitness, self.outcome
        k, s = self.candidates.valid.nonzero(as_tuple=True)
        if len(k):
            coords = self._draw(k, s, 2) * SIDE
            intensity = (self._draw(k, s, 1, normal=True) * 127 + 128).clamp(0, 255)
            self.population[k, s] = torch.cat([coords, intensity], dim=-1)
            fitness, pred = evaluate(k, s, self.population[k, s])
            self.fitness[k, s] = fitness
            outcome.accept(k, s, self.population[k, s], pred, 0)
        for generation in range(1, self.max_iter + 1):
            k, s = outcome.pending()
            if len(k) == 0:
                break
            trials = self._trials(k, s)
            fitness, pred = evaluate(k, s, trials)
            outcome.accept(k, s, trials, pred, generation)
            # greedy selection after all trials of the generation are evaluated
            better = fitness <= self.fitness[k, s]
            self.population[k, s] = torch.where(better.unsqueeze(-1), trials, self.population[k, s])
            self.fitness[k, s] = torch.where(better, fitness, self.fitness[k, s])
        n_queries = self.pop_size * (outcome.iterations + 1)
        return outcome.results(self.population, self.fitness, n_queries)
