"""L-inf projected gradient descent: BIM (Kurakin et al.), PGD with random start (Madry et al.)."""

from __future__ import annotations

import torch
from torch import Tensor

from structrob.attacks._base import (
    Attack,
    AttackResult,
    Runner,
    batches,
    check_labels,
    softmax_of,
    split_copies,
)
from structrob.attacks._gradients import input_gradient
from structrob.validation import check_int, check_number


class PGD(Attack):
    """L-inf projected gradient descent (BIM / iterative FGSM [5]_, with random start [6]_).

    ``x_{t+1} = clip_{[x - eps, x + eps] ∩ [0, 1]}(x_t + step_size * sign(grad_x CE(f(x_t), y)))``
    for ``steps`` steps from ``x_0 = x`` (BIM) or, with ``random_start``, from
    ``clip_{[0,1]}(x + U(-eps, eps))``. The result is the last iterate, field i for
    ``images[i]``. Gradients as in :class:`structrob.attacks.FGSM` (float64, non-saturating).

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
    .. [5] Kurakin et al., 2017 (see :mod:`structrob.attacks`).
    .. [6] Madry et al., 2018 (see :mod:`structrob.attacks`).

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
        self.eps = check_number("eps", eps, 0.0, 1.0)
        self.step_size = check_number("step_size", step_size, 0.0, low_open=True)
        self.steps = check_int("steps", steps, 1)
        self.random_start = bool(random_start)
        self.seed = check_int("seed", seed, 0)
        self.batch_size = check_int("batch_size", batch_size, 1)

    def __repr__(self) -> str:
        return (
            f"PGD(eps={self.eps}, step_size={self.step_size}, steps={self.steps}, "
            f"random_start={self.random_start}, seed={self.seed})"
        )

    def _attack(self, runner: Runner, x: Tensor, y: Tensor) -> list[AttackResult]:
        K, (N, D) = runner.copies, x.shape
        if self.random_start:
            generator = torch.Generator().manual_seed(self.seed)
            noise = torch.rand(N, D, generator=generator, dtype=torch.float64)
            offset = ((2 * noise - 1) * self.eps).to(device=x.device, dtype=x.dtype)
            start = (x + offset).clamp_(0, 1)
        else:
            start = x
        adv = torch.empty(K, N, D, dtype=x.dtype)
        pred = torch.empty(K, N, dtype=torch.long)
        confidence = torch.empty(K, N, dtype=torch.float64)
        clean_correct = torch.empty(K, N, dtype=torch.bool)
        for batch in batches(N, self.batch_size):
            xb, yb = x[batch], y[batch]
            clean_logits = runner.logits_shared(xb)
            check_labels(yb, clean_logits.shape[-1])
            clean_correct[:, batch] = (clean_logits.argmax(-1) == yb).cpu()
            low, high = (xb - self.eps).clamp(min=0), (xb + self.eps).clamp(max=1)
            xt = start[batch].expand(K, -1, -1)
            for _ in range(self.steps):
                grad, _ = input_gradient(runner, xt, yb)
                xt = torch.minimum(torch.maximum(xt + self.step_size * grad.sign(), low), high)
            logits = runner.logits(xt)
            pred_b = logits.argmax(-1)
            adv[:, batch] = xt.cpu()
            pred[:, batch] = pred_b.cpu()
            confidence[:, batch] = softmax_of(logits, pred_b).cpu()
        success = clean_correct & (pred != y.cpu())
        return split_copies(runner.image_shape, success, adv, pred, confidence, clean_correct)
