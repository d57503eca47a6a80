"""Exact one-pixel attack: every one-pixel change of each image, from the pixel-line tables."""

from __future__ import annotations

import torch
from torch import Tensor

from structrob.attacks._base import Attack, AttackResult, Runner
from structrob.attacks._candidates import Candidates, Outcome
from structrob.attacks.selection import clean_correct, select
from structrob.validation import check_int


class ExactOnePixel(Attack):
    """Exact one-pixel attack: every one-pixel change of each image, searched completely.

    The threat model of :class:`structrob.attacks.OnePixel` (Su et al. [3]_: one pixel set to
    any intensity in [0, 255]) searched exhaustively instead of by differential evolution.
    Along one pixel's line the logits of a ReLU network are continuous and piecewise affine in
    the pixel value t in [0, 1]. On each affine piece the true class's log-odds
    ``z_y - logsumexp_{c != y} z_c`` is concave in t and the largest rival margin
    ``max_{c != y} z_c - z_y`` is convex, so both reach their extremes at the ends of the
    piece. Hence the lowest true-class probability over ALL one-pixel changes, and whether any
    one-pixel change flips the decision, are decided by the ends of the pieces, which tracing
    every (image, pixel) line yields (as ``OnePixel``'s ``path="lines"``,
    :meth:`structrob.model.SparseDAGNet.linear_region`). The model must therefore be a ReLU
    network with ``input_layer()`` and ``linear_region()``, single or stacked.

    The piece ends are evaluated from the table (float32 logits) by the same candidate
    evaluator as ``OnePixel``'s; every misclassified one is confirmed by a plain forward pass,
    and ``success`` means a confirmed one exists. The result is exact up to float rounding: a
    piece end whose margin is within rounding of zero may be rejected by the confirmation. It
    costs one tracing and no search, less than ``OnePixel`` at the study's budget. ``OnePixel``
    with the same ``seed`` and ``n_images`` attacks the same images, so its error rate can be
    read against this one's, the true one-pixel error rate of those images (the images a DE
    fools are among those this attack fools).

    Parameters
    ----------
    seed : int
        Seeds the image order (as :class:`structrob.attacks.OnePixel`).
    n_images : int or None
        Per copy, the first ``n_images`` correctly classified images of the seeded order
        (:func:`structrob.attacks.select_images`); None: every correctly classified image.
    chunk_rows : int
        Bounds memory as in :class:`structrob.attacks.OnePixel`.

    Returns
    -------
    AttackResult
        As ``OnePixel``'s: entry i belongs to ``images[indices[i]]``, ``indices`` ascending.
        On a success ``pixel`` is the misclassified piece end of lowest true-class
        probability; otherwise the one-pixel change of lowest true-class probability (the
        global minimum), and ``confidence`` its true-class probability. ``iterations`` is 0
        and ``n_queries`` the number of piece ends evaluated.

    References
    ----------
    .. [3] Su et al., 2019 (see :mod:`structrob.attacks`).

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
        self.seed = check_int("seed", seed, 0)
        self.n_images = None if n_images is None else check_int("n_images", n_images, 1)
        self.chunk_rows = check_int("chunk_rows", chunk_rows, 1)

    def __repr__(self) -> str:
        return f"ExactOnePixel(seed={self.seed}, n_images={self.n_images})"

    def _check_model(self, runner: Runner) -> None:
        if not runner.has_lines:
            raise ValueError(
                "ExactOnePixel needs a ReLU network with input_layer() and linear_region() "
                "(structrob.model.SparseDAGNet); use OnePixel for other models"
            )

    def _attack(self, runner: Runner, x: Tensor, y: Tensor) -> list[AttackResult]:
        selected = select(clean_correct(runner, x, y, self.chunk_rows), self.n_images, self.seed)
        candidates = Candidates(runner, x, y, selected, "lines", self.chunk_rows)
        outcome = Outcome(candidates, iterations=0)
        # the piece ends as one population per pair, [K, S, width], like the DE's
        population, population_fitness, population_pred, counts = candidates.end_populations()
        rows = torch.arange(len(candidates.pair_k))
        kk, ss = candidates.pair_k, candidates.pair_s
        fooled = population_pred[kk, ss] != candidates.row_label.unsqueeze(1)
        stop = outcome.accept(rows, population[kk, ss], fooled, 0)
        outcome.finish(rows[~stop], population[kk, ss][~stop], population_fitness[kk, ss][~stop])
        return outcome.results(counts)
