"""Running one unit of work: build -> train every initialisation -> attack -> graph properties.

A unit is a graph prior with all its initialisations (one stacked model), or one step of the
pruning baseline. Workers run :func:`run_unit` on a unit spec and a
:class:`~structrob.study.records.UnitPayload` and return a
:class:`~structrob.study.records.UnitResult`; they write nothing (the driver stores the result,
the weights included, in one transaction).
"""

from __future__ import annotations

import io
import math
import time
import traceback
from types import SimpleNamespace
from typing import Any

import networkx as nx
import torch

from structrob import data, graphs, properties, pruning, robustness
from structrob.model import SparseDAGNet, initialize
from structrob.seeds import derive_seed
from structrob.study.attack_setup import build_attacks
from structrob.study.records import (
    ATTACK_STAGE,
    GraphRecord,
    PriorSpec,
    PruningSpec,
    RunRecord,
    UnitFailure,
    UnitPayload,
    UnitResult,
    UnitSpec,
)
from structrob.train import evaluate, fit

__all__ = [
    "build_model",
    "resolve_device",
    "run_unit",
    "run_unit_safely",
    "weights_from_bytes",
    "weights_to_bytes",
]


def resolve_device(device: str) -> torch.device:
    """The torch device a ``device`` setting means.

    Parameters
    ----------
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    torch.device

    Raises
    ------
    RuntimeError
        For ``"cuda"`` when torch sees no GPU.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device 'cuda' requested but torch sees no GPU; use --device cpu or auto"
        )
    return torch.device(device)


def weights_to_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """A ``state_dict`` as bytes (``torch.save`` of its CPU tensors).

    Parameters
    ----------
    state : dict of str to Tensor

    Returns
    -------
    bytes
        Readable by :func:`weights_from_bytes`.

    Examples
    --------
    >>> state = {"w": torch.ones(2)}
    >>> torch.equal(weights_from_bytes(weights_to_bytes(state))["w"], state["w"])
    True
    """
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buffer)
    return buffer.getvalue()


def weights_from_bytes(blob: bytes) -> dict[str, torch.Tensor]:
    """A ``state_dict`` from :func:`weights_to_bytes` (``weights_only`` loading, on the CPU).

    Parameters
    ----------
    blob : bytes

    Returns
    -------
    dict of str to Tensor

    Examples
    --------
    >>> weights_from_bytes(weights_to_bytes({"b": torch.zeros(1)}))
    {'b': tensor([0.])}
    """
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)


def _dataset(spec: UnitSpec, data_root: str | None) -> tuple[Any, Any]:
    """The training subset (seeded, identical for every unit) and the test set."""
    ds = data.load(spec.dataset, root=data_root, download=True)
    n = spec.train.train_images
    if n is None or n >= ds.train_x.shape[0]:
        return ds, ds
    generator = torch.Generator().manual_seed(derive_seed(spec.seed, "train_images"))
    keep = torch.randperm(ds.train_x.shape[0], generator=generator)[:n]
    return SimpleNamespace(train_x=ds.train_x[keep], train_y=ds.train_y[keep]), ds


def build_model(spec: UnitSpec, copies: int) -> tuple[SparseDAGNet, nx.DiGraph, nx.Graph | None]:
    """The network of a unit (untrained), its DAG and its undirected prior.

    Parameters
    ----------
    spec : PriorSpec or PruningSpec
    copies : int
        Copies stacked in the model (one per initialisation).

    Returns
    -------
    tuple
        ``(net, dag, prior)``; ``prior`` is None for a pruning step (a dense layered DAG).

    Examples
    --------
    >>> from structrob.study.config import load_preset
    >>> from structrob.study.records import PruningSpec
    >>> net, dag, prior = build_model(PruningSpec.from_config(load_preset("quick"), 0), 2)
    >>> net.copies, dag.number_of_nodes(), prior
    (2, 300, None)
    """
    if isinstance(spec, PriorSpec):
        prior = graphs.generate(
            spec.generator, seed=spec.graph_seed, **spec.params, **spec.graph_options()
        )
        dag = graphs.to_dag(prior)
        return SparseDAGNet(dag, copies=copies, sinks=spec.sinks), dag, prior
    dag = pruning.dense_layered_dag(spec.pruning.widths)
    return SparseDAGNet(dag, copies=copies), dag, None


def _attack(
    net: SparseDAGNet, spec: UnitSpec, test: Any, device: torch.device, timings: dict[str, float]
) -> list[dict[str, Any]]:
    """Every enabled attack on every copy: one flat measures record per copy.

    Each attack's seconds go into ``timings`` as ``attack.<name>`` (a part of ``attack``).
    """
    n_test = test.test_x.shape[0]
    per_attack: dict[str, list[Any]] = {}
    for name, attack in build_attacks(spec.attacks, spec.seed).items():
        start = time.perf_counter()
        if name == "onepixel":  # selects its own images among the correctly classified
            result = attack(net, test.test_x, test.test_y)
        else:
            n = getattr(spec.attacks, name).images
            n = n_test if n is None else min(n, n_test)
            result = attack(net, test.test_x[:n], test.test_y[:n])
        timings[f"{ATTACK_STAGE}.{name}"] = time.perf_counter() - start
        per_attack[name] = result if isinstance(result, list) else [result]
    records = []
    for k in range(net.copies):
        results = {name: values[k] for name, values in per_attack.items()}
        # measures that do not apply to an attack (None, e.g. FGSM's avg_eps) are left out
        row = {key: v for key, v in robustness.record(results).items() if v is not None}
        if "fgsm" in results and results["fgsm"].n_zero_grad is not None:
            row["fgsm_n_zero_grad"] = int(results["fgsm"].n_zero_grad)
        records.append(row)
    return records


def _pruned_graph(
    net: SparseDAGNet, copy: int | None, spec: PruningSpec, extra: dict[str, Any]
) -> tuple[dict, dict, list, int]:
    """Properties, distributions, edges and vertex count of a pruned net's hidden DAG.

    ``copy`` names the copy whose masks to read (None: all copies share them); the cut-off
    counts go into the properties, the unit-level ``extra`` is left unchanged.
    """
    hidden = pruning.hidden_dag(net, copy=copy)
    props = properties.graph_properties(hidden)
    props["dag_parameters"] = net.count_parameters(copy=copy)  # the network's own count
    cut = pruning.cut_off_vertices(net, copy=copy)
    props.update({f"cut_off_{k}": v for k, v in cut.items()})
    return (
        props,
        properties.graph_distributions(hidden),
        [list(e) for e in hidden.edges],
        len(hidden),
    )


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_unit(spec: UnitSpec, payload: UnitPayload) -> UnitResult:
    """Run one unit and return its result (no file or database is written).

    Parameters
    ----------
    spec : PriorSpec or PruningSpec
        The unit's spec from :func:`structrob.study.plan.plan_units` (everything that
        determines its result).
    payload : UnitPayload
        How to run it: device, threads, data folder, and for a pruning step > 0 the previous
        step's stacked weights.

    Returns
    -------
    UnitResult
        The graph (parameters, edges, properties, distributions), one run per initialisation
        (status, error, metrics, weights), the stacked weights of a pruning step, and the
        seconds per stage.

    Examples
    --------
    A unit trains and attacks a network on the data set (minutes), so this is how the driver
    calls it, not run here:

    >>> from structrob.study.config import load_preset
    >>> from structrob.study.plan import plan_units
    >>> unit = plan_units(load_preset("pruning"), [])[0]
    >>> result = run_unit(unit.spec, UnitPayload(device="cpu"))  # doctest: +SKIP
    >>> [run.init for run in result.runs]  # doctest: +SKIP
    ['glorot_normal', 'glorot_uniform', 'he_normal', 'he_uniform', 'normal', 'uniform']
    """
    torch.set_num_threads(payload.threads)
    device = resolve_device(payload.device)
    unit_id = spec.unit_id
    inits = spec.train.inits
    seed = spec.seed
    prior_arm = isinstance(spec, PriorSpec)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    train_data, test = _dataset(spec, payload.data_root)
    net, dag, prior = build_model(spec, copies=len(inits))
    step = spec.step
    extra: dict[str, Any] = {}
    per_init = not prior_arm and spec.pruning.masks == "per_init"
    # the first pruning chain keeps the seeds it had before chains were repeated
    chain = () if prior_arm or not spec.repetition else (spec.repetition,)
    if not prior_arm and step:
        net.load_state_dict(weights_from_bytes(payload.previous_weights))
        removed = pruning.prune_random(
            net,
            spec.pruning.fraction,
            seed=derive_seed(seed, "prune", *chain, step),
            per_copy=per_init,
        )
        extra["removed_edges"] = len(removed[0]) if per_init else len(removed)
        epochs = spec.pruning.retrain_epochs
    else:
        if per_init:
            net.split_masks()  # every copy carries its own masks from step 0 on
        init_seed = derive_seed(seed, "init", unit_id if prior_arm else "pruning", *chain)
        initialize(
            net,
            inits,
            seed=init_seed,
            fans=spec.train.init_fans,
            layers=spec.train.init_layers,
            bias=spec.train.bias_init,
        )
        epochs = spec.train.epochs
    net.to(device)
    timings["build"] = time.perf_counter() - start

    start = time.perf_counter()
    if epochs > 0:
        history = fit(
            net,
            train_data,
            epochs=epochs,
            batch_size=spec.train.batch_size,
            lr=spec.train.lr,
            seed=derive_seed(seed, "order", unit_id) % (2**63),
        )
    else:
        history = [{"loss": [], "failed": False, "error": None} for _ in inits]
    clean = evaluate(net, test.test_x, test.test_y)
    timings["train"] = time.perf_counter() - start

    start = time.perf_counter()
    attack_parts: dict[str, float] = {}
    measures = _attack(net, spec, test, device, attack_parts)
    timings[ATTACK_STAGE] = time.perf_counter() - start
    timings.update(attack_parts)  # after the stage it is a part of

    start = time.perf_counter()
    net_cpu = net.to("cpu")
    if prior_arm:
        props = properties.graph_properties(dag, prior, sinks=spec.sinks)
        dists = properties.graph_distributions(dag, prior, sinks=spec.sinks)
        edges = [list(e) for e in dag.edges]
        n_vertices = dag.number_of_nodes()
        generator, params, graph_seed = spec.generator, spec.params, spec.graph_seed
    else:
        generator, params, graph_seed = "dense_layered", {"widths": spec.pruning.widths}, None
        copy_graphs = [
            _pruned_graph(net_cpu, k if per_init else None, spec, extra)
            for k in (range(net_cpu.copies) if per_init else [None])
        ]
        props, dists, edges, n_vertices = copy_graphs[0]
        extra["repetition"] = spec.repetition
    timings["properties"] = time.perf_counter() - start

    def graph_record(props: dict, dists: dict, edges: list, n_vertices: int, n_parameters: int):
        return GraphRecord(
            generator=generator,
            params=params,
            seed=graph_seed,
            n_parameters=n_parameters,
            n_vertices=n_vertices,
            edges=edges,
            properties={**props, **extra},
            distributions=dists,
        )

    runs = []
    for k, init in enumerate(inits):
        metrics = {"accuracy": clean[k]["accuracy"], "f1_macro": clean[k]["f1_macro"]}
        metrics.update(measures[k])
        metrics["final_loss"] = history[k]["loss"][-1] if history[k]["loss"] else None
        runs.append(
            RunRecord(
                init=init,
                copy=k,
                status="failed" if history[k]["failed"] else "ok",
                error=history[k]["error"],
                metrics={key: _finite(v) for key, v in metrics.items()},
                weights=weights_to_bytes(net_cpu.copy(k).state_dict()),
                graph=graph_record(*copy_graphs[k], net_cpu.count_parameters(copy=k))
                if per_init
                else None,
            )
        )
    graph = graph_record(props, dists, edges, n_vertices, net_cpu.count_parameters(copy=0))
    return UnitResult(
        unit_id=unit_id,
        arm=spec.arm,
        step=step,
        graph=graph,
        runs=tuple(runs),
        timings=timings,
        stacked_weights=None if prior_arm else weights_to_bytes(net_cpu.state_dict()),
    )


def run_unit_safely(spec: UnitSpec, payload: UnitPayload) -> UnitResult | UnitFailure:
    """:func:`run_unit`, turning an exception into a :class:`UnitFailure` for the driver.

    Parameters
    ----------
    spec : PriorSpec or PruningSpec
    payload : UnitPayload

    Returns
    -------
    UnitResult or UnitFailure

    Examples
    --------
    >>> import dataclasses
    >>> from structrob.study.config import load_preset
    >>> from structrob.study.plan import plan_units
    >>> spec = plan_units(load_preset("pruning"), [])[0].spec
    >>> broken = dataclasses.replace(spec, dataset="cifar10")  # no such data set
    >>> failure = run_unit_safely(broken, UnitPayload(device="cpu"))
    >>> failure.unit_id == broken.unit_id, failure.error
    (True, "ValueError: unknown data set 'cifar10'; supported: mnist, fashion_mnist, kmnist")
    """
    try:
        return run_unit(spec, payload)
    except Exception as error:  # noqa: BLE001 - any failure of one unit must not stop the study
        return UnitFailure(spec.unit_id, f"{type(error).__name__}: {error}", traceback.format_exc())
