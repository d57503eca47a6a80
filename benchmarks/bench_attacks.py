"""Speed of the study's attacks against the way they are usually run, on one trained model.

Every ratio is measured in one run, on the same trained study-range network and the same images:

1. One-Pixel at the study's budget (population 500, 500 generations, 100 images):
   structrob's batched DE (all images' populations in one batch per generation, fooled images
   dropped) with its default evaluation path (``path="auto"``: the exact pixel-line tables) and
   with the rank-1 first-layer path (a forward pass per candidate, the previous default), against
   the usual recipe, one DE per image with the population batched through a full forward pass
   (scipy's ``differential_evolution``,
   vectorised, DE/rand/1 with F = 0.5 and no crossover, stopped when the best candidate fools
   the model, as in Su et al.'s code). The baseline runs on the first ``--baseline-images`` of
   the same 100 images at the full budget; its time per model is extrapolated linearly to 100
   images (stated in the output). The worst case per model (no early stop) is measured on
   images that no search fooled, repeated to 100, run at the full budget (the fastest of two
   runs; an image its own stream happens to fool stops early and is counted).
   Finally the study's case: a model of six stacked copies attacked in one call, per model.
2. Minimal-eps FGSM on the 10,000 test images: structrob (only images not yet fooled, several
   eps per pass) against re-predicting the whole batch at every eps of the grid, from the same
   gradient signs; the per-image eps must be identical.

3. ``--worst-case`` (alone): One-Pixel's worst case at the study's budget, on one thread. A
   Watts-Strogatz (400, nei 2, p 0.9) network trained 2 epochs; 100 clean-correct test images
   that NO one-pixel change fools (:class:`ExactOnePixel`), so every image runs all 500
   generations; seconds per model (100 images) for the continuous rand1 default (population
   500) and for the study's own procedure (``OnePixel.STUDY_SETTINGS``: best1bin, dithered F,
   integer candidates, population 498 as the study's 500 ran), and the line tracing alone.
   ``--against REV`` also times the One-Pixel of git revision REV (its ``attacks`` package and
   its ``model.py``, loaded beside this one, the model holding the same weights) on the same
   images, both settings, in alternation (the line tracing too), and checks that the results
   are identical. With the compiled loops built (``structrob/_native.c``), both full searches
   and the line tracing also run with the torch code in their place, in the same alternation,
   and the results are checked identical. CPU time of the process is reported with the wall
   time: on a shared machine it moves less with the load.

Usage::

    STRUCTROB_DATA=/path/to/mnist python benchmarks/bench_attacks.py [--quick]
    STRUCTROB_DATA=/path/to/mnist python benchmarks/bench_attacks.py --worst-case [--against REV]

Prints a markdown table and writes JSON to ``benchmarks/results/attacks.json``
(``attacks_worst_case.json`` for ``--worst-case``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import differential_evolution

from structrob import _compiled
from structrob.attacks import ExactOnePixel, MinimalFGSM, OnePixel, eps_grid
from structrob.attacks._base import Runner
from structrob.attacks._candidates import Candidates
from structrob.data import load
from structrob.graphs import to_dag, watts_strogatz
from structrob.model import INIT_SCHEMES, SparseDAGNet, initialize
from structrob.train import evaluate, fit

SIDE = 28


def study_model(
    graph_seed: int, epochs: int, limit: int | None, copies: int = 1
) -> tuple[SparseDAGNet, dict]:
    """A Watts-Strogatz (500, nei 2, p 0.9) network of the study's parameter range, trained."""
    data = load("mnist", download=False)
    net = initialize(
        SparseDAGNet(to_dag(watts_strogatz(500, 2, 0.9, seed=graph_seed)), copies=copies),
        list(INIT_SCHEMES[:copies]) if copies > 1 else "glorot_uniform",
        seed=0,
    )
    train = (
        data
        if limit is None
        else type("Subset", (), {"train_x": data.train_x[:limit], "train_y": data.train_y[:limit]})
    )
    start = time.perf_counter()
    fit(net, train, epochs=epochs, batch_size=128, lr=1e-3, seed=0)
    seconds = time.perf_counter() - start
    metrics = evaluate(net, data.test_x, data.test_y)[0]
    info = {
        "graph": f"watts_strogatz(500, 2, 0.9, seed={graph_seed})",
        "parameters": net.count_parameters(),
        "layers": net.n_layers,
        "sources": net.layer_sizes[0],
        "epochs": epochs,
        "train_seconds": round(seconds, 2),
        "test_accuracy": metrics["accuracy"],
    }
    return net.eval(), {**info, "test_x": data.test_x, "test_y": data.test_y}


# -- One-Pixel baseline: one scipy DE per image, population through a full forward pass ---------


@torch.no_grad()
def scipy_one_pixel(
    net, image: torch.Tensor, label: int, pop_size: int, max_iter: int, seed: int
) -> tuple[bool, float]:
    """Su et al.'s recipe with scipy: returns (fooled, seconds)."""
    rng = np.random.default_rng(seed)
    init = np.column_stack(
        [rng.uniform(0, SIDE, (pop_size, 2)), np.clip(rng.normal(128, 127, pop_size), 0, 255)]
    )

    def perturbed(candidates: np.ndarray) -> torch.Tensor:  # candidates [S, 3]
        rows = np.clip(np.floor(candidates[:, 0]), 0, SIDE - 1).astype(np.int64)
        cols = np.clip(np.floor(candidates[:, 1]), 0, SIDE - 1).astype(np.int64)
        images = image.repeat(len(candidates), 1)
        images[np.arange(len(candidates)), rows * SIDE + cols] = torch.as_tensor(
            candidates[:, 2] / 255, dtype=images.dtype
        )
        return images

    def true_class_probability(xs: np.ndarray) -> np.ndarray:  # xs [3, S]
        return torch.softmax(net(perturbed(xs.T)).double(), 1)[:, label].numpy()

    def fooled(candidate: np.ndarray) -> bool:
        return int(net(perturbed(candidate[None])).argmax(1)) != label

    def stop_when_fooled(intermediate_result) -> bool:
        return fooled(intermediate_result.x)

    start = time.perf_counter()
    result = differential_evolution(
        true_class_probability,
        [(0, SIDE), (0, SIDE), (0, 255)],
        strategy="rand1bin",
        maxiter=max_iter,
        init=init,
        mutation=0.5,
        recombination=1.0,
        seed=seed,
        polish=False,
        tol=0,
        atol=-1,
        vectorized=True,
        updating="deferred",
        callback=stop_when_fooled,
    )
    return fooled(result.x), time.perf_counter() - start


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


LOAD: dict[str, tuple[float, float, float]] = {}  # load average before each measurement


def note_load(name: str) -> None:
    """Other processes on the machine slow every timing: keep the load next to the figures."""
    LOAD[name] = os.getloadavg()


def bench_one_pixel(net, x, y, args) -> dict:
    pop, iters, n_images = args.pop_size, args.max_iter, args.n_images
    note_load("one_pixel_structrob")
    attack = OnePixel(pop_size=pop, max_iter=iters, seed=0, n_images=n_images)
    ours, t_ours = timed(lambda: attack(net, x, y))
    note_load("one_pixel_rank1")
    rank1, t_rank1 = timed(
        lambda: OnePixel(pop_size=pop, max_iter=iters, seed=0, n_images=n_images, path="rank1")(
            net, x, y
        )
    )
    same_outcome = int(((ours.success == rank1.success) & (ours.pixel == rank1.pixel).all(1)).sum())
    note_load("one_pixel_exact")
    exact, t_exact = timed(lambda: ExactOnePixel(seed=0, n_images=n_images)(net, x, y))
    assert torch.equal(exact.indices, ours.indices)
    unfooled = ~exact.success & ~ours.success
    chosen = ours.indices
    m = min(args.baseline_images, len(chosen))
    base_fooled, base_seconds = [], []
    note_load("one_pixel_baseline")
    for i in chosen[:m].tolist():
        fooled, seconds = scipy_one_pixel(net, x[i], int(y[i]), pop, iters, seed=i)
        base_fooled.append(fooled)
        base_seconds.append(seconds)
    t_base_model = float(np.mean(base_seconds)) * len(chosen)

    # worst case: images nothing fooled, repeated to n_images, the full budget (no early stop
    # unless their own streams fool one, which is counted); the fastest of two runs
    hard = chosen[~ours.success]
    worst = {"measured": False}
    if len(hard):
        repeat = hard.repeat(math.ceil(len(chosen) / len(hard)))[: len(chosen)]
        note_load("one_pixel_worst_case")
        worst_attack = OnePixel(
            pop_size=pop, max_iter=iters, seed=0, n_images=None, path=attack.resolve_path(net)
        )
        times, fooled = [], []
        for _ in range(2):
            res, t = timed(lambda: worst_attack(net, x[repeat], y[repeat]))
            times.append(t)
            fooled.append(int(res.success.sum()))
        worst = {
            "measured": True,
            "images": len(repeat),
            "distinct_images": len(hard),
            "seconds_per_run": times,
            "fooled_during_measurement": fooled,
            "mean_generations": float(res.iterations.float().mean()),
            "seconds_per_model": min(times),
        }
    base_hard = [s for s, f in zip(base_seconds, base_fooled) if not f]
    return {
        "budget": {"pop_size": pop, "max_iter": iters, "images": len(chosen)},
        "structrob": {
            "path": attack.resolve_path(net),
            "seconds_per_model": t_ours,
            "success_rate": float(ours.success.float().mean()),
            "success_on_baseline_images": float(ours.success[:m].float().mean()),
            "mean_generations": float(ours.iterations.float().mean()),
        },
        "structrob_rank1": {
            "seconds_per_model": t_rank1,
            "success_rate": float(rank1.success.float().mean()),
            "same_outcome_as_default_path": same_outcome,
        },
        "exact": {
            "seconds_per_model": t_exact,
            "success_rate": float(exact.success.float().mean()),
            "de_successes_also_exact": int((exact.success & ours.success).sum()),
            "mean_piece_ends_per_image": float(exact.n_queries.float().mean()),
            "unfooled_mean_true_probability_exact": float(exact.confidence[unfooled].mean()),
            "unfooled_mean_true_probability_de": float(ours.confidence[unfooled].mean()),
        },
        "baseline": {
            "images_run": m,
            "seconds_on_those": float(np.sum(base_seconds)),
            "seconds_per_model_extrapolated": t_base_model,
            "success_rate_on_those": float(np.mean(base_fooled)),
            "worst_case_seconds_per_model": float(np.mean(base_hard)) * len(chosen)
            if base_hard
            else None,
        },
        "speedup": t_base_model / t_ours,
        "speedup_rank1": t_base_model / t_rank1,
        "worst_case": worst,
    }


def bench_stacked(graph_seed: int, epochs: int, limit: int | None, args, copies: int = 6) -> dict:
    """The study's unit: six stacked copies attacked in one call; seconds per model."""
    net, info = study_model(graph_seed, epochs, limit, copies=copies)
    x, y = info.pop("test_x"), info.pop("test_y")
    note_load("one_pixel_stacked")
    results, seconds = timed(
        lambda: OnePixel(
            pop_size=args.pop_size, max_iter=args.max_iter, seed=0, n_images=args.n_images
        )(net, x, y)
    )
    return {
        "copies": copies,
        "seconds": seconds,
        "seconds_per_model": seconds / copies,
        "success_rates": [float(r.success.float().mean()) for r in results],
    }


# -- minimal-eps FGSM baseline: re-predict the whole batch at every eps --------------------------


@torch.no_grad()
def minimal_eps_every_eps(net, x, y, batch_size: int) -> np.ndarray:
    """The minimal eps by re-predicting the whole batch at every eps of the grid.

    The gradient signs come from ``MinimalFGSM.gradient_sign`` (internal API for benchmarks),
    so both searches walk the same directions and must give identical eps.
    """
    grid = eps_grid()
    directions = MinimalFGSM(batch_size=batch_size)
    eps = np.full(len(x), np.nan)
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        sign, correct = directions.gradient_sign(net, xb, yb)
        first = torch.full((len(xb),), -1)
        for k, value in enumerate(torch.as_tensor(grid, dtype=x.dtype)):
            fooled = (net((xb + value * sign).clamp(0, 1)).argmax(1) != yb) & correct & (first < 0)
            first[fooled] = k
        eps[start : start + len(xb)] = np.where(
            first.numpy() >= 0, grid[first.clamp(min=0).numpy()], np.nan
        )
    return eps


def bench_minimal_eps(net, x, y, repeats: int) -> dict:
    ours_t, base_t = [], []
    note_load("minimal_eps")
    for _ in range(repeats):  # interleaved, so both see the same machine load
        ours, t = timed(lambda: MinimalFGSM()(net, x, y))
        ours_t.append(t)
        base, t = timed(lambda: minimal_eps_every_eps(net, x, y, 1000))
        base_t.append(t)
    ours_eps = ours.eps.numpy()
    same = np.array_equal(ours_eps, base, equal_nan=True)
    return {
        "images": len(x),
        "structrob_seconds": float(np.median(ours_t)),
        "baseline_seconds": float(np.median(base_t)),
        "speedup": float(np.median(base_t) / np.median(ours_t)),
        "identical_eps": bool(same),
        "mismatches": int((~np.isclose(ours_eps, base, equal_nan=True)).sum()),
        "censored": int(ours.measures()["n_censored"]),
        "avg_eps": ours.measures()["avg_eps"],
    }


# -- One-Pixel's worst case on one thread -------------------------------------------------------


def attacks_of_revision(rev: str, into: Path):
    """The ``OnePixel`` and ``SparseDAGNet`` of git revision ``rev``: its
    ``src/structrob/attacks`` exported into ``into`` as package ``structrob_attacks_<rev>``
    (imports of ``structrob.attacks`` renamed) and its ``src/structrob/model.py`` as module
    ``structrob_model_<rev>`` (the pixel-line tracing runs in the model); the rest of structrob
    is this checkout's."""
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", rev, "src/structrob/attacks", "src/structrob/model.py"],
        check=True,
        capture_output=True,
    ).stdout
    tag = "".join(c if c.isalnum() else "_" for c in rev)
    name, model_name = f"structrob_attacks_{tag}", f"structrob_model_{tag}"
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    package = into / name
    (into / "src/structrob/attacks").rename(package)
    (into / "src/structrob/model.py").rename(into / f"{model_name}.py")
    for path in package.glob("*.py"):
        path.write_text(path.read_text().replace("structrob.attacks", name))
    sys.path.insert(0, str(into))
    return importlib.import_module(name).OnePixel, importlib.import_module(model_name).SparseDAGNet


def bench_worst_case(args) -> dict:
    torch.set_num_threads(1)
    data = load("mnist", download=False)
    net = initialize(
        SparseDAGNet(to_dag(watts_strogatz(400, 2, 0.9, seed=args.graph_seed))),
        "glorot_uniform",
        seed=0,
    )
    fit(net, data, epochs=2, batch_size=128, lr=1e-3, seed=0)
    net.eval()
    accuracy = evaluate(net, data.test_x, data.test_y)[0]["accuracy"]
    exact = ExactOnePixel(seed=0, n_images=args.pool)(net, data.test_x, data.test_y)
    hard = exact.indices[~exact.success][: args.n_images]
    if len(hard) < args.n_images:
        raise SystemExit(f"only {len(hard)} unfoolable images among {args.pool}; raise --pool")
    x, y = data.test_x[hard], data.test_y[hard]

    compiled = _compiled.native

    def tracing(model=net, candidates=Candidates, runner=Runner, loops=compiled) -> float:
        _compiled.native = loops
        try:
            with torch.no_grad():
                start = time.process_time()
                candidates(runner(model), x, y, [torch.arange(len(x))], "lines", 8192)
                return time.process_time() - start
        finally:
            _compiled.native = compiled

    study = {**OnePixel.STUDY_SETTINGS, "n_images": None, "seed": 0}
    default = {"pop_size": 500, "max_iter": 500, "n_images": None, "seed": 0}
    names = {"rand1 (default)": default, "study (best1bin integer)": study}
    variants = {name: (net, OnePixel(**options)) for name, options in names.items()}
    # the same searches, skipping the images the line tables prove no candidate fools
    skips = {f"{name}, skip_proven": name for name in names}
    for name, of in skips.items():
        variants[name] = (net, OnePixel(**names[of], skip_proven=True))
    # the same full searches with the torch code in place of the compiled loops
    # (structrob/_native.c): the baseline of the loops' speed-up, in the same alternation
    torch_code = {f"{name}, torch code": name for name in names} if compiled else {}
    for name, of in torch_code.items():
        variants[name] = variants[of]
    before: dict[str, str] = {}  # the name of each setting's run at REV
    with tempfile.TemporaryDirectory() as tmp:
        if args.against:
            Before, BeforeNet = attacks_of_revision(args.against, Path(tmp))
            # the same weights in REV's model class: its linear_region traces the lines
            old_net = BeforeNet(to_dag(watts_strogatz(400, 2, 0.9, seed=args.graph_seed)))
            old_net.load_state_dict(net.state_dict())
            old_net.eval()
            earlier = {}
            for name, options in names.items():
                before[name] = f"{name} at {args.against}"
                earlier[before[name]] = (old_net, Before(**options))
            variants = {**earlier, **variants}
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        results = {}
        note_load("worst_case")
        for _ in range(args.rounds):  # in alternation, so all see the same machine load
            for name, (model, attack) in variants.items():
                _compiled.native = None if name in torch_code else compiled
                wall, cpu = time.perf_counter(), time.process_time()
                results[name] = attack(model, x, y)
                times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
                _compiled.native = compiled
        traces: dict[str, list[float]] = {"now": [], "before": [], "torch_code": []}
        for _ in range(args.rounds):
            traces["now"].append(tracing())
            if compiled:
                traces["torch_code"].append(tracing(loops=None))
            if args.against:
                package = Before.__module__.rsplit(".", 1)[0]
                traces["before"].append(
                    tracing(
                        old_net,
                        importlib.import_module(f"{package}._candidates").Candidates,
                        importlib.import_module(f"{package}._base").Runner,
                    )
                )
        trace = min(traces["now"])
        # the study's own case: its first 100 clean-correct test images of the seeded order
        # (most of them unfoolable), the study's search with and without skip_proven
        typical: dict[str, list[tuple[float, float]]] = {"full": [], "skip_proven": []}
        typical_results = {}
        for _ in range(args.rounds):
            for name, skip in (("full", False), ("skip_proven", True)):
                attack = OnePixel(**{**study, "n_images": 100}, skip_proven=skip)
                wall, cpu = time.perf_counter(), time.process_time()
                typical_results[name] = attack(net, data.test_x, data.test_y)
                typical[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    report: dict = {
        "model": f"to_dag(watts_strogatz(400, 2, 0.9, seed={args.graph_seed})), 2 epochs",
        "test_accuracy": accuracy,
        "images": len(hard),
        "exact_pool": args.pool,
        "exact_fooled_in_pool": int(exact.success.sum()),
        "tracing_cpu_seconds": trace,
        "tracing_cpu_seconds_before": min(traces["before"]) if traces["before"] else None,
        "tracing_cpu_seconds_torch_code": (
            min(traces["torch_code"]) if traces["torch_code"] else None
        ),
        "compiled_loops": compiled is not None,
        "tracing_runs": traces,
        "threads": torch.get_num_threads(),
        "load_average_end": os.getloadavg(),
        "variants": {},
    }
    for name, measured in times.items():
        result = results[name]
        report["variants"][name] = {
            "seconds_per_model": min(w for w, _ in measured),
            "cpu_seconds_per_model": min(c for _, c in measured),
            "runs": measured,
            "fooled": int(result.success.sum()),
            "mean_generations": float(result.iterations.float().mean()),
        }
    report["skip_proven_same_successes"] = {}
    for name, of in skips.items():
        full, skip = results[of], results[name]
        report["skip_proven_same_successes"][name] = {
            "success": bool(torch.equal(full.success, skip.success)),
            "skipped": int(((skip.iterations == 0) & ~skip.success).sum()),
        }
    full, skip = typical_results["full"], typical_results["skip_proven"]
    hit = full.success
    report["study_images"] = {
        "images": len(full.indices),
        "fooled": int(hit.sum()),
        "skipped": int(((skip.iterations == 0) & ~skip.success).sum()),
        "seconds": {name: min(w for w, _ in runs) for name, runs in typical.items()},
        "cpu_seconds": {name: min(c for _, c in runs) for name, runs in typical.items()},
        "runs": typical,
        "measures": {"full": full.measures(), "skip_proven": skip.measures()},
        # every success, field by field, and the same successes
        "same_successes": bool(torch.equal(full.success, skip.success))
        and all(
            torch.equal(getattr(full, field)[hit], getattr(skip, field)[hit])
            for field in ("pixel", "iterations", "confidence", "pred", "n_queries")
        ),
    }
    # every field of every image, the compiled loops against the torch code
    report["compiled_same_as_torch_code"] = {
        of: all(
            torch.equal(getattr(results[of], field), getattr(results[name], field))
            for field in ("success", "pixel", "iterations", "confidence", "pred", "n_queries")
        )
        for name, of in torch_code.items()
    }
    report["same_as_before"] = {}
    for name, earlier in before.items():
        old, new = results[earlier], results[name]
        report["same_as_before"][name] = {
            "success": bool(torch.equal(old.success, new.success)),
            "same_pixel": int((old.pixel == new.pixel).all(1).sum()),
            "max_confidence_difference": float((old.confidence - new.confidence).abs().max()),
            # exactly equal, field by field (a resumed study must give the same numbers)
            "identical": all(
                torch.equal(getattr(old, field), getattr(new, field))
                for field in ("success", "pixel", "iterations", "confidence", "pred", "n_queries")
            ),
        }
    return report


def print_worst_case(report: dict) -> None:
    print(
        f"{report['model']}, test accuracy {report['test_accuracy']:.4f}; "
        f"{report['images']} images no one-pixel change fools (exact search fooled "
        f"{report['exact_fooled_in_pool']} of {report['exact_pool']}); "
        f"{report['threads']} thread\n"
    )
    print("| One-Pixel worst case, 500 generations | s per model | CPU s | fooled | generations |")
    print("|---|---|---|---|---|")
    for name, v in report["variants"].items():
        print(
            f"| {name} | {v['seconds_per_model']:.2f} | {v['cpu_seconds_per_model']:.2f} "
            f"| {v['fooled']} | {v['mean_generations']:.0f} |"
        )
    print(f"| line tracing alone (part of every row) | | {report['tracing_cpu_seconds']:.2f} | | |")
    if report.get("tracing_cpu_seconds_torch_code") is not None:
        t = report["tracing_cpu_seconds_torch_code"]
        print(f"| line tracing alone, torch code | | {t:.2f} | | |")
    if report.get("tracing_cpu_seconds_before") is not None:
        print(f"| line tracing at REV | | {report['tracing_cpu_seconds_before']:.2f} | | |")
    for name, same in report.get("compiled_same_as_torch_code", {}).items():
        print(f"\n{name}: compiled loops and torch code give identical results: {same}")
    for name, same in report.get("skip_proven_same_successes", {}).items():
        print(f"\n{name}: same successes as without {same['success']}, {same['skipped']} skipped")
    if "study_images" in report:
        t = report["study_images"]
        print(
            f"\nthe study's 100 images, study search: CPU s {t['cpu_seconds']['full']:.2f} full, "
            f"{t['cpu_seconds']['skip_proven']:.2f} with skip_proven ({t['skipped']} skipped, "
            f"{t['fooled']} fooled); every success identical {t['same_successes']}; measures "
            f"{t['measures']['full']} vs {t['measures']['skip_proven']}"
        )
    for name, same in report.get("same_as_before", {}).items():
        print(
            f"\n{name} before vs now: identical results {same['identical']}; same successes "
            f"{same['success']}, same pixel on {same['same_pixel']} of {report['images']} "
            f"images, largest confidence difference {same['max_confidence_difference']:.2e}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small budget, few images")
    parser.add_argument("--graph-seed", type=int, default=2)
    parser.add_argument("--baseline-images", type=int, default=10)
    parser.add_argument("--out", default=None, help="JSON path (default: benchmarks/results/)")
    parser.add_argument(
        "--worst-case", action="store_true", help="only One-Pixel's worst case on one thread"
    )
    parser.add_argument("--against", default=None, help="with --worst-case: also time git REV")
    parser.add_argument("--rounds", type=int, default=2, help="with --worst-case: runs each")
    parser.add_argument("--pool", type=int, default=400, help="images ExactOnePixel screens")
    args = parser.parse_args()
    results = Path(__file__).parent / "results"
    if args.worst_case:
        args.n_images = 100
        report = bench_worst_case(args)
        out = Path(args.out or results / "attacks_worst_case.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        print_worst_case(report)
        print(f"JSON written to {out}")
        return
    args.out = args.out or str(results / "attacks.json")
    if args.quick:
        args.pop_size, args.max_iter, args.n_images, args.baseline_images = (
            100,
            20,
            20,
            min(args.baseline_images, 3),
        )
        epochs, limit, n_fgsm, repeats = 1, 10_000, 2_000, 1
    else:
        args.pop_size, args.max_iter, args.n_images = 500, 500, 100
        epochs, limit, n_fgsm, repeats = 1, None, 10_000, 3
    torch.manual_seed(0)
    if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
        load = os.getloadavg()[0]
        print(f"warning: load average {load:.1f} on {os.cpu_count()} CPUs; timings will be noisy\n")
    net, info = study_model(args.graph_seed, epochs, limit)
    x, y = info.pop("test_x"), info.pop("test_y")
    one_pixel = bench_one_pixel(net, x, y, args)
    min_eps = bench_minimal_eps(net, x[:n_fgsm], y[:n_fgsm], repeats)
    stacked = bench_stacked(args.graph_seed, epochs, limit, args)
    report = {
        "quick": args.quick,
        "model": info,
        "one_pixel": one_pixel,
        "one_pixel_stacked": stacked,
        "minimal_eps_fgsm": min_eps,
        "machine": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_before": LOAD,
            "load_average_end": os.getloadavg(),
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))

    op, me, wc = one_pixel, min_eps, one_pixel["worst_case"]
    b = op["budget"]
    print(
        f"model: {info['graph']}, {info['parameters']} parameters, {info['layers']} layers, "
        f"test accuracy {info['test_accuracy']:.4f} after {epochs} epoch(s)\n"
    )
    print("| measurement | structrob | baseline | ratio |")
    print("|---|---|---|---|")
    ours, rank1, base = op["structrob"], op["structrob_rank1"], op["baseline"]
    print(
        f"| One-Pixel, pop {b['pop_size']}, {b['max_iter']} generations, {b['images']} images: "
        f"s per model ({ours['path']} path) | {ours['seconds_per_model']:.1f} "
        f"| {base['seconds_per_model_extrapolated']:.1f} (from {base['images_run']} images) "
        f"| {op['speedup']:.1f}x |"
    )
    print(
        f"| One-Pixel, rank-1 path: s per model | {rank1['seconds_per_model']:.1f} | | "
        f"{op['speedup_rank1']:.1f}x |"
    )
    print(
        f"| One-Pixel, {stacked['copies']} stacked copies in one call: s per model "
        f"| {stacked['seconds_per_model']:.1f} | | |"
    )
    ex = op["exact"]
    print(
        "| Exact one-pixel search (ExactOnePixel), same images: s per model "
        f"| {ex['seconds_per_model']:.1f} | | |"
    )
    print(
        f"| Success rate: exact (true one-pixel error rate) vs DE | {ex['success_rate']:.2f} vs "
        f"{ours['success_rate']:.2f} | | |"
    )
    print(
        "| Unfooled images, mean lowest true-class probability: exact vs DE | "
        f"{ex['unfooled_mean_true_probability_exact']:.6f} vs "
        f"{ex['unfooled_mean_true_probability_de']:.6f} | | |"
    )
    print(
        "| Same outcome (success and pixel) on both paths "
        f"| {rank1['same_outcome_as_default_path']} of {b['images']} images | | |"
    )
    print(
        f"| One-Pixel success rate (on the baseline's images) | {ours['success_rate']:.2f} "
        f"({ours['success_on_baseline_images']:.2f}) | ({base['success_rate_on_those']:.2f}) | |"
    )
    worst_base = base["worst_case_seconds_per_model"]
    if wc["measured"]:
        worst_ours = wc["seconds_per_model"]
        base_text = "n/a" if worst_base is None else f"{worst_base:.1f}"
        ratio_text = "" if worst_base is None else f"{worst_base / worst_ours:.1f}x"
        print(
            "| One-Pixel worst case (no early stop): s per model "
            f"| {worst_ours:.1f} | {base_text} | {ratio_text} |"
        )
    print(
        f"| Minimal-eps FGSM, {me['images']} images: s | {me['structrob_seconds']:.2f} "
        f"| {me['baseline_seconds']:.2f} | {me['speedup']:.1f}x |"
    )
    print(
        f"| Minimal-eps identical per image | {me['identical_eps']} "
        f"({me['mismatches']} mismatches) | | |"
    )
    print(
        "\nload average (1 min) before each measurement: "
        + ", ".join(f"{name} {values[0]:.1f}" for name, values in LOAD.items())
    )
    print(
        f"baseline per model = mean seconds per image on {base['images_run']} images "
        f"x {b['images']}; worst case = the full budget on {wc.get('images', 0)} never-fooled "
        "images (fastest of two runs)"
    )
    print(f"JSON written to {out}")


if __name__ == "__main__":
    main()
