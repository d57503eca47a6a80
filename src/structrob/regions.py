"""Linear regions of a :class:`~structrob.model.SparseDAGNet` along lines: its pixel-line tracer.

:class:`RegionTracer` is what :meth:`SparseDAGNet.region_tracer
<structrob.model.SparseDAGNet.region_tracer>` returns and One-Pixel's pixel-line tables
(:mod:`structrob.attacks._lines`) call once per piece: the affine piece of the network along a
line and how far along it the piece holds (:meth:`SparseDAGNet.linear_region
<structrob.model.SparseDAGNet.linear_region>`), with the network's layers built once.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from structrob import _compiled

if TYPE_CHECKING:
    from structrob.model import SparseDAGNet

__all__ = ["RegionTracer"]


class RegionTracer:
    """:meth:`SparseDAGNet.linear_region` of one network, its layers built once.

    Made by :meth:`SparseDAGNet.region_tracer`. It holds every copy's CSR layers (its own
    masks), biases and output weights in ``dtype``, taken from the weights when it was made,
    and a scratch buffer reused by every call (tracing makes hundreds of calls of the same
    width; a fresh buffer per call costs page faults on every call).

    Every call computes what :meth:`SparseDAGNet.linear_region` always has, operation by
    operation on the same layout, so the results are bit-identical; only the weights'
    conversion and the buffers are no longer made per call.

    A copy whose hidden layers are dense (:meth:`SparseDAGNet.hidden_density` at least
    :attr:`DENSE_FROM`, e.g. the random-pruning baseline's fully connected layers and its
    first pruning steps) is traced with dense layers instead: each layer's masked weights as
    a dense ``[n_l, len(reads_l)]`` matrix times the units it reads, one dense product per
    layer. That computes the same function in another summation order, so it equals the CSR
    path to float rounding only; CSR on fully dense blocks costs several times more (about
    4x at density 1 on the 50-100-100-50 baseline).

    The choice is made per copy by its overall density, never per layer: every graph prior
    of the study stays on the CSR path, so what it traces stays bit-identical to the code
    before the dense path (small layer blocks of a Watts-Strogatz net are often full while
    the net is not). The threshold 0.5 lies far above the densest network among the `paper`
    preset's 100 priors (0.045) and above the density from which dense products are faster
    (about 0.2 on the baseline), so the paths meet with a margin on both sides. Networks
    whose layer blocks hold fewer than :attr:`DENSE_MIN_ENTRIES` entries stay on CSR whatever
    their density: there the product costs little either way, and tiny graphs (tens of
    vertices, a few nearly full layers, e.g. the nets of the tests' pinned numbers) can
    exceed any density threshold.

    Parameters
    ----------
    net : SparseDAGNet
    dtype : torch.dtype
        The dtype of the inputs it accepts (float64 for tracing many pieces).
    dense : bool or None
        Trace every copy with dense layers (True) or CSR layers (False); ``None``: per copy,
        dense when its density is at least :attr:`DENSE_FROM` and the layer blocks hold at
        least :attr:`DENSE_MIN_ENTRIES` entries.

    Attributes
    ----------
    dense : list of bool
        Per copy, whether it is traced with dense layers.
    """

    #: a copy with :meth:`SparseDAGNet.hidden_density` at least this is traced with dense layers
    DENSE_FROM = 0.5
    #: ... when its network's hidden layer blocks hold at least this many entries
    DENSE_MIN_ENTRIES = 4096

    def __init__(self, net: SparseDAGNet, dtype: torch.dtype, dense: bool | None = None) -> None:
        self.net, self.dtype = net, dtype
        with torch.no_grad():
            # copies (``.to`` of the parameters' own dtype would return views of them), so an
            # in-place update of the weights cannot reach a tracer made before it
            if dense is None:
                entries = sum(mask.shape[-2] * mask.shape[-1] for mask in net.layer_masks(0))
                big = entries >= self.DENSE_MIN_ENTRIES
                self.dense = [
                    big and net.hidden_density(k) >= self.DENSE_FROM for k in range(net.copies)
                ]
            else:
                self.dense = [bool(dense)] * net.copies
            # CSR layers read units[:offset_l] (``None``); dense ones the slice or index of
            # the units they read
            self.layers: list[list[tuple[Tensor, Tensor, slice | Tensor | None]]] = [
                net._dense_layers(k, dtype)
                if on
                else [(matrix, bias.clone(), None) for matrix, bias in net._csr_layers(k, dtype)]
                for k, on in enumerate(self.dense)
            ]
            self.outputs = [
                (
                    net.weight_out[k].detach().to(dtype).clone(),
                    net.bias_out[k].detach().to(dtype).unsqueeze(1).clone(),
                )
                for k in range(net.copies)
            ]
        self._scratch = torch.empty(0, dtype=dtype, device=net.weight_out.device)

    @torch.no_grad()
    def __call__(self, pre0: Tensor, direction: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(logits, slope, reach)`` of :meth:`SparseDAGNet.linear_region`, same arguments."""
        net = self.net
        if pre0.shape != direction.shape or pre0.dim() != 3 or pre0.shape[0] != net.copies:
            raise ValueError(
                f"pre0 and direction must both be [{net.copies}, B, {net.offsets[1]}], got "
                f"{tuple(pre0.shape)} and {tuple(direction.shape)}"
            )
        if pre0.dtype != self.dtype or direction.dtype != self.dtype:
            raise ValueError(
                f"this tracer computes in {self.dtype}; got {pre0.dtype} and {direction.dtype}"
            )
        out = [self._copy(k, pre0[k], direction[k]) for k in range(pre0.shape[0])]
        return tuple(torch.stack(parts) for parts in zip(*out))  # type: ignore[return-value]

    def _buffers(self, B: int) -> tuple[Tensor, Tensor, Tensor]:
        """Views on storage kept from call to call (grown when a call is wider): the units
        [H, 2B], and a quotient and an activity scratch, each [widest layer, B]."""
        net = self.net
        H, widest = net.n_hidden, max(net.layer_sizes)
        if self._scratch.numel() < 2 * (H + widest) * B:
            self._scratch = self._scratch.new_empty(2 * (H + widest) * B)
        units = self._scratch[: 2 * H * B].view(H, 2 * B)
        quotient = self._scratch[2 * H * B : (2 * H + widest) * B].view(widest, B)
        active = self._scratch[(2 * H + widest) * B : 2 * (H + widest) * B].view(widest, B)
        return units, quotient, active

    def _copy(self, k: int, pre0: Tensor, direction: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Copy ``k``: logits [B, C], slope [B, C], reach [B]."""
        net = self.net
        B, n0, offsets = pre0.shape[0], net.offsets[1], net.offsets
        # unit-major rows, values in columns :B and directional derivatives in B:, so one
        # sparse product per layer carries both
        units, quotients, actives = self._buffers(B)
        units[:n0, :B] = pre0.T
        units[:n0, B:] = direction.T
        nearest = pre0.new_zeros(B)  # min over units of change / value, where negative

        def settle(start: int, stop: int) -> None:
            rows, n = units[start:stop], stop - start
            value, quotient, active = rows[:, :B], quotients[:n], actives[:n]
            # A unit changes sign at distance -value / change, i.e. where change / value < 0.
            # 0/0 (no signal at all) is no change; a quotient of -inf (a value of exactly 0)
            # is a change at distance 0, a spare piece at worst. Only a value of exactly +0
            # moving up (+inf) goes uncounted, which takes an exact float64 cancellation.
            torch.div(rows[:, B:], value, out=quotient).nan_to_num_(
                nan=0.0, posinf=math.inf, neginf=-math.inf
            )
            torch.minimum(nearest, quotient.amin(0), out=nearest)
            # an inactive unit (pre-activation <= 0) passes neither value nor change. The
            # pattern is written as 1.0 / 0.0 in the units' dtype: multiplying by a bool mask
            # converts it to exactly that first, in a pass of its own
            rows.view(n, 2, B).mul_(torch.gt(value, 0, out=active).unsqueeze(1))

        native = _compiled.native if units.dtype == torch.float64 else None
        if native is not None:  # the same steps in one pass per layer (structrob/_native.c)
            nearest_ptr, stride = nearest.data_ptr(), units.stride(0)
            native.settle(units.data_ptr(), stride, n0, B, 0, nearest_ptr)
        else:
            settle(0, n0)
        for l, (matrix, bias, reads) in enumerate(self.layers[k], start=1):
            start, stop = offsets[l], offsets[l + 1]
            # torch.mm(matrix, units[:start], out=rows), the same MKL product (beta 0, alpha
            # 1), without the zero matrix torch.mm allocates, fills and copies into rows
            # first: with beta 0 the old contents of rows are never read (not even a NaN)
            rows = units[start:stop]
            if reads is None:  # CSR over every earlier unit
                inputs = units[:start]
            else:  # dense over the units the layer reads
                inputs = units[reads] if isinstance(reads, slice) else units.index_select(0, reads)
            torch.addmm(rows, matrix, inputs, beta=0.0, alpha=1.0, out=rows)
            if native is not None:  # the tracer's own biases: contiguous [n_l, 1] in its dtype
                native.settle(
                    rows.data_ptr(), stride, stop - start, B, bias.data_ptr(), nearest_ptr
                )
            else:
                units[start:stop, :B] += bias
                settle(start, stop)
        sinks = units.index_select(0, net.sink_units)
        weight_out, bias_out = self.outputs[k]
        logits = torch.addmm(bias_out, weight_out, sinks[:, :B]).T
        slope = (weight_out @ sinks[:, B:]).T
        reach = torch.where(nearest < 0, -1 / nearest, math.inf)
        return logits, slope, reach
