"""Training and evaluation of (stacked) classifiers: Adam, cross-entropy, accuracy and macro F1.

A model holding K stacked copies (:class:`structrob.model.SparseDAGNet` with ``copies = K``)
is trained as K independent models in one pass: the loss is the SUM over copies of each copy's
mean cross-entropy, so every copy receives exactly the gradient it would receive alone, and
Adam's update is elementwise, so copies never interact.

References
----------
.. [1] D. P. Kingma, J. Ba, "Adam: A method for stochastic optimization", ICLR 2015.
.. [2] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor, nn

from structrob.validation import check_int

__all__ = ["evaluate", "fit", "macro_f1", "predict"]


def _device(net: nn.Module) -> torch.device:
    param = next(net.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _per_copy(logits: Tensor) -> Tensor:
    """Logits as ``[K, B, C]`` whatever the model returned (``[B, C]`` means K = 1)."""
    return logits.unsqueeze(0) if logits.dim() == 2 else logits


def fit(
    net: nn.Module,
    data: Any,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Train ``net`` with Adam and cross-entropy; every stacked copy as an independent model.

    Adam (lr ``lr``, betas 0.9/0.999, eps 1e-8, no weight decay) [1]_, mini-batches of
    ``batch_size`` in an order shuffled per epoch by a generator seeded with ``seed``, the last
    (possibly smaller) batch kept. The final model is the last epoch's: no model selection on
    the test set. The study's settings are the defaults [2]_.

    Parameters
    ----------
    net : torch.nn.Module
        Maps pixels ``[B, 784]`` in [0, 1] to logits ``[B, C]`` or ``[K, B, C]``.
    data : object
        With ``train_x`` (float Tensor [N, 784], range [0, 1]) and ``train_y`` (int64 [N]),
        e.g. :func:`structrob.data.load`'s result. Moved to the model's device once.
    epochs, batch_size : int
        ``>= 1``.
    lr : float
        Learning rate, ``> 0``.
    seed : int
        Seed of the shuffling order.
    progress : bool
        Show a tqdm bar over epochs.

    Returns
    -------
    list of dict
        One per copy: ``loss`` (mean training loss per epoch), ``failed`` (bool), ``error``
        (why it failed, else None), ``seconds`` (wall time of the whole fit). A copy whose loss
        becomes NaN or infinite is stopped (excluded from the loss, its weights restored to the
        last finite state) and reported failed; the other copies go on training.

    Examples
    --------
    >>> import networkx as nx, torch, types
    >>> from structrob.model import SparseDAGNet
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.rand(64, 4, generator=g); y = (x[:, 0] > 0.5).long()
    >>> net = SparseDAGNet(nx.DiGraph([(1, 0)]), n_in=4, n_out=2, copies=2, normalize=None)
    >>> history = fit(net, types.SimpleNamespace(train_x=x, train_y=y), epochs=2, batch_size=16)
    >>> [len(h["loss"]) for h in history], [h["failed"] for h in history]
    ([2, 2], [False, False])
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        check_int(name, value, 1)
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    return _fit(net, data, epochs, batch_size, lr, seed, progress, kernels=True)


class _AutogradSteps:
    """Training steps through the model's forward and autograd: any ``nn.Module``."""

    def __init__(self, net: nn.Module, lr: float, copies: int) -> None:
        self.net, self.copies = net, copies
        params = [p for p in net.parameters() if p.requires_grad]
        self.stacked = [p for p in params if p.dim() > 0 and p.shape[0] == copies]
        self.optimizer = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, fused=True)

    def forward(self, x: Tensor, y: Tensor, batch: Tensor) -> Tensor:
        logits = _per_copy(self.net(x[batch]))
        self.losses = nn.functional.cross_entropy(
            logits.transpose(1, 2), y[batch].expand(self.copies, -1), reduction="none"
        ).mean(1)
        return self.losses

    def backward(self, active: Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        torch.where(active, self.losses, torch.zeros_like(self.losses)).sum().backward()
        self.losses = None
        self.optimizer.step()

    def snapshot(self, stopped: Tensor) -> list[Tensor]:
        return [p.detach()[stopped].clone() for p in self.stacked]

    @torch.no_grad()
    def restore(self, stopped: Tensor, saved: list[Tensor]) -> None:
        for p, values in zip(self.stacked, saved):
            p[stopped] = values

    def inputs(self, x: Tensor) -> Tensor:
        return x

    def finish(self) -> None:
        pass


class _KernelSteps:
    """Training steps of :class:`structrob._kernels.StackedTrainer` (SparseDAGNet, CPU)."""

    def __init__(self, net: nn.Module, lr: float) -> None:
        from structrob._kernels import StackedTrainer

        self.trainer = StackedTrainer(net, lr=lr, betas=(0.9, 0.999), eps=1e-8)
        self.forward = self.trainer.forward
        self.snapshot = self.trainer.snapshot
        self.restore = self.trainer.restore
        self.finish = self.trainer.write_back

    def inputs(self, x: Tensor) -> Any:
        """The pixels as the trainer reads them (:meth:`StackedTrainer.inputs`)."""
        return self.trainer.inputs(x)

    def backward(self, active: Tensor) -> None:
        self.trainer.backward(active)


def _fit(
    net: nn.Module,
    data: Any,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    progress: bool,
    kernels: bool,
) -> list[dict[str, Any]]:
    """:func:`fit`; ``kernels=False`` trains through autograd even where the kernels apply."""
    from structrob import _kernels

    device = _device(net)
    x = torch.as_tensor(data.train_x).to(device, torch.float32)
    y = torch.as_tensor(data.train_y).to(device, torch.long)
    x = x.reshape(x.shape[0], -1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"train_x has {x.shape[0]} rows but train_y has {y.shape[0]}")
    copies = getattr(net, "copies", 1)
    if kernels and _kernels.supports(net, device):
        steps: Any = _KernelSteps(net, lr)
    else:
        steps = _AutogradSteps(net, lr, copies)
    n = x.shape[0]
    x = steps.inputs(x)  # the kernels' form of the pixels, made once
    generator = torch.Generator().manual_seed(seed)
    active = torch.ones(copies, dtype=torch.bool, device=device)
    errors: list[str | None] = [None] * copies
    history: list[list[float]] = [[] for _ in range(copies)]
    was_training = net.training
    net.train()
    start = time.perf_counter()
    epoch_iter = range(epochs)
    if progress:
        from structrob._bars import progress_bar

        epoch_iter = progress_bar(epoch_iter, desc="train", unit="epoch", leave=False)
    try:
        for epoch in epoch_iter:
            order = torch.randperm(n, generator=generator).to(device)
            total = torch.zeros(copies, dtype=torch.float64, device=device)
            for first in range(0, n, batch_size):
                batch = order[first : first + batch_size]
                losses = steps.forward(x, y, batch)
                if not bool(torch.isfinite(losses).all()):
                    finite = torch.isfinite(losses)
                    newly = active & ~finite
                    for k in newly.nonzero().flatten().tolist():
                        value = float(losses[k].detach())
                        errors[k] = f"non-finite training loss ({value}) in epoch {epoch + 1}"
                    active &= finite
                    if not bool(active.any()):
                        break
                stopped = None if errors.count(None) == copies else ~active
                # Adam's momentum would keep moving a stopped copy: restore it after the step.
                snapshot = None if stopped is None else steps.snapshot(stopped)
                steps.backward(active)
                if stopped is not None:
                    steps.restore(stopped, snapshot)
                total += losses.detach().double() * batch.numel()
            for k in range(copies):
                history[k].append(float(total[k]) / n if errors[k] is None else float("nan"))
            if not bool(active.any()):
                break
    finally:
        steps.finish()
        net.train(was_training)
    seconds = time.perf_counter() - start
    return [
        {
            "loss": history[k],
            "failed": errors[k] is not None,
            "error": errors[k],
            "seconds": seconds,
        }
        for k in range(copies)
    ]


@torch.no_grad()
def predict(net: nn.Module, x: Tensor, batch_size: int = 10_000) -> Tensor:
    """Logits of every copy for pixels ``x``, in eval mode and batches (the mode is restored).

    Parameters
    ----------
    net : torch.nn.Module
    x : Tensor [N, 784] or [N, 1, 28, 28], range [0, 1]
    batch_size : int

    Returns
    -------
    Tensor [K, N, C]
        On the model's device (K = 1 for a single model).

    Examples
    --------
    >>> import torch
    >>> predict(torch.nn.Linear(4, 3), torch.rand(5, 4)).shape
    torch.Size([1, 5, 3])
    """
    device = _device(net)
    was_training = net.training
    net.eval()
    try:
        chunks = [
            _per_copy(net(x[i : i + batch_size].to(device)))
            for i in range(0, x.shape[0], batch_size)
        ]
    finally:
        net.train(was_training)
    return torch.cat(chunks, dim=1)


def macro_f1(pred: Tensor, target: Tensor, n_classes: int) -> float:
    """Macro-averaged F1: the unweighted mean over classes of ``2 TP / (2 TP + FP + FN)``.

    A class with no true and no predicted example (0 / 0) scores 0.

    Parameters
    ----------
    pred, target : int Tensor [N]
        Predicted and true classes in ``0 .. n_classes - 1``.
    n_classes : int

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> import torch
    >>> # (2/3 + 4/5) / 2
    >>> round(macro_f1(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), 2), 4)
    0.7333
    """
    confusion = torch.bincount(target.long() * n_classes + pred.long(), minlength=n_classes**2)
    confusion = confusion.reshape(n_classes, n_classes).double()
    tp = confusion.diagonal()
    denominator = confusion.sum(0) + confusion.sum(1)  # (TP + FP) + (TP + FN)
    f1 = torch.where(denominator > 0, 2 * tp / denominator.clamp(min=1), torch.zeros_like(tp))
    return float(f1.mean())


def evaluate(
    net: nn.Module, x: Tensor, y: Tensor, batch_size: int = 10_000
) -> list[dict[str, float]]:
    """Clean accuracy and macro F1 of every copy on ``(x, y)``.

    Parameters
    ----------
    net : torch.nn.Module
    x : Tensor [N, 784] or [N, 1, 28, 28], range [0, 1]
    y : int Tensor [N]
    batch_size : int

    Returns
    -------
    list of dict
        One ``{"accuracy": ..., "f1_macro": ...}`` per copy, fractions in [0, 1]; F1 is macro
        over the classes (the logits' width).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(2, 2)
    >>> with torch.no_grad(): _ = net.weight.copy_(torch.eye(2)); _ = net.bias.zero_()
    >>> evaluate(net, torch.tensor([[1., 0.], [0., 1.], [1., 0.]]), torch.tensor([0, 1, 1]))
    [{'accuracy': 0.6666666666666666, 'f1_macro': 0.6666666666666666}]
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
    logits = predict(net, x, batch_size)
    y = y.to(logits.device)
    results = []
    for copy_logits in logits:
        pred = copy_logits.argmax(1)
        results.append(
            {
                "accuracy": float((pred == y).double().mean()),
                "f1_macro": macro_f1(pred, y, copy_logits.shape[1]),
            }
        )
    return results
