"""structrob against deepstruct's ``MaskedDeepDAN``: one graph's epoch, and a study's training.

Two measurements, each timing structrob and deepstruct 0.10.0 in the same run, alternately:

1. **single**: one study graph (Watts-Strogatz 400 / nei 2 / p 0.9 by default, oriented with
   ``structrob.graphs.to_dag``), six initialisations, one MNIST epoch at batch 128 with Adam
   (lr 1e-3). structrob trains ``SparseDAGNet(dag, copies=6)`` with ``structrob.train.fit``;
   deepstruct trains six ``MaskedDeepDAN(784, 10, LayeredGraph.load_from(dag))`` one after
   the other with the plain loop (``cross_entropy``, ``zero_grad``, ``backward``,
   ``torch.optim.Adam(model.parameters(), lr=1e-3)``) on the same batches, the pixels
   normalised beforehand. Only the training loops are timed (data loading and model
   construction are not), each side in its own process with ``--threads`` torch threads.
2. **study**: the whole command ``python -m structrob.cli run --preset paper`` with every
   attack and pruning off, ``graphs.count=4``, ``train.epochs=6`` (4 graphs x 6 inits x 6
   epochs = 144 model-epochs), its default pool (one worker per core, one thread each), wall
   time of the command. deepstruct's side is this script's ``_study`` mode, wall time of the
   whole process: the same preset's sampling (``structrob.study.plan``: the same four graphs),
   then a pool of two spawned processes with one torch thread each, one unit per graph: six
   ``MaskedDeepDAN`` trained for the same epochs (batch 128, Adam 1e-3, the unit's data
   order) and their test accuracy. structrob's command also stores, analyses and reports the
   study, which deepstruct's side does not do: that fixed cost counts against structrob.

Ratios are deepstruct seconds / structrob seconds (> 1: structrob faster), per repeat of the
alternation; the median is the headline. With ``--baseline-src DIR`` a second structrob (the
package in ``DIR``, e.g. another checkout's ``src``) is timed in the same alternation, so a
before/after comparison shares the machine's conditions. Every timed run also records the
share of the CPUs that other processes used meanwhile (``/proc/stat``, Linux): on a shared
machine, compare runs with similar shares.

deepstruct is not a dependency of structrob: ``benchmarks/setup_deepstruct.sh`` installs it
(``--no-deps``, with ``deprecated`` and ``wrapt``, its only imports that torch, numpy and
networkx do not cover) into ``benchmarks/.deepstruct``, which only this script's processes put
on ``sys.path``; the script runs the setup itself when the folder is missing.

Usage
-----
``python benchmarks/bench_deepstruct.py [--part single|study|both] [--threads 1 2]
[--repeats 3] [--batches N] [--study-repeats 1] [--baseline-src DIR]``; data from
``STRUCTROB_DATA`` (or ``--data``). Prints markdown tables and writes
``benchmarks/results/deepstruct.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = ROOT / "src"
DEEPSTRUCT = HERE / ".deepstruct"
RESULTS = HERE / "results"
EPOCH_BATCHES = 469  # ceil(60,000 / 128)
STUDY_SETTINGS = [
    "attacks.fgsm.enabled=false",
    "attacks.min_fgsm.enabled=false",
    "attacks.onepixel.enabled=false",
    "attacks.pgd.enabled=false",
    "pruning.enabled=false",
    "graphs.count=4",
    "train.epochs=6",
]


# -- deepstruct's side -----------------------------------------------------------------------
def _import_deepstruct():
    if str(DEEPSTRUCT) not in sys.path:
        sys.path.insert(0, str(DEEPSTRUCT))
    import deepstruct.graph
    import deepstruct.sparse

    return deepstruct


def deepstruct_model(dag):
    """deepstruct's model of a DAG: ``MaskedDeepDAN(784, 10, LayeredGraph.load_from(dag))``.

    ``load_from`` relabels the vertices 0..n-1 and layers them by their longest path from a
    source; the model holds one masked dense layer per consecutive pair of layers and one per
    connected pair of non-consecutive layers, and reads its output from the last layer.
    """
    ds = _import_deepstruct()
    return ds.sparse.MaskedDeepDAN(784, 10, ds.graph.LayeredGraph.load_from(dag))


def train_deepstruct(models, x, y, epochs: int, batch_size: int, generator) -> float:
    """The plain loop for every model in turn; the same batch order per epoch for all."""
    import torch

    start = time.perf_counter()
    orders = [torch.randperm(x.shape[0], generator=generator) for _ in range(epochs)]
    for model in models:
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for order in orders:
            for first in range(0, x.shape[0], batch_size):
                batch = order[first : first + batch_size]
                loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return time.perf_counter() - start


# -- one side of the single-graph measurement (run in its own process) ----------------------
def _single(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from structrob import graphs
    from structrob.data import load
    from structrob.model import INIT_SCHEMES, MNIST_MEAN, MNIST_STD, SparseDAGNet, initialize
    from structrob.train import fit

    dag = graphs.to_dag(graphs.watts_strogatz(args.size, args.nei, args.p, seed=args.graph_seed))
    data = load("mnist", root=args.data, download=False)
    n = data.train_x.shape[0] if args.batches is None else args.batches * 128
    x, y = data.train_x[:n].reshape(-1, 784), data.train_y[:n]
    warm = slice(0, 10 * 128)
    if args.side == "deepstruct":
        xn = (x - MNIST_MEAN) / MNIST_STD
        torch.manual_seed(0)
        train_deepstruct([deepstruct_model(dag)], xn[warm], y[warm], 1, 128, torch.Generator())
        models = [deepstruct_model(dag) for _ in INIT_SCHEMES]
        seconds = train_deepstruct(models, xn, y, 1, 128, torch.Generator().manual_seed(0))
    else:

        class Data:
            train_x, train_y = x, y

        class Warm:
            train_x, train_y = x[warm], y[warm]

        fit(SparseDAGNet(dag, copies=len(INIT_SCHEMES)), Warm, epochs=1)
        net = initialize(SparseDAGNet(dag, copies=len(INIT_SCHEMES)), list(INIT_SCHEMES), seed=0)
        start = time.perf_counter()
        fit(net, Data, epochs=1, batch_size=128, lr=1e-3, seed=0)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "images": int(n), "threads": torch.get_num_threads()}


# -- deepstruct's side of the study measurement ---------------------------------------------
def _study_unit(task) -> list[float]:
    """One graph: six MaskedDeepDAN trained for the unit's epochs, then their test accuracy."""
    import torch

    torch.set_num_threads(1)
    from structrob.data import load
    from structrob.model import MNIST_MEAN, MNIST_STD

    dag, epochs, batch_size, order_seed, n_models, data_root = task
    data = load("mnist", root=data_root, download=False)
    x = (data.train_x.reshape(-1, 784) - MNIST_MEAN) / MNIST_STD
    models = [deepstruct_model(dag) for _ in range(n_models)]
    train_deepstruct(
        models, x, data.train_y, epochs, batch_size, torch.Generator().manual_seed(order_seed)
    )
    test_x = (data.test_x.reshape(-1, 784) - MNIST_MEAN) / MNIST_STD
    accuracies = []
    with torch.no_grad():
        for model in models:
            model.eval()
            pred = model(test_x).argmax(1)
            accuracies.append(float((pred == data.test_y).double().mean()))
    return accuracies


def _study(args) -> dict:
    import concurrent.futures as cf
    import multiprocessing

    from structrob.seeds import derive_seed
    from structrob.study.config import apply_overrides, load_preset
    from structrob.study.plan import plan_units, sample_graphs
    from structrob.study.units import build_model

    config = apply_overrides(load_preset("paper"), STUDY_SETTINGS)
    units = plan_units(config, sample_graphs(config))
    tasks = []
    for unit in units:
        _, dag, _ = build_model(unit.spec, copies=1)
        seed = derive_seed(unit.spec.seed, "order", unit.unit_id) % (2**63)
        train = unit.spec.train
        tasks.append((dag, train.epochs, train.batch_size, seed, len(train.inits), args.data))
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
        accuracies = list(pool.map(_study_unit, tasks))
    return {"units": len(tasks), "accuracies": accuracies}


# -- the driver ------------------------------------------------------------------------------
def _cpu_ticks() -> tuple[int, int] | None:
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = fields + [0] * (8 - len(fields))
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str]) -> dict:
    """Run ``command``; wall seconds, its JSON line (if any) and others' share of the CPUs."""
    before, cpu_before = _cpu_ticks(), _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    after, cpu_after = _cpu_ticks(), _children_cpu()
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr}")
    out: dict = {"wall": wall}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if lines:
        out.update(json.loads(lines[-1]))
    if before is not None and after is not None and after[1] > before[1]:
        hz = os.sysconf("SC_CLK_TCK")
        busy = (after[0] - before[0]) / hz
        total = (after[1] - before[1]) / hz
        out["others_cpu_share"] = max(0.0, busy - (cpu_after - cpu_before)) / total
        out["own_cpu_seconds"] = cpu_after - cpu_before
    return out


def _env(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src)
    return env


def _ensure_deepstruct() -> None:
    probe = [
        sys.executable,
        "-c",
        f"import sys; sys.path.insert(0, {str(DEEPSTRUCT)!r}); import deepstruct.sparse",
    ]
    if subprocess.run(probe, capture_output=True).returncode != 0:
        subprocess.run(["bash", str(HERE / "setup_deepstruct.sh"), sys.executable], check=True)


def _summary(rows: list[dict], sides: list[str], key: str) -> dict:
    out = {}
    for side in sides:
        values = [row[side][key] for row in rows]
        out[side] = {"median": statistics.median(values), "all": values}
    for side in sides:
        if side == "deepstruct":
            continue
        ratios = [row["deepstruct"][key] / row[side][key] for row in rows]
        out[f"ratio_deepstruct_over_{side}"] = {
            "median": statistics.median(ratios),
            "all": ratios,
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["single", "study", "both"], default="both")
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--repeats", type=int, default=3, help="single: alternating repeats")
    parser.add_argument("--batches", type=int, default=None, help="single: first N batches")
    parser.add_argument("--study-repeats", type=int, default=1)
    parser.add_argument("--baseline-src", type=Path, default=None)
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--nei", type=int, default=2)
    parser.add_argument("--p", type=float, default=0.9)
    parser.add_argument("--graph-seed", type=int, default=1)
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "deepstruct.json")
    args = parser.parse_args(argv)
    _ensure_deepstruct()
    sides = {"structrob": SRC}
    if args.baseline_src is not None:
        sides["structrob_baseline"] = args.baseline_src.resolve()
    names = [*sides, "deepstruct"]
    result: dict = {
        "setup": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "baseline_src": None if args.baseline_src is None else str(args.baseline_src),
            "deepstruct": "0.10.0 (MaskedDeepDAN, plain loop, torch.optim.Adam(lr=1e-3))",
        }
    }
    data_args = [] if args.data is None else ["--data", args.data]
    if args.part in ("single", "both"):
        graph = ["--size", str(args.size), "--nei", str(args.nei), "--p", str(args.p)]
        graph += ["--graph-seed", str(args.graph_seed)]
        if args.batches is not None:
            graph += ["--batches", str(args.batches)]
        single = {}
        for threads in args.threads:
            rows = []
            for _ in range(args.repeats):
                row = {}
                for name in names:
                    src = sides.get(name, SRC)
                    command = [sys.executable, str(Path(__file__).resolve()), "_single"]
                    command += ["--side", "deepstruct" if name == "deepstruct" else "structrob"]
                    command += ["--threads", str(threads), *graph, *data_args]
                    row[name] = timed(command, _env(src))
                rows.append(row)
                print(
                    f"single, {threads} thread(s): "
                    + ", ".join(f"{n} {row[n]['seconds']:.2f} s" for n in names),
                    flush=True,
                )
            single[str(threads)] = {"runs": rows, **_summary(rows, names, "seconds")}
        batches = EPOCH_BATCHES if args.batches is None else args.batches
        result["single"] = {
            "graph": {
                "generator": "watts_strogatz",
                "size": args.size,
                "nei": args.nei,
                "p": args.p,
                "graph_seed": args.graph_seed,
            },
            "models": 6,
            "batches": batches,
            "model_epochs": 6 * batches / EPOCH_BATCHES,
            "by_threads": single,
        }
    if args.part in ("study", "both"):
        rows = []
        for _ in range(args.study_repeats):
            row = {}
            for name in names:
                if name == "deepstruct":
                    command = [
                        sys.executable,
                        str(Path(__file__).resolve()),
                        "_study",
                        "--workers",
                        str(os.cpu_count() or 1),
                        *data_args,
                    ]
                    row[name] = timed(command, _env(SRC))
                    continue
                with tempfile.TemporaryDirectory(prefix="speed-") as out:
                    command = [sys.executable, "-m", "structrob.cli", "run", "--preset", "paper"]
                    for setting in STUDY_SETTINGS:
                        command += ["--set", setting]
                    command += ["--out", str(Path(out) / "study"), "--quiet"]
                    if args.data is not None:
                        command += ["--data-dir", args.data]
                    row[name] = timed(command, _env(sides[name]))
            rows.append(row)
            print("study: " + ", ".join(f"{n} {row[n]['wall']:.1f} s" for n in names), flush=True)
        result["study"] = {
            "command": "structrob run --preset paper --set " + " --set ".join(STUDY_SETTINGS),
            "model_epochs": 144,
            "runs": rows,
            **_summary(rows, names, "wall"),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    _print(result, names)
    print(f"JSON written to {args.out}")
    return result


def _print(result: dict, names: list[str]) -> None:
    if "single" in result:
        s = result["single"]
        print(
            f"\n### One graph, 6 initialisations, {s['batches']} batches of 128 "
            f"({s['model_epochs']:.2f} model-epochs)\n"
        )
        print(
            "| threads | "
            + " | ".join(f"{n} s (median)" for n in names)
            + " | "
            + " | ".join(f"deepstruct / {n}" for n in names[:-1])
            + " |"
        )
        print("|---" * (2 * len(names)) + "|")
        for threads, block in s["by_threads"].items():
            cells = [f"{block[n]['median']:.2f}" for n in names]
            ratios = [block[f"ratio_deepstruct_over_{n}"] for n in names[:-1]]
            cells += [
                f"{r['median']:.1f}x ({', '.join(f'{v:.1f}' for v in r['all'])})" for r in ratios
            ]
            print(f"| {threads} | " + " | ".join(cells) + " |")
    if "study" in result:
        s = result["study"]
        print(f"\n### Study command, {s['model_epochs']} model-epochs (wall seconds)\n")
        print(
            "| "
            + " | ".join(f"{n} s (median)" for n in names)
            + " | "
            + " | ".join(f"deepstruct / {n}" for n in names[:-1])
            + " |"
        )
        print("|---" * (2 * len(names) - 1) + "|")
        cells = [f"{s[n]['median']:.1f}" for n in names]
        cells += [f"{s[f'ratio_deepstruct_over_{n}']['median']:.1f}x" for n in names[:-1]]
        print("| " + " | ".join(cells) + " |")


def _worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["_single", "_study"])
    parser.add_argument("--side", choices=["structrob", "deepstruct"], default="structrob")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", type=int, default=None)
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--nei", type=int, default=2)
    parser.add_argument("--p", type=float, default=0.9)
    parser.add_argument("--graph-seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", default=None)
    args = parser.parse_args(argv)
    out = _single(args) if args.mode == "_single" else _study(args)
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        _worker_main(sys.argv[1:])
    else:
        main()
