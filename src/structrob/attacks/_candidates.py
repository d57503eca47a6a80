"""Candidate one-pixel changes: the one evaluator and the outcome of a search.

Both one-pixel attacks search the same space, one pixel of an image set to any value: the
differential evolution of :class:`structrob.attacks.OnePixel` samples it, the exhaustive
search of :class:`structrob.attacks.ExactOnePixel` enumerates the ends of its linear pieces.
Both score candidates with :class:`Candidates` and record and report what they found with
:class:`Outcome`, so a candidate means the same, and a success is confirmed the same way, in
both.

A candidate is ``(row, col, intensity)`` float64: the pixel is
``(min(floor(row), 27), min(floor(col), 27))`` and is set to ``intensity / 255`` (intensity
clipped to [0, 255]). The attacked images are laid out as ``[K, S]`` (copy, slot) pairs: copy
k attacks ``selected[k]``, slot s holding image ``selected[k][s]``; ``valid`` marks the slots
in use (copies may attack different numbers of images).
"""

from __future__ import annotations

import torch
from torch import Tensor

from structrob.attacks._base import (
    N_PIXELS,
    SIDE,
    AttackResult,
    Runner,
    batches,
    log_odds,
    softmax_of,
)
from structrob.attacks._lines import PixelLines


def decode(candidates: Tensor) -> tuple[Tensor, Tensor]:
    """(row, col, intensity) float64 [..., 3] -> flat pixel index int64, value in [0, 1].

    Examples
    --------
    >>> import torch
    >>> pixel, value = decode(torch.tensor([[2.7, 28.0, 300.0]], dtype=torch.float64))
    >>> pixel.tolist(), value.tolist()
    ([83], [1.0])
    """
    row = candidates[..., 0].floor().clamp(0, SIDE - 1).long()
    col = candidates[..., 1].floor().clamp(0, SIDE - 1).long()
    return row * SIDE + col, candidates[..., 2].clamp(0, 255) / 255


class Candidates:
    """Logits and fitness of candidate one-pixel changes of the attacked images.

    The one evaluator of both one-pixel searches. ``path`` says how a candidate's logits are
    computed (:class:`structrob.attacks.OnePixel` describes the three ways):

    - ``"lines"``: read off the pixel-line tables (:class:`PixelLines`), traced here once;
    - ``"rank1"``: the clean first pre-activation plus ``W1[:, pixel] * (new - old)``, then
      ``model.forward_from_input``;
    - ``"full"``: a forward pass of every modified image.

    Whatever the path, ``logits(..., forward=True)`` is a plain forward pass of the modified
    images, the confirmation every reported success passes.

    Parameters
    ----------
    runner : Runner
        The model adapter of the call.
    x : Tensor [N, 784]
        The caller's images (model dtype and device); ``y`` [N] their true classes.
    selected : list of K Tensor int64
        Per copy, the positions in ``x`` of the images attacked, in the order they were picked:
        slot s of copy k holds image ``selected[k][s]``.
    path : {"lines", "rank1", "full"}
    chunk_rows : int
        Most rows (candidates x copies) per forward pass; the tracing takes ``chunk_rows // 4``
        lines per copy per pass.

    Examples
    --------
    >>> import torch
    >>> from structrob.attacks._base import Runner
    >>> model = torch.nn.Linear(784, 3)
    >>> x, y = torch.rand(4, 784), torch.tensor([0, 1, 2, 0])
    >>> evaluator = Candidates(Runner(model), x, y, [torch.tensor([1, 3])], "full", 64)
    >>> k, s = torch.tensor([0, 0]), torch.tensor([0, 1])  # images 1 and 3
    >>> fitness, pred = evaluator.fitness(k, s, torch.rand(2, 5, 3, dtype=torch.float64) * 28)
    >>> fitness.shape, fitness.dtype, pred.shape
    (torch.Size([2, 5]), torch.float64, torch.Size([2, 5]))
    """

    def __init__(
        self,
        runner: Runner,
        x: Tensor,
        y: Tensor,
        selected: list[Tensor],
        path: str,
        chunk_rows: int,
    ) -> None:
        self.runner, self.x, self.chunk_rows = runner, x, chunk_rows
        self.labels = y.cpu()
        K = runner.copies
        S = max(len(s) for s in selected)
        self.sizes = [len(s) for s in selected]
        self.image = torch.zeros(K, S, dtype=torch.long)
        self.valid = torch.zeros(K, S, dtype=torch.bool)
        for k, s in enumerate(selected):
            self.image[k, : len(s)] = s
            self.valid[k, : len(s)] = True
        self.image_on_device = self.image.to(x.device)
        self.lines: PixelLines | None = None
        if path == "lines":
            self.lines = PixelLines(runner, x, self.image, self.valid, chunk_rows)
        self.columns: Tensor | None = None
        if path == "rank1":
            weight, bias = runner.model.input_layer()
            weight = weight.detach().to(x.dtype)
            self.columns = weight.transpose(1, 2).contiguous()  # [K, 784, n0]: W1[:, pixel]
            self.clean_pre = torch.baddbmm(
                bias.detach().to(x.dtype).unsqueeze(1),
                x[self.image_on_device],
                weight.transpose(1, 2),
            )

    def true_class(self, k: Tensor, s: Tensor) -> Tensor:
        """True classes (CPU) of the images of pairs ``(k[q], s[q])``."""
        return self.labels[self.image[k, s]]

    def logits(
        self, k: Tensor, s: Tensor, pixel: Tensor, value: Tensor, forward: bool = False
    ) -> Tensor:
        """Logits [Q, R, C] (CPU) of pairs (k[q], s[q]) with pixel[q, r] set to value[q, r].

        By this evaluator's path, or by a plain forward pass of the modified images when
        ``forward``.
        """
        if forward:
            return self._forward(k, s, pixel, value, rank1=False)
        if self.lines is not None:
            # the pixel value the model sees (its dtype), as the confirmation pass sets it
            return self.lines.logits(k, s, pixel, value.to(self.x.dtype).double())
        return self._forward(k, s, pixel, value, rank1=self.columns is not None)

    def fitness(self, k: Tensor, s: Tensor, candidates: Tensor) -> tuple[Tensor, Tensor]:
        """True-class log-odds (float64, minimised) and predicted class of candidates [Q, P, 3].

        The log-odds ``log(p / (1 - p))`` orders candidates as the true-class probability p
        does but does not round to a tie between confident candidates as p does.
        """
        pixel, value = decode(candidates)
        logits = self.logits(k, s, pixel, value)
        labels = self.true_class(k, s).to(logits.device)
        fitness = log_odds(logits, labels[:, None].expand(-1, candidates.shape[1]))
        return fitness.cpu(), logits.argmax(-1).cpu()

    def piece_ends(self) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Every end of every linear piece of every traced line, as candidates with fitness.

        Returns ``k``, ``s`` [M] (the pair), ``candidates`` [M, 3] (the pixel and its value at
        the piece end, intensity ``t * 255``), ``fitness`` [M] and ``pred`` [M] as
        :meth:`fitness` gives them, read from the table's float32 logits; grouped by pair.
        Needs ``path="lines"``.
        """
        if self.lines is None:
            raise RuntimeError("piece_ends() needs the pixel-line tables (path='lines')")
        line, t, logits = self.lines.ends()
        L = self.lines.S * N_PIXELS
        k, s, pixel = line // L, (line % L) // N_PIXELS, line % N_PIXELS
        rows, cols = (pixel // SIDE).double(), (pixel % SIDE).double()
        candidates = torch.stack([rows, cols, t * 255], dim=1)
        return k, s, candidates, log_odds(logits, self.true_class(k, s)), logits.argmax(-1)

    def _forward(self, k: Tensor, s: Tensor, pixel: Tensor, value: Tensor, rank1: bool) -> Tensor:
        """Logits [Q, R, C] by forward passes, batched over copies and chunked."""
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
        per_chunk = max(1, self.chunk_rows // (K * R))
        for part in batches(A, per_chunk):
            ss = pad_s[:, part].to(device)
            pp = pad_p[:, part].to(device)
            vv = pad_v[:, part].to(device=device, dtype=self.x.dtype)
            a = ss.shape[1]
            image = self.image_on_device[copy_index[:, None], ss]  # [K, a]
            if rank1:
                assert self.columns is not None
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


class Outcome:
    """What a one-pixel search found per (copy, slot) pair, and the results it reports.

    A pair is fooled once :meth:`accept` confirms one of its candidates; a pair never fooled
    reports its fittest candidate when :meth:`results` is called.

    Parameters
    ----------
    candidates : Candidates
        The evaluator of the search (its pairs, images and confirmation passes).
    iterations : int
        Generations reported for a pair never fooled (the search's budget).
    """

    def __init__(self, candidates: Candidates, iterations: int) -> None:
        self.candidates = candidates
        K, S = candidates.valid.shape
        self.success = torch.zeros(K, S, dtype=torch.bool)
        self.pixel = torch.zeros(K, S, 3, dtype=torch.float64)
        self.iterations = torch.full((K, S), iterations, dtype=torch.long)
        self.pred = torch.zeros(K, S, dtype=torch.long)
        self.confidence = torch.zeros(K, S, dtype=torch.float64)

    def pending(self) -> tuple[Tensor, Tensor]:
        """``(k, s)`` of the pairs in use and not fooled yet, in row-major order."""
        return (self.candidates.valid & ~self.success).nonzero(as_tuple=True)

    def accept(
        self, k: Tensor, s: Tensor, candidates: Tensor, pred: Tensor, generation: int
    ) -> None:
        """Accept, per pair, a misclassified candidate that a plain forward pass confirms.

        ``candidates`` [Q, P, 3] of pairs ``(k[q], s[q])`` with their predicted classes ``pred``
        [Q, P] as the evaluator's path gives them. Among a pair's confirmed candidates the one
        with the lowest true-class probability (then the lowest index) is kept; a candidate the
        confirmation rejects (float rounding only) is not a success.
        """
        evaluator = self.candidates
        labels = evaluator.true_class(k, s)
        q, p = (pred != labels[:, None]).nonzero(as_tuple=True)
        if len(q) == 0:
            return
        pixel, value = decode(candidates[q, p])
        logits = evaluator.logits(k[q], s[q], pixel[:, None], value[:, None], forward=True)[:, 0]
        true_pred = logits.argmax(-1)
        confirmed = true_pred != labels[q]
        q, p, logits, true_pred = (
            q[confirmed],
            p[confirmed],
            logits[confirmed],
            true_pred[confirmed],
        )
        if len(q) == 0:
            return
        score = softmax_of(logits, labels[q])
        order = torch.argsort(score, stable=True)
        order = order[torch.argsort(q[order], stable=True)]  # by pair, then score, then index
        first = torch.ones(len(order), dtype=torch.bool)
        first[1:] = q[order[1:]] != q[order[:-1]]
        chosen = order[first]
        kq, sq = k[q[chosen]], s[q[chosen]]
        self.success[kq, sq] = True
        self.pixel[kq, sq] = candidates[q[chosen], p[chosen]]
        self.iterations[kq, sq] = generation
        self.pred[kq, sq] = true_pred[chosen]
        self.confidence[kq, sq] = softmax_of(logits[chosen], true_pred[chosen])

    def results(self, population: Tensor, fitness: Tensor, n_queries: Tensor) -> list[AttackResult]:
        """One result per copy; entry i belongs to ``images[indices[i]]``, indices ascending.

        ``population`` [K, S, P, 3] and ``fitness`` [K, S, P] are the candidates a pair never
        fooled reports its fittest of (checked by a plain forward pass); ``n_queries`` [K, S]
        is the number of candidates each pair evaluated.
        """
        evaluator = self.candidates
        k, s = self.pending()
        if len(k):
            best = fitness[k, s].argmin(1)
            candidate = population[k, s, best]
            pixel, value = decode(candidate)
            logits = evaluator.logits(k, s, pixel[:, None], value[:, None], forward=True)[:, 0]
            self.pixel[k, s] = candidate
            self.pred[k, s] = logits.argmax(-1)
            self.confidence[k, s] = softmax_of(logits, self.pred[k, s])
        labels = evaluator.labels
        x = evaluator.x.cpu()
        image_shape = evaluator.runner.image_shape
        results = []
        for kk, n in enumerate(evaluator.sizes):
            # Slots hold the images in the order they were picked, and the search keeps that
            # layout: the pixel-line keys encode the slot, so re-laying them out would move
            # float rounding. The result lists them by position in the caller's images.
            index, slots = torch.sort(evaluator.image[kk, :n])
            pixel, value = decode(self.pixel[kk, slots])
            adv = x[index].clone()
            adv.scatter_(1, pixel[:, None], value[:, None].to(adv.dtype))
            pixel_out = self.pixel[kk, slots].clone()
            pixel_out[:, :2] = torch.stack([pixel // SIDE, pixel % SIDE], dim=1).double()
            pixel_out[:, 2] = pixel_out[:, 2].clamp(0, 255)
            pred = self.pred[kk, slots]
            results.append(
                AttackResult(
                    success=pred != labels[index],
                    adv=adv.reshape(n, *image_shape),
                    pred=pred,
                    confidence=self.confidence[kk, slots],
                    clean_correct=torch.ones(n, dtype=torch.bool),
                    indices=index,
                    pixel=pixel_out,
                    iterations=self.iterations[kk, slots],
                    n_queries=n_queries[kk, slots],
                )
            )
        return results
