"""One-Pixel's differential evolution: the study's options, scipy agreement, exactness of speed-ups.

The scipy comparisons run the engine One-Pixel uses (``structrob.attacks._de``) on a toy
objective over the One-Pixel box and compare what it does over many seeds with
``scipy.optimize.differential_evolution`` under the same settings: the two draw different random
numbers, so they agree as distributions, stated as numbers with tolerances.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import differential_evolution

from structrob import _compiled
from structrob.attacks import OnePixel
from structrob.attacks import _de as de
from structrob.attacks._candidates import Candidates
from structrob.graphs import to_dag, watts_strogatz
from structrob.model import SparseDAGNet
from tests.nets import stacked_pruned_net
from tests.test_attacks import Decoy, OneKnownPixel

STUDY = OnePixel.STUDY_SETTINGS

# -- a toy objective over the study's box [0, 27] x [0, 27] x [0, 255] ---------------------------

TARGET = np.array([20.0, 6.0, 180.0])  # the global minimum, 0
DECOY = np.array([5.0, 22.0, 40.0])  # a wide basin whose floor is 1.5


def toy(v: np.ndarray) -> np.ndarray:
    """Candidates [..., 3] truncated to integers (the study's ``astype(int)``), then scored."""
    t = np.trunc(v)
    near = np.abs(t[..., 0] - TARGET[0]) + np.abs(t[..., 1] - TARGET[1])
    near = near + np.abs(t[..., 2] - TARGET[2]) / 16
    far = np.abs(t[..., 0] - DECOY[0]) + np.abs(t[..., 1] - DECOY[1])
    far = 1.5 + (far + np.abs(t[..., 2] - DECOY[2]) / 16) / 4
    return np.minimum(near, far)


SEEDS, POP, GENERATIONS = 200, 30, 40


def recorder(best: list[float]):
    """A scipy callback (the one-argument form, ``intermediate_result``) keeping ``.fun``."""

    def record(intermediate_result):
        best.append(intermediate_result.fun)

    return record


def scipy_history(strategy: str, mutation) -> np.ndarray:
    """Best fitness after each generation [SEEDS, GENERATIONS] of scipy's own DE."""
    out = np.zeros((SEEDS, GENERATIONS))
    for seed in range(SEEDS):
        best: list[float] = []
        record = recorder(best)
        differential_evolution(
            lambda x: toy(x.T),
            [(0, 27), (0, 27), (0, 255)],
            strategy=strategy,
            maxiter=GENERATIONS,
            popsize=POP // 3,  # scipy's popsize multiplies the 3 parameters
            tol=0,
            atol=-1,  # never converged: every run does all generations
            mutation=mutation,
            recombination=1,
            seed=seed,
            polish=False,
            init="random",
            updating="deferred",
            vectorized=True,
            callback=record,
        )
        out[seed] = best
    return out


def engine_history(**options) -> np.ndarray:
    found = de.minimize(
        lambda c: torch.as_tensor(toy(c.numpy())),
        seeds=list(range(1000, 1000 + SEEDS)),
        pop_size=POP,
        max_iter=GENERATIONS,
        recombination=1.0,
        integer_candidates=True,  # the box [0, 27] x [0, 27] x [0, 255]
        out_of_bounds="resample",
        init="uniform",
        **options,
    )
    assert torch.isfinite(found.best_fitness).all()
    return found.best_fitness[:, 1:].numpy()


def study_copy_history() -> np.ndarray:
    """An independent numpy reading of the study's copy of scipy (best1bin, recombination 1).

    Trials of a generation from its starting population, best in member 0; then, member by
    member, ``if trial < parent: replace; if trial < member 0: copy it over member 0``.
    """
    out = np.zeros((SEEDS, GENERATIONS))
    upper = np.array([27.0, 27.0, 255.0])
    for seed in range(SEEDS):
        rng = np.random.RandomState(seed)
        unit = rng.random_sample((POP, 3))
        energy = toy(unit * upper)
        m = np.argmin(energy)
        energy[[0, m]], unit[[0, m]] = energy[[m, 0]], unit[[m, 0]]
        for g in range(GENERATIONS):
            F = 0.5 + 0.5 * rng.rand()
            trials = np.empty_like(unit)
            for c in range(POP):
                others = [i for i in range(POP) if i != c]
                rng.shuffle(others)
                trials[c] = unit[0] + F * (unit[others[0]] - unit[others[1]])
            outside = (trials < 0) | (trials > 1)
            trials[outside] = rng.rand(int(outside.sum()))
            trial_energy = toy(trials * upper)
            for c in range(POP):
                if trial_energy[c] < energy[c]:
                    unit[c], energy[c] = trials[c], trial_energy[c]
                    if trial_energy[c] < energy[0]:
                        unit[0], energy[0] = trials[c], trial_energy[c]
            out[seed, g] = energy[0]
    return out


def agreement(ours: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """The numbers compared: fraction at the minimum by generation 10, 20, 40; the largest gap
    between mean best fitness curves, in standard errors of the difference."""
    gap = np.abs(ours.mean(0) - reference.mean(0))
    se = np.sqrt(ours.var(0) / len(ours) + reference.var(0) / len(reference)) + 1e-12
    return {
        **{f"reached_{g}": float((ours[:, g - 1] == 0).mean()) for g in (10, 20, 40)},
        **{
            f"reference_reached_{g}": float((reference[:, g - 1] == 0).mean()) for g in (10, 20, 40)
        },
        "max_mean_gap_in_se": float((gap / se).max()),
        "mean_best_10": float(ours[:, 9].mean()),
        "reference_mean_best_10": float(reference[:, 9].mean()),
    }


def assert_agree(stats: dict[str, float]) -> None:
    # 200 runs each: a difference of two fractions near 0.15 has a standard error of about
    # 0.036, so 0.1 is about 3 of them
    for g in (10, 20, 40):
        assert abs(stats[f"reached_{g}"] - stats[f"reference_reached_{g}"]) <= 0.1, stats
    assert stats["max_mean_gap_in_se"] <= 4.0, stats


@pytest.fixture(scope="module")
def scipy_best1bin():
    return scipy_history("best1bin", (0.5, 1))


def test_best1bin_dithered_integer_search_behaves_as_scipy_over_seeds(scipy_best1bin):
    # scipy 1.17 accepts a trial <= its parent ("greedy") and swaps the best into member 0
    # (a relabelling); it redraws out-of-bounds parameters uniformly, as "resample" does.
    # Measured (200 seeds each): at the minimum by generation 10/20/40: ours 0.015/0.105/0.11,
    # scipy 0.005/0.105/0.11; mean best fitness after 10 generations 1.42 vs 1.41; largest gap
    # of the mean curves over the 40 generations 0.6 standard errors.
    ours = engine_history(strategy="best1bin", mutation=(0.5, 1.0), selection="greedy")
    assert_agree(agreement(ours, scipy_best1bin))


def test_the_study_selection_behaves_as_the_study_copy_of_scipy():
    # the study's copy: strict < and the best copied over member 0. The engine's "study"
    # selection and an independent reading of the copy (numpy, above), 200 seeds each: at the
    # minimum by generation 10/20/40 0.02/0.12/0.12 vs 0.045/0.155/0.17; mean best fitness after
    # 10 generations 1.41 vs 1.38; largest gap of the mean curves 1.4 standard errors.
    ours = engine_history(strategy="best1bin", mutation=(0.5, 1.0), selection="study")
    assert_agree(agreement(ours, study_copy_history()))


def test_rand1_behaves_as_scipy_rand1bin_with_recombination_one():
    # Su et al.'s rand1 is scipy's rand1bin with every parameter from the mutant. Measured: at
    # the minimum by generation 20/40: 0.06/0.36 vs 0.055/0.32; largest gap 1.4 standard errors.
    ours = engine_history(strategy="rand1", mutation=0.5, selection="greedy")
    assert_agree(agreement(ours, scipy_history("rand1bin", 0.5)))


def test_the_toy_has_the_known_minimum_and_a_trap():
    assert toy(TARGET + 0.5) == 0 and toy(DECOY) == 1.5
    grid = np.stack(np.meshgrid(np.arange(28), np.arange(28), np.arange(256)), -1).reshape(-1, 3)
    values = toy(grid.astype(float))
    assert values.min() == 0 and (values == 0).sum() == 1


# -- the study's procedure in OnePixel --------------------------------------------------------


def test_study_settings_are_the_study_code():
    assert STUDY == {
        "pop_size": 498,  # 3 * int(500 / 3): scipy's popsize multiplies the parameters
        "max_iter": 500,
        "strategy": "best1bin",
        "mutation": (0.5, 1.0),
        "recombination": 1.0,
        "integer_candidates": True,
        "out_of_bounds": "resample",
        "selection": "study",
        "early_stop": "best",
    }
    attack = OnePixel(**STUDY)
    assert all(getattr(attack, name) == value for name, value in STUDY.items())
    assert "selection='study'" in repr(attack)


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        ("mutation", (1.0, 0.5), "low < high"),
        ("mutation", (0.5, 1.0, 1.5), "number or"),
        ("mutation", 2.5, "mutation"),
        ("mutation", (0.0, 1.0), "mutation low"),
        ("recombination", 1.5, "recombination"),
        ("integer_candidates", 1, "integer_candidates"),
        ("out_of_bounds", "reflect", "out_of_bounds"),
        ("selection", "best", "selection"),
        ("early_stop", "never", "early_stop"),
        ("pop_size", 3, "pop_size"),
    ],
)
def test_one_pixel_refuses_bad_options(keyword, value, message):
    with pytest.raises(ValueError, match=message):
        OnePixel(**{keyword: value})


def test_defaults_are_unchanged():
    attack = OnePixel()
    assert (attack.strategy, attack.mutation, attack.recombination) == ("rand1", 0.5, 0.7)
    assert (attack.integer_candidates, attack.out_of_bounds) == (False, "clip")
    assert (attack.selection, attack.early_stop, attack.pop_size) == ("greedy", "any", 500)


def small_net():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = SparseDAGNet(to_dag(watts_strogatz(30, 2, 0.5, seed=1)))
    x = torch.rand(40, 784, generator=torch.Generator().manual_seed(5))
    return net, x, net(x).argmax(1)


@pytest.mark.parametrize(
    ("options", "pixel_sum"),
    [
        ({}, 1473.62424405534),
        ({"strategy": "best1bin"}, 1179.5095309033973),
        ({"path": "rank1"}, 1473.62424405534),
        ({"strategy": "best1bin", "recombination": 0.3, "mutation": 0.8}, 962.0338373463203),
    ],
)
def test_settings_that_existed_give_the_numbers_they_gave(options, pixel_sum):
    # pinned from the implementation before these options (commit dbaaf40; `crossover` was the
    # name of `recombination`)
    net, x, y = small_net()
    result = OnePixel(pop_size=30, max_iter=15, n_images=10, seed=2, **options)(net, x, y)
    assert float(result.pixel.sum()) == pixel_sum
    assert result.success.int().tolist() == [0] * 7 + [1, 0, 0]
    assert result.iterations.tolist() == [15] * 7 + [0, 15, 15]


# per copy: successes, iterations, queries, pixel sum, confidence sum
PINNED_STACKED = {
    "default": [
        ([0, 1, 1, 0], [20, 5, 0, 20], [840, 240, 40, 840], 646.6059039824851, 0.5208604784563028),
        (
            [0, 0, 0, 1, 0],
            [20, 20, 20, 6, 20],
            [840, 840, 840, 280, 840],
            800.9488331967411,
            0.9635626961675161,
        ),
        ([0, 1, 0, 1, 1], [20, 0, 20, 9, 1], [840, 40, 840, 400, 80], 863.0, 0.9881297103344209),
    ],
    "study": [
        ([0, 0, 1, 0], [20, 20, 1, 20], [840, 840, 80, 840], 951.0, 0.5260852452319219),
        (
            [0, 0, 0, 1, 0],
            [20, 20, 20, 4, 20],
            [840, 840, 840, 200, 840],
            583.0,
            0.9721811205105377,
        ),
        ([0, 1, 0, 1, 1], [20, 1, 20, 6, 2], [840, 80, 840, 280, 120], 668.0, 0.9937211280727397),
    ],
}


@pytest.mark.parametrize("setting", ["default", "study"])
def test_stacked_pruned_copies_give_the_numbers_they_gave(setting):
    # pinned from the implementation before the pixel-line tracer kept its layers and buffers
    # (commit 119e07c): a study resumed with later code must give the same results, exactly
    net, x, y = stacked_pruned_net()
    options = {} if setting == "default" else dict(STUDY)
    options = {**options, "pop_size": 40, "max_iter": 20, "n_images": 5, "seed": 7}
    results = OnePixel(**options)(net, x, y)
    for result, (success, iterations, queries, pixel, confidence) in zip(
        results, PINNED_STACKED[setting]
    ):
        assert result.success.int().tolist() == success
        assert result.iterations.tolist() == iterations
        assert result.n_queries.tolist() == queries
        assert float(result.pixel.sum()) == pixel
        # the confidences come from a float32 forward pass, whose last bits depend on the
        # kernel MKL picks for the CPU (with AVX-512 they differ by 3e-8): the search's every
        # decision above is pinned exactly, its probabilities to float32 rounding
        assert float(result.confidence.sum()) == pytest.approx(confidence, rel=1e-6, abs=0)


def test_integer_candidates_are_integer_pixels_in_the_study_box():
    net, x, y = small_net()
    result = OnePixel(**{**STUDY, "max_iter": 10, "n_images": 6, "seed": 1})(net, x, y)
    pixel = result.pixel
    assert torch.equal(pixel, pixel.floor())
    assert pixel[:, :2].max() <= 27 and pixel[:, 2].max() <= 255 and pixel.min() >= 0
    flat = (pixel[:, 0] * 28 + pixel[:, 1]).long()
    changed = result.adv.reshape(len(flat), -1)[torch.arange(len(flat)), flat]
    torch.testing.assert_close(changed, (pixel[:, 2] / 255).float())


@pytest.mark.parametrize("path", ["lines", "rank1"])
def test_study_settings_agree_across_paths_and_repeat(path):
    net, x, y = small_net()
    settings = {**STUDY, "pop_size": 40, "max_iter": 12, "n_images": 6, "seed": 4}
    fast = OnePixel(**settings, path=path)(net, x, y)
    again = OnePixel(**settings, path=path)(net, x, y)
    full = OnePixel(**settings, path="full")(net, x, y)
    assert torch.equal(fast.pixel, again.pixel) and torch.equal(fast.iterations, again.iterations)
    assert torch.equal(fast.pixel, full.pixel) and torch.equal(fast.success, full.success)
    assert torch.equal(fast.iterations, full.iterations)


def test_study_settings_keep_each_image_on_its_own_stream():
    net, x, y = small_net()
    settings = {**STUDY, "pop_size": 20, "max_iter": 8, "n_images": None, "seed": 3}
    every = OnePixel(**settings)(net, x, y)
    part = OnePixel(**settings)(net, x[:20], y[:20])
    first = every.indices < 20
    assert torch.equal(part.indices, every.indices[first])
    assert torch.equal(part.pixel, every.pixel[first])


def test_best_early_stop_checks_the_fittest_after_each_generation():
    model = OneKnownPixel()
    with torch.no_grad():
        model.w.fill_(1.0)  # any pixel above 0.8 flips the image: the initial draw already does
    x, y = torch.zeros(2, 784), torch.zeros(2, dtype=torch.long)
    any_ = OnePixel(pop_size=50, max_iter=10, n_images=None)(model, x, y)
    best = OnePixel(pop_size=50, max_iter=10, n_images=None, early_stop="best")(model, x, y)
    assert any_.iterations.tolist() == [0, 0]
    # scipy's callback is not called on the initial population: the first check follows
    # generation 1
    assert best.success.all() and best.iterations.tolist() == [1, 1]
    assert best.n_queries.tolist() == [100, 100]
    initial = OnePixel(pop_size=50, max_iter=0, n_images=None, early_stop="best")(model, x, y)
    assert initial.success.all() and initial.iterations.tolist() == [0, 0]


def test_best_early_stop_ignores_a_fooling_candidate_that_is_not_the_fittest():
    model = Decoy()  # a bright bottom-half pixel is fitter than every adversarial candidate
    x, y = torch.zeros(2, 784), torch.zeros(2, dtype=torch.long)
    best = OnePixel(pop_size=50, max_iter=3, n_images=None, early_stop="best")(model, x, y)
    assert not best.success.any() and best.iterations.tolist() == [3, 3]


def test_resample_redraws_out_of_bounds_parameters_inside_the_box():
    seen = []

    def record(c):
        seen.append(c.clone())
        return c.sum(-1)  # pushes every parameter down, out of bounds

    for rule in ("clip", "resample"):
        seen.clear()
        de.minimize(record, seeds=[0, 1], pop_size=20, max_iter=10, out_of_bounds=rule)
        trials = torch.cat([c.reshape(-1, 3) for c in seen[1:]])
        assert (trials >= 0).all() and (trials <= torch.tensor([28.0, 28.0, 255.0])).all()
        at_zero = float((trials == 0).double().mean())
        assert at_zero > 0.3 if rule == "clip" else at_zero == 0


# -- the engine's exactness ------------------------------------------------------------------


def test_overwrite_first_is_the_study_copy_sequential_bookkeeping():
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        P = 8
        fitness = torch.randint(0, 5, (1, P), generator=g).double()
        fitness[0, 0] = fitness.min()  # member 0 holds the best at a generation's start
        trial = torch.randint(0, 5, (1, P), generator=g).double()
        pop = torch.arange(P, dtype=torch.float64).view(1, P, 1).repeat(1, 1, 3)
        trials = pop + 100
        # the sequential loop of the study's copy
        seq_pop, seq_fit = pop.clone(), fitness.clone()
        for c in range(P):
            if trial[0, c] < seq_fit[0, c]:
                seq_pop[0, c], seq_fit[0, c] = trials[0, c], trial[0, c]
                if trial[0, c] < seq_fit[0, 0]:
                    seq_pop[0, 0], seq_fit[0, 0] = trials[0, c], trial[0, c]
        better = trial < fitness
        new_pop = torch.where(better.unsqueeze(-1), trials, pop)
        new_fit = torch.where(better, trial, fitness)
        keys = new_pop.clone()
        de._overwrite_first(new_pop, new_fit, keys)
        assert torch.equal(new_pop, seq_pop) and torch.equal(new_fit, seq_fit)
        assert torch.equal(keys, seq_pop)


def test_choose_is_torch_where():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(4, 5, 3, generator=g, dtype=torch.float64), torch.randn(4, 5, 3).double()
    mask = torch.rand(4, 5, generator=g) < 0.5
    assert torch.equal(de._choose(mask, a, b), torch.where(mask.unsqueeze(-1), a, b))
    ai, bi = a.view(torch.int64), b.view(torch.int64)
    assert torch.equal(de._choose(mask, ai, bi), torch.where(mask.unsqueeze(-1), ai, bi))
    fa, fb = a.float(), b.float()  # other widths fall back to torch.where
    assert torch.equal(de._choose(mask, fa, fb), torch.where(mask.unsqueeze(-1), fa, fb))


@pytest.fixture
def torch_code(monkeypatch):
    """The search's torch code, not its compiled loops (those: tests/test_compiled.py)."""
    monkeypatch.setattr(_compiled, "native", None)


@pytest.mark.parametrize(
    "settings",
    [{}, {"strategy": "best1bin", "recombination": 0.5, "mutation": (0.4, 0.9)}, STUDY],
    ids=["default", "best1bin-dither", "study"],
)
def test_drawing_ahead_and_skipping_repeats_change_nothing(monkeypatch, torch_code, settings):
    net, x, y = small_net()
    options = {**settings, "pop_size": 30, "max_iter": 25, "n_images": 6, "seed": 6}
    reference = OnePixel(**options)(net, x, y)
    monkeypatch.setattr(de, "BLOCK_GENERATIONS", 1)  # numbers drawn one generation at a time
    monkeypatch.setattr(de, "REDRAW_GENERATIONS", 1)
    monkeypatch.setattr(de.DifferentialEvolution, "FULL_ABOVE", 2.0)  # every trial evaluated
    monkeypatch.setattr(Candidates, "DEDUPLICATE_FROM", 1 << 62)
    monkeypatch.setattr(de.DifferentialEvolution, "SPARSE_BELOW", 0.0)  # a full choice always
    plain = OnePixel(**options)(net, x, y)
    assert torch.equal(reference.pixel, plain.pixel)
    assert torch.equal(reference.iterations, plain.iterations)
    assert torch.equal(reference.confidence, plain.confidence)
    monkeypatch.setattr(de.DifferentialEvolution, "SPARSE_BELOW", 2.0)  # in place always
    in_place = OnePixel(**options)(net, x, y)
    assert torch.equal(reference.pixel, in_place.pixel)
    assert torch.equal(reference.confidence, in_place.confidence)


@pytest.mark.parametrize("selection", ["greedy", "strict", "study"])
def test_selection_in_place_equals_a_choice_over_every_member(monkeypatch, torch_code, selection):
    A, P = 5, 40
    g = torch.Generator().manual_seed(0)

    def state():
        population = torch.rand(A, P, 3, generator=g, dtype=torch.float64) * 27
        fitness = torch.randint(0, 4, (A, P), generator=g).double()  # many ties
        return de._as_planes(population), fitness, torch.randint(0, 10**6, (A, P), generator=g)

    parent, trial = state(), state()
    engine = de.DifferentialEvolution(de.Settings(pop_size=P, max_iter=1, selection=selection), [0])
    selected = []
    for sparse_below in (0.0, 2.0):  # a choice over every member; member by member in place
        monkeypatch.setattr(de.DifferentialEvolution, "SPARSE_BELOW", sparse_below)
        searches = de._Searches(torch.arange(A), [], None)
        searches.population, searches.fitness, searches.keys = (t.clone() for t in parent)
        assert engine._select(searches, *trial)
        selected.append((searches.population, searches.fitness, searches.keys))
    for by_choice, in_place in zip(*selected):
        assert torch.equal(by_choice, in_place)
    better = trial[1] <= parent[1] if selection == "greedy" else trial[1] < parent[1]
    if selection != "study":  # the study's bookkeeping then overwrites member 0
        for before, after, now in zip(parent, trial, selected[1]):
            mask = better if before.dim() == 2 else better.unsqueeze(-1)
            assert torch.equal(now, torch.where(mask, after, before))
    # nothing beats its parent: nothing is replaced, and the engine says so
    searches = de._Searches(torch.arange(A), [], None)
    searches.population, searches.fitness, searches.keys = (t.clone() for t in parent)
    worse = (trial[0], parent[1] + 1, trial[2])
    assert not engine._select(searches, *worse)
    assert torch.equal(searches.population, parent[0]) and torch.equal(searches.keys, parent[2])


def test_selection_in_place_gives_the_same_minimisation(monkeypatch, torch_code):
    target = torch.tensor([20.0, 6.0, 180.0], dtype=torch.float64)
    options = {"pop_size": 12, "max_iter": 30, "strategy": "best1bin", "selection": "study"}

    def distance(c):
        return (c - target).abs_().sum(-1)

    reference = de.minimize(distance, seeds=[0, 1, 2], **options)
    monkeypatch.setattr(de.DifferentialEvolution, "SPARSE_BELOW", 0.0)
    by_choice = de.minimize(distance, seeds=[0, 1, 2], **options)
    assert torch.equal(reference.best_fitness, by_choice.best_fitness)
    assert torch.equal(reference.population, by_choice.population)
    assert torch.equal(reference.fitness, by_choice.fitness)


def test_integer_key_is_the_decoded_pixel_and_intensity():
    from structrob.attacks._base import Runner
    from structrob.attacks._candidates import decode

    net, x, y = small_net()
    evaluator = Candidates(Runner(net), x, y, [torch.arange(2)], "full", 64, integer=True)
    g = torch.Generator().manual_seed(3)
    # inside the box, outside it on both sides, and on its integer edges
    candidates = torch.rand(2, 400, 3, generator=g, dtype=torch.float64) * 340 - 40
    candidates[0, :3] = torch.tensor([[0.0, 27.0, 255.0], [-0.0, 28.0, 256.0], [27.999, 0.5, 0.0]])
    for layout in (candidates, de._as_planes(candidates)):
        pixel, value = decode(layout, integer=True)
        expected = pixel * 256 + (value * 255).round().long()
        assert torch.equal(evaluator.key(layout), expected)
    edges = [27 * 256 + 255, 27 * 256 + 255, 27 * 28 * 256]
    assert evaluator.key(candidates)[0, :3].tolist() == edges


def test_kept_integer_fitness_equals_evaluating_again():
    net, x, y = small_net()
    from structrob.attacks._base import Runner

    evaluator = Candidates(Runner(net), x, y, [torch.arange(6)], "lines", 4096, integer=True)
    g = torch.Generator().manual_seed(2)
    candidates = torch.rand(6, 300, 3, generator=g, dtype=torch.float64)
    candidates = candidates * torch.tensor([27.0, 27.0, 255.0])
    candidates[:, 150:] = candidates[:, :150]  # every candidate twice
    rows = torch.arange(6)
    first, fooled = evaluator.fitness(rows, candidates, fooled=True)
    again, _ = evaluator.fitness(rows, candidates)
    direct, direct_fooled = evaluator._fitness(
        rows, *evaluator._from_key(evaluator.key(candidates)), True
    )
    assert torch.equal(first, direct) and torch.equal(again, direct)
    # a repeated candidate is offered for confirmation once, at its first position
    assert torch.equal(fooled[:, :150], direct_fooled[:, :150]) and not fooled[:, 150:].any()
    assert evaluator.n_evaluated <= 6 * 150 + 6 * 300
    assert not math.isnan(float(evaluator.memo.nansum()))


@pytest.mark.parametrize(("early_stop", "max_iter"), [("any", 4), ("best", 0)])
def test_resample_searches_can_stop_before_their_first_redraw(early_stop, max_iter):
    # image 0 is fooled by its initial population, image 1 by no one-pixel change: the first
    # search stops before any parameter was redrawn (this raised an IndexError)
    model = OneKnownPixel()
    with torch.no_grad():
        model.w.fill_(1.0)
    x, y = torch.zeros(2, 784), torch.tensor([0, 1])
    x[1] = 0.9
    settings = {**STUDY, "pop_size": 30, "n_images": None, "early_stop": early_stop}
    result = OnePixel(**{**settings, "max_iter": max_iter})(model, x, y)
    assert result.success.tolist() == [True, False]
    assert result.iterations.tolist() == [0, max_iter]
