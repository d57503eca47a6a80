"""Fast Gradient Sign Method (Goodfellow et al.), the study's eps = 0.1 attack."""

from __future__ import annotations

import torch
from torch import Tensor

from structrob.attacks._base import Attack, AttackResult, Runner, batches, softmax_of, split_copies
from structrob.attacks._gradients import input_gradient
from structrob.validation import check_int, check_number


class FGSM(Attack):
    """Fast Gradient Sign Method [2]_: ``x~ = clamp(x + eps * sign(grad_x CE(f(x), y)), 0, 1)``.

    The cross-entropy gradient is taken from float64 logits in a form that does not saturate
    (see Notes); images with an exactly zero input gradient are counted in ``n_zero_grad``
    (their adversarial image is the clean one). Every image is attacked: field i of the result
    is ``images[i]``.

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
    .. [1] Ben Amor et al., 2021 (see :mod:`structrob.attacks`).
    .. [2] Goodfellow et al., 2015 (see :mod:`structrob.attacks`).

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
        self.eps = check_number("eps", eps, 0.0, 1.0)
        self.batch_size = check_int("batch_size", batch_size, 1)

    def __repr__(self) -> str:
        return f"FGSM(eps={self.eps})"

    def _attack(self, runner: Runner, x: Tensor, y: Tensor) -> list[AttackResult]:
        K, (N, D) = runner.copies, x.shape
        adv = torch.empty(K, N, D, dtype=x.dtype)
        pred = torch.empty(K, N, dtype=torch.long)
        confidence = torch.empty(K, N, dtype=torch.float64)
        clean_correct = torch.empty(K, N, dtype=torch.bool)
        zero_grad = torch.zeros(K, dtype=torch.long)
        for batch in batches(N, self.batch_size):
            xb, yb = x[batch], y[batch]
            grad, clean_logits = input_gradient(runner, xb.expand(K, -1, -1), yb)
            zero_grad += (grad == 0).all(-1).sum(-1).cpu()
            adv_b = (xb + self.eps * grad.sign()).clamp_(0, 1)
            logits = runner.logits(adv_b)
            pred_b = logits.argmax(-1)
            adv[:, batch] = adv_b.cpu()
            pred[:, batch] = pred_b.cpu()
            confidence[:, batch] = softmax_of(logits, pred_b).cpu()
            clean_correct[:, batch] = (clean_logits.argmax(-1) == yb).cpu()
        success = clean_correct & (pred != y.cpu())
        return split_copies(
            runner.image_shape, success, adv, pred, confidence, clean_correct, n_zero_grad=zero_grad
        )
