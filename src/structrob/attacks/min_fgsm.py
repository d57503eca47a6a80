"""Minimal FGSM eps per image over an eps grid (Ben Amor et al.'s average-eps measure)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from structrob.attacks._base import (
    Attack,
    AttackResult,
    Runner,
    batches,
    opened,
    padded_slots,
    softmax_of,
    split_copies,
)
from structrob.attacks._gradients import input_gradient
from structrob.validation import check_int, check_number


def eps_grid(start: float = 0.001, step: float = 0.01, max_eps: float = 1.0) -> np.ndarray:
    """The minimal-eps grid ``start + step * k`` for k = 0, 1, ... while it is <= ``max_eps``.

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
    start = check_number("start", start, 0.0, 1.0, low_open=True)
    step = check_number("step", step, 0.0, low_open=True)
    max_eps = check_number("max_eps", max_eps, start, 1.0)
    k = np.arange(int(math.floor((max_eps - start) / step)) + 2)
    values = start + step * k
    return values[values <= max_eps + 1e-12]


class MinimalFGSM(Attack):
    """Minimal FGSM eps per image: the first eps of a grid whose FGSM image is misclassified.

    One input gradient per image (as :class:`structrob.attacks.FGSM`); then
    ``eps_k = start + step * k`` (:func:`eps_grid`) is tried in increasing order and ``eps_x``
    is the FIRST value that misclassifies [1]_. Misclassification need not be monotone in eps,
    so there is no bisection. Images never fooled up to ``max_eps`` are censored (``eps`` NaN,
    counted in ``measures()["n_censored"]``); images misclassified when clean get NaN and are
    not attacked. Only images not yet fooled are evaluated, ``eps_per_pass`` eps values per
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
        Field i is ``images[i]``. ``eps`` float64 [N] holds the grid value (float64) of the
        minimal eps; the evaluated image is ``clamp(x + float32(eps) * sign(grad), 0, 1)``.
        ``adv``, ``pred`` and ``confidence`` are at the minimal eps for fooled images and the
        clean ones elsewhere.

    References
    ----------
    .. [1] Ben Amor et al., 2021 (see :mod:`structrob.attacks`).
    .. [2] Goodfellow et al., 2015 (see :mod:`structrob.attacks`).

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
        self.eps_per_pass = check_int("eps_per_pass", eps_per_pass, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.chunk_rows = check_int("chunk_rows", chunk_rows, 1)

    def __repr__(self) -> str:
        return f"MinimalFGSM(start={self.start}, step={self.step}, max_eps={self.max_eps})"

    def gradient_sign(
        self, model: nn.Module, images: Tensor, labels: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Internal API for benchmarks: the direction each image's eps search walks along.

        ``sign(grad_x CE)`` of every image, exactly as this attack (and FGSM) computes it, and
        whether the clean image is classified correctly, so that a benchmark can run the eps
        grid another way from the same directions and compare. Not part of the stable API.

        Parameters
        ----------
        model, images, labels
            As for calling the attack.

        Returns
        -------
        sign : Tensor [N, 784] of -1, 0, 1 (model dtype, CPU); [K, N, 784] for ``K`` copies
        clean_correct : Tensor bool [N]; [K, N] for ``K`` copies

        Examples
        --------
        >>> import torch
        >>> model = torch.nn.Linear(784, 2)
        >>> images, labels = torch.rand(3, 784), torch.tensor([0, 1, 0])
        >>> sign, clean_correct = MinimalFGSM().gradient_sign(model, images, labels)
        >>> sign.shape, set(sign.unique().tolist()) <= {-1.0, 0.0, 1.0}, clean_correct.dtype
        (torch.Size([3, 784]), True, torch.bool)
        """
        with opened(model, images, labels) as (runner, x, y):
            K, (N, D) = runner.copies, x.shape
            sign = torch.empty(K, N, D, dtype=x.dtype)
            clean_correct = torch.empty(K, N, dtype=torch.bool)
            for batch in batches(N, self.batch_size):
                grad, clean_logits = input_gradient(runner, x[batch].expand(K, -1, -1), y[batch])
                sign[:, batch] = grad.sign().cpu()
                clean_correct[:, batch] = (clean_logits.argmax(-1) == y[batch]).cpu()
        return (sign[0], clean_correct[0]) if K == 1 else (sign, clean_correct)

    def _attack(self, runner: Runner, x: Tensor, y: Tensor) -> list[AttackResult]:
        K, N = runner.copies, x.shape[0]
        first = torch.full((K, N), -1, dtype=torch.long)
        adv = x.cpu().expand(K, -1, -1).clone()
        pred = torch.empty(K, N, dtype=torch.long)
        confidence = torch.empty(K, N, dtype=torch.float64)
        clean_correct = torch.empty(K, N, dtype=torch.bool)
        zero_grad = torch.zeros(K, dtype=torch.long)
        for batch in batches(N, self.batch_size):
            xb, yb = x[batch], y[batch]
            grad, clean_logits = input_gradient(runner, xb.expand(K, -1, -1), yb)
            zero_grad += (grad == 0).all(-1).sum(-1).cpu()
            correct = clean_logits.argmax(-1) == yb
            clean_correct[:, batch] = correct.cpu()
            pred[:, batch] = clean_logits.argmax(-1).cpu()
            confidence[:, batch] = softmax_of(clean_logits, clean_logits.argmax(-1)).cpu()
            first_b, pred_b, conf_b = self._search(runner, xb, yb, grad.sign(), correct)
            fooled = first_b >= 0
            first[:, batch] = first_b
            pred[:, batch] = torch.where(fooled, pred_b, pred[:, batch])
            confidence[:, batch] = torch.where(fooled, conf_b, confidence[:, batch])
            k_idx, i_idx = fooled.nonzero(as_tuple=True)
            if len(k_idx):
                grid = torch.as_tensor(self.grid, dtype=x.dtype)
                eps = grid[first_b[k_idx, i_idx]].to(x.device)
                sign = grad.sign()[k_idx.to(x.device), i_idx.to(x.device)]
                adv_rows = (xb[i_idx.to(x.device)] + eps[:, None] * sign).clamp_(0, 1)
                adv[k_idx, batch.start + i_idx] = adv_rows.cpu()
        grid = torch.as_tensor(self.grid, dtype=torch.float64)
        nan = torch.full_like(grid[:1], math.nan)
        eps = torch.where(first >= 0, grid[first.clamp(min=0)], nan)
        success = first >= 0
        return split_copies(
            runner.image_shape, success, adv, pred, confidence, clean_correct, eps, zero_grad
        )

    def _search(
        self, runner: Runner, x: Tensor, y: Tensor, sign: Tensor, active: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
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
            index, valid = padded_slots(remaining)
            per_chunk = max(1, self.chunk_rows // (K * E))
            for part in batches(index.shape[1], per_chunk):
                idx, ok = index[:, part], valid[:, part]
                A = idx.shape[1]
                step = eps[:, None] * sign[copy_index, idx].unsqueeze(2)
                candidates = (x[idx].unsqueeze(2) + step).clamp_(0, 1)
                logits = runner.logits(candidates.reshape(K, A * E, D)).reshape(K, A, E, -1)
                p = logits.argmax(-1)
                fooled = p != y[idx].unsqueeze(-1)
                hit = fooled.any(-1) & ok
                at = fooled.to(torch.int8).argmax(-1)  # first fooling eps in this pass
                k_hit, a_hit = hit.nonzero(as_tuple=True)
                e_hit = at[k_hit, a_hit]
                i_hit = idx[k_hit, a_hit]
                pred_hit = p[k_hit, a_hit, e_hit]
                conf_hit = softmax_of(logits[k_hit, a_hit, e_hit], pred_hit)
                k_cpu, i_cpu = k_hit.cpu(), i_hit.cpu()
                first[k_cpu, i_cpu] = e0 + e_hit.cpu()
                pred[k_cpu, i_cpu] = pred_hit.cpu()
                conf[k_cpu, i_cpu] = conf_hit.cpu()
                remaining[k_hit, i_hit] = False
        return first, pred, conf
