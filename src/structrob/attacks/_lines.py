"""Pixel-line tables: the exact logits of every one-pixel change, traced once per image and pixel.

Used by :class:`structrob.attacks.OnePixel` (``path="lines"``) and
:class:`structrob.attacks.ExactOnePixel` through the candidate evaluator
(:mod:`structrob.attacks._candidates`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from structrob.attacks._base import N_PIXELS, Runner, batches, log_odds, padded_slots


class PixelLines:
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

    def __init__(
        self, runner: Runner, x: Tensor, image: Tensor, valid: Tensor, chunk_rows: int
    ) -> None:
        K, S = image.shape
        self.S = S
        device = x.device
        weight, bias = runner.model.input_layer()
        weight, bias = weight.detach().double(), bias.detach().double()
        x64 = x.double()
        image_d, valid_d = image.to(device), valid.to(device)
        columns = weight.transpose(1, 2).contiguous()  # [K, 784, n0]: d pre0 / d pixel
        # [K, S, n0]: the clean first pre-activation of every attacked image
        clean_pre = torch.baddbmm(bias.unsqueeze(1), x64[image_d], weight.transpose(1, 2))
        L = S * N_PIXELS
        t = torch.zeros(K, L, dtype=torch.float64, device=device)
        alive = valid_d.repeat_interleave(N_PIXELS, dim=1)
        # flat row offsets of each copy in columns [K * 784, n0] and clean_pre [K * S, n0]:
        # a row gather by index_select (pure copies, so exactly what [copy, row] indexing gives)
        column_base = torch.arange(0, K * N_PIXELS, N_PIXELS, device=device)[:, None]
        slot_base = (torch.arange(K, device=device) * S)[:, None]  # S may be 0
        n0 = columns.shape[-1]
        columns_flat, clean_flat = columns.view(K * N_PIXELS, n0), clean_pre.view(K * S, n0)
        per_chunk = max(1, chunk_rows // 4)  # lines per copy per pass (values and slopes, float64)
        # the weights stay put while tracing: a model that can build its layers once for all
        # passes does (SparseDAGNet.region_tracer; the same results as linear_region)
        make_tracer = getattr(runner.model, "region_tracer", None)
        trace = make_tracer(torch.float64) if callable(make_tracer) else runner.model.linear_region
        parts: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
        rounds = 0
        while bool(alive.any()):
            rounds += 1
            if rounds > self.MAX_ROUNDS:
                raise RuntimeError(
                    "One-Pixel line tracing did not finish after "
                    f"{self.MAX_ROUNDS} pieces on one line; use OnePixel(path='rank1')"
                )
            index, ok = padded_slots(alive)
            for part in batches(index.shape[1], per_chunk):
                lines, keep = index[:, part], ok[:, part]
                slot, pixel = lines // N_PIXELS, lines % N_PIXELS
                t0 = t.gather(1, lines)
                at = t0 + ((1 - t0) / 2).clamp_(max=self.GAP)
                old = x64[image_d.gather(1, slot), pixel]
                n = lines.shape[1]
                direction = columns_flat.index_select(0, (pixel + column_base).view(-1))
                direction = direction.view(K, n, n0)
                clean = clean_flat.index_select(0, (slot + slot_base).view(-1)).view(K, n, n0)
                pre0 = torch.addcmul(clean, direction, (at - old).unsqueeze(-1))
                logits, slope, reach = trace(pre0, direction)
                start = torch.addcmul(logits, slope, (t0 - at).unsqueeze(-1))
                if bool(keep.all()):  # no padding: every line in order, as nonzero lists them
                    kk = torch.arange(K, device=device).repeat_interleave(n)
                    line, end = lines.reshape(-1), (at + reach).view(-1)
                    t_start = t0.reshape(-1)
                    start, slope = start.reshape(K * n, -1), slope.reshape(K * n, -1)
                else:
                    kk, aa = keep.nonzero(as_tuple=True)
                    line, end, t_start = lines[kk, aa], (at + reach)[kk, aa], t0[kk, aa]
                    start, slope = start[kk, aa], slope[kk, aa]
                parts.append(
                    ((kk * L + line).cpu(), t_start.cpu(), start.float().cpu(), slope.float().cpu())
                )
                t[kk, line] = end
                alive[kk, line] = end < 1
        if not parts:  # no image to attack
            C = trace(clean_pre[:, :0], clean_pre[:, :0])[0].shape[-1]
            parts.append(
                (
                    torch.zeros(0, dtype=torch.long),
                    torch.zeros(0, dtype=torch.float64),
                    torch.zeros(0, C),
                    torch.zeros(0, C),
                )
            )
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
        count.view(-1).index_add_(
            0,
            line[later][inside] * self.CELLS + cell[inside],
            torch.ones(int(inside.sum()), dtype=torch.int32),
        )
        self.cell = (
            count.cumsum(1, dtype=torch.int32).add_(first[:-1, None].to(torch.int32)).view(-1)
        )

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
        at_one = torch.addcmul(
            self.table[last, :C], self.table[last, C:], (1 - start[last]).float().unsqueeze(1)
        )
        order = torch.argsort(torch.cat([key, line[last].double() * 2 + 1]), stable=True)
        return (
            torch.cat([line, line[last]])[order],
            torch.cat([start, torch.ones(int(last.sum()), dtype=torch.float64)])[order],
            torch.cat([self.table[:, :C], at_one])[order],
        )

    def logits(self, k: Tensor, s: Tensor, pixel: Tensor, t: Tensor) -> Tensor:
        """Logits float32 [Q, R, C] of pairs (k[q], s[q]), pixel[q, r] set to t[q, r] in [0, 1]."""
        line = ((k * self.S + s).unsqueeze(1) * N_PIXELS + pixel).flatten()
        t = t.flatten()
        query = line.double() * 2 + t
        cell = (t * self.CELLS).long().clamp_(max=self.CELLS - 1)
        piece = self.cell.index_select(0, line * self.CELLS + cell).long()
        # step over the few pieces that start inside the cell, before t: the first step over
        # every candidate at once, then over those that moved
        ahead = self.key.index_select(0, piece + 1) <= query
        piece += ahead
        moving = ahead.nonzero().view(-1)
        while len(moving):
            ahead = self.key.index_select(0, piece.index_select(0, moving) + 1) <= query[moving]
            moving = moving[ahead]
            piece[moving] += 1
        row = self.table.index_select(0, piece)
        C = self.n_classes
        offset = (query - self.key.index_select(0, piece)).float().unsqueeze(1)
        return torch.addcmul(row[:, :C], row[:, C:], offset).view(*pixel.shape, C)

    def log_odds(
        self, k: Tensor, s: Tensor, pixel: Tensor, t: Tensor, labels: Tensor, fooled: bool
    ) -> tuple[Tensor, Tensor | None]:
        """True-class log-odds float64 [Q, R] (and, with ``fooled``, misclassified bool [Q, R])
        of pairs (k[q], s[q]) with pixel[q, r] set to t[q, r], true classes ``labels`` [Q]."""
        logits = self.logits(k, s, pixel, t)
        classes = labels[:, None].expand(-1, pixel.shape[1])
        wrong = logits.argmax(-1) != classes if fooled else None
        return log_odds(logits, classes), wrong
