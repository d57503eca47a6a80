"""The hidden layers of :class:`~structrob.model.SparseDAGNet` as one autograd node.

Its forward is what ``SparseDAGNet.forward_from_input`` runs on every device; its hand-written
backward is autograd's path (other devices, other modules' training). On the CPU,
:func:`structrob.train.fit` trains through :mod:`structrob._kernels` instead.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["HiddenStack"]


class HiddenStack(torch.autograd.Function):
    """All hidden layers as one autograd node with a hand-written backward.

    Units are laid out ``[K, H, B]`` (unit-major, so a layer is a contiguous slice per copy).
    Forward, per layer: gather the units it reads, one batched matmul, ReLU into the buffer.
    Backward walks the layers in reverse; a layer's gradient is complete when it is reached,
    because only later layers read it. Hand-written to avoid autograd's per-layer bookkeeping
    (slice copies of the whole buffer), which dominated the step time of deep graphs.
    """

    @staticmethod
    def forward(ctx, pre0: Tensor, structure, *params: Tensor) -> Tensor:
        offsets, reads_masks = structure
        K, _, B = pre0.shape
        units = pre0.new_empty(K, offsets[-1], B)
        torch.clamp(pre0, min=0, out=units[:, : offsets[1]])
        masked, gathered = [], []
        for l, (reads, mask) in enumerate(reads_masks, start=1):
            weight, bias = params[2 * l - 2], params[2 * l - 1]
            wm = weight * mask
            inputs = units.index_select(1, reads)
            layer = units[:, offsets[l] : offsets[l + 1]]
            torch.baddbmm(bias.unsqueeze(2), wm, inputs, out=layer).clamp_(min=0)
            masked.append(wm)
            gathered.append(inputs)
        ctx.structure = structure
        ctx.save_for_backward(units, *masked, *gathered)
        return units

    @staticmethod
    def backward(ctx, grad_units: Tensor):
        offsets, reads_masks = ctx.structure
        n_layers = len(reads_masks)
        units, *saved = ctx.saved_tensors
        masked, gathered = saved[:n_layers], saved[n_layers:]
        grad = grad_units.clone()
        grads: list[Tensor | None] = [None] * (2 * n_layers)
        for l in range(n_layers, 0, -1):
            reads, mask = reads_masks[l - 1]
            start, stop = offsets[l], offsets[l + 1]
            grad_pre = torch.ops.aten.threshold_backward(
                grad[:, start:stop], units[:, start:stop], 0
            )
            if ctx.needs_input_grad[2 * l]:
                grads[2 * l - 2] = torch.bmm(grad_pre, gathered[l - 1].transpose(1, 2)).mul_(mask)
            if ctx.needs_input_grad[2 * l + 1]:
                grads[2 * l - 1] = grad_pre.sum(2)
            grad.index_add_(1, reads, torch.bmm(masked[l - 1].transpose(1, 2), grad_pre))
        grad_pre0 = torch.ops.aten.threshold_backward(
            grad[:, : offsets[1]], units[:, : offsets[1]], 0
        )
        return (grad_pre0, None, *grads)
