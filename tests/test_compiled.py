"""One-Pixel's compiled loops (``structrob/_native.c``) against the torch code: the same bits.

Every One-Pixel function of ``structrob._native`` replaces torch operations that stay in the
code as the fallback for an install without a C compiler. Each test runs the same computation
with the compiled loops and with ``_compiled.native`` set to ``None`` (the torch code) and
asserts equality bit for bit, on settings that reach every branch of the C code. (Training's
compiled input layer, whose fallback is equal to rounding only: ``tests/test_kernels.py``.)
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from structrob import _compiled
from structrob.attacks import ExactOnePixel, OnePixel
from structrob.attacks import _de as de
from structrob.graphs import to_dag, watts_strogatz
from structrob.model import RegionTracer, SparseDAGNet
from tests.nets import randomize, stacked_pruned_net
from tests.test_attacks_de import small_net, toy

STUDY = OnePixel.STUDY_SETTINGS
FIELDS = ("success", "pixel", "iterations", "confidence", "pred", "n_queries", "adv", "indices")


def test_the_compiled_loops_are_built():
    # optional for a user without a C compiler; this project's installs (make, CI) build it,
    # and a failed build must not pass unnoticed as the slower torch code
    assert _compiled.native is not None and _compiled.available()


def compiled_and_torch(monkeypatch, run):
    """``run()`` with the compiled loops, then with the torch code."""
    assert _compiled.native is not None
    with_c = run()
    with monkeypatch.context() as m:
        m.setattr(_compiled, "native", None)
        with_torch = run()
    return with_c, with_torch


def assert_same_results(a, b):
    for ra, rb in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
        for field in FIELDS:
            x, y = getattr(ra, field), getattr(rb, field)
            assert x.dtype == y.dtype and torch.equal(x, y), field


SETTINGS = {
    "default": {},  # rand1, clip, greedy, continuous candidates, any candidate stops
    "best1bin-crossover": {"strategy": "best1bin", "recombination": 0.3, "mutation": 0.8},
    "best1bin-dither-resample-strict": {
        "strategy": "best1bin",
        "recombination": 0.5,
        "mutation": (0.4, 0.9),
        "out_of_bounds": "resample",
        "selection": "strict",
    },
    "study": STUDY,
    "study-smallest-population": {**STUDY, "pop_size": 3},
    "rand1-integer-resample-study": {
        "integer_candidates": True,
        "out_of_bounds": "resample",
        "selection": "study",
        "pop_size": 4,
    },
    "rand1-dither-best-stop": {"early_stop": "best", "mutation": (0.5, 1.0)},
}


@pytest.mark.parametrize("path", ["lines", "rank1"])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_one_pixel_is_the_same_with_the_compiled_loops(monkeypatch, name, path):
    net, x, y = small_net()
    options = {"pop_size": 30, "max_iter": 25, "n_images": 8, "seed": 3, **SETTINGS[name]}
    options["path"] = path
    with_c, with_torch = compiled_and_torch(monkeypatch, lambda: OnePixel(**options)(net, x, y))
    assert_same_results(with_c, with_torch)


@pytest.mark.parametrize("setting", ["default", "study"])
def test_stacked_pruned_copies_are_the_same_with_the_compiled_loops(monkeypatch, setting):
    net, x, y = stacked_pruned_net()
    options = {} if setting == "default" else dict(STUDY)
    options = {**options, "pop_size": 40, "max_iter": 30, "n_images": 6, "seed": 11}
    options["path"] = "lines"
    with_c, with_torch = compiled_and_torch(monkeypatch, lambda: OnePixel(**options)(net, x, y))
    assert_same_results(with_c, with_torch)


def test_redraws_and_numbers_drawn_a_generation_at_a_time_change_nothing(monkeypatch):
    # the compiled trials reserve a generation's worst case of redraw numbers up front; drawn
    # one generation at a time (refilled at almost every generation) they are the same numbers
    net, x, y = small_net()
    options = {**STUDY, "pop_size": 30, "max_iter": 40, "n_images": 6, "seed": 5, "path": "lines"}
    reference = OnePixel(**options)(net, x, y)
    monkeypatch.setattr(de, "BLOCK_GENERATIONS", 1)
    monkeypatch.setattr(de, "REDRAW_GENERATIONS", 1)
    monkeypatch.setattr(de, "REDRAW_NUMBERS", 0)
    with_c, with_torch = compiled_and_torch(monkeypatch, lambda: OnePixel(**options)(net, x, y))
    assert_same_results(reference, with_c)
    assert_same_results(reference, with_torch)


def test_the_study_search_runs_every_compiled_loop(monkeypatch):
    # the fast path is taken only when the tensors' layouts allow it: a layout change that
    # silently sent the study's search back to the torch code would fail here
    calls: dict[str, int] = {}
    native = _compiled.native

    def counted(name):
        def call(*args):
            calls[name] = calls.get(name, 0) + 1
            return getattr(native, name)(*args)

        return call

    names = ("trials", "select", "integer_keys", "memo_lookup", "settle")
    monkeypatch.setattr(_compiled, "native", SimpleNamespace(**{n: counted(n) for n in names}))
    net, x, y = small_net()
    study = {**STUDY, "pop_size": 30, "max_iter": 10, "n_images": 4, "seed": 0, "path": "lines"}
    OnePixel(**study)(net, x, y)
    assert set(calls) == set(names), calls
    assert calls["trials"] == calls["select"] >= 10 - 1


def test_minimize_is_the_same_with_the_compiled_loops(monkeypatch):
    # a toy objective keyed by the candidate itself: compiled trials, torch selection
    options = {
        "pop_size": 20,
        "max_iter": 30,
        "strategy": "best1bin",
        "mutation": (0.5, 1.0),
        "recombination": 1.0,
        "integer_candidates": True,
        "out_of_bounds": "resample",
        "init": "uniform",
    }

    def run():
        return de.minimize(lambda c: torch.as_tensor(toy(c.numpy())), [0, 1, 2], **options)

    with_c, with_torch = compiled_and_torch(monkeypatch, run)
    for field in ("best_fitness", "best", "population", "fitness"):
        assert torch.equal(getattr(with_c, field), getattr(with_torch, field))


@pytest.mark.parametrize("selection", ["greedy", "strict", "study"])
def test_compiled_selection_is_the_torch_selection(monkeypatch, selection):
    A, P = 6, 40
    g = torch.Generator().manual_seed(1)

    def state():
        population = torch.rand(A, P, 3, generator=g, dtype=torch.float64) * 27
        fitness = torch.randint(0, 4, (A, P), generator=g).double()  # many ties
        fitness[0, 5] = math.inf
        return de._as_planes(population), fitness, torch.randint(0, 10**6, (A, P), generator=g)

    parent, trial = state(), state()
    engine = de.DifferentialEvolution(de.Settings(pop_size=P, max_iter=1, selection=selection), [0])

    def run():
        searches = de._Searches(torch.arange(A), [], None)
        searches.population, searches.fitness, searches.keys = (t.clone() for t in parent)
        replaced = engine._select(searches, *trial)
        return replaced, searches.population, searches.fitness, searches.keys

    with_c, with_torch = compiled_and_torch(monkeypatch, run)
    assert with_c[0] is with_torch[0] is True
    for a, b in zip(with_c[1:], with_torch[1:]):
        assert torch.equal(a, b)


def test_compiled_integer_keys_are_the_torch_keys(monkeypatch):
    from structrob.attacks._base import Runner
    from structrob.attacks._candidates import Candidates

    net, x, y = small_net()
    evaluator = Candidates(Runner(net), x, y, [torch.arange(2)], "full", 64, integer=True)
    g = torch.Generator().manual_seed(3)
    # inside the box, outside it on both sides, on its integer edges, and just below them
    candidates = torch.rand(2, 500, 3, generator=g, dtype=torch.float64) * 340 - 40
    candidates[0, :6] = torch.tensor(
        [
            [0.0, 27.0, 255.0],
            [-0.0, 28.0, 256.0],
            [27.999, 0.5, 0.0],
            [-0.5, -1e-300, 254.99999999999997],
            [1e300, -1e300, 1e19],
            [26.999999999999996, 3.0, 1.0],
        ]
    )
    planes = de._as_planes(candidates)
    with_c, with_torch = compiled_and_torch(monkeypatch, lambda: evaluator.key(planes))
    assert torch.equal(with_c, with_torch)


def _tracer_inputs(net, B, seed):
    g = torch.Generator().manual_seed(seed)
    pre0 = torch.randn(net.copies, B, net.offsets[1], generator=g, dtype=torch.float64)
    direction = torch.randn(net.copies, B, net.offsets[1], generator=g, dtype=torch.float64)
    pre0[:, ::7] = 0.0  # exact zeros: the 0/0 and -inf quotients
    direction[:, ::5, ::2] = 0.0
    pre0[:, 3:4, 0] = -0.0  # a negative zero (when B > 3)
    return pre0, direction


@pytest.mark.parametrize("dense", [False, True])
def test_compiled_tracer_step_is_the_torch_step(monkeypatch, dense):
    dag = to_dag(watts_strogatz(60, 2, 0.9, seed=5))
    net = randomize(SparseDAGNet(dag, n_in=7, n_out=4, copies=3).double(), seed=2)
    net.split_masks()
    with torch.no_grad():
        net.remove_edges(net.hidden_edges(copy=1)[::3], copy=1)
    for B in (33, 128, 1, 0):
        pre0, direction = _tracer_inputs(net, B, seed=B)

        def run(pre0=pre0, direction=direction):
            return RegionTracer(net, torch.float64, dense=dense)(pre0, direction)

        with_c, with_torch = compiled_and_torch(monkeypatch, run)
        for a, b in zip(with_c, with_torch):
            assert a.shape == b.shape and torch.equal(a.view(torch.int64), b.view(torch.int64))


def test_exact_one_pixel_is_the_same_with_the_compiled_loops(monkeypatch):
    net, x, y = stacked_pruned_net()
    with_c, with_torch = compiled_and_torch(
        monkeypatch, lambda: ExactOnePixel(seed=0, n_images=5)(net, x, y)
    )
    assert_same_results(with_c, with_torch)
