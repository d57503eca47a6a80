"""Input gradients of the cross-entropy loss, in a form that does not saturate (FGSM, PGD)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from structrob.attacks._base import Runner, check_labels


def cross_entropy_direction(logits: Tensor, y: Tensor) -> Tensor:
    """d CE / d logits in float64, rescaled per row by a positive factor so it cannot vanish.

    For class c != y the derivative is p_c and for y it is -(sum of the others) (exactly, as the
    probabilities sum to one). Dividing every row by max_{c != y} p_c, done as a difference of
    log-probabilities, keeps the largest entry at 1 for any margin, whereas float32 or float64
    ``p_y - 1`` rounds to 0 for confident models and flips the gradient's direction. A positive
    factor per image leaves sign(grad_x) unchanged, which is all FGSM and PGD use.

    Examples
    --------
    >>> import torch
    >>> d = cross_entropy_direction(torch.tensor([[50.0, 0.0, 10.0]]), torch.tensor([0]))
    >>> d[0, 2].item(), d[0, 0].item() < 0, abs(d.sum().item()) < 1e-12
    (1.0, True, True)
    """
    log_p = torch.log_softmax(logits.double(), dim=-1)
    true = torch.zeros_like(log_p, dtype=torch.bool).scatter_(-1, y.unsqueeze(-1), True)
    log_p_others = log_p.masked_fill(true, -math.inf)
    scaled = torch.exp(log_p_others - log_p_others.amax(-1, keepdim=True))
    return scaled.masked_scatter(true, -scaled.sum(-1))


def input_gradient(runner: Runner, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Per-copy input gradient direction of the CE loss and the logits, for x [K, B, D].

    Images do not interact (eval mode), so one backward pass through the summed per-copy,
    per-image losses gives every copy's and every image's own gradient. Autograd is switched
    on here, whatever the caller's mode: this is the only place an attack differentiates.
    """
    xg = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = runner.logits(xg)
        check_labels(y, logits.shape[-1])
        direction = cross_entropy_direction(logits.detach(), y.expand(runner.copies, -1))
        (grad,) = torch.autograd.grad(logits, xg, grad_outputs=direction.to(logits.dtype))
    return grad, logits.detach()
