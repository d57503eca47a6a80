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

import math

import torch
from torch import Tensor

from structrob import _compiled
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


def decode(candidates: Tensor, integer: bool = False) -> tuple[Tensor, Tensor]:
    """(row, col, intensity) float64 [..., 3] -> flat pixel index int64, value in [0, 1].

    ``integer``: the intensity is truncated to an integer first (the study's ``astype(int)``;
    row and col are truncated either way).

    Examples
    --------
    >>> import torch
    >>> pixel, value = decode(torch.tensor([[2.7, 28.0, 300.0]], dtype=torch.float64))
    >>> pixel.tolist(), value.tolist()
    ([83], [1.0])
    >>> decode(torch.tensor([[2.7, 3.2, 127.9]], dtype=torch.float64), integer=True)[1].tolist()
    [0.4980392156862745]
    """
    row = candidates[..., 0].floor().clamp(0, SIDE - 1).long()
    col = candidates[..., 1].floor().clamp(0, SIDE - 1).long()
    intensity = candidates[..., 2].clamp(0, 255)
    if integer:
        intensity = intensity.floor()
    return row * SIDE + col, intensity / 255


def _planes(candidates: Tensor) -> bool:
    """Whether candidates [A, P, 3] are float64 parameter planes on the CPU (memory
    ``[3, A, P]``, as the search keeps them), which the compiled key loop reads."""
    return (
        candidates.dim() == 3
        and candidates.dtype == torch.float64
        and candidates.device.type == "cpu"
        and candidates.permute(2, 0, 1).is_contiguous()
    )


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

    The attacked pairs are also numbered as search rows: row r is pair
    ``(pair_k[r], pair_s[r])``, the pairs in use in row-major order.

    With ``integer`` the candidates are decoded by truncation (:func:`decode`), so each pair
    has only ``784 x 256`` distinct candidates; their fitness is then kept once computed (a
    float32 table per pair, filled as the search first meets each candidate), so every later
    evaluation of the same candidate is a look-up. Whether a candidate is misclassified is
    decided (and confirmed) the first time it is met, so the table holds fitness only.

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
    integer : bool
        Decode candidates by truncation and keep their fitness (above).

    Examples
    --------
    >>> import torch
    >>> from structrob.attacks._base import Runner
    >>> model = torch.nn.Linear(784, 3)
    >>> x, y = torch.rand(4, 784), torch.tensor([0, 1, 2, 0])
    >>> evaluator = Candidates(Runner(model), x, y, [torch.tensor([1, 3])], "full", 64)
    >>> rows = torch.tensor([0, 1])  # images 1 and 3
    >>> candidates = torch.rand(2, 5, 3, dtype=torch.float64) * 28
    >>> fitness, fooled = evaluator.fitness(rows, candidates, fooled=True)
    >>> fitness.shape, fitness.dtype, fooled.shape
    (torch.Size([2, 5]), torch.float64, torch.Size([2, 5]))
    """

    # continuous candidates of the lines path: a batch of at least DEDUPLICATE_FROM evaluates
    # each distinct (row, key) once when fewer than DEDUPLICATE_BELOW of them are distinct
    DEDUPLICATE_FROM = 4096
    DEDUPLICATE_BELOW = 0.7

    def __init__(
        self,
        runner: Runner,
        x: Tensor,
        y: Tensor,
        selected: list[Tensor],
        path: str,
        chunk_rows: int,
        integer: bool = False,
    ) -> None:
        self.runner, self.x, self.chunk_rows = runner, x, chunk_rows
        self.integer = integer
        self.labels = y.cpu()
        K = runner.copies
        S = max(len(s) for s in selected)
        self.sizes = [len(s) for s in selected]
        self.image = torch.zeros(K, S, dtype=torch.long)
        self.valid = torch.zeros(K, S, dtype=torch.bool)
        for k, s in enumerate(selected):
            self.image[k, : len(s)] = s
            self.valid[k, : len(s)] = True
        self.pair_k, self.pair_s = self.valid.nonzero(as_tuple=True)
        self.row_label = self.labels[self.image[self.pair_k, self.pair_s]]
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
        self._upper = torch.tensor([SIDE - 1, SIDE - 1, 255], dtype=torch.float64)
        self.memo: Tensor | None = None  # float32 [rows, 784 * 256] with integer, NaN = not met
        self.remembers = integer  # the engine need not skip repeated candidates itself
        self.n_evaluated = 0  # candidates evaluated by the path (not looked up)

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

    def fitness(
        self, rows: Tensor, candidates: Tensor, fooled: bool = False, keys: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """True-class log-odds (float64, minimised) of candidates [Q, P, 3] of search ``rows``.

        The log-odds ``log(p / (1 - p))`` orders candidates as the true-class probability p
        does but does not round to a tie between confident candidates as p does. With
        ``fooled``, also whether each candidate is misclassified (bool [Q, P]); with
        ``integer`` a candidate met before is reported not misclassified (it was offered for
        confirmation when first met, and a confirmation is deterministic). ``keys``: the
        candidates' :meth:`key`, if known (saves decoding them again).
        """
        if keys is None or keys.dim() != 2:
            keys = self.key(candidates)
        if keys.dim() != 2:  # keyed by the candidate itself
            return self._fitness(rows, *decode(candidates, self.integer), fooled)
        if self.integer:
            return self._memo_fitness(rows, keys, fooled)
        if self.lines is not None and keys.numel() >= self.DEDUPLICATE_FROM:
            return self._unique_fitness(rows, keys, fooled)
        return self._fitness(rows, *self._from_key(keys), fooled)

    def _unique_fitness(
        self, rows: Tensor, keys: Tensor, fooled: bool
    ) -> tuple[Tensor, Tensor | None]:
        """:meth:`_fitness` of each distinct (row, key) once (the path is deterministic)."""
        pair_key = (rows.view(-1, 1) << 42) | keys  # keys < 2**42: pixel < 2**10
        unique, inverse = torch.unique(pair_key.view(-1), return_inverse=True)
        if len(unique) > self.DEDUPLICATE_BELOW * pair_key.numel():
            return self._fitness(rows, *self._from_key(keys), fooled)
        pixel, value = self._from_key(unique & ((1 << 42) - 1))
        fit, bad = self._fitness(unique >> 42, pixel.view(-1, 1), value.view(-1, 1), fooled)
        fit = fit.view(-1)[inverse].view(keys.shape)
        return fit, None if bad is None else bad.view(-1)[inverse].view(keys.shape)

    def key(self, candidates: Tensor) -> Tensor:
        """int64 [Q, P] (or [Q, P, 3]): equal exactly when candidates set the same pixel to the
        same value as the model sees it.

        Integer candidates: ``pixel * 256 + intensity``. Continuous ones, for a float32 model:
        ``pixel * 2**32`` plus the bits of the float32 value; for other dtypes the candidate
        itself (equal candidates are evaluated the same, though not only they).
        """
        if not self.integer and self.x.dtype != torch.float32:
            return candidates.clone()  # never the population itself: the engine moves both
        if self.integer and _compiled.native is not None and _planes(candidates):
            A, P = candidates.shape[:2]
            code = torch.empty(A, P, dtype=torch.long)
            _compiled.native.integer_keys(
                candidates.permute(2, 0, 1).data_ptr(), A, P, SIDE, code.data_ptr()
            )
            return code
        if self.integer:
            # decode()'s truncations (flooring an intensity clamped to [0, 255] equals clamping
            # the floored one), then the code: every value an integer below 2**18, so exact
            whole = torch.minimum(candidates.floor().clamp_(min=0), self._upper)
            code = torch.add(whole[..., 2], whole[..., 1], alpha=256)
            return code.add_(whole[..., 0], alpha=SIDE * 256).long()
        # decode()'s arithmetic, exact in float64
        row = candidates[..., 0].floor().clamp_(0, SIDE - 1)
        pixel = candidates[..., 1].floor().clamp_(0, SIDE - 1).add_(row, alpha=SIDE)
        intensity = candidates[..., 2].clamp(0, 255)
        bits = intensity.div_(255).float().view(torch.int32).long() & 0xFFFFFFFF
        return (pixel.long() << 32) | bits

    def misclassified(self, rows: Tensor, candidates: Tensor) -> Tensor:
        """bool [Q, P]: candidates [Q, P, 3] of search ``rows`` are misclassified (this path).

        Always evaluated (never from the table ``integer`` keeps).
        """
        _, wrong = self._fitness(rows, *decode(candidates, self.integer), True)
        assert wrong is not None
        return wrong

    def _fitness(
        self, rows: Tensor, pixel: Tensor, value: Tensor, fooled: bool
    ) -> tuple[Tensor, Tensor | None]:
        k, s = self.pair_k[rows], self.pair_s[rows]
        labels = self.row_label[rows]
        self.n_evaluated += pixel.numel()
        if self.lines is not None:
            t = value.to(self.x.dtype).double()
            return self.lines.log_odds(k, s, pixel, t, labels, fooled)
        logits = self.logits(k, s, pixel, value)
        labels = labels.to(logits.device)[:, None].expand(-1, pixel.shape[1])
        wrong = (logits.argmax(-1) != labels).cpu() if fooled else None
        return log_odds(logits, labels).cpu(), wrong

    def _from_key(self, keys: Tensor) -> tuple[Tensor, Tensor]:
        """Pixel int64 and value float64 of keys [...] (the inverse of :meth:`key`)."""
        if self.integer:
            return keys >> 8, (keys & 255).double() / 255
        low = keys & 0xFFFFFFFF
        bits = (low - ((low & 0x80000000) << 1)).to(torch.int32)  # the float32's bits
        return keys >> 32, bits.view(torch.float32).double()

    def _memo_fitness(
        self, rows: Tensor, code: Tensor, fooled: bool
    ) -> tuple[Tensor, Tensor | None]:
        """Fitness of integer candidates by their codes [Q, P], from the table when met before."""
        if self.memo is None:
            # the fitness of the lines path is float32 (its logits are); else the model's
            dtype = torch.float32 if self.lines is not None else self.x.dtype
            self.memo = torch.full((len(self.pair_k), N_PIXELS * 256), torch.nan, dtype=dtype)
        memo, width = self.memo.view(-1), N_PIXELS * 256
        if (
            _compiled.native is not None
            and self.memo.dtype == torch.float32
            and code.dim() == 2
            and code.dtype == torch.long
            and code.is_contiguous()
            and rows.dtype == torch.long
            and rows.is_contiguous()
        ):
            # one pass: the kept fitness and the positions not met yet (the same values)
            out = torch.empty(code.shape, dtype=torch.float64)
            missing = torch.empty(code.numel(), dtype=torch.long)
            n = _compiled.native.memo_lookup(
                self.memo.data_ptr(),
                width,
                rows.data_ptr(),
                code.data_ptr(),
                *code.shape,
                out.data_ptr(),
                missing.data_ptr(),
            )
            out, missing = out.view(-1), missing[:n]
            key = rows.index_select(0, missing // code.shape[1]) * width
            key += code.view(-1).index_select(0, missing)  # the missing positions' keys
        else:
            key = ((rows * width).view(-1, 1) + code).view(-1)
            out = memo.index_select(0, key)
            missing = out.isnan().nonzero().view(-1)
            key = key[missing]
        wrong = torch.zeros(code.numel(), dtype=torch.bool) if fooled else None
        if len(missing):
            new, first = torch.unique(key, return_inverse=True)
            # each new key's first position (the one an uncached search would confirm first)
            at = torch.full((len(new),), code.numel(), dtype=torch.long)
            at.scatter_reduce_(0, first, missing, reduce="amin")
            pixel, value = self._from_key(code.view(-1)[at])
            fit, bad = self._fitness(
                rows[at // code.shape[1]], pixel.view(-1, 1), value.view(-1, 1), fooled
            )
            memo[new] = fit.view(-1).to(memo.dtype)
            out[missing] = memo.index_select(0, key).to(out.dtype)
            if wrong is not None:
                assert bad is not None
                wrong[at] = bad.view(-1)
        return out.double().view(code.shape), None if wrong is None else wrong.view(code.shape)

    def piece_ends(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Every end of every linear piece of every traced line, as candidates with logits.

        Returns ``k``, ``s`` [M] (the pair), ``candidates`` [M, 3] (the pixel and its value at
        the piece end, intensity ``t * 255``) and ``logits`` [M, C] (the table's float32
        logits there); grouped by pair. Needs ``path="lines"``.
        """
        if self.lines is None:
            raise RuntimeError("piece_ends() needs the pixel-line tables (path='lines')")
        line, t, logits = self.lines.ends()
        L = self.lines.S * N_PIXELS
        k, s, pixel = line // L, (line % L) // N_PIXELS, line % N_PIXELS
        rows, cols = (pixel // SIDE).double(), (pixel % SIDE).double()
        return k, s, torch.stack([rows, cols, t * 255], dim=1), logits

    def end_populations(
        self, ends: tuple[Tensor, Tensor, Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Every pair's piece ends (``ends``, default :meth:`piece_ends`) as one population each.

        Returns ``population`` [K, S, W, 3], ``fitness`` [K, S, W] and ``pred`` [K, S, W] (as
        :meth:`fitness` gives them, from the table's logits) and ``counts`` [K, S] (the ends
        of each pair; W is the most any pair has). Padding is pixel (0, 0) at intensity 0
        with infinite fitness and the true class as ``pred``, so it is never the fittest nor
        misclassified. Needs ``path="lines"``.
        """
        k, s, ends, logits = self.piece_ends() if ends is None else ends
        K, S = self.valid.shape
        pair = k * S + s
        counts = torch.bincount(pair, minlength=K * S)
        rank = torch.arange(len(pair)) - (torch.cumsum(counts, 0) - counts)[pair]
        width = max(1, int(counts.max()) if len(counts) else 1)
        population = torch.zeros(K, S, width, 3, dtype=torch.float64)
        population_fitness = torch.full((K, S, width), math.inf, dtype=torch.float64)
        population_pred = self.labels[self.image].unsqueeze(-1).repeat(1, 1, width)
        population[k, s, rank] = ends
        population_fitness[k, s, rank] = log_odds(logits, self.true_class(k, s))
        population_pred[k, s, rank] = logits.argmax(-1)
        return population, population_fitness, population_pred, counts.view(K, S)

    def proven_robust(
        self, tolerance: float = 1e-4, ends: tuple[Tensor, Tensor, Tensor, Tensor] | None = None
    ) -> Tensor:
        """bool [R]: the rows (pairs) that no candidate of this path can misclassify.

        Along each traced line the table's logits are affine on every piece, so the largest
        rival margin ``max_{c != y} z_c - z_y``, convex on a piece, is largest at a piece
        end (``ends``, default :meth:`piece_ends`). A row is proven robust when at every end
        of every line of its image the margin is below ``-tolerance * max(1, max_c |z_c|)``:
        a candidate between two ends is read off the same table (float32 logits, a
        multiply-add from the piece's start), whose rounding is orders of magnitude below
        that band. A row whose margin comes within it anywhere is not claimed. Needs
        ``path="lines"``.
        """
        k, s, _, logits = self.piece_ends() if ends is None else ends
        z = logits.double()
        labels = self.true_class(k, s)
        own = z.gather(1, labels[:, None])[:, 0]
        rival = z.scatter(1, labels[:, None], -math.inf).amax(1)
        band = tolerance * z.abs().amax(1).clamp(min=1)
        close = rival - own >= -band
        K, S = self.valid.shape
        close_pairs = torch.bincount((k * S + s)[close], minlength=K * S)
        return close_pairs.view(K, S)[self.pair_k, self.pair_s] == 0

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
    reports its fittest candidate, given by :meth:`finish`. Pairs are named by their search
    row (:class:`Candidates`: row r is pair ``(pair_k[r], pair_s[r])``).

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

    def accept(self, rows: Tensor, candidates: Tensor, fooled: Tensor, generation: int) -> Tensor:
        """Accept, per row, a misclassified candidate that a plain forward pass confirms.

        ``candidates`` [Q, P, 3] of search ``rows`` [Q], ``fooled`` [Q, P] marking those the
        evaluator's path misclassifies. Among a row's confirmed candidates the one with the
        lowest true-class probability (then the lowest index) is kept; a candidate the
        confirmation rejects (float rounding only) is not a success. Returns bool [Q]: the rows
        fooled now.
        """
        evaluator = self.candidates
        stop = torch.zeros(len(rows), dtype=torch.bool)
        q, p = fooled.nonzero(as_tuple=True)
        if len(q) == 0:
            return stop
        k, s = evaluator.pair_k[rows[q]], evaluator.pair_s[rows[q]]
        labels = evaluator.row_label[rows[q]]
        pixel, value = decode(candidates[q, p], evaluator.integer)
        logits = evaluator.logits(k, s, pixel[:, None], value[:, None], forward=True)[:, 0]
        true_pred = logits.argmax(-1)
        confirmed = true_pred != labels
        q, p, k, s = q[confirmed], p[confirmed], k[confirmed], s[confirmed]
        logits, true_pred, labels = logits[confirmed], true_pred[confirmed], labels[confirmed]
        if len(q) == 0:
            return stop
        score = softmax_of(logits, labels)
        order = torch.argsort(score, stable=True)
        order = order[torch.argsort(q[order], stable=True)]  # by row, then score, then index
        first = torch.ones(len(order), dtype=torch.bool)
        first[1:] = q[order[1:]] != q[order[:-1]]
        chosen = order[first]
        kq, sq = k[chosen], s[chosen]
        self.success[kq, sq] = True
        self.pixel[kq, sq] = candidates[q[chosen], p[chosen]]
        self.iterations[kq, sq] = generation
        self.pred[kq, sq] = true_pred[chosen]
        self.confidence[kq, sq] = softmax_of(logits[chosen], true_pred[chosen])
        stop[q[chosen]] = True
        return stop

    def finish(self, rows: Tensor, population: Tensor, fitness: Tensor) -> None:
        """Rows never fooled report their fittest of ``population`` [Q, P, 3] (``fitness``
        [Q, P]), its class and confidence from a plain forward pass."""
        if len(rows) == 0:
            return
        evaluator = self.candidates
        k, s = evaluator.pair_k[rows], evaluator.pair_s[rows]
        candidate = population[torch.arange(len(rows)), fitness.argmin(1)]
        pixel, value = decode(candidate, evaluator.integer)
        logits = evaluator.logits(k, s, pixel[:, None], value[:, None], forward=True)[:, 0]
        self.pixel[k, s] = candidate
        self.pred[k, s] = logits.argmax(-1)
        self.confidence[k, s] = softmax_of(logits, self.pred[k, s])

    def results(self, n_queries: Tensor) -> list[AttackResult]:
        """One result per copy; entry i belongs to ``images[indices[i]]``, indices ascending.

        ``n_queries`` [K, S] is the number of candidates each pair evaluated.
        """
        evaluator = self.candidates
        labels = evaluator.labels
        x = evaluator.x.cpu()
        image_shape = evaluator.runner.image_shape
        results = []
        for kk, n in enumerate(evaluator.sizes):
            # Slots hold the images in the order they were picked, and the search keeps that
            # layout: the pixel-line keys encode the slot, so re-laying them out would move
            # float rounding. The result lists them by position in the caller's images.
            index, slots = torch.sort(evaluator.image[kk, :n])
            pixel, value = decode(self.pixel[kk, slots], evaluator.integer)
            adv = x[index].clone()
            adv.scatter_(1, pixel[:, None], value[:, None].to(adv.dtype))
            pixel_out = torch.stack(
                [(pixel // SIDE).double(), (pixel % SIDE).double(), value * 255], dim=1
            )
            pixel_out[:, 2] = self.pixel[kk, slots, 2].clamp(0, 255)
            if evaluator.integer:
                pixel_out[:, 2] = pixel_out[:, 2].floor()
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
