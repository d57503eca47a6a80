"""What every attack shares: the result, the model adapter, the input checks and the base class.

An attack subclasses :class:`Attack` and implements ``_attack(runner, x, y)`` only: the base
class's ``__call__`` puts the model in eval mode, wraps it in a :class:`Runner`, validates the
inputs and returns one result per copy of a stacked model, once for every attack.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from structrob import robustness

SIDE = 28  # MNIST images are SIDE x SIDE; One-Pixel needs the grid
N_PIXELS = SIDE * SIDE


# ---------------------------------------------------------------------------------------------
# result


@dataclass(eq=False)
class AttackResult:
    """Outcome of one attack on one model (one copy of a stacked model); tensors on the CPU.

    Every field is per image and lines up with the caller's ``images``: entry i belongs to
    ``images[i]`` when every image is attacked, and to ``images[indices[i]]`` when a subset is
    (One-Pixel), with ``indices`` ascending.

    Attributes
    ----------
    success : Tensor bool [N]
        The clean image is classified correctly AND the adversarial image is not.
    adv : Tensor float [N, ...]
        Adversarial images, same shape per image as the input, range [0, 1].
    pred : Tensor int64 [N]
        Class predicted for ``adv``.
    confidence : Tensor float64 [N]
        Softmax probability of ``pred`` for ``adv``.
    clean_correct : Tensor bool [N]
        The clean image is classified correctly (the error-rate denominator).
    eps : Tensor float64 [N] or None
        Minimal eps per image (NaN where censored or misclassified when clean); None for
        attacks without one.
    n_zero_grad : int or None
        Gradient attacks: number of images whose input gradient is exactly zero.
    indices : Tensor int64 [N] or None
        One-Pixel: positions in the caller's ``images`` of the images attacked, ascending
        (``N`` is then the number attacked and every other field refers to them).
    pixel : Tensor float64 [N, 3] or None
        One-Pixel: ``(row, col, intensity)`` of the modified pixel, intensity in [0, 255]
        (the pixel is set to ``intensity / 255``); the adversarial pixel on successes, the
        best candidate found otherwise.
    iterations : Tensor int64 [N] or None
        One-Pixel: DE generations run (0 = fooled by the initial population; always 0 for
        the exhaustive search of ExactOnePixel).
    n_queries : Tensor int64 [N] or None
        One-Pixel: candidates evaluated, ``pop_size * (iterations + 1)`` (ExactOnePixel: the
        piece ends evaluated).
    """

    success: Tensor
    adv: Tensor
    pred: Tensor
    confidence: Tensor
    clean_correct: Tensor
    eps: Tensor | None = None
    n_zero_grad: int | None = None
    indices: Tensor | None = None
    pixel: Tensor | None = None
    iterations: Tensor | None = None
    n_queries: Tensor | None = None

    def measures(self) -> dict[str, float | int | None]:
        """Error rate, average confidence, average eps and counts.

        See :func:`structrob.robustness.measures` for the definitions and denominators.

        Examples
        --------
        >>> import torch
        >>> r = AttackResult(success=torch.tensor([True, False]), adv=torch.zeros(2, 784),
        ...                  pred=torch.tensor([3, 1]), confidence=torch.tensor([0.75, 0.9]),
        ...                  clean_correct=torch.tensor([True, True]))
        >>> r.measures()["error_rate"], r.measures()["avg_confidence"]
        (0.5, 0.75)
        """
        return robustness.measures(self)


def split_copies(
    image_shape: tuple[int, ...],
    success: Tensor,
    adv: Tensor,
    pred: Tensor,
    confidence: Tensor,
    clean_correct: Tensor,
    eps: Tensor | None = None,
    n_zero_grad: Tensor | None = None,
) -> list[AttackResult]:
    """One result per copy from ``[K, N, ...]`` tensors, image i in row i of every copy."""
    N = adv.shape[1]
    return [
        AttackResult(
            success=success[k],
            adv=adv[k].reshape(N, *image_shape),
            pred=pred[k],
            confidence=confidence[k],
            clean_correct=clean_correct[k],
            eps=None if eps is None else eps[k],
            n_zero_grad=None if n_zero_grad is None else int(n_zero_grad[k]),
        )
        for k in range(adv.shape[0])
    ]


# ---------------------------------------------------------------------------------------------
# model access


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode inside, each submodule's own mode restored after (not one flag for all)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


class Runner:
    """Queries a model as ``[K, B, D] -> [K, B, C]`` whether it holds one copy or K.

    Parameters
    ----------
    model : torch.nn.Module
        A single classifier, or one holding ``model.copies`` stacked copies.
    image_shape : tuple of int
        Per-image shape the model reads when it holds one copy (``(784,)`` or ``(1, 28, 28)``).
    """

    def __init__(self, model: nn.Module, image_shape: tuple[int, ...] = (N_PIXELS,)) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        copies = getattr(model, "copies", 1)
        if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
            raise ValueError(f"model.copies must be a positive integer, got {copies!r}")
        self.model = model
        self.copies = copies
        self.image_shape = image_shape
        tensors = [*model.parameters(), *model.buffers()]
        floats = [t for t in tensors if t.is_floating_point()]
        self.device = tensors[0].device if tensors else torch.device("cpu")
        self.dtype = floats[0].dtype if floats else torch.float32
        self.has_rank1 = callable(getattr(model, "input_layer", None)) and callable(
            getattr(model, "forward_from_input", None)
        )
        self.has_lines = callable(getattr(model, "input_layer", None)) and callable(
            getattr(model, "linear_region", None)
        )

    def _check(self, out: Tensor, rows: int) -> Tensor:
        if out.dim() != 3 or out.shape[:2] != (self.copies, rows):
            raise ValueError(
                f"model returned logits of shape {tuple(out.shape)}; expected [B, C] for a "
                f"single model or [K, B, C] with K = model.copies = {self.copies}"
            )
        return out

    def logits(self, x: Tensor) -> Tensor:
        """``x`` [K, B, D] (copy k reads x[k]) -> logits [K, B, C]."""
        rows = x.shape[1]
        if self.copies == 1:
            out = self.model(x[0].reshape(rows, *self.image_shape))
            return self._check(out.unsqueeze(0) if out.dim() == 2 else out, rows)
        return self._check(self.model(x), rows)

    def logits_shared(self, x: Tensor) -> Tensor:
        """``x`` [B, D], the same batch for every copy -> logits [K, B, C]."""
        rows = x.shape[0]
        out = self.model(x.reshape(rows, *self.image_shape) if self.copies == 1 else x)
        return self._check(out.unsqueeze(0) if out.dim() == 2 else out, rows)


def prepare(images: Any, labels: Any, runner: Runner) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """Validated inputs: x [N, 784] (model dtype and device), y [N] int64, per-image shape."""
    if not isinstance(images, Tensor):
        raise TypeError(
            f"images must be a torch.Tensor of pixels in [0, 1], got {type(images).__name__}"
        )
    if not isinstance(labels, Tensor):
        raise TypeError(
            f"labels must be a torch.Tensor of class indices, got {type(labels).__name__}"
        )
    if images.dim() == 2 and images.shape[1] == N_PIXELS:
        image_shape: tuple[int, ...] = (N_PIXELS,)
    elif images.dim() == 4 and tuple(images.shape[1:]) == (1, SIDE, SIDE):
        image_shape = (1, SIDE, SIDE)
    else:
        raise ValueError(
            f"images must have shape [N, {N_PIXELS}] or [N, 1, {SIDE}, {SIDE}], "
            f"got {tuple(images.shape)}"
        )
    if images.shape[0] == 0:
        raise ValueError("images is empty; pass at least one image")
    if not images.is_floating_point():
        raise TypeError(
            "images must be floating point in [0, 1] (divide uint8 pixels by 255), "
            f"got {images.dtype}"
        )
    if not bool(torch.isfinite(images).all()) or images.min() < 0 or images.max() > 1:
        raise ValueError("images must be finite pixels in [0, 1] (the model normalises internally)")
    n = images.shape[0]
    if labels.shape != (n,) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(
            f"labels must be an integer tensor of shape [{n}], "
            f"got {labels.dtype} {tuple(labels.shape)}"
        )
    if labels.min() < 0:
        raise ValueError("labels must be class indices >= 0")
    x = images.detach().reshape(n, N_PIXELS).to(device=runner.device, dtype=runner.dtype)
    y = labels.detach().to(device=runner.device, dtype=torch.long)
    return x, y, image_shape


def check_labels(y: Tensor, n_classes: int) -> None:
    """Refuse labels the model's ``n_classes`` logits cannot score."""
    if n_classes < 2:
        raise ValueError(f"the model must output logits for at least 2 classes, got {n_classes}")
    if int(y.max()) >= n_classes:
        raise ValueError(
            f"labels must be < {n_classes}, the number of classes the model outputs; "
            f"got {int(y.max())}"
        )


@contextmanager
def opened(
    model: nn.Module, images: Any, labels: Any, check: Callable[[Runner], None] | None = None
) -> Iterator[tuple[Runner, Tensor, Tensor]]:
    """The opening every attack shares: ``(runner, x, y)`` for the model in eval mode.

    Inside, the model is in eval mode (each submodule's mode restored after) and autograd is
    off: the gradient attacks switch it on exactly where they differentiate, so every other
    forward pass takes the model's inference path. A model with ``frozen_layers()``
    (:meth:`structrob.model.SparseDAGNet.frozen_layers`) is inside it too: an attack never
    changes the weights, so the inference layers are built once per call, not once per pass.
    ``check(runner)`` may refuse the model before the inputs are validated (model problems are
    reported first).
    """
    frozen = getattr(model, "frozen_layers", None)
    with evaluating(model), torch.no_grad(), frozen() if callable(frozen) else nullcontext():
        runner = Runner(model)
        if check is not None:
            check(runner)
        x, y, runner.image_shape = prepare(images, labels, runner)
        yield runner, x, y


# ---------------------------------------------------------------------------------------------
# small tensor helpers


def log_odds(logits: Tensor, classes: Tensor) -> Tensor:
    """Log-odds ``log(p / (1 - p))`` of the softmax probability p of ``classes`` [...], float64.

    Equals ``z_c - logsumexp_{j != c} z_j``: strictly increasing in p, so minimising it is
    minimising p, and it keeps ordering candidates long after p itself rounds to 1 (in float64
    from a margin of about 37, in float32 from about 17).

    Examples
    --------
    >>> import torch
    >>> z = torch.tensor([[2.0, 0.0, 0.0]])
    >>> p = torch.softmax(z, 1)[0, 0]
    >>> bool(torch.isclose(log_odds(z, torch.tensor([0]))[0], (p / (1 - p)).log().double()))
    True
    """
    index = classes.unsqueeze(-1)
    own = logits.gather(-1, index).squeeze(-1)
    others = torch.logsumexp(logits.scatter(-1, index, -math.inf), dim=-1)
    return (own - others).double()


def softmax_of(logits: Tensor, classes: Tensor) -> Tensor:
    """Softmax probability (float64) of ``classes`` [...] under ``logits`` [..., C]."""
    return torch.softmax(logits.double(), dim=-1).gather(-1, classes.unsqueeze(-1)).squeeze(-1)


def batches(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(n)``, ``size`` long except possibly the last."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def padded_slots(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Per-row positions of True entries of ``mask`` [K, N], padded to the longest row.

    Returns ``index`` [K, A] (padding repeats a valid column, or 0) and ``valid`` [K, A].
    """
    counts = mask.sum(1)
    width = int(counts.max()) if mask.numel() else 0
    # a stable sort puts each row's True columns first, in column order
    order = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices[:, :width]
    valid = torch.arange(width, device=mask.device) < counts[:, None]
    return torch.where(valid, order, order[:, :1]), valid


# ---------------------------------------------------------------------------------------------
# the base class


class Attack:
    """Base of every attack: configured once, called as ``attack(model, images, labels)``.

    ``__call__`` does what all attacks share, once: eval mode (each submodule's mode restored
    after), the model adapter (:class:`Runner`), input validation and the split into one result
    per copy. A subclass implements ``_attack(runner, x, y)``, returning one
    :class:`AttackResult` per copy, and may refuse a model in ``_check_model(runner)``.

    Examples
    --------
    A do-nothing attack: the "adversarial" images are the clean ones, so nothing succeeds.

    >>> import torch
    >>> class Clean(Attack):
    ...     def _attack(self, runner, x, y):
    ...         logits = runner.logits_shared(x)
    ...         pred = logits.argmax(-1)
    ...         adv = x.expand(runner.copies, -1, -1)
    ...         return split_copies(runner.image_shape, pred != pred, adv, pred,
    ...                             softmax_of(logits, pred), pred == y)
    >>> model = torch.nn.Linear(784, 3)
    >>> images = torch.rand(4, 784)
    >>> labels = model(images).argmax(1)
    >>> result = Clean()(model, images, labels)
    >>> result.measures()["n_correct"], result.measures()["error_rate"]
    (4, 0.0)
    """

    def __call__(
        self, model: nn.Module, images: Tensor, labels: Tensor
    ) -> AttackResult | list[AttackResult]:
        """Attack ``images`` of true classes ``labels``; neither the inputs nor the model change.

        Runs on the device of the model's parameters (CPU for a model without any) and never
        touches the model's ``.grad``.

        Parameters
        ----------
        model : torch.nn.Module
            Classifier of pixels in [0, 1], single or stacked (``model.copies``); the class
            docstring says what else this attack needs of it.
        images : Tensor [N, 784] or [N, 1, 28, 28], range [0, 1]
        labels : Tensor int [N]
            True classes.

        Returns
        -------
        AttackResult, or a list of K results for a model with ``copies = K > 1``
            Entry i of every field belongs to ``images[i]``, or to ``images[indices[i]]``
            (``indices`` ascending) for an attack of a subset.
        """
        with opened(model, images, labels, self._check_model) as (runner, x, y):
            results = self._attack(runner, x, y)
        return results[0] if len(results) == 1 else results

    def _check_model(self, runner: Runner) -> None:
        """Raise if this attack cannot run on ``runner.model``; any model by default."""

    def _attack(self, runner: Runner, x: Tensor, y: Tensor) -> list[AttackResult]:
        """One result per copy for the validated ``x`` [N, 784] and ``y`` [N]."""
        raise NotImplementedError
