"""Training benchmark: stacked ``SparseDAGNet`` against a straightforward pairwise-masked model.

What is measured
----------------
One Watts-Strogatz prior in the study's parameter range (default size 500, nei 2, p 0.9,
graph seed 1: 68,406 parameters, 12 layers) is oriented to a DAG and the six initialisations of
``structrob.model.INIT_SCHEMES`` are trained for one epoch of MNIST (60,000 images, batch 128,
Adam lr 1e-3, betas 0.9/0.999, eps 1e-8, fused) in two ways, in the same run:

- **stacked**: one ``SparseDAGNet(dag, copies=6)`` trained by ``structrob.train.fit``;
- **pairwise**: the six models one after the other, each a :class:`PairwiseMaskedNet` holding
  copy k's initial weights, trained by a plain loop (same order of batches, same optimizer).
- **stacked, torch products**: the stacked side as an install without the compiled module
  trains it (``structrob._compiled.native`` set to ``None`` while ``fit`` makes its trainer):
  the input layer as dense GEMMs and the hidden layers as torch's CSR and sampled products
  instead of the compiled ones, the rest the same. The ratio of the stacked side to this one
  is what the compiled products gain.

Before any timing the script asserts that each pairwise model computes the same logits as the
corresponding stacked copy (both start from the same weights), so both sides train the same
functions. Both sides are warmed up (a few steps on throw-away copies) and the two sides are
timed alternately ``--repeats`` times, so load from other processes hits both alike; the best
repeat of each side is reported, with the spread. Every timed run also records the share of the
CPUs that OTHER processes used meanwhile (from ``/proc/stat``; Linux only): on a shared machine
read the rates of runs where it is near 0 %. With all cores in use, a run that shares them with
another busy process can be many times slower (threads wait for each other at every kernel), so
on a shared machine prefer short runs (``--batches 100 --repeats 7``) and the best of them.

Rates are in model-epochs per second (one model trained on 60,000 images = 1 model-epoch);
with ``--batches N`` only the first ``N * 128`` training images are used and the rate is
scaled to full epochs.

Useful FLOPs and the machine's peak
-----------------------------------
Useful FLOPs of one training step of one model are ``6 * W * B``: 2 per unmasked weight per
sample forward, 4 backward (gradient of the input and of the weight), with
``W = 784 * sources + hidden edges + 10 * sinks`` the unmasked weights and ``B`` the batch;
biases, activations, the loss and the optimizer are not counted (together about 2 % more). This is
the usual convention; strictly the input layer needs no input gradient (pixels need none), so
the minimal count is ``(4 * 784 * sources + 6 * (edges + 10 * sinks)) * B``, also reported.
The peak is the best ``torch.mm`` rate on square float32 matrices of 2048 and 4096 (best of
several) with the same threads. Fraction of peak = useful GFLOP/s / peak GFLOP/s. The count is
the dense model's: with the compiled sparse input layer the stacked side skips the zero pixels'
products (about 80 % of the input layer's), so its "fraction of peak" can exceed 100 %; it
then measures speed against the dense work, not the hardware's use.

The baseline, and what it mirrors from the study's code
-------------------------------------------------------
The study's ``SNN`` (mehdibenamorr/Adv_attacks_Framework, ``models/SNN.py``) builds, for every
hidden layer l, a ``Layer`` module holding one dense weight ``[n_l, n_s]`` and one 0/1 mask per
earlier layer s; its forward computes ``sum_s z_s @ (W_sl * M_sl).T + b_l`` over the list of
all earlier activations, then ReLU; the input is an ``nn.Linear(784, n_0)`` and training uses
``optim.Adam(model.parameters())`` with per-batch ``zero_grad / backward / step``. Mirrored
here: the per-(source, target)-layer dense weights, the mask multiplied into the weight at
every forward, the sum then one ReLU, the plain training loop. Differences, all in the
baseline's favour or required by this project's definitions: only pairs with at least one edge
get a matrix (the study keeps one for every earlier layer, even empty ones, so its model does
more matmuls than this baseline; on the default graph 55 of the 66 layer pairs have an
edge); every layer holding sinks feeds the output through a masked matrix (the study
reads only the last layer; the project's model feeds every sink); the
normalisation is the model's first step; Adam is fused like ``fit``'s. No code was copied.

Usage
-----
``python benchmarks/bench_train.py [--size 500 --nei 2 --p 0.9 --graph-seed 1]
[--batches N] [--threads T] [--repeats R] [--profile]``; the data folder comes from
``STRUCTROB_DATA`` (or ``--data``). Prints a markdown table and writes
``benchmarks/results/train.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
import types
from pathlib import Path

import networkx as nx
import torch
from torch import Tensor, nn

from structrob import _compiled, _kernels, graphs
from structrob.data import load
from structrob.model import INIT_SCHEMES, MNIST_MEAN, MNIST_STD, SparseDAGNet, initialize
from structrob.train import fit

RESULTS = Path(__file__).resolve().parent / "results"
EPOCH_IMAGES = 60_000


class PairwiseMaskedNet(nn.Module):
    """Sparse DAG network with one masked dense matrix per (source layer, target layer) pair.

    ``z_0 = relu(W_in x' + b_0)`` with ``x' = (x - mean) / std``;
    ``z_l = relu(sum_{s<l} (W_sl * M_sl) z_s + b_l)`` over the pairs with at least one edge;
    ``logits = sum_{l holds sinks} (W_lo * M_lo) z_l + b_out``, where ``M_lo`` keeps the
    columns of the sinks. The reference implementation of the benchmark (not a project feature).

    Parameters
    ----------
    dag : networkx.DiGraph
        Acyclic hidden structure, as for ``SparseDAGNet``.
    n_in, n_out : int
    normalize : (mean, std) or None

    Examples
    --------
    >>> import networkx as nx, torch
    >>> dag = nx.DiGraph([(3, 1), (2, 1), (1, 0), (3, 0)])  # the skip edge 3 -> 0 spans two layers
    >>> net = SparseDAGNet(dag, n_in=5, n_out=2, copies=2)
    >>> x = torch.rand(4, 5)
    >>> baseline = PairwiseMaskedNet(dag, n_in=5, n_out=2).load_copy(net, 1)
    >>> torch.allclose(baseline(x), net(x)[1], atol=1e-6)
    True
    """

    def __init__(
        self,
        dag: nx.DiGraph,
        n_in: int = 784,
        n_out: int = 10,
        normalize: tuple[float, float] | None = (MNIST_MEAN, MNIST_STD),
    ) -> None:
        super().__init__()
        self.normalize = normalize
        layer_of = graphs.layers(dag)
        n_layers = 1 + max(layer_of.values())
        members: list[list] = [[] for _ in range(n_layers)]
        for v in sorted(dag.nodes, key=lambda v: (layer_of[v], v)):
            members[layer_of[v]].append(v)
        # Vertex -> (layer, position in its layer): the only link to the DAG after construction.
        self.place = {v: (l, i) for l, vs in enumerate(members) for i, v in enumerate(vs)}
        self.sizes = [len(vs) for vs in members]
        self.input = nn.Linear(n_in, self.sizes[0])
        self.pairs: list[list[int]] = [[] for _ in range(n_layers)]  # target l -> sources s
        for l in range(1, n_layers):
            masks = {}
            for i, v in enumerate(members[l]):
                for u in dag.pred[v]:
                    s, j = self.place[u]
                    masks.setdefault(s, torch.zeros(self.sizes[l], self.sizes[s]))[i, j] = 1.0
            for s in sorted(masks):
                self.pairs[l].append(s)
                self.register_buffer(f"mask_{s}_{l}", masks[s])
                self.register_parameter(
                    f"weight_{s}_{l}", nn.Parameter(torch.zeros(self.sizes[l], self.sizes[s]))
                )
            self.register_parameter(f"bias_{l}", nn.Parameter(torch.zeros(self.sizes[l])))
        self.sink_layers = sorted({self.place[v][0] for v in dag.nodes if dag.out_degree(v) == 0})
        for l in self.sink_layers:
            mask = torch.zeros(n_out, self.sizes[l])
            for i, v in enumerate(members[l]):
                if dag.out_degree(v) == 0:
                    mask[:, i] = 1.0
            self.register_buffer(f"mask_out_{l}", mask)
            self.register_parameter(
                f"weight_out_{l}", nn.Parameter(torch.zeros(n_out, self.sizes[l]))
            )
        self.bias_out = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, n_out]`` for pixels ``x`` ``[B, n_in]`` in [0, 1]."""
        x = x.reshape(x.shape[0], -1)
        if self.normalize is not None:
            x = (x - self.normalize[0]) / self.normalize[1]
        z = [torch.relu(self.input(x))]
        for l in range(1, len(self.sizes)):
            pre = getattr(self, f"bias_{l}")
            for s in self.pairs[l]:
                masked = getattr(self, f"weight_{s}_{l}") * getattr(self, f"mask_{s}_{l}")
                pre = pre + z[s] @ masked.T
            z.append(torch.relu(pre))
        out = self.bias_out
        for l in self.sink_layers:
            out = out + z[l] @ (getattr(self, f"weight_out_{l}") * getattr(self, f"mask_out_{l}")).T
        return out

    @torch.no_grad()
    def load_copy(self, net: SparseDAGNet, k: int) -> PairwiseMaskedNet:
        """Take copy ``k`` of ``net``'s weights, mapping units through the vertices."""
        self.input.weight.copy_(net.weight_in[k])
        self.input.bias.copy_(net.bias_in[k])
        unit_place = [self.place[v] for v in net.vertices]
        for l, (reads, mask, weight, bias) in enumerate(net.hidden_blocks(), start=1):
            getattr(self, f"bias_{l}").copy_(bias[k])
            masked = weight[k] * mask
            for j, unit in enumerate(reads.tolist()):
                s, pos = unit_place[unit]
                getattr(self, f"weight_{s}_{l}")[:, pos] = masked[:, j]
        for j, unit in enumerate(net.sink_units.tolist()):
            s, pos = unit_place[unit]
            getattr(self, f"weight_out_{s}")[:, pos] = net.weight_out[k][:, j]
        self.bias_out.copy_(net.bias_out[k])
        return self


def train_plain(model: nn.Module, x: Tensor, y: Tensor, batch_size: int, seed: int) -> float:
    """One epoch of the plain loop (Adam as in ``fit``); returns the wall time in seconds."""
    optimizer = torch.optim.Adam(
        model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, fused=True
    )
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    model.train()
    start = time.perf_counter()
    for first in range(0, x.shape[0], batch_size):
        batch = order[first : first + batch_size]
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def train_stacked(
    net: SparseDAGNet,
    x: Tensor,
    y: Tensor,
    batch_size: int,
    seed: int,
    torch_products: bool = False,
) -> float:
    """One epoch of ``structrob.train.fit``; returns the wall time in seconds.

    ``torch_products=True`` trains as an install without the compiled module does: torch's
    dense and CSR products instead of the compiled ones (``_kernels.compiled_applies``).
    """
    native = _compiled.native
    if torch_products:
        _compiled.native = None  # read when fit makes its trainer
    try:
        start = time.perf_counter()
        history = fit(
            net,
            types.SimpleNamespace(train_x=x, train_y=y),
            epochs=1,
            batch_size=batch_size,
            seed=seed,
        )
        seconds = time.perf_counter() - start
    finally:
        _compiled.native = native
    failed = [h["error"] for h in history if h["failed"]]
    if failed:
        raise RuntimeError(f"a stacked copy failed during the benchmark: {failed}")
    return seconds


def cpu_counters() -> tuple[int, int, int] | None:
    """(busy, total) clock ticks of all CPUs and ticks used by this process; None without /proc.

    Read before and after a timed run, they give the share of the machine that OTHER
    processes (or the hypervisor, as steal time) took meanwhile: the measurement's contamination.
    """
    try:
        cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = cpu + [0] * (8 - len(cpu))
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait, int(own[11]) + int(own[12])  # utime + stime


def measure(run, *args) -> tuple[float, float | None]:
    """Wall seconds returned by ``run(*args)`` and the share of the CPUs others used meanwhile."""
    before = cpu_counters()
    seconds = run(*args)
    after = cpu_counters()
    if before is None or after is None or after[1] <= before[1]:
        return seconds, None
    others = (after[0] - before[0]) - (after[2] - before[2])
    return seconds, max(0.0, others / (after[1] - before[1]))


def matmul_peak(sizes: tuple[int, ...] = (2048, 4096), repeats: int = 5) -> dict[str, float]:
    """Best float32 ``torch.mm`` rate in GFLOP/s per square size (2 n^3 FLOPs per product)."""
    rates = {}
    gen = torch.Generator().manual_seed(0)
    for n in sizes:
        a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
        torch.mm(a, b)  # warm-up
        best = float("inf")
        for _ in range(repeats if n <= 2048 else max(2, repeats // 2)):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
        rates[str(n)] = 2 * n**3 / best / 1e9
    return rates


def check_same_function(net: SparseDAGNet, dag: nx.DiGraph, x: Tensor) -> float:
    """Assert every pairwise model reproduces its stacked copy's logits; return the worst error.

    The error is ``max |difference| / max(1, max |logit|)`` over the six copies.
    """
    worst = 0.0
    with torch.no_grad():
        stacked = net(x)
        for k in range(net.copies):
            pairwise = PairwiseMaskedNet(dag).load_copy(net, k)(x)
            scale = max(1.0, float(stacked[k].abs().max()))
            worst = max(worst, float((pairwise - stacked[k]).abs().max()) / scale)
    assert worst <= 1e-5, (
        f"pairwise baseline differs from SparseDAGNet by {worst:.3g} (relative); fix before timing"
    )
    return worst


def profile_stacked(
    net: SparseDAGNet, x: Tensor, y: Tensor, batch_size: int, steps: int = 50
) -> str:
    """torch.profiler table (CPU time) of ``steps`` training steps of the stacked model."""
    from torch.profiler import ProfilerActivity, profile

    net = copy.deepcopy(net)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_stacked(net, x[: steps * batch_size], y[: steps * batch_size], batch_size, seed=0)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--nei", type=int, default=2)
    parser.add_argument("--p", type=float, default=0.9)
    parser.add_argument("--graph-seed", type=int, default=1)
    parser.add_argument("--init-seed", type=int, default=0)
    parser.add_argument(
        "--batches", type=int, default=None, help="time only the first N batches of the epoch"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="alternating timed runs of each side"
    )
    parser.add_argument("--warmup", type=int, default=20, help="warm-up steps per side")
    parser.add_argument(
        "--data", default=None, help="MNIST folder (default: STRUCTROB_DATA / cache)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="print a torch.profiler table of the stacked model"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "train.json")
    args = parser.parse_args(argv)
    for name in ("batches", "batch_size", "threads", "repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")

    torch.set_num_threads(args.threads)
    dag = graphs.to_dag(graphs.watts_strogatz(args.size, args.nei, args.p, seed=args.graph_seed))
    n_params = graphs.count_parameters(dag)
    if not 50_000 <= n_params <= 91_000:
        print(f"note: {n_params} parameters, outside the study's 50k-91k range", file=sys.stderr)
    n_sources, n_sinks = len(graphs.sources(dag)), len(graphs.sinks(dag))
    n_edges = dag.number_of_edges()
    weights = 784 * n_sources + n_edges + 10 * n_sinks
    data = load("mnist", root=args.data, download=False)
    x, y = data.train_x, data.train_y
    if args.batches is not None:
        x, y = x[: args.batches * args.batch_size], y[: args.batches * args.batch_size]
    n_images = x.shape[0]
    copies = len(INIT_SCHEMES)

    net = initialize(SparseDAGNet(dag, copies=copies), list(INIT_SCHEMES), seed=args.init_seed)
    error = check_same_function(net, dag, data.test_x[:512])
    baselines = [PairwiseMaskedNet(dag).load_copy(net, k) for k in range(copies)]

    warm = args.warmup * args.batch_size
    train_stacked(copy.deepcopy(net), x[:warm], y[:warm], args.batch_size, seed=0)
    train_stacked(copy.deepcopy(net), x[:warm], y[:warm], args.batch_size, 0, torch_products=True)
    train_plain(copy.deepcopy(baselines[0]), x[:warm], y[:warm], args.batch_size, seed=0)

    stacked_s, pairwise_s, stacked_others, pairwise_others = [], [], [], []
    dense_s, dense_others = [], []
    for _ in range(args.repeats):
        # Every repeat trains the six initial models afresh (copies of the untouched originals).
        seconds, others = measure(
            train_stacked, copy.deepcopy(net), x, y, args.batch_size, args.init_seed
        )
        stacked_s.append(seconds)
        stacked_others.append(others)
        seconds, others = measure(
            train_stacked, copy.deepcopy(net), x, y, args.batch_size, args.init_seed, True
        )
        dense_s.append(seconds)
        dense_others.append(others)
        runs = [
            measure(train_plain, copy.deepcopy(m), x, y, args.batch_size, args.init_seed)
            for m in baselines
        ]
        pairwise_s.append(sum(seconds for seconds, _ in runs))
        shares = [others for _, others in runs if others is not None]
        pairwise_others.append(max(shares) if shares else None)
    peak = matmul_peak()
    peak_gflops = max(peak.values())

    epochs_done = copies * n_images / EPOCH_IMAGES
    stacked_rate = [epochs_done / s for s in stacked_s]
    pairwise_rate = [epochs_done / s for s in pairwise_s]
    dense_rate = [epochs_done / s for s in dense_s]
    flop_per_model_epoch = 6 * weights * EPOCH_IMAGES
    minimal_per_model_epoch = (4 * 784 * n_sources + 6 * (n_edges + 10 * n_sinks)) * EPOCH_IMAGES
    best_stacked, best_pairwise = max(stacked_rate), max(pairwise_rate)
    useful = best_stacked * flop_per_model_epoch / 1e9
    result = {
        "graph": {
            "generator": "watts_strogatz",
            "size": args.size,
            "nei": args.nei,
            "p": args.p,
            "graph_seed": args.graph_seed,
            "parameters": n_params,
            "layers": 1 + max(graphs.layers(dag).values()),
            "sources": n_sources,
            "sinks": n_sinks,
            "edges": n_edges,
            "unmasked_weights": weights,
        },
        "setup": {
            "models": copies,
            "inits": list(INIT_SCHEMES),
            "batch_size": args.batch_size,
            "images": n_images,
            "full_epoch": args.batches is None,
            "optimizer": "Adam(lr=1e-3, fused=True)",
            "repeats": args.repeats,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "equivalence_max_relative_error": error,
        "stacked_model_epochs_per_s": stacked_rate,
        "stacked_cpu_share_of_other_processes": stacked_others,
        "pairwise_cpu_share_of_other_processes_max_over_models": pairwise_others,
        "pairwise_model_epochs_per_s": pairwise_rate,
        "stacked_torch_products_model_epochs_per_s": dense_rate,
        "stacked_torch_products_cpu_share_of_other_processes": dense_others,
        "compiled_products": _kernels.compiled_applies(torch.float32),
        "compiled_over_torch_products_per_repeat": [
            a / b for a, b in zip(stacked_rate, dense_rate)
        ],
        "best_stacked": best_stacked,
        "best_pairwise": best_pairwise,
        "ratio_best": best_stacked / best_pairwise,
        "ratio_per_repeat": [a / b for a, b in zip(stacked_rate, pairwise_rate)],
        "matmul_peak_gflops": peak,
        "useful_flop_per_model_epoch": flop_per_model_epoch,
        "useful_gflops_stacked": useful,
        "useful_gflops_pairwise": best_pairwise * flop_per_model_epoch / 1e9,
        "fraction_of_peak_stacked": useful / peak_gflops,
        "fraction_of_peak_stacked_minimal_flops": best_stacked
        * minimal_per_model_epoch
        / 1e9
        / peak_gflops,
        "target_10x_met": best_stacked / best_pairwise >= 10,
        "target_within_5x_of_peak_met": useful / peak_gflops >= 0.2,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    def spread(rates: list[float]) -> str:
        return f"{max(rates):.3f} (median {statistics.median(rates):.3f}, min {min(rates):.3f})"

    g = result["graph"]
    scope = (
        "one full epoch"
        if args.batches is None
        else f"first {args.batches} batches, scaled to epochs"
    )
    print(
        f"\nGraph: WS(size={args.size}, nei={args.nei}, p={args.p}, seed={args.graph_seed}): "
        f"{g['parameters']} parameters, {g['layers']} layers, {n_sources} sources, "
        f"{n_edges} edges, {n_sinks} sinks. {copies} initialisations, batch {args.batch_size}, "
        f"{scope}, {torch.get_num_threads()} threads, {args.repeats} alternating repeats "
        f"(best, median, min). Same logits before timing: max rel. error {error:.1e}.\n"
    )
    print("| quantity | value |\n|---|---|")
    print(f"| stacked SparseDAGNet (fit), model-epochs/s | {spread(stacked_rate)} |")
    print(f"| stacked, torch products (no C module), model-epochs/s | {spread(dense_rate)} |")
    print(f"| pairwise masked baseline, model-epochs/s | {spread(pairwise_rate)} |")
    per_repeat = ", ".join(f"{r:.2f}" for r in result["compiled_over_torch_products_per_repeat"])
    gain = max(stacked_rate) / max(dense_rate)
    print(f"| stacked / stacked with torch's products | {gain:.2f}x (per repeat: {per_repeat}) |")
    per_repeat = ", ".join(f"{r:.1f}" for r in result["ratio_per_repeat"])
    print(f"| ratio (best / best) | {result['ratio_best']:.1f}x (per repeat: {per_repeat}) |")
    peaks = ", ".join(f"{n}: {r:.0f}" for n, r in peak.items())
    print(f"| float32 matmul peak, GFLOP/s | {peak_gflops:.0f} ({peaks}) |")
    print(f"| useful work, stacked, GFLOP/s (6 x weights x images) | {useful:.1f} |")
    minimal = result["fraction_of_peak_stacked_minimal_flops"]
    print(
        f"| fraction of peak, stacked | {result['fraction_of_peak_stacked']:.1%} "
        f"(minimal-FLOP count: {minimal:.1%}) |"
    )
    print(f"| useful work, pairwise, GFLOP/s | {result['useful_gflops_pairwise']:.1f} |")

    def share(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0%}"

    print(
        "\n| repeat | stacked model-epochs/s | others' CPU share "
        "| pairwise model-epochs/s | others' CPU share (max) |"
    )
    print("|---|---|---|---|---|")
    for i, (a, sa, b, sb) in enumerate(
        zip(stacked_rate, stacked_others, pairwise_rate, pairwise_others), start=1
    ):
        print(f"| {i} | {a:.3f} | {share(sa)} | {b:.3f} | {share(sb)} |")
    print(
        f"\nTarget >= 10x the pairwise model: {'met' if result['target_10x_met'] else 'NOT met'}. "
        "Target within 5x of peak (>= 20%): "
        f"{'met' if result['target_within_5x_of_peak_met'] else 'NOT met'}."
    )
    print(f"JSON written to {args.out}")
    if args.profile:
        print(profile_stacked(net, x, y, args.batch_size))
    return result


if __name__ == "__main__":
    main()
