"""Running one unit of work: build -> train every initialisation -> attack -> graph properties.

A unit is a graph prior with all its initialisations (one stacked model), or one step of the
pruning baseline. Workers run :func:`run_unit` and return a plain record; they write nothing
(the driver stores the record, the weights included, in one transaction).
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

from structrob import attacks, data, graphs, properties, pruning, robustness
from structrob.model import SparseDAGNet, initialize
from structrob.study.plan import derive_seed
from structrob.train import evaluate, fit

__all__ = ["build_model", "resolve_device", "run_unit", "weights_from_bytes", "weights_to_bytes"]


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no GPU; use --device cpu or auto")
    return torch.device(device)


def weights_to_bytes(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buffer)
    return buffer.getvalue()


def weights_from_bytes(blob: bytes) -> dict[str, torch.Tensor]:
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)


def _dataset(spec: dict[str, Any], data_root: str | None) -> tuple[Any, Any]:
    """The training subset (seeded, identical for every unit) and the test set."""
    ds = data.load(spec["dataset"], root=data_root, download=True)
    n = spec["train"]["train_images"]
    if n is None or n >= ds.train_x.shape[0]:
        return ds, ds
    order = torch.randperm(ds.train_x.shape[0], generator=torch.Generator().manual_seed(derive_seed(spec["seed"], "train_images")))
    keep = order[:n]
    return SimpleNamespace(train_x=ds.train_x[keep], train_y=ds.train_y[keep]), ds


def build_model(spec: dict[str, Any], copies: int) -> tuple[SparseDAGNet, nx.DiGraph, nx.Graph | None]:
    """The network of a unit (untrained), its DAG and its undirected prior (None for pruning)."""
    if spec["kind"] == "prior":
        prior = graphs.generate(spec["generator"], seed=spec["graph_seed"], **spec["params"])
        dag = graphs.to_dag(prior)
        return SparseDAGNet(dag, copies=copies), dag, prior
    dag = pruning.dense_layered_dag(spec["pruning"]["widths"])
    return SparseDAGNet(dag, copies=copies), dag, None


def _attack(net: SparseDAGNet, spec: dict[str, Any], test: Any, device: torch.device) -> list[dict[str, Any]]:
    """Every enabled attack on every copy: one flat measures record per copy."""
    cfg = spec["attacks"]
    seed = spec["seed"]
    per_attack: dict[str, list[Any]] = {}

    def images(n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        n = test.test_x.shape[0] if n is None else min(n, test.test_x.shape[0])
        return test.test_x[:n], test.test_y[:n]

    def as_list(result: Any) -> list[Any]:
        return result if isinstance(result, list) else [result]

    if cfg["fgsm"]["enabled"]:
        per_attack["fgsm"] = as_list(attacks.FGSM(eps=cfg["fgsm"]["eps"])(net, *images(cfg["fgsm"]["images"])))
    if cfg["min_fgsm"]["enabled"]:
        c = cfg["min_fgsm"]
        attack = attacks.MinimalFGSM(start=c["start"], step=c["step"], max_eps=c["max_eps"])
        per_attack["min_fgsm"] = as_list(attack(net, *images(c["images"])))
    if cfg["onepixel"]["enabled"]:
        c = cfg["onepixel"]
        attack = attacks.OnePixel(
            pop_size=c["pop_size"], max_iter=c["max_iter"], n_images=c["images"],
            strategy=c["strategy"], seed=derive_seed(seed, "onepixel") % (2**31),
        )
        per_attack["onepixel"] = as_list(attack(net, test.test_x, test.test_y))
    if cfg["pgd"]["enabled"]:
        c = cfg["pgd"]
        attack = attacks.PGD(eps=c["eps"], step_size=c["step_size"], steps=c["steps"], random_start=c["random_start"],
                             seed=derive_seed(seed, "pgd") % (2**31))
        per_attack["pgd"] = as_list(attack(net, *images(c["images"])))
    records = []
    for k in range(net.copies):
        results = {name: values[k] for name, values in per_attack.items()}
        # measures that do not apply to an attack (None, e.g. FGSM's avg_eps) are left out
        row = {key: value for key, value in robustness.record(results).items() if value is not None}
        if "fgsm" in results and results["fgsm"].n_zero_grad is not None:
            row["fgsm_n_zero_grad"] = int(results["fgsm"].n_zero_grad)
        records.append(row)
    return records


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_unit(spec: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Run one unit and return its record (no file or database is written).

    Parameters
    ----------
    spec : dict
        The unit's spec from :func:`structrob.study.plan.plan_units` (everything that
        determines its result).
    payload : dict
        Not part of the result's identity: ``unit_id``, ``device``, ``threads``,
        ``data_root``, and for a pruning step > 0 the previous step's stacked
        ``previous_weights`` (bytes).

    Returns
    -------
    dict
        ``graph`` (parameters, edges, properties, distributions), ``runs`` (one per
        initialisation: status, error, metrics), ``weights`` (one state_dict as bytes per
        initialisation), ``timings`` (seconds per stage).
    """
    torch.set_num_threads(payload.get("threads", 1))
    device = resolve_device(payload.get("device", "auto"))
    unit_id = payload["unit_id"]
    inits = spec["train"]["inits"]
    seed = spec["seed"]
    timings: dict[str, float] = {}
    start = time.perf_counter()
    train_data, test = _dataset(spec, payload.get("data_root"))
    net, dag, prior = build_model(spec, copies=len(inits))
    step = spec.get("step")
    extra: dict[str, Any] = {}
    if spec["kind"] == "pruning" and step:
        net.load_state_dict(weights_from_bytes(payload["previous_weights"]))
        removed = pruning.prune_random(net, spec["pruning"]["fraction"], seed=derive_seed(seed, "prune", step))
        extra["removed_edges"] = len(removed)
        epochs = spec["pruning"]["retrain_epochs"]
    else:
        initialize(net, inits, seed=derive_seed(seed, "init", unit_id if spec["kind"] == "prior" else "pruning"))
        epochs = spec["train"]["epochs"]
    net.to(device)
    timings["build"] = time.perf_counter() - start

    start = time.perf_counter()
    if epochs > 0:
        history = fit(net, train_data, epochs=epochs, batch_size=spec["train"]["batch_size"], lr=spec["train"]["lr"],
                      seed=derive_seed(seed, "order", unit_id) % (2**63))
    else:
        history = [{"loss": [], "failed": False, "error": None} for _ in inits]
    clean = evaluate(net, test.test_x, test.test_y)
    timings["train"] = time.perf_counter() - start

    start = time.perf_counter()
    measures = _attack(net, spec, test, device)
    timings["attack"] = time.perf_counter() - start

    start = time.perf_counter()
    net_cpu = net.to("cpu")
    if spec["kind"] == "pruning":
        hidden = pruning.hidden_dag(net_cpu)
        props = properties.graph_properties(hidden)
        props["dag_parameters"] = net_cpu.count_parameters()  # the network's, not a rebuilt one's
        dists = properties.graph_distributions(hidden)
        extra.update({f"cut_off_{k}": v for k, v in pruning.cut_off_vertices(net_cpu).items()})
        edges = [list(e) for e in hidden.edges]
        n_vertices = hidden.number_of_nodes()
    else:
        props = properties.graph_properties(dag, prior)
        dists = properties.graph_distributions(dag, prior)
        edges = [list(e) for e in dag.edges]
        n_vertices = dag.number_of_nodes()
    timings["properties"] = time.perf_counter() - start

    runs = []
    for k, init in enumerate(inits):
        metrics = {"accuracy": clean[k]["accuracy"], "f1_macro": clean[k]["f1_macro"], **measures[k]}
        metrics["final_loss"] = history[k]["loss"][-1] if history[k]["loss"] else None
        runs.append({
            "init": init,
            "copy": k,
            "status": "failed" if history[k]["failed"] else "ok",
            "error": history[k]["error"],
            "metrics": {key: _finite(v) for key, v in metrics.items()},
        })
    return {
        "unit_id": unit_id,
        "kind": spec["kind"],
        "step": step,
        "graph": {
            "generator": spec.get("generator", "dense_layered"),
            "params": spec.get("params", {"widths": spec.get("pruning", {}).get("widths")}),
            "seed": spec.get("graph_seed"),
            "n_parameters": net_cpu.count_parameters(),
            "n_vertices": n_vertices,
            "edges": edges,
            "properties": {**props, **extra},
            "distributions": dists,
        },
        "runs": runs,
        "weights": [weights_to_bytes(net_cpu.copy(k).state_dict()) for k in range(len(inits))],
        "stacked_weights": weights_to_bytes(net_cpu.state_dict()) if spec["kind"] == "pruning" else None,
        "timings": timings,
    }


def run_unit_safely(spec: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """:func:`run_unit`, turning an exception into a failure record for the driver."""
    try:
        return run_unit(spec, payload)
    except Exception as error:  # noqa: BLE001 - any failure of one unit must not stop the study
        return {"unit_id": payload["unit_id"], "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
