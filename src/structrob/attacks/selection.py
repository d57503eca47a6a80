"""Which images the one-pixel attacks attack: the first correctly classified ones of a seeded order.

Shared by :class:`structrob.attacks.OnePixel` and :class:`structrob.attacks.ExactOnePixel`, so
that both attack the same images for the same ``seed`` and ``n_images``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from structrob.attacks._base import Runner, batches, check_labels, opened
from structrob.validation import check_int


def selection_order(n: int, seed: int) -> Tensor:
    """The seeded permutation of ``range(n)`` images are picked from, the same for every model."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def select(clean_correct: Tensor, n_images: int | None, seed: int) -> list[Tensor]:
    """Per copy: the first ``n_images`` correctly classified images of a seeded order.

    ``clean_correct`` is bool [K, N]; ``n_images=None`` selects every correct image (then in
    ascending order). The images come in the order they were picked: the searches lay them out
    so, and their results list them ascending (see ``Outcome.results``).
    """
    if n_images is None:
        return [row.nonzero().flatten() for row in clean_correct]
    order = selection_order(clean_correct.shape[1], seed)
    return [order[row[order]][:n_images] for row in clean_correct]


def clean_correct(runner: Runner, x: Tensor, y: Tensor, chunk_rows: int) -> Tensor:
    """bool [K, N]: copy k classifies clean image i correctly."""
    out = torch.empty(runner.copies, x.shape[0], dtype=torch.bool)
    with torch.no_grad():
        for part in batches(x.shape[0], max(1, chunk_rows // runner.copies)):
            logits = runner.logits_shared(x[part])
            check_labels(y[part], logits.shape[-1])
            out[:, part] = (logits.argmax(-1) == y[part]).cpu()
    return out


def select_images(
    model: nn.Module, images: Tensor, labels: Tensor, n: int = 100, seed: int = 0
) -> Tensor | list[Tensor]:
    """Indices of the images One-Pixel attacks, ascending: ``n`` correct ones of a seeded order.

    The order is a permutation of ``range(N)`` drawn from ``seed`` alone, identical for every
    model, so models of a study are compared on the same inputs as far as their mistakes allow;
    each model (each copy) then takes the first ``n`` images of that order it classifies
    correctly (fewer if it classifies fewer correctly). They are returned in ascending order,
    as :class:`structrob.attacks.OnePixel` reports them in ``AttackResult.indices``.

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
    .. [1] Ben Amor et al., 2021 (see :mod:`structrob.attacks`): 100 test images per model.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(784, 2)
    >>> images = torch.rand(50, 784)
    >>> labels = model(images).argmax(1).detach()  # the model is right on every image
    >>> order = torch.randperm(50, generator=torch.Generator().manual_seed(3))
    >>> bool((select_images(model, images, labels, n=5, seed=3) == order[:5].sort().values).all())
    True
    """
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    with opened(model, images, labels) as (runner, x, y):
        correct = clean_correct(runner, x, y, 8192)
    selected = [torch.sort(chosen).values for chosen in select(correct, n, seed)]
    return selected[0] if len(selected) == 1 else selected
