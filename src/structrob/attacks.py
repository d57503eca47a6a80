"""Adversarial attacks on (stacked) MNIST classifiers: FGSM, minimal-eps FGSM, One-Pixel (DE and exact), PGD.

Attacks are configured once and called like torchattacks: ``attack(model, images, labels)``
with pixels in [0, 1] (``[N, 784]`` or ``[N, 1, 28, 28]``) and integer labels ``[N]``. Every
call puts the model in eval mode and restores each submodule's mode afterwards, never modifies
the caller's tensors or the model's ``.grad``, runs on the device of the model's parameters
(CPU for a model without any) and returns an :class:`AttackResult` whose tensors are on the CPU.

A model holding ``K = model.copies > 1`` stacked copies (:class:`structrob.model.SparseDAGNet`)
is attacked per copy in one call and gives a list of K results, each equal to attacking that
copy alone. The generic path needs only ``model(x) -> logits [B, C]`` (K == 1) or, for K > 1,
``model(x [B, 784]) -> [K, B, C]`` and ``model(x [K, B, 784]) -> [K, B, C]`` (copy k reads
``x[k]``). One-Pixel additionally uses ``model.input_layer()`` with
``model.linear_region(pre0, direction)`` (exact pixel-line tables) or with
``model.forward_from_input(pre0)`` (the rank-1 first-layer path) when present.

Measures (error rate, average confidence, average eps) are computed by
:mod:`structrob.robustness` from the result (``result.measures()``).

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
.. [2] I. J. Goodfellow, J. Shlens, C. Szegedy, "Explaining and harnessing adversarial
   examples", ICLR 2015.
.. [3] J. Su, D. V. Vargas, K. Sakurai, "One pixel attack for fooling deep neural networks",
   IEEE Transactions on Evolutionary Computation 23(5), 2019.
.. [4] R. Storn, K. Price, "Differential evolution - a simple and efficient heuristic for
   global optimization over continuous spaces", Journal of Global Optimization 11, 1997.
.. [5] A. Kurakin, I. Goodfellow, S. Bengio, "Adversarial examples in the physical world",
   ICLR workshop 2017.
.. [6] A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, "Towards deep learning models
   resistant to adversarial attacks", ICLR 2018.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from structrob import robustness

__all__ = ["FGSM", "PGD", "AttackResult", "ExactOnePixel", "MinimalFGSM", "OnePixel", "eps_grid", "select_images"]

SIDE = 28  # MNIST images are SIDE x SIDE; One-Pixel needs the grid
N_PIXELS = SIDE * SIDE


# ---------------------------------------------------------------------------------------------
# result


@dataclass(eq=False)
class AttackResult:
    """Outcome of one attack on one model (one copy of a stacked model); tensors on the CPU.

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
        One-Pixel: positions in the caller's ``images`` of the images attacked (``N`` is then
        the number attacked and every other field refers to them).
    pixel : Tensor float64 [N, 3] or None
        One-Pixel: ``(row, col, intensity)`` of the modified pixel, intensity in [0, 255]
        (the pixel is set to ``intensity / 255``); the adversarial pixel on successes, the
        best candidate found otherwise.
    iterations : Tensor int64 [N] or None
        One-Pixel: DE generations run (0 = fooled by the initial population).
    n_queries : Tensor int64 [N] or None
        One-Pixel: candidates evaluated, ``pop_size * (iterations + 1)``.
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
        """Error rate, average confidence, average eps and counts (see :func:`structrob.robustness.measures`).

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


# ---------------------------------------------------------------------------------------------
# model access


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode inside, each submodule's own mode restored after (not one flag for all)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


class _Runner:
    """Queries a model as ``[K, B, D] -> [K, B, C]`` whether it holds one copy or K."""

    def __init__(self, model: nn.Module, image_shape: tuple[int, ...]) -> None:
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
                f"model returned logits of shape {tuple(out.shape)}; expected [B, C] for a single "
                f"model or [K, B, C] with K = model.copies = {self.copies}"
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


def _prepare(images: Any, labels: Any, runner: _Runner | None = None) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """Validated inputs as x [N, 784] (model dtype and device), y [N] int64, and the per-image shape."""
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor of pixels in [0, 1], got {type(images).__name__}")
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a torch.Tensor of class indices, got {type(labels).__name__}")
    if images.dim() == 2 and images.shape[1] == N_PIXELS:
        image_shape: tuple[int, ...] = (N_PIXELS,)
    elif images.dim() == 4 and tuple(images.shape[1:]) == (1, SIDE, SIDE):
        image_shape = (1, SIDE, SIDE)
    else:
        raise ValueError(
            f"images must have shape [N, {N_PIXELS}] or [N, 1, {SIDE}, {SIDE}], got {tuple(images.shape)}"
        )
    if images.shape[0] == 0:
        raise ValueError("images is empty; pass at least one image")
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point in [0, 1] (divide uint8 pixels by 255), got {images.dtype}")
    if not bool(torch.isfinite(images).all()) or images.min() < 0 or images.max() > 1:
        raise ValueError("images must be finite pixels in [0, 1] (the model normalises internally)")
    if labels.shape != (images.shape[0],) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(
            f"labels must be an integer tensor of shape [{images.shape[0]}], got {labels.dtype} {tuple(labels.shape)}"
        )
    if labels.min() < 0:
        raise ValueError("labels must be class indices >= 0")
    device = runner.device if runner else torch.device("cpu")
    dtype = runner.dtype if runner else torch.float32
    x = images.detach().reshape(images.shape[0], N_PIXELS).to(device=device, dtype=dtype)
    y = labels.detach().to(device=device, dtype=torch.long)
    return x, y, image_shape


def _check_labels(y: Tensor, n_classes: int) -> None:
    if n_classes < 2:
        raise ValueError(f"the model must output logits for at least 2 classes, got {n_classes}")
    if int(y.max()) >= n_classes:
        raise ValueError(f"labels must be < {n_classes}, the number of classes the model outputs; got {int(y.max())}")


def _per_copy(results: list[AttackResult]) -> AttackResult | list[AttackResult]:
    return results[0] if len(results) == 1 else results


def _split_copies(
    image_shape: tuple[int, ...], success: Tensor, adv: Tensor, pred: Tensor, confidence: Tensor,
    clean_correct: Tensor, eps: Tensor | None = None, n_zero_grad: Tensor | None = None,
) -> AttackResult | list[AttackResult]:
    """One result per copy from ``[K, N, ...]`` tensors (a single result when K == 1)."""
    N = adv.shape[1]
    return _per_copy([
        AttackResult(
            success=success[k], adv=adv[k].reshape(N, *image_shape), pred=pred[k], confidence=confidence[k],
            clean_correct=clean_correct[k], eps=None if eps is None else eps[k],
            n_zero_grad=None if n_zero_grad is None else int(n_zero_grad[k]),
        )
        for k in range(adv.shape[0])
    ])


def _check_number(name: str, value: Any, low: float, high: float = math.inf, low_open: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{name} must be a number {bound}" + ("" if high == math.inf else f" and <= {high}") + f", got {value!r}")
    return float(value)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _log_odds(logits: Tensor, classes: Tensor) -> Tensor:
    """Log-odds ``log(p / (1 - p))`` of the softmax probability p of ``classes`` [...], float64.

    Equals ``z_c - logsumexp_{j != c} z_j``: strictly increasing in p, so minimising it is
    minimising p, and it keeps ordering candidates long after p itself rounds to 1 (in float64
    from a margin of about 37, in float32 from about 17).

    Examples
    --------
    >>> import torch
    >>> z = torch.tensor([[2.0, 0.0, 0.0]])
    >>> p = torch.softmax(z, 1)[0, 0]
    >>> bool(torch.isclose(_log_odds(z, torch.tensor([0]))[0], (p / (1 - p)).log().double()))
    True
    """
    index = classes.unsqueeze(-1)
    own = logits.gather(-1, index).squeeze(-1)
    others = torch.logsumexp(logits.scatter(-1, index, -math.inf), dim=-1)
    return (own - others).double()


def _softmax_of(logits: Tensor, classes: Tensor) -> Tensor:
    """Softmax probability (float64) of ``classes`` [...] under ``logits`` [..., C]."""
    return torch.softmax(logits.double(), dim=-1).gather(-1, classes.unsqueeze(-1)).squeeze(-1)


# ---------------------------------------------------------------------------------------------
# gradients


def _cross_entropy_direction(logits: Tensor, y: Tensor) -> Tensor:
    """d CE / d logits in float64, rescaled per row by a positive factor so it cannot vanish.

    For class c != y the derivative is p_c and for y it is -(sum of the others) (exactly, as the
    probabilities sum to one). Dividing every row by max_{c != y} p_c, done as a difference of
    log-probabilities, keeps the largest entry at 1 for any margin, whereas float32 or float64
    ``p_y - 1`` rounds to 0 for confident models and flips the gradient's direction. A positive
    factor per image leaves sign(grad_x) unchanged, which is all FGSM and PGD use.
    """
    log_p = torch.log_softmax(logits.double(), dim=-1)
    true = torch.zeros_like(log_p, dtype=torch.bool).scatter_(-1, y.unsqueeze(-1), True)
    log_p_others = log_p.masked_fill(true, -math.inf)
    scaled = torch.exp(log_p_others - log_p_others.amax(-1, keepdim=True))
    return scaled.masked_scatter(true, -scaled.sum(-1))


def _input_gradient(runner: _Runner, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Per-copy input gradient direction of the CE loss and the logits, for x [K, B, D].

    Images do not interact (eval mode), so one backward pass through the summed per-copy,
    per-image losses gives every copy's and every image's own gradient.
    """
    xg = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = runner.logits(xg)
        _check_labels(y, logits.shape[-1])
        direction = _cross_entropy_direction(logits.detach(), y.expand(runner.copies, -1))
        (grad,) = torch.autograd.grad(logits, xg, grad_outputs=direction.to(logits.dtype))
    return grad, logits.detach()


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


# ---------------------------------------------------------------------------------------------
# FGSM


class FGSM:
    """Fast Gradient Sign Method [2]_: ``x~ = clamp(x + eps * sign(grad_x CE(f(x), y)), 0, 1)``.

    The cross-entropy gradient is taken from float64 logits in a form that does not saturate
    (see Notes); images with an exactly zero input gradient are counted in ``n_zero_grad``
    (their adversarial image is the clean one).

    Parameters
    ----------
    eps : float
        L-inf budget in pixel units, in [0, 1]; the study uses 0.1 [1]_.
    batch_size : int
        Images per forward/backward pass (memory bound only; results do not depend on it).

    Notes
    -----
    ``dCE/dz_c = p_c`` for c != y and ``-(sum of those)`` for y; evaluated in float64 and scaled
    per image by ``1 / max_{c != y} p_c`` (a positive factor: the sign of the input gradient is
    that of the exact cross-entropy gradient). A float32 (or plain float64) loss rounds
    ``p_y - 1`` to zero for confident models, which drops the true class from the gradient.

    References
    ----------
    .. [1] Ben Amor et al., 2021 (see the module docstring).
    .. [2] Goodfellow et al., 2015 (see the module docstring).

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    >>> images, labels = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    >>> result = FGSM(eps=0.1)(model, images, labels)
    >>> result.adv.shape, bool(((result.adv - images).abs() <= 0.1 + 1e-6).all())
    (torch.Size([8, 1, 28, 28]), True)
    >>> sorted(result.measures())
    ['avg_confidence', 'avg_eps', 'error_rate', 'n_censored', 'n_correct', 'n_success']
    """

    def __init__(self, eps: float = 0.1, batch_size: int = 1000) -> None:
        self.eps = _check_number("eps", eps, 0.0, 1.0)
        self.batch_size = _check_int("batch_size", batch_size, 1)

    def __repr__(self) -> str:
        return f"FGSM(eps={self.eps})"

    def __call__(self, model: nn.Module, images: Tensor, labels: Tensor) -> AttackResult | list[AttackResult]:
        """Attack every image.

        Parameters
        ----------
        model : torch.nn.Module
            Classifier of pixels in [0, 1] (single, or stacked with ``model.copies``).
        images : Tensor [N, 784] or [N, 1, 28, 28], range [0, 1]
        labels : Tensor int [N]
            True classes.

        Returns
        -------
        AttackResult, or a list of K results for a model with ``copies = K > 1``.
        """
        with _evaluating(model):
            runner = _Runner(model, ())
            x, y, runner.image_shape = _prepare(images, labels, runner)
            K, (N, D) = runner.copies, x.shape
            adv = torch.empty(K, N, D, dtype=x.dtype)
            pred = torch.empty(K, N, dtype=torch.long)
            confidence = torch.empty(K, N, dtype=torch.float64)
            clean_correct = torch.empty(K, N, dtype=torch.bool)
            zero_grad = torch.zeros(K, dtype=torch.long)
            for batch in _batches(N, self.batch_size):
                xb, yb = x[batch], y[batch]
                grad, clean_logits = _input_gradient(runner, xb.expand(K, -1, -1), yb)
                zero_grad += (grad == 0).all(-1).sum(-1).cpu()
                adv_b = (xb + self.eps * grad.sign()).clamp_(0, 1)
                with torch.no_grad():
                    logits = runner.logits(adv_b)
                pred_b = logits.argmax(-1)
                adv[:, batch] = adv_b.cpu()
                pred[:, batch] = pred_b.cpu()
                confidence[:, batch] = _softmax_of(logits, pred_b).cpu()
                clean_correct[:, batch] = (clean_logits.argmax(-1) == yb).cpu()
        success = clean_correct & (pred != y.cpu())
        return _split_copies(runner.image_shape, success, adv, pred, confidence, clean_correct, n_zero_grad=zero_grad)


def eps_grid(start: float = 0.001, step: float = 0.01, max_eps: float = 1.0) -> np.ndarray:
    """The minimal-eps grid ``start + step * k`` for k = 0, 1, ... while the value is <= ``max_eps``.

    Every value is built from its integer k (no accumulated rounding); a value within 1e-12 of
    ``max_eps`` is included.

    Parameters
    ----------
    start : float
        First eps, > 0.
    step : float
        Grid spacing, > 0.
    max_eps : float
        Largest eps tried, in [start, 1].

    Returns
    -------
    numpy.ndarray float64 [n]

    Examples
    --------
    >>> g = eps_grid()
    >>> len(g), g[:3].tolist(), float(g[-1])
    (100, [0.001, 0.011, 0.021], 0.991)
    """
    start = _check_number("start", start, 0.0, 1.0, low_open=True)
    step = _check_number("step", step, 0.0, low_open=True)
    max_eps = _check_number("max_eps", max_eps, start, 1.0)
    k = np.arange(int(math.floor((max_eps - start) / step)) + 2)
    values = start + step * k
    return values[values <= max_eps + 1e-12]


def _padded_slots(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Per-row positions of True entries of ``mask`` [K, N], padded to the longest row.

    Returns ``index`` [K, A] (padding repeats a valid column, or 0) and ``valid`` [K, A].
    """
    counts = mask.sum(1)
    width = int(counts.max()) if mask.numel() else 0
    # a stable sort puts each row's True columns first, in column order
    order = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices[:, :width]
    valid = torch.arange(width, device=mask.device) < counts[:, None]
    return torch.where(valid, order, order[:, :1]), valid


class MinimalFGSM:
    """Minimal FGSM eps per image: the first eps of a grid whose FGSM image is misclassified.

    One input gradient per image (as :class:`FGSM`); then ``eps_k = start + step * k``
    (:func:`eps_grid`) is tried in increasing order and ``eps_x`` is the FIRST value that
    misclassifies [1]_. Misclassification need not be monotone in eps, so there is no
    bisection. Images never fooled up to ``max_eps`` are censored (``eps`` NaN, counted in
    ``measures()["n_censored"]``); images misclassified when clean get NaN and are not
    attacked. Only images not yet fooled are evaluated, ``eps_per_pass`` eps values per
    forward pass.

    Parameters
    ----------
    start, step, max_eps : float
        The grid (study: 0.001, 0.01, 1.0).
    eps_per_pass : int
        Grid values evaluated together per still-active image.
    batch_size : int
        Images per gradient pass.
    chunk_rows : int
        Most rows (images x eps values x copies) per forward pass, bounds memory.

    Returns
    -------
    AttackResult
        ``eps`` float64 [N] holds the grid value (float64) of the minimal eps; the evaluated
        image is ``clamp(x + float32(eps) * sign(grad), 0, 1)``. ``adv``, ``pred`` and
        ``confidence`` are at the minimal eps for fooled images and the clean ones elsewhere.

    References
    ----------
    .. [1] Ben Amor et al., 2021 (see the module docstring).
    .. [2] Goodfellow et al., 2015 (see the module docstring).

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    >>> images, labels = torch.rand(8, 784), torch.randint(0, 10, (8,))
    >>> result = MinimalFGSM(max_eps=0.5)(model, images, labels)
    >>> m = result.measures()
    >>> m["n_success"] + m["n_censored"] == m["n_correct"]
    True
    """

    def __init__(
        self,
        start: float = 0.001,
        step: float = 0.01,
        max_eps: float = 1.0,
        eps_per_pass: int = 8,
        batch_size: int = 1000,
        chunk_rows: int = 8192,
    ) -> None:
        self.grid = eps_grid(start, step, max_eps)
        self.start, self.step, self.max_eps = float(start), float(step), float(max_eps)
        self.eps_per_pass = _check_int("eps_per_pass", eps_per_pass, 1)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.chunk_rows = _check_int("chunk_rows", chunk_rows, 1)

    def __repr__(self) -> str:
        return f"MinimalFGSM(start={self.start}, step={self.step}, max_eps={self.max_eps})"

    def __call__(self, model: nn.Module, images: Tensor, labels: Tensor) -> AttackResult | list[AttackResult]:
        """Minimal eps of every image.

        Parameters
        ----------
        model : torch.nn.Module
            Classifier of pixels in [0, 1] (single, or stacked with ``model.copies``).
        images : Tensor [N, 784] or [N, 1, 28, 28], range [0, 1]
        labels : Tensor int [N]
            True classes.

        Returns
        -------
        AttackResult, or a list of K results for a model with ``copies = K > 1``.
        """
        with _evaluating(model):
            runner = _Runner(model, ())
            x, y, runner.image_shape = _prepare(images, labels, runner)
            K, N = runner.copies, x.shape[0]
            first = torch.full((K, N), -1, dtype=torch.long)
            adv = x.cpu().expand(K, -1, -1).clone()
            pred = torch.empty(K, N, dtype=torch.long)
            confidence = torch.empty(K, N, dtype=torch.float64)
            clean_correct = torch.empty(K, N, dtype=torch.bool)
            zero_grad = torch.zeros(K, dtype=torch.long)
            for batch in _batches(N, self.batch_size):
                xb, yb = x[batch], y[batch]
                grad, clean_logits = _input_gradient(runner, xb.expand(K, -1, -1), yb)
                zero_grad += (grad == 0).all(-1).sum(-1).cpu()
                correct = clean_logits.argmax(-1) == yb
                clean_correct[:, batch] = correct.cpu()
                pred[:, batch] = clean_logits.argmax(-1).cpu()
                confidence[:, batch] = _softmax_of(clean_logits, clean_logits.argmax(-1)).cpu()
                first_b, pred_b, conf_b = self._search(runner, xb, yb, grad.sign(), correct)
                fooled = first_b >= 0
                first[:, batch] = first_b
                pred[:, batch] = torch.where(fooled, pred_b, pred[:, batch])
                confidence[:, batch] = torch.where(fooled, conf_b, confidence[:, batch])
                k_idx, i_idx = fooled.nonzero(as_tuple=True)
                if len(k_idx):
                    eps = torch.as_tensor(self.grid, dtype=x.dtype)[first_b[k_idx, i_idx]].to(x.device)
                    sign = grad.sign()[k_idx.to(x.device), i_idx.to(x.device)]
                    adv_rows = (xb[i_idx.to(x.device)] + eps[:, None] * sign).clamp_(0, 1)
                    adv[k_idx, batch.start + i_idx] = adv_rows.cpu()
        grid = torch.as_tensor(self.grid, dtype=torch.float64)
        eps = torch.where(first >= 0, grid[first.clamp(min=0)], torch.full_like(grid[:1], math.nan))
        success = first >= 0
        return _split_copies(runner.image_shape, success, adv, pred, confidence, clean_correct, eps, zero_grad)

    def _search(self, runner: _Runner, x: Tensor, y: Tensor, sign: Tensor, active: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """First fooling grid index [K, B] (-1: not fooled) with its prediction and confidence."""
        K, B, D = sign.shape
        device = x.device
        first = torch.full((K, B), -1, dtype=torch.long)
        pred = torch.zeros(K, B, dtype=torch.long)
        conf = torch.zeros(K, B, dtype=torch.float64)
        remaining = active.clone()
        grid = torch.as_tensor(self.grid, dtype=x.dtype, device=device)
        copy_index = torch.arange(K, device=device)[:, None]
        for e0 in range(0, len(grid), self.eps_per_pass):
            eps = grid[e0 : e0 + self.eps_per_pass]
            E = len(eps)
            if not remaining.any():
                break
            index, valid = _padded_slots(remaining)
            per_chunk = max(1, self.chunk_rows // (K * E))
            for part in _batches(index.shape[1], per_chunk):
                idx, ok = index[:, part], valid[:, part]
                A = idx.shape[1]
                candidates = (x[idx].unsqueeze(2) + eps[:, None] * sign[copy_index, idx].unsqueeze(2)).clamp_(0, 1)
                with torch.no_grad():
                    logits = runner.logits(candidates.reshape(K, A * E, D)).reshape(K, A, E, -1)
                p = logits.argmax(-1)
                fooled = p != y[idx].unsqueeze(-1)
                hit = fooled.any(-1) & ok
                at = fooled.to(torch.int8).argmax(-1)  # first fooling eps in this pass
                k_hit, a_hit = hit.nonzero(as_tuple=True)
                e_hit = at[k_hit, a_hit]
                i_hit = idx[k_hit, a_hit]
                pred_hit = p[k_hit, a_hit, e_hit]
                conf_hit = _softmax_of(logits[k_hit, a_hit, e_hit], pred_hit)
                k_cpu, i_cpu = k_hit.cpu(), i_hit.cpu()
                first[k_cpu, i_cpu] = e0 + e_hit.cpu()
                pred[k_cpu, i_cpu] = pred_hit.cpu()
                conf[k_cpu, i_cpu] = conf_hit.cpu()
                remaining[k_hit, i_hit] = False
        return first, pred, conf


# ---------------------------------------------------------------------------------------------
# PGD / BIM


class PGD:
    """L-inf projected gradient descent (BIM / iterative FGSM [5]_, with random start [6]_).

    ``x_{t+1} = clip_{[x - eps, x + eps] ∩ [0, 1]}(x_t + step_size * sign(grad_x CE(f(x_t), y)))``
    for ``steps`` steps from ``x_0 = x`` (BIM) or, with ``random_start``, from
    ``clip_{[0,1]}(x + U(-eps, eps))``. The result is the last iterate. Gradients as in
    :class:`FGSM` (float64, non-saturating).

    Parameters
    ----------
    eps : float
        L-inf budget in pixel units, in [0, 1].
    step_size : float
        Step per iteration, > 0.
    steps : int
        Number of iterations, >= 1.
    random_start : bool
        Start from a uniform random point of the eps-ball (``False``: BIM of Kurakin et al.).
    seed : int
        Seeds the random start (one CPU generator drawing ``[N, 784]`` in input order, the same
        start for every copy), so the same seed and images give the same result.
    batch_size : int
        Images per pass (results do not depend on it).

    References
    ----------
    .. [5] Kurakin et al., 2017 (see the module docstring).
    .. [6] Madry et al., 2018 (see the module docstring).

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    >>> images, labels = torch.rand(4, 784), torch.randint(0, 10, (4,))
    >>> result = PGD(eps=0.1, step_size=0.02, steps=10)(model, images, labels)
    >>> bool(((result.adv - images).abs() <= 0.1 + 1e-6).all())
    True
    """

    def __init__(
        self,
        eps: float = 0.1,
        step_size: float = 0.01,
        steps: int = 20,
        random_start: bool = True,
        seed: int = 0,
        batch_size: int = 1000,
    ) -> None:
        self.eps = _check_number("eps", eps, 0.0, 1.0)
        self.step_size = _check_number("step_size", step_size, 0.0, low_open=True)
        self.steps = _check_int("steps", steps, 1)
        self.random_start = bool(random_start)
        self.seed = _check_int("seed", seed, 0)
        self.batch_size = _check_int("batch_size", batch_size, 1)

    def __repr__(self) -> str:
        return (f"PGD(eps={self.eps}, step_size={self.step_size}, steps={self.steps}, "
                f"random_start={self.random_start}, seed={self.seed})")

    def __call__(self, model: nn.Module, images: Tensor, labels: Tensor) -> AttackResult | list[AttackResult]:
        """Attack every image.

        Parameters
        ----------
        model : torch.nn.Module
            Classifier of pixels in [0, 1] (single, or stacked with ``model.copies``).
        images : Tensor [N, 784] or [N, 1, 28, 28], range [0, 1]
        labels : Tensor int [N]
            True classes.

        Returns
        -------
        AttackResult, or a list of K results for a model with ``copies = K > 1``.
        """
        with _evaluating(model):
            runner = _Runner(model, ())
            x, y, runner.image_shape = _prepare(images, labels, runner)
            K, (N, D) = runner.copies, x.shape
            if self.random_start:
                noise = torch.rand(N, D, generator=torch.Generator().manual_seed(self.seed), dtype=torch.float64)
                start = (x + ((2 * noise - 1) * self.eps).to(device=x.device, dtype=x.dtype)).clamp_(0, 1)
            else:
                start = x
            adv = torch.empty(K, N, D, dtype=x.dtype)
            pred = torch.empty(K, N, dtype=torch.long)
            confidence = torch.empty(K, N, dtype=torch.float64)
            clean_correct = torch.empty(K, N, dtype=torch.bool)
            for batch in _batches(N, self.batch_size):
                xb, yb = x[batch], y[batch]
                with torch.no_grad():
                    clean_logits = runner.logits_shared(xb)
                _check_labels(yb, clean_logits.shape[-1])
                clean_correct[:, batch] = (clean_logits.argmax(-1) == yb).cpu()
                low, high = (xb - self.eps).clamp(min=0), (xb + self.eps).clamp(max=1)
                xt = start[batch].expand(K, -1, -1)
                for _ in range(self.steps):
                    grad, _ = _input_gradient(runner, xt, yb)
                    xt = torch.minimum(torch.maximum(xt + self.step_size * grad.sign(), low), high)
                with torch.no_grad():
                    logits = runner.logits(xt)
                pred_b = logits.argmax(-1)
                adv[:, batch] = xt.cpu()
                pred[:, batch] = pred_b.cpu()
                confidence[:, batch] = _softmax_of(logits, pred_b).cpu()
        success = clean_correct & (pred != y.cpu())
        return _split_copies(runner.image_shape, success, adv, pred, confidence, clean_correct)


# ---------------------------------------------------------------------------------------------
# One-Pixel


def _selection_order(n: int, seed: int) -> Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def _select(clean_correct: Tensor, n_images: int | None, seed: int) -> list[Tensor]:
    """Per copy: the first ``n_images`` correctly classified images of a seeded order."""
    if n_images is None:
        return [row.nonzero().flatten() for row in clean_correct]
    order = _selection_order(clean_correct.shape[1], seed)
    return [order[row[order]][:n_images] for row in clean_correct]


def select_images(model: nn.Module, images: Tensor, labels: Tensor, n: int = 100, seed: int = 0) -> Tensor | list[Tensor]:
    """Indices of the images One-Pixel attacks: the first ``n`` correctly classified ones of a seeded order.

    The order is a permutation of ``range(N)`` drawn from ``seed`` alone, identical for every
    model, so models of a study are compared on the same inputs as far as their mistakes allow;
    each model (each copy) then takes the first ``n`` images of that order it classifies
    correctly (fewer if it classifies fewer correctly).

    Parameters
    ----------
    model : torch.nn.Module
        Single or stacked (``model.copies``) classifier of pixels in [0, 1].
    images : Tensor [N, 784] or [N, 1, 28, 28], range [0, 1]
    labels : Tensor int [N]
    n : int
        Images to select, >= 1 (the study: 100 of the 10,000 test images).
    seed : int
        Seed of the order.

    Returns
    -------
    Tensor int64 [<= n], or a list of K such tensors for a stacked model.

    References
    ----------
    .. [1] Ben Amor et al., 2021 (see the module docstring): 100 test images per model.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(784, 2)
    >>> images = torch.rand(50, 784)
    >>> labels = model(images).argmax(1).detach()  # the model is right on every image
    >>> bool((select_images(model, images, labels, n=5, seed=3) == torch.randperm(50, generator=torch.Generator().manual_seed(3))[:5]).all())
    True
    """
    _check_int("n", n, 1)
    _check_int("seed", seed, 0)
    with _evaluating(model):
        runner = _Runner(model, ())
        x, y, runner.image_shape = _prepare(images, labels, runner)
        correct = _clean_correct(runner, x, y, 8192)
    return _per_copy(_select(correct, n, seed))  # type: ignore[arg-type]


def _clean_correct(runner: _Runner, x: Tensor, y: Tensor, chunk_rows: int) -> Tensor:
    out = torch.empty(runner.copies, x.shape[0], dtype=torch.bool)
    with torch.no_grad():
        for part in _batches(x.shape[0], max(1, chunk_rows // runner.copies)):
            logits = runner.logits_shared(x[part])
            _check_labels(y[part], logits.shape[-1])
            out[:, part] = (logits.argmax(-1) == y[part]).cpu()
    return out


def _image_seed(seed: int, index: int) -> int:
    """Seed of image ``index``'s DE stream (numpy SeedSequence: independent streams)."""
    return int(np.random.SeedSequence(entropy=seed, spawn_key=(index,)).generate_state(1, np.uint64)[0] >> 1)


def _distinct_others(u: Tensor) -> Tensor:
    """Random member indices, distinct per row and different from the row's own index.

    ``u`` [..., P, m] uniform in [0, 1) -> int64 [..., P, m]: for member i, m distinct
    indices drawn uniformly from {0..P-1} minus {i}, without rejection: the t-th draw picks
    the v-th element of the set left, found by stepping over the excluded values in order.
    """
    P, m = u.shape[-2], u.shape[-1]
    excluded = [torch.arange(P).expand(*u.shape[:-1])]  # kept sorted per element
    drawn = []
    for t in range(m):
        left = P - 1 - t
        v = (u[..., t] * left).floor().long().clamp_(max=left - 1)
        for column in excluded:  # ascending
            v = v + (v >= column)
        drawn.append(v)
        carry, merged = v, []
        for column in excluded:  # insert v, keeping the list sorted
            merged.append(torch.minimum(column, carry))
            carry = torch.maximum(column, carry)
        excluded = [*merged, carry]
    return torch.stack(drawn, dim=-1)


class OnePixel:
    """Non-targeted one-pixel attack by differential evolution (Su et al. [3]_), batched.

    A candidate is ``(row, col, intensity)``: coordinates are continuous in [0, 28] (the pixel
    is ``(min(floor(row), 27), min(floor(col), 27))``), intensity in [0, 255] (the pixel is
    set to ``intensity / 255``). The initial population draws coordinates uniformly and
    intensity from N(128, 127) clipped to [0, 255]. Fitness, minimised: softmax probability p
    of the true class, evaluated as its log-odds ``log(p / (1 - p))`` (strictly increasing in
    p, so every comparison and hence the search is the same, but it does not round to a tie
    between confident candidates as p does). Strategies [4]_:

    - ``"rand1"`` (Su et al.): ``trial_i = x_r1 + F (x_r2 - x_r3)``, no crossover;
    - ``"best1bin"``: ``mutant_i = x_best + F (x_r1 - x_r2)``, binomial crossover with the
      parent (each coordinate from the mutant with probability ``crossover``, one coordinate
      always);

    with r1, r2, r3 distinct and != i, trials clipped to the bounds, and greedy selection
    (the trial replaces its parent when its fitness is <= the parent's), all trials of a
    generation evaluated before any replacement. An image stops as soon as ANY evaluated
    candidate (initial population included) is misclassified; that candidate (the lowest
    true-class probability among those misclassified) is confirmed by a plain forward pass of
    the modified image. A candidate the confirmation rejects (float rounding only) is not a
    success and the search goes on.

    Every active image's whole population is evaluated in one batch per generation and fooled
    images drop out. How a candidate's logits are computed (``path``):

    - ``"lines"``: a one-pixel change moves the input along a line, and a ReLU network is
      piecewise affine along any line. For a model with ``input_layer()`` and
      ``linear_region()`` (:class:`structrob.model.SparseDAGNet`) each (image, pixel) line is
      traced once, piece by piece, in float64 (about 6 pieces per line for the study's
      networks), and every candidate is then read off that table: a look-up and one
      ``C``-wide multiply-add, exact up to float32 rounding of the stored logits. The table
      holds about ``images x 784 x pieces x 88`` bytes per copy (some 40 MB for 100 images).
    - ``"rank1"``: for a model with ``input_layer()`` and ``forward_from_input()`` the first
      pre-activation of a candidate is the clean one plus ``W1[:, pixel] * (new - old)``
      (no 784-wide product), then the rest of the network runs per candidate.
    - ``"full"``: a forward pass of every modified image, for any model.
    - ``"auto"`` (default): ``"lines"`` when available and the budget
      ``pop_size * (max_iter + 1)`` is at least ``LINES_MIN_QUERIES`` (40 x 784) candidates
      per image, where tracing pays for itself; else ``"rank1"`` when available, else ``"full"``.

    Whatever the path, every success is confirmed by a plain forward pass.

    Parameters
    ----------
    pop_size : int
        Population per image (study: 500); >= 4 for ``rand1``, >= 3 for ``best1bin``.
    max_iter : int
        Most generations after the initial population (study: 500).
    seed : int
        Seeds the image order and each image's DE. Image i (its position in ``images``) draws
        from its own CPU generator seeded from ``(seed, i)``, so its result does not depend on
        which other images or copies are attacked, the batch, or the device's RNG.
    n_images : int or None
        Per copy, attack the first ``n_images`` correctly classified images of a permutation of
        ``images`` drawn from ``seed`` (:func:`select_images`; study: 100 of the test set).
        None: every correctly classified image, in the given order.
    strategy : {"rand1", "best1bin"}
    mutation : float
        F, in (0, 2].
    crossover : float
        CR of ``best1bin``, in [0, 1] (unused by ``rand1``).
    path : {"auto", "lines", "rank1", "full"}
        How candidates are evaluated (above); all give the same search up to float rounding.
    chunk_rows : int
        Most rows (candidates x copies) per forward pass; the line tracing takes
        ``chunk_rows // 4`` lines per copy per pass.

    Returns
    -------
    AttackResult
        Fields refer to the images attacked (``indices``); every one of them is clean-correct,
        so ``measures()["n_correct"]`` is the number attacked and ``error_rate`` the fraction
        fooled. ``pixel``, ``iterations``, ``n_queries`` as documented there; ``eps`` is None.

    References
    ----------
    .. [3] Su et al., 2019 (see the module docstring).
    .. [4] Storn and Price, 1997 (see the module docstring).

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Linear(784, 10)
    >>> images = torch.rand(20, 784)
    >>> labels = model(images).argmax(1).detach()
    >>> result = OnePixel(pop_size=20, max_iter=5, n_images=3, seed=1)(model, images, labels)
    >>> result.indices.shape, result.n_queries.max() <= 20 * 6
    (torch.Size([3]), tensor(True))
    """

    STRATEGIES = ("rand1", "best1bin")
    PATHS = ("auto", "lines", "rank1", "full")
    # "auto" tabulates the pixel lines when a search may evaluate at least this many candidates
    # per image; tracing costs about as much as evaluating 10-30 candidates per pixel
    LINES_MIN_QUERIES = 40 * N_PIXELS

    def __init__(
        self,
        pop_size: int = 500,
        max_iter: int = 500,
        seed: int = 0,
        n_images: int | None = 100,
        strategy: str = "rand1",
        mutation: float = 0.5,
        crossover: float = 0.7,
        path: str = "auto",
        chunk_rows: int = 8192,
    ) -> None:
        if strategy not in self.STRATEGIES:
            raise ValueError(f"strategy must be one of {self.STRATEGIES}, got {strategy!r}")
        self.strategy = strategy
        self.pop_size = _check_int("pop_size", pop_size, 4 if strategy == "rand1" else 3)
        self.max_iter = _check_int("max_iter", max_iter, 0)
        self.seed = _check_int("seed", seed, 0)
        self.n_images = None if n_images is None else _check_int("n_images", n_images, 1)
        self.mutation = _check_number("mutation", mutation, 0.0, 2.0, low_open=True)
        self.crossover = _check_number("crossover", crossover, 0.0, 1.0)
        if path not in self.PATHS:
            raise ValueError(f"path must be one of {self.PATHS}, got {path!r}")
        self.path = path
        self.chunk_rows = _check_int("chunk_rows", chunk_rows, 1)

    def __repr__(self) -> str:
        return (f"OnePixel(pop_size={self.pop_size}, max_iter={self.max_iter}, seed={self.seed}, "
                f"n_images={self.n_images}, strategy={self.strategy!r}, path={self.path!r})")

    def resolve_path(self, model: nn.Module) -> str:
        """The evaluation path ``path="auto"`` takes for ``model`` (see the class Notes).

        Examples
        --------
        >>> import torch
        >>> OnePixel().resolve_path(torch.nn.Linear(784, 10))
        'full'
        """
        if self.path != "auto":
            return self.path
        runner = _Runner(model, ())
        if runner.has_lines and self.pop_size * (self.max_iter + 1) >= self.LINES_MIN_QUERIES:
            return "lines"
        return "rank1" if runner.has_rank1 else "full"

    def __call__(self, model: nn.Module, images: Tensor, labels: Tensor) -> AttackResult | list[AttackResult]:
        """Attack the selected images (see ``n_images``).

        Parameters
        ----------
        model : torch.nn.Module
            Classifier of pixels in [0, 1] (single, or stacked with ``model.copies``).
        images : Tensor [N, 784] or [N, 1, 28, 28], range [0, 1]
        labels : Tensor int [N]
            True classes.

        Returns
        -------
        AttackResult, or a list of K results for a model with ``copies = K > 1``.
        """
        with _evaluating(model), torch.no_grad():
            runner = _Runner(model, ())
            x, y, runner.image_shape = _prepare(images, labels, runner)
            if self.path == "rank1" and not runner.has_rank1:
                raise ValueError("path='rank1' needs a model with input_layer() and forward_from_input(); use path='auto'")
            if self.path == "lines" and not runner.has_lines:
                raise ValueError("path='lines' needs a model with input_layer() and linear_region(); use path='auto'")
            selected = _select(_clean_correct(runner, x, y, self.chunk_rows), self.n_images, self.seed)
            return _per_copy(_DifferentialEvolution(self, runner, x, y, selected, self.resolve_path(model)).run())


class ExactOnePixel:
    """Exact one-pixel attack: every one-pixel change of each image, searched completely.

    The threat model of :class:`OnePixel` (Su et al. [3]_: one pixel set to any intensity in
    [0, 255]) searched exhaustively instead of by differential evolution. Along one pixel's
    line the logits of a ReLU network are continuous and piecewise affine in the pixel value
    t in [0, 1]. On each affine piece the true class's log-odds ``z_y - logsumexp_{c != y} z_c``
    is concave in t and the largest rival margin ``max_{c != y} z_c - z_y`` is convex, so both
    reach their extremes at the ends of the piece. Hence the lowest true-class probability over
    ALL one-pixel changes, and whether any one-pixel change flips the decision, are decided by
    the ends of the pieces, which tracing every (image, pixel) line yields (as ``OnePixel``'s
    ``path="lines"``, :meth:`structrob.model.SparseDAGNet.linear_region`).

    The piece ends are evaluated from the table (float32 logits); every misclassified one is
    confirmed by a plain forward pass, and ``success`` means a confirmed one exists. The result
    is exact up to float rounding: a piece end whose margin is within rounding of zero may be
    rejected by the confirmation. It costs one tracing and no search, less than ``OnePixel``
    at the study's budget. ``OnePixel`` with the same ``seed`` and ``n_images`` attacks the same
    images, so its error rate can be read against this one's, the true one-pixel error rate of
    those images (the images a DE fools are among those this attack fools).

    Parameters
    ----------
    seed : int
        Seeds the image order (as :class:`OnePixel`).
    n_images : int or None
        Per copy, the first ``n_images`` correctly classified images of the seeded order
        (:func:`select_images`); None: every correctly classified image, in the given order.
    chunk_rows : int
        Bounds memory as in :class:`OnePixel`.

    Returns
    -------
    AttackResult
        As :class:`OnePixel`'s. On a success ``pixel`` is the misclassified piece end of
        lowest true-class probability; otherwise the one-pixel change of lowest true-class
        probability (the global minimum), and ``confidence`` its true-class probability.
        ``iterations`` is 0 and ``n_queries`` the number of piece ends evaluated.

    References
    ----------
    .. [3] Su et al., 2019 (see the module docstring).

    Examples
    --------
    >>> import torch, networkx as nx
    >>> from structrob.model import SparseDAGNet
    >>> net = SparseDAGNet(nx.DiGraph([(2, 1), (1, 0), (2, 0)]))
    >>> images = torch.rand(5, 784, generator=torch.Generator().manual_seed(0))
    >>> labels = net(images).argmax(1)
    >>> result = ExactOnePixel(n_images=2)(net, images, labels)
    >>> result.indices.shape, bool((result.n_queries >= 784).all())
    (torch.Size([2]), True)
    """

    def __init__(self, seed: int = 0, n_images: int | None = 100, chunk_rows: int = 8192) -> None:
        self.seed = _check_int("seed", seed, 0)
        self.n_images = None if n_images is None else _check_int("n_images", n_images, 1)
        self.chunk_rows = _check_int("chunk_rows", chunk_rows, 1)

    def __repr__(self) -> str:
        return f"ExactOnePixel(seed={self.seed}, n_images={self.n_images})"

    def __call__(self, model: nn.Module, images: Tensor, labels: Tensor) -> AttackResult | list[AttackResult]:
        """Search every one-pixel change of the selected images.

        Parameters
        ----------
        model : torch.nn.Module
            A piecewise-affine classifier with ``input_layer()`` and ``linear_region()``
            (:class:`structrob.model.SparseDAGNet`), single or stacked.
        images : Tensor [N, 784] or [N, 1, 28, 28], range [0, 1]
        labels : Tensor int [N]
            True classes.

        Returns
        -------
        AttackResult, or a list of K results for a model with ``copies = K > 1``.
        """
        with _evaluating(model), torch.no_grad():
            runner = _Runner(model, ())
            if not runner.has_lines:
                raise ValueError(
                    "ExactOnePixel needs a ReLU network with input_layer() and linear_region() "
                    "(structrob.model.SparseDAGNet); use OnePixel for other models"
                )
            x, y, runner.image_shape = _prepare(images, labels, runner)
            selected = _select(_clean_correct(runner, x, y, self.chunk_rows), self.n_images, self.seed)
            search = OnePixel(pop_size=4, max_iter=0, seed=self.seed, n_images=self.n_images, path="lines", chunk_rows=self.chunk_rows)
            return _per_copy(_DifferentialEvolution(search, runner, x, y, selected, "lines").exhaustive())


class _PixelLines:
    """Exact logits of every one-pixel change of the attacked images, tabulated once.

    For a piecewise-affine model (ReLU units between affine maps, e.g.
    :class:`structrob.model.SparseDAGNet`), the logits of image i with pixel p set to t are a
    continuous piecewise-affine function of t in [0, 1]: a line through input space crosses
    few linear regions (a handful for the study's networks). Each (copy, image, pixel) line is
    traced piece by piece with ``model.linear_region`` (one pass per piece, float64), starting
    each piece ``GAP`` past the previous boundary so the new activation pattern is read without
    ambiguity. A candidate then costs a cell look-up (each line's [0, 1] is cut into ``CELLS``
    cells that point at their first piece) and one ``C``-wide multiply-add instead of a forward
    pass, whatever the network's depth. A piece shorter than ``GAP`` would be
    read from its neighbour; as the logits are continuous, that moves them by at most
    ``GAP`` times the change of slope.

    Tables live on the CPU: per piece its key ``2 * line + start`` (float64), its logits at the
    start and their slope (float32); per line and cell the first piece to look at (int32).
    """

    GAP = 1e-9
    MAX_ROUNDS = 100_000
    CELLS = 32

    def __init__(self, runner: _Runner, x: Tensor, image: Tensor, valid: Tensor, chunk_rows: int) -> None:
        K, S = image.shape
        self.S = S
        device = x.device
        weight, bias = runner.model.input_layer()
        weight, bias = weight.detach().double(), bias.detach().double()
        x64 = x.double()
        image_d, valid_d = image.to(device), valid.to(device)
        columns = weight.transpose(1, 2).contiguous()  # [K, 784, n0]: d pre0 / d pixel
        clean_pre = torch.baddbmm(bias.unsqueeze(1), x64[image_d], weight.transpose(1, 2))  # [K, S, n0]
        L = S * N_PIXELS
        t = torch.zeros(K, L, dtype=torch.float64, device=device)
        alive = valid_d.repeat_interleave(N_PIXELS, dim=1)
        copy_index = torch.arange(K, device=device)[:, None]
        per_chunk = max(1, chunk_rows // 4)  # lines per copy per pass (values and slopes, float64)
        parts: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
        rounds = 0
        while bool(alive.any()):
            rounds += 1
            if rounds > self.MAX_ROUNDS:
                raise RuntimeError(
                    f"One-Pixel line tracing did not finish after {self.MAX_ROUNDS} pieces on one line; "
                    "use OnePixel(path='rank1')"
                )
            index, ok = _padded_slots(alive)
            for part in _batches(index.shape[1], per_chunk):
                lines, keep = index[:, part], ok[:, part]
                slot, pixel = lines // N_PIXELS, lines % N_PIXELS
                t0 = t.gather(1, lines)
                at = t0 + ((1 - t0) / 2).clamp_(max=self.GAP)
                old = x64[image_d.gather(1, slot), pixel]
                direction = columns[copy_index, pixel]
                pre0 = torch.addcmul(clean_pre[copy_index, slot], direction, (at - old).unsqueeze(-1))
                logits, slope, reach = runner.model.linear_region(pre0, direction)
                start = torch.addcmul(logits, slope, (t0 - at).unsqueeze(-1))
                kk, aa = keep.nonzero(as_tuple=True)
                line = lines[kk, aa]
                end = (at + reach)[kk, aa]
                parts.append(((kk * L + line).cpu(), t0[kk, aa].cpu(), start[kk, aa].float().cpu(), slope[kk, aa].float().cpu()))
                t[kk, line] = end
                alive[kk, line] = end < 1
        if not parts:  # no image to attack
            C = runner.model.linear_region(clean_pre[:, :0], clean_pre[:, :0])[0].shape[-1]
            parts.append((torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.float64), torch.zeros(0, C), torch.zeros(0, C)))
        line, start_t, value, slope = (torch.cat(column) for column in zip(*parts))
        # key = 2 * line + t orders all pieces at once (t in [0, 1], so lines never overlap);
        # an inf sentinel ends the last line
        key = line.double() * 2 + start_t
        order = torch.argsort(key)
        self.key = torch.cat([key[order], key.new_full((1,), math.inf)])
        self.table = torch.cat([value, slope], dim=1)[order]  # [pieces, 2C]: logits at start, slope
        self.n_classes = value.shape[1]
        self.n_pieces, self.n_lines = len(order), int(valid.sum()) * N_PIXELS
        # cell g of a line covers t in [g / CELLS, (g + 1) / CELLS); its entry is the last piece
        # starting at or before g / CELLS, so a look-up starts at most a few pieces early
        line, start_t = line[order], start_t[order]
        first = torch.zeros(K * L + 1, dtype=torch.long)
        first[1:] = torch.bincount(line, minlength=K * L).cumsum(0)
        later = torch.ones(len(order), dtype=torch.bool)
        later[first[:-1][first[:-1] < first[1:]]] = False  # every line's first piece starts at 0
        cell = (start_t[later] * self.CELLS).ceil().long()
        inside = cell < self.CELLS
        count = torch.zeros(K * L, self.CELLS, dtype=torch.int32)
        count.view(-1).index_add_(0, line[later][inside] * self.CELLS + cell[inside], torch.ones(int(inside.sum()), dtype=torch.int32))
        self.cell = count.cumsum(1, dtype=torch.int32).add_(first[:-1, None].to(torch.int32)).view(-1)

    def ends(self) -> tuple[Tensor, Tensor, Tensor]:
        """Both ends of every piece: line id [M], t [M] and logits float32 [M, C], by line then t.

        A piece's end is the next piece's start (the logits are continuous), so these are every
        piece's start plus each line's t = 1.
        """
        key = self.key[:-1]
        line = torch.div(key, 2, rounding_mode="floor").long()
        start = key - 2 * line
        C = self.n_classes
        last = torch.ones(len(line), dtype=torch.bool)
        last[:-1] = line[1:] != line[:-1]
        at_one = torch.addcmul(self.table[last, :C], self.table[last, C:], (1 - start[last]).float().unsqueeze(1))
        order = torch.argsort(torch.cat([key, line[last].double() * 2 + 1]), stable=True)
        return (torch.cat([line, line[last]])[order], torch.cat([start, torch.ones(int(last.sum()), dtype=torch.float64)])[order],
                torch.cat([self.table[:, :C], at_one])[order])

    def logits(self, k: Tensor, s: Tensor, pixel: Tensor, t: Tensor) -> Tensor:
        """Logits float32 [Q, R, C] of pairs (k[q], s[q]) with pixel[q, r] set to t[q, r] in [0, 1]."""
        line = ((k * self.S + s).unsqueeze(1) * N_PIXELS + pixel).flatten()
        t = t.flatten()
        query = line.double() * 2 + t
        cell = (t * self.CELLS).long().clamp_(max=self.CELLS - 1)
        piece = self.cell.index_select(0, line * self.CELLS + cell).long()
        moving = torch.arange(len(piece))
        while len(moving):  # step over the few pieces that start inside the cell, before t
            ahead = self.key.index_select(0, piece[moving] + 1) <= query[moving]
            moving = moving[ahead]
            piece[moving] += 1
        row = self.table.index_select(0, piece)
        C = self.n_classes
        offset = (query - self.key.index_select(0, piece)).float().unsqueeze(1)
        return torch.addcmul(row[:, :C], row[:, C:], offset).view(*pixel.shape, C)


class _DifferentialEvolution:
    """State of one One-Pixel call: ``[K, S]`` (copy, slot) pairs, each one image's DE."""

    def __init__(self, attack: OnePixel, runner: _Runner, x: Tensor, y: Tensor, selected: list[Tensor], path: str) -> None:
        self.attack, self.runner, self.x = attack, runner, x
        self.labels = y.cpu()
        K, P = runner.copies, attack.pop_size
        S = max(len(s) for s in selected)
        self.sizes = [len(s) for s in selected]
        self.image = torch.zeros(K, S, dtype=torch.long)
        self.valid = torch.zeros(K, S, dtype=torch.bool)
        for k, s in enumerate(selected):
            self.image[k, : len(s)] = s
            self.valid[k, : len(s)] = True
        self.image_on_device = self.image.to(x.device)
        self.generators = [
            [torch.Generator().manual_seed(_image_seed(attack.seed, int(i))) for i in self.image[k, : self.sizes[k]]]
            for k in range(K)
        ]
        self.population = torch.zeros(K, S, P, 3, dtype=torch.float64)
        self.fitness = torch.full((K, S, P), math.inf, dtype=torch.float64)
        self.done = ~self.valid
        self.success = torch.zeros(K, S, dtype=torch.bool)
        self.pixel = torch.zeros(K, S, 3, dtype=torch.float64)
        self.iterations = torch.full((K, S), attack.max_iter, dtype=torch.long)
        self.pred = torch.zeros(K, S, dtype=torch.long)
        self.confidence = torch.zeros(K, S, dtype=torch.float64)
        self.lines = _PixelLines(runner, x, self.image, self.valid, attack.chunk_rows) if path == "lines" else None
        if path == "rank1":
            weight, bias = runner.model.input_layer()
            weight = weight.detach().to(x.dtype)
            self.columns = weight.transpose(1, 2).contiguous()  # [K, 784, n0]: W1[:, pixel] per copy
            self.clean_pre = torch.baddbmm(
                bias.detach().to(x.dtype).unsqueeze(1), x[self.image_on_device], weight.transpose(1, 2)
            )
        else:
            self.columns = None

    # -- evaluation ---------------------------------------------------------------------------
    @staticmethod
    def _decode(candidates: Tensor) -> tuple[Tensor, Tensor]:
        """(row, col, intensity) float64 [..., 3] -> flat pixel index int64, value in [0, 1]."""
        row = candidates[..., 0].floor().clamp(0, SIDE - 1).long()
        col = candidates[..., 1].floor().clamp(0, SIDE - 1).long()
        return row * SIDE + col, candidates[..., 2].clamp(0, 255) / 255

    def _logits(self, k: Tensor, s: Tensor, pixel: Tensor, value: Tensor, rank1: bool) -> Tensor:
        """Logits [Q, R, C] of pairs (k[q], s[q]) with pixel[q, r] set to value[q, r]."""
        runner, device = self.runner, self.x.device
        K = runner.copies
        Q, R = pixel.shape
        counts = torch.bincount(k, minlength=K)
        order = torch.argsort(k, stable=True)
        slot = torch.empty_like(k)
        slot[order] = torch.arange(Q) - (torch.cumsum(counts, 0) - counts)[k[order]]
        A = int(counts.max())
        # pairs of copy k occupy row k, columns 0..counts[k]-1; padding repeats a real pair
        pad_s = torch.zeros(K, A, dtype=torch.long)
        pad_p = torch.zeros(K, A, R, dtype=torch.long)
        pad_v = torch.zeros(K, A, R, dtype=torch.float64)
        pad_s[k, slot], pad_p[k, slot], pad_v[k, slot] = s, pixel, value
        copy_index = torch.arange(K, device=device)
        out = None
        per_chunk = max(1, self.attack.chunk_rows // (K * R))
        for part in _batches(A, per_chunk):
            ss = pad_s[:, part].to(device)
            pp = pad_p[:, part].to(device)
            vv = pad_v[:, part].to(device=device, dtype=self.x.dtype)
            a = ss.shape[1]
            image = self.image_on_device[copy_index[:, None], ss]  # [K, a]
            if rank1:
                old = self.x[image.unsqueeze(-1), pp]
                pre0 = torch.addcmul(
                    self.clean_pre[copy_index[:, None], ss].unsqueeze(2),
                    (vv - old).unsqueeze(-1),
                    self.columns[copy_index[:, None, None], pp],
                )
                logits = runner.model.forward_from_input(pre0.reshape(K, a * R, -1))
            else:
                modified = self.x[image].unsqueeze(2).expand(-1, -1, R, -1).clone()
                modified.scatter_(-1, pp.unsqueeze(-1), vv.unsqueeze(-1))
                logits = runner.logits(modified.reshape(K, a * R, -1))
            logits = logits.reshape(K, a, R, -1).cpu()
            if out is None:
                out = torch.empty(K, A, R, logits.shape[-1], dtype=logits.dtype)
            out[:, part] = logits
        assert out is not None
        return out[k, slot]

    def _evaluate(self, k: Tensor, s: Tensor, candidates: Tensor) -> tuple[Tensor, Tensor]:
        """Fitness (true-class log-odds, float64, minimised) and predicted class of candidates [Q, P, 3]."""
        pixel, value = self._decode(candidates)
        if self.lines is not None:
            # the pixel value the model sees (its dtype), as the confirmation pass sets it
            logits = self.lines.logits(k, s, pixel, value.to(self.x.dtype).double())
        else:
            logits = self._logits(k, s, pixel, value, rank1=self.columns is not None)
        labels = self.labels[self.image[k, s]].to(logits.device)
        fitness = _log_odds(logits, labels[:, None].expand(-1, candidates.shape[1]))
        return fitness.cpu(), logits.argmax(-1).cpu()

    def _confirm(self, k: Tensor, s: Tensor, candidates: Tensor, pred: Tensor, generation: int) -> None:
        """Accept, per pair, a misclassified candidate that a plain forward pass confirms.

        Among a pair's confirmed candidates the one with the lowest true-class probability
        (then the lowest population index) is kept.
        """
        labels = self.labels[self.image[k, s]]
        q, p = (pred != labels[:, None]).nonzero(as_tuple=True)
        if len(q) == 0:
            return
        pixel, value = self._decode(candidates[q, p])
        logits = self._logits(k[q], s[q], pixel[:, None], value[:, None], rank1=False)[:, 0]
        true_pred = logits.argmax(-1)
        confirmed = true_pred != labels[q]
        q, p, logits, true_pred = q[confirmed], p[confirmed], logits[confirmed], true_pred[confirmed]
        if len(q) == 0:
            return
        score = _softmax_of(logits, labels[q])
        order = torch.argsort(score, stable=True)
        order = order[torch.argsort(q[order], stable=True)]  # by pair, then score, then index
        first = torch.ones(len(order), dtype=torch.bool)
        first[1:] = q[order[1:]] != q[order[:-1]]
        chosen = order[first]
        kq, sq = k[q[chosen]], s[q[chosen]]
        self.done[kq, sq] = True
        self.success[kq, sq] = True
        self.pixel[kq, sq] = candidates[q[chosen], p[chosen]]
        self.iterations[kq, sq] = generation
        self.pred[kq, sq] = true_pred[chosen]
        self.confidence[kq, sq] = _softmax_of(logits[chosen], true_pred[chosen])

    # -- DE -----------------------------------------------------------------------------------
    def _draw(self, k: Tensor, s: Tensor, columns: int, normal: bool = False) -> Tensor:
        """[Q, P, columns] float64 from each pair's own generator (uniform [0,1) or standard normal)."""
        P = self.attack.pop_size
        draw = torch.randn if normal else torch.rand
        return torch.stack([
            draw(P, columns, generator=self.generators[kk][ss], dtype=torch.float64)
            for kk, ss in zip(k.tolist(), s.tolist())
        ])

    def _trials(self, k: Tensor, s: Tensor) -> Tensor:
        attack = self.attack
        population, fitness = self.population[k, s], self.fitness[k, s]
        F = attack.mutation
        if attack.strategy == "rand1":
            r = _distinct_others(self._draw(k, s, 3))
            pick = [population.gather(1, r[..., j : j + 1].expand(-1, -1, 3)) for j in range(3)]
            trial = pick[0] + F * (pick[1] - pick[2])
        else:
            u = self._draw(k, s, 6)
            r = _distinct_others(u[..., :2])
            pick = [population.gather(1, r[..., j : j + 1].expand(-1, -1, 3)) for j in range(2)]
            best = population.gather(1, fitness.argmin(1)[:, None, None].expand(-1, 1, 3))
            mutant = best + F * (pick[0] - pick[1])
            cross = u[..., 2:5] < attack.crossover
            forced = (u[..., 5] * 3).floor().long().clamp_(max=2)
            cross.scatter_(-1, forced.unsqueeze(-1), True)
            trial = torch.where(cross, mutant, population)
        upper = torch.tensor([SIDE, SIDE, 255.0], dtype=torch.float64)
        return torch.minimum(trial.clamp(min=0), upper)

    def run(self) -> list[AttackResult]:
        attack = self.attack
        k, s = self.valid.nonzero(as_tuple=True)
        if len(k):
            coords = self._draw(k, s, 2) * SIDE
            intensity = (self._draw(k, s, 1, normal=True) * 127 + 128).clamp(0, 255)
            self.population[k, s] = torch.cat([coords, intensity], dim=-1)
            fitness, pred = self._evaluate(k, s, self.population[k, s])
            self.fitness[k, s] = fitness
            self._confirm(k, s, self.population[k, s], pred, 0)
        for generation in range(1, attack.max_iter + 1):
            k, s = (~self.done).nonzero(as_tuple=True)
            if len(k) == 0:
                break
            trials = self._trials(k, s)
            fitness, pred = self._evaluate(k, s, trials)
            self._confirm(k, s, trials, pred, generation)
            better = fitness <= self.fitness[k, s]
            self.population[k, s] = torch.where(better.unsqueeze(-1), trials, self.population[k, s])
            self.fitness[k, s] = torch.where(better, fitness, self.fitness[k, s])
        return self._results()

    def exhaustive(self) -> list[AttackResult]:
        """Every piece end of every traced line as one population (see :class:`ExactOnePixel`)."""
        assert self.lines is not None
        line, t, logits = self.lines.ends()
        L = self.lines.S * N_PIXELS
        k, s, pixel = line // L, (line % L) // N_PIXELS, line % N_PIXELS
        pair = k * self.lines.S + s
        counts = torch.bincount(pair, minlength=self.valid.numel())
        rank = torch.arange(len(pair)) - (torch.cumsum(counts, 0) - counts)[pair]  # position within its pair
        K, S = self.valid.shape
        width = max(1, int(counts.max()) if len(counts) else 1)
        labels = self.labels[self.image[k, s]]
        # padding: pixel (0, 0) at intensity 0 with infinite fitness, never misclassified
        self.population = torch.zeros(K, S, width, 3, dtype=torch.float64)
        self.fitness = torch.full((K, S, width), math.inf, dtype=torch.float64)
        pred = self.labels[self.image].unsqueeze(-1).repeat(1, 1, width)
        self.population[k, s, rank] = torch.stack([(pixel // SIDE).double(), (pixel % SIDE).double(), t * 255], dim=1)
        self.fitness[k, s, rank] = _log_odds(logits, labels)
        pred[k, s, rank] = logits.argmax(-1)
        kk, ss = self.valid.nonzero(as_tuple=True)
        if len(kk):
            self._confirm(kk, ss, self.population[kk, ss], pred[kk, ss], 0)
        return self._results(queries=counts.view(K, S))

    def _results(self, queries: Tensor | None = None) -> list[AttackResult]:
        # Images never fooled report their best candidate, checked by a plain forward pass.
        k, s = (self.valid & ~self.success).nonzero(as_tuple=True)
        if len(k):
            best = self.fitness[k, s].argmin(1)
            candidate = self.population[k, s, best]
            pixel, value = self._decode(candidate)
            logits = self._logits(k, s, pixel[:, None], value[:, None], rank1=False)[:, 0]
            self.pixel[k, s] = candidate
            self.pred[k, s] = logits.argmax(-1)
            self.confidence[k, s] = _softmax_of(logits, self.pred[k, s])
        labels = self.labels
        x = self.x.cpu()
        results = []
        P = self.attack.pop_size
        for kk, n in enumerate(self.sizes):
            index = self.image[kk, :n]
            pixel, value = self._decode(self.pixel[kk, :n])
            adv = x[index].clone()
            adv.scatter_(1, pixel[:, None], value[:, None].to(adv.dtype))
            pixel_out = self.pixel[kk, :n].clone()
            pixel_out[:, :2] = torch.stack([pixel // SIDE, pixel % SIDE], dim=1).double()
            pixel_out[:, 2] = pixel_out[:, 2].clamp(0, 255)
            pred = self.pred[kk, :n]
            results.append(AttackResult(
                success=pred != labels[index], adv=adv.reshape(n, *self.runner.image_shape), pred=pred,
                confidence=self.confidence[kk, :n], clean_correct=torch.ones(n, dtype=torch.bool), indices=index,
                pixel=pixel_out, iterations=self.iterations[kk, :n],
                n_queries=P * (self.iterations[kk, :n] + 1) if queries is None else queries[kk, :n].clone(),
            ))
        return results
