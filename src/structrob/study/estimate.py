"""A study's cost before it runs: short timings of its first units, scaled to the whole plan.

``structrob run --dry-run`` samples the graphs and prints the plan with this estimate. Each
stage is timed on the study's own first unit of each arm, on this machine, with one torch
thread (a worker's setting): a few training batches, the attacks on a slice of their images or
generations, the graph properties; each timing is scaled linearly to the planned work and
divided by the number of workers. One-Pixel is timed at its worst case: its full budget (every
generation) on images that no one-pixel change fools (found with
:class:`~structrob.attacks.ExactOnePixel`), at two image counts, extrapolated linearly to the
planned images. A generation costs far more early in a search than late (integer candidates
are memoised, most trials repeat their parent's pixel), so the first generations alone would
overstate the stage several times over. The timed model has seen only a few training batches,
so its pixel lines cross more linear pieces than a trained model's: the One-Pixel figure is an
upper bound (about 3x the measured cost of the `paper` preset's graph units).
"""

from __future__ import annotations

import math
import time
from types import SimpleNamespace
from typing import Any

import torch

from structrob import data, properties, pruning
from structrob.attacks import ExactOnePixel
from structrob.study.attack_setup import build_attacks
from structrob.study.config import StudyConfig
from structrob.study.plan import Unit
from structrob.study.records import PriorSpec
from structrob.study.units import build_model
from structrob.train import fit

__all__ = ["STAGES", "describe_plan", "estimate_seconds"]

#: Stages of a unit, in the order a unit runs them.
STAGES = ("train", "fgsm", "min_fgsm", "onepixel", "pgd", "properties")

_TRAIN_BATCHES = 20  # timed training steps per arm
_ATTACK_IMAGES = 200  # images of the gradient attacks timed per arm
_DE_IMAGES = (3, 9)  # never-fooled images One-Pixel is timed on at its full budget
_DE_POOL = 200  # test images searched for them


def _timed(work: Any) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _unit_seconds(spec: Any, config: StudyConfig, mnist: Any) -> dict[str, float]:
    """Seconds of one unit of ``spec``'s arm, stage by stage, from short timings."""
    copies = len(spec.train.inits)
    net, dag, prior = build_model(spec, copies=copies)
    batch = spec.train.batch_size
    n_train = mnist.train_x.shape[0] if spec.train.train_images is None else spec.train.train_images
    subset = SimpleNamespace(
        train_x=mnist.train_x[: _TRAIN_BATCHES * batch],
        train_y=mnist.train_y[: _TRAIN_BATCHES * batch],
    )
    step = _timed(lambda: fit(net, subset, epochs=1, batch_size=batch)) / _TRAIN_BATCHES
    is_prior = isinstance(spec, PriorSpec)
    epochs = spec.train.epochs if is_prior or spec.step == 0 else spec.pruning.retrain_epochs
    seconds = {"train": step * math.ceil(n_train / batch) * epochs}
    x, y = mnist.test_x, mnist.test_y
    onepixel = _onepixel_seconds(spec, net, x, y)
    if onepixel is not None:
        seconds["onepixel"] = onepixel
    for name, attack in build_attacks(spec.attacks, spec.seed).items():
        if name == "onepixel":
            continue
        images = getattr(spec.attacks, name).images
        n = x.shape[0] if images is None else min(images, x.shape[0])
        k = min(_ATTACK_IMAGES, n)
        attack(net, x[:2], y[:2])  # warm-up: the first call's one-off set-up is not per image
        seconds[name] = _timed(lambda a=attack, k=k: a(net, x[:k], y[:k])) * n / k
    if is_prior:
        seconds["properties"] = _timed(lambda: properties.graph_properties(dag, prior))
    else:
        seconds["properties"] = _timed(lambda: properties.graph_properties(pruning.hidden_dag(net)))
        if spec.pruning.masks == "per_init":
            seconds["properties"] *= copies
    return seconds


def _onepixel_seconds(spec: Any, net: Any, x: Any, y: Any) -> float | None:
    """One-Pixel's worst case on ``net``'s copies: the full budget on never-fooled images."""
    settings = spec.attacks.onepixel
    if build_attacks(spec.attacks, spec.seed).get("onepixel") is None:
        return None
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    single = net.copy(0)  # the copies cost alike; time one and multiply
    pool = min(_DE_POOL, x.shape[0])
    exact = ExactOnePixel(seed=spec.seed, n_images=None)(single, x[:pool], y[:pool])
    hard = exact.indices[~exact.success]
    counts = sorted({min(k, len(hard)) for k in _DE_IMAGES} - {0})
    everything = settings.model_copy(update={"images": None})
    attack = build_attacks(spec.attacks.model_copy(update={"onepixel": everything}), spec.seed)
    timed = {
        k: _timed(lambda k=k: attack["onepixel"](single, x[hard[:k]], y[hard[:k]])) for k in counts
    }
    if not timed:  # every image of the pool is fooled by some pixel: nothing runs long
        return 0.0
    if len(timed) == 1:
        ((k, t),) = timed.items()
        per_image, fixed = t / k, 0.0
    else:
        (k1, t1), (k2, t2) = timed.items()
        per_image = max((t2 - t1) / (k2 - k1), 0.0)
        fixed = max(t1 - per_image * k1, 0.0)
    return (fixed + per_image * settings.images) * net.copies


def estimate_seconds(
    config: StudyConfig, units: list[Unit], data_root: str | None = None, workers: int = 1
) -> dict[str, float]:
    """Wall seconds the planned ``units`` would take, by stage, from short timings.

    Parameters
    ----------
    config : StudyConfig
    units : list of Unit
        The plan (:func:`structrob.study.plan.plan_units`).
    data_root : str, optional
        MNIST folder (as for a run).
    workers : int
        Worker processes the run will use; the stages' sums are divided by it.

    Returns
    -------
    dict
        Stage (:data:`STAGES` that the plan runs) -> estimated wall seconds, plus ``"total"``.

    Examples
    --------
    Timing trains a model for a few batches on MNIST, so it is not run here:

    >>> from structrob.study.config import load_preset
    >>> from structrob.study.plan import plan_units, sample_graphs
    >>> config = load_preset("quick")
    >>> units = plan_units(config, sample_graphs(config))  # doctest: +SKIP
    >>> sorted(estimate_seconds(config, units))  # doctest: +SKIP
    ['fgsm', 'min_fgsm', 'onepixel', 'pgd', 'properties', 'total', 'train']
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        mnist = data.load(config.dataset, root=data_root, download=True)
        totals: dict[str, float] = {}
        seen: dict[str, dict[str, float]] = {}
        for unit in units:
            spec = unit.spec
            key = "prior" if isinstance(spec, PriorSpec) else f"pruning-{min(spec.step, 1)}"
            if key not in seen:
                seen[key] = _unit_seconds(spec, config, mnist)
            for stage, seconds in seen[key].items():
                totals[stage] = totals.get(stage, 0.0) + seconds
    finally:
        torch.set_num_threads(threads)
    result = {stage: totals[stage] / max(workers, 1) for stage in STAGES if stage in totals}
    result["total"] = sum(result.values())
    return result


def describe_plan(
    config: StudyConfig, draws: list[Any], units: list[Unit], seconds: dict[str, float] | None
) -> str:
    """The plan of a study as text: units per arm, accepted graphs per generator value, cost.

    Parameters
    ----------
    config : StudyConfig
    draws : list of Draw
        Every sampled draw (:func:`structrob.study.plan.sample_graphs`).
    units : list of Unit
    seconds : dict or None
        :func:`estimate_seconds`, or None to leave the estimate out.

    Returns
    -------
    str

    Examples
    --------
    >>> from structrob.study.config import apply_overrides, load_preset
    >>> from structrob.study.plan import plan_units, sample_graphs
    >>> grid = ["graphs.grid.size=[30]", "graphs.grid.nei=[2]", "graphs.grid.p=[0.5, 0.9]"]
    >>> small = ["graphs.count=2", "graphs.min_parameters=0", *grid]
    >>> config = apply_overrides(load_preset("quick"), small)
    >>> draws = sample_graphs(config)
    >>> print(describe_plan(config, draws, plan_units(config, draws), None).splitlines()[0])
    plan: 8 units (2 graph priors, 6 pruning steps); 2 of 2 draws accepted
    """
    accepted = [d for d in draws if d.accepted]
    n_prior = sum(u.arm == "prior" for u in units)
    n_pruning = len(units) - n_prior
    lines = [
        f"plan: {len(units)} units ({n_prior} graph priors, {n_pruning} pruning steps); "
        f"{len(accepted)} of {len(draws)} draws accepted"
    ]
    if accepted:
        counts = [d.n_parameters for d in accepted]
        lines.append(f"  parameters of the accepted graphs: {min(counts):,} - {max(counts):,}")
    for key in config.graphs.grid:
        values = []
        for value in config.graphs.grid[key]:
            tried = [d for d in draws if d.params.get(key) == value]
            kept = sum(d.accepted for d in tried)
            values.append(f"{value}: {kept}/{len(tried)}")
        lines.append(f"  accepted / drawn per {key}: " + ", ".join(values))
    if seconds:
        stages = ", ".join(f"{k} {v / 60:.1f}" for k, v in seconds.items() if k != "total")
        lines.append(
            f"  estimated wall time: {seconds['total'] / 3600:.2f} h (minutes by stage: {stages})"
        )
    return "\n".join(lines)
