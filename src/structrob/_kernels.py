"""Training kernels of :class:`~structrob.model.SparseDAGNet`: one sparse product per layer.

:func:`structrob.train.fit` trains a stacked model on the CPU with :class:`StackedTrainer`, a
hand-written training step without autograd that computes exactly what autograd computes
through :meth:`SparseDAGNet.forward <structrob.model.SparseDAGNet.forward>` (to float
rounding), with far fewer and cheaper kernels:

- All K copies' units live in one buffer ``[rows, B]``: row 0 is a constant 1, then layer
  after layer, copy-major inside a layer (copy k's unit p of layer l is row
  ``1 + K * offset_l + k * n_l + p``), then the K copies' logits. So every layer is a
  contiguous block of rows, and the K copies of a layer are one sparse (CSR) matrix, block
  diagonal over the copies, whose non-zeros are the real edges only (a study graph's dense
  layer blocks are about 4 % edges) plus one edge from row 0 per unit: its bias. The output
  layer is one more sparse layer (every sink to every output) without ReLU.
- Forward: the input layer (the same batch through all copies), then per layer one CSR
  product into its rows and an in-place ReLU. The loss (mean cross-entropy per copy) and its
  gradient are written by hand.
- Backward, per layer from the last: one CSR product of the transposed edges gathers the
  gradient of the layer's units from every later layer at once (no scatter), then the ReLU
  mask. Then a row sum and a dense GEMM give the input biases' and weights' gradients, and
  ONE sampled dense-dense product (``torch.sparse.sampled_addmm``) those of every other
  weight and bias (output layer included).
- With the compiled module, for float32 (:func:`compiled_applies`), these products run in C
  (``_native.c``) instead: the input layer as a sparse product over the batch's non-zero
  pixels (about 20 % of MNIST's) plus one dense term per unit for the zero pixels; every
  hidden layer and the output in one pass over the rows (each row's sum of its edges' terms,
  its ReLU in the same pass), and the whole backward in a second pass (each unit's gradient
  from its out-edges, with its ReLU mask, then every edge's gradient as a dot product over
  the batch). One call each instead of two or three torch kernels per layer.
- Adam (fused: the kernel ``torch.optim.Adam(fused=True)`` calls, with the same arguments)
  updates three tensors: the input weights and biases (the model's own parameters, in place)
  and the edge values. Masked weights are left out: with a zero gradient Adam never moves
  them, so leaving them out changes nothing.

Each row of a CSR product sums its own copy's terms in the same order whatever K is, so does
the compiled code, and Adam is elementwise, so every copy trains as it would alone (with the
compiled code, to the bit). The edge values and biases (and, with the compiled input layer,
the input weights, which it keeps transposed) are copied out of the model when training
starts and back into it when it ends (:meth:`write_back`).

The compiled code and the torch products give the same values to float rounding, not to the
bit: a study trains to other rounding with and without the compiled module (its
``environment.json`` records ``compiled_loops``), and 30 epochs amplify that rounding as they
amplify a different CPU's. The compiled code sums every value in one documented order
(``_native.c``), so it gives the same bits on every CPU.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from structrob import _compiled

__all__ = ["Pixels", "StackedTrainer", "compiled_applies", "input_workspace", "supports"]


def supports(net, device: torch.device) -> bool:
    """Whether :class:`StackedTrainer` can train ``net`` (a SparseDAGNet on the CPU, float)."""
    from structrob.model import SparseDAGNet

    return (
        isinstance(net, SparseDAGNet)
        and device.type == "cpu"
        and net.weight_in.dtype in (torch.float32, torch.float64)
        and all(p.requires_grad for p in net.parameters())
    )


def compiled_applies(dtype: torch.dtype) -> bool:
    """Whether a training step's products run in C (``_native.c``) for ``dtype``.

    They do for float32 when the compiled module is built; otherwise (float64, or no compiled
    module) the torch products run (dense GEMMs for the input layer, CSR products for the
    others). The input layer: the model normalises the pixels affinely,
    ``xn = (x - mean) / std = x / std + c0`` with ``c0 = -mean / std``, so
    ``W xn = W (x / std) + c0 * rowsum(W)``: a product with ``x / std``, which is zero where
    the pixel is (about 80 % of an MNIST batch), plus one term per unit. The weights' gradient
    ``G xn^T`` splits the same way, its dense part ``c0`` times the biases' gradient. The
    hidden layers and the output: one pass over the unit rows forward and one backward (see
    the module). Every value equals the torch products' to float rounding and is summed in one
    fixed order, the same on every CPU (see ``_native.c``).

    Examples
    --------
    >>> import torch
    >>> compiled_applies(torch.float64)
    False
    """
    return _compiled.native is not None and dtype == torch.float32


def input_workspace(b: int, n_in: int, padded: int) -> Tensor:
    """Scratch memory of the compiled input layer for batches of ``b`` images (bytes).

    ``_native.c``'s ``input_forward`` writes the batch's non-zero pixels there, per image and
    per pixel, and ``input_backward`` reads them: int64 ``[b + 1 + 2 * (n_in + 1)]``, int32 and
    float ``[b * n_in]`` twice each, float ``[padded]``.

    Examples
    --------
    >>> input_workspace(128, 784, 432).numel()
    1620952
    """
    return torch.empty(8 * (b + 1 + 2 * (n_in + 1)) + 16 * b * n_in + 4 * padded, dtype=torch.uint8)


def _csr(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    # int32 indices: torch's MKL path converts int64 ones at every product
    crow, col = crow.to(torch.int32), col.to(torch.int32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size=shape, check_invariants=False)


def _crow(rows: Tensor, n_rows: int) -> Tensor:
    crow = torch.zeros(n_rows + 1, dtype=torch.long)
    crow[1:] = torch.bincount(rows, minlength=n_rows).cumsum(0)
    return crow


class Pixels(NamedTuple):
    """A data set's non-zero pixels, as the compiled input layer reads them.

    Image ``i``'s are ``pixel[start[i]:start[i + 1]]`` (ascending) with values
    ``value[...]``, each pixel divided by ``std`` in float32 (:meth:`StackedTrainer.inputs`).
    """

    start: Tensor  # int64 [N + 1]
    pixel: Tensor  # int32 [non-zero pixels]
    value: Tensor  # float32 [non-zero pixels]
    n_in: int
    std: float


class StackedTrainer:
    """Adam training steps of a stacked :class:`~structrob.model.SparseDAGNet` (see module).

    Parameters
    ----------
    net : SparseDAGNet
        Trained in place: its input weights and biases at every step, its other weights and
        biases when :meth:`write_back` is called.
    lr, betas, eps : float
        Adam's settings (no weight decay).

    Notes
    -----
    Rows of the unit buffer: row 0 is a constant 1 (every bias is the weight of an edge from
    it, so the sparse products add the biases and the sampled product gives their gradients),
    then every layer's K copies, then the K copies' logits.
    """

    def __init__(
        self, net, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        self.net = net
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        K, C, n_in = net.copies, net.n_out, net.n_in
        sizes = [*net.layer_sizes, C]  # the output is the last "layer"
        starts = [0, *np.cumsum(sizes).tolist()]  # unit offsets, outputs after the hidden units
        self.K, self.C = K, C
        self.row = [1 + K * s for s in starts]  # first row of every layer; row 0 is the 1
        self.n_rows = self.row[-1]
        self.hidden_rows = self.row[-2]
        self.dtype = dtype = net.weight_in.dtype

        unit_layer = np.repeat(np.arange(len(net.layer_sizes)), net.layer_sizes)
        unit_pos = np.arange(net.n_hidden) - np.asarray(starts)[unit_layer]
        unit_base = np.asarray(self.row)[unit_layer] + unit_pos  # row of copy 0
        unit_size = np.asarray(sizes)[unit_layer]  # row step from copy k to k + 1

        # every edge: (target row, source row, index in the concatenated parameters, copy)
        blocks = net.hidden_blocks()
        params = [w for _, _, w, _ in blocks] + [net.weight_out]
        params += [b for _, _, _, b in blocks] + [net.bias_out]
        self._params = params
        base = np.cumsum([0] + [p.numel() for p in params]).tolist()
        n_weights = len(blocks) + 1
        targets, sources, flats, copies = [], [], [], []
        for l, (reads, mask, weight, _) in enumerate(blocks, start=1):
            mask = mask.detach().cpu()
            mask = mask if mask.dim() == 3 else mask.expand(K, *mask.shape)
            k, i, j = (t.numpy() for t in mask.nonzero(as_tuple=True))
            units = reads.cpu().numpy()[j]
            targets.append(self.row[l] + k * sizes[l] + i)
            sources.append(unit_base[units] + k * unit_size[units])
            flats.append(base[l - 1] + (k * sizes[l] + i) * weight.shape[2] + j)
            copies.append(k)
        sinks = net.sink_units.cpu().numpy()
        k, c, j = (
            a.ravel() for a in np.meshgrid(range(K), range(C), range(len(sinks)), indexing="ij")
        )
        targets.append(self.row[-2] + k * C + c)
        sources.append(unit_base[sinks[j]] + k * unit_size[sinks[j]])
        flats.append(base[n_weights - 1] + (k * C + c) * len(sinks) + j)
        copies.append(k)
        for l in range(1, len(sizes)):  # biases: edges from row 0
            k, i = (a.ravel() for a in np.meshgrid(range(K), range(sizes[l]), indexing="ij"))
            targets.append(self.row[l] + k * sizes[l] + i)
            sources.append(np.zeros(len(k), dtype=np.int64))
            flats.append(base[n_weights + l - 1] + k * sizes[l] + i)
            copies.append(k)
        target, source = np.concatenate(targets), np.concatenate(sources)
        flat, copy = np.concatenate(flats), np.concatenate(copies)
        order = np.lexsort((source, target))  # CSR order: by target row, then source row
        target, source, flat, copy = target[order], source[order], flat[order], copy[order]
        self._flat = torch.from_numpy(flat)
        self._edge_copy = torch.from_numpy(copy)
        with torch.no_grad():
            concat = torch.cat([p.detach().reshape(-1) for p in params])
            self.edges = concat[self._flat].clone()  # edge values in CSR order

        # forward: rows of layers 1.. (outputs included) read row 0 and rows of earlier layers
        first = self.row[1]
        crow = _crow(torch.from_numpy(target - first), self.n_rows - first)
        col = torch.from_numpy(source)
        self._crow, self._col = crow, col
        self._pattern = _csr(
            crow, col, torch.zeros(len(col), dtype=dtype), (self.n_rows - first, self.hidden_rows)
        )
        self.forward_layers = []
        for l in range(1, len(sizes)):
            a, z = self.row[l], self.row[l + 1]
            lo, hi = int(crow[a - first]), int(crow[z - first])
            matrix = _csr(
                crow[a - first : z - first + 1] - lo, col[lo:hi], self.edges[lo:hi], (z - a, a)
            )
            self.forward_layers.append((a, z, matrix))

        # backward: rows of every hidden layer read the rows of all later layers (not row 0)
        real = np.flatnonzero(source > 0)
        order_t = real[np.lexsort((target[real], source[real]))]
        self._transpose = torch.from_numpy(order_t)
        self.edges_t = torch.empty(len(order_t), dtype=dtype)
        crow_t = _crow(torch.from_numpy(source[order_t]), self.hidden_rows)
        col_t = torch.from_numpy(target[order_t])
        self._crow_t, self._col_t = crow_t, col_t
        self.backward_layers = []
        for l in range(len(sizes) - 1):
            a, z = self.row[l], self.row[l + 1]
            lo, hi = int(crow_t[a]), int(crow_t[z])
            matrix = _csr(
                crow_t[a : z + 1] - lo,
                col_t[lo:hi] - z,
                self.edges_t[lo:hi],
                (z - a, self.n_rows - z),
            )
            self.backward_layers.append((a, z, matrix))

        n_inputs = K * sizes[0]  # the input units of all copies
        self.n_inputs, self.n_in = n_inputs, n_in
        self.bias_in = net.bias_in.detach().view(n_inputs, 1)
        self.compiled = compiled_applies(dtype)
        self._native = _compiled.native  # read once: the layout below depends on it
        if self.compiled:  # the input weights' own transposed, padded copy
            self.padded = -(-n_inputs // 16) * 16
            self.weight_in = torch.zeros(n_in, self.padded, dtype=dtype)
            self.weight_in[:, :n_inputs] = net.weight_in.detach().view(n_inputs, n_in).T
            self.mean, self.std = net.normalize or (0.0, 1.0)
        else:  # the model's own parameter, trained in place
            self.weight_in = net.weight_in.detach().view(n_inputs, n_in)
        self.params = [self.weight_in, self.bias_in, self.edges]
        self.grad_edges = torch.empty_like(self.edges)
        self.grads = [torch.empty_like(self.weight_in), torch.empty_like(self.bias_in), None]
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        # as torch.optim.Adam(fused=True) keeps them: one float32 scalar per parameter
        self.steps = [torch.zeros((), dtype=torch.float32) for _ in self.params]
        self.normalize = net.normalize
        self._plans: dict[int, _Plan] = {}
        self._state: tuple | None = None

    def _plan(self, b: int) -> _Plan:
        """Buffers and their views for batches of ``b`` images (made once per batch size)."""
        if b not in self._plans:
            self._plans[b] = _Plan(self, b)
        return self._plans[b]

    def inputs(self, x: Tensor) -> Tensor | Pixels:
        """The training images ``[N, n_in]`` in the form :meth:`forward` reads fastest.

        With the compiled input layer: their non-zero pixels, divided by the normalisation's
        ``std`` (:class:`Pixels`, made once for a whole data set, so no step scans or divides
        its batch's pixels again); otherwise the pixels in the model's dtype.
        """
        if not self.compiled:
            return x.to(self.dtype)
        self._check_pixels(x)
        x = x.contiguous()
        n = x.shape[0]
        start = torch.empty(n + 1, dtype=torch.long)
        count = int(torch.count_nonzero(x))  # NaN counts, as in the C code's v != 0
        pixel, value = torch.empty(count, dtype=torch.int32), torch.empty(count)
        self._native.input_pixels(
            x.data_ptr(), n, self.n_in, self.std, start.data_ptr(), pixel.data_ptr(),
            value.data_ptr(),
        )  # fmt: skip
        return Pixels(start, pixel, value, self.n_in, self.std)

    def _check_pixels(self, x: Tensor) -> None:
        # the C code reads raw memory: check what it will read
        if x.dtype != torch.float32 or x.dim() != 2 or x.shape[1] != self.n_in:
            raise TypeError(
                f"the compiled input layer reads float32 pixels [N, {self.n_in}], got {x.dtype} "
                f"{list(x.shape)}"
            )

    @torch.no_grad()
    def forward(self, x: Tensor | Pixels, y: Tensor, batch: Tensor) -> Tensor:
        """Forward pass on the images ``x[batch]``: every copy's mean loss ``[K]``.

        ``x``: the images ``[N, n_in]``, or :meth:`inputs` of them (faster: made once). The
        activations stay in buffers for the :meth:`backward` that must follow.
        """
        plan = self._plan(batch.numel())
        if self.compiled:
            if batch.dtype != torch.long:
                raise TypeError(
                    f"the compiled input layer reads int64 batch indices, got {batch.dtype}"
                )
            rows = batch.contiguous()  # the images' indices in x
            if isinstance(x, Tensor):  # the batch's pixels alone
                self._check_pixels(x)
                x, rows = self.inputs(x.index_select(0, batch)), torch.arange(plan.b)
            elif x.n_in != self.n_in or x.std != self.std:
                raise ValueError(
                    f"these pixels were prepared for {x.n_in} inputs divided by {x.std}, the "
                    f"model has {self.n_in} divided by {self.std}: use this trainer's inputs()"
                )
            self._native.input_forward(
                x.start.data_ptr(), x.pixel.data_ptr(), x.value.data_ptr(), self.n_in,
                rows.data_ptr(), plan.b, self.mean, self.std, self.weight_in.data_ptr(),
                self.n_inputs, self.padded, self.bias_in.data_ptr(), plan.sources.data_ptr(),
                plan.b, plan.work.data_ptr(),
            )  # fmt: skip
            plan.sources.relu_()
            self._native.hidden_forward(
                plan.units.data_ptr(), plan.b, plan.b, self.row[1], self.n_rows, self.row[-2],
                self._crow.data_ptr(), self._col.data_ptr(), self.edges.data_ptr(),
            )  # fmt: skip
        else:
            xb = torch.index_select(x, 0, batch, out=plan.x)
            if self.normalize is not None:
                xb.sub_(self.normalize[0]).div_(self.normalize[1])
            torch.addmm(self.bias_in, self.weight_in, xb.T, out=plan.sources).relu_()
            for out, inputs, matrix in plan.forward:
                out.addmm_(matrix, inputs, beta=0).relu_()
            out, inputs, matrix = plan.logits
            out.addmm_(matrix, inputs, beta=0)
        log_p = torch.log_softmax(plan.logits_kcb, dim=1)
        target = y.index_select(0, batch).view(1, 1, -1).expand(self.K, 1, -1)
        self._state = (plan, log_p, target)
        return log_p.gather(1, target).view(self.K, -1).mean(1).neg_()

    @torch.no_grad()
    def backward(self, scale: Tensor) -> None:
        """Gradient of ``sum_k scale[k] * loss[k]`` of the last :meth:`forward`, then Adam.

        ``scale`` ``[K]``: ``1`` trains the copy, ``0`` gives it no gradient (a stopped copy;
        the caller restores it after the step, as Adam's momentum would still move it).
        """
        plan, log_p, target = self._state
        self._state = None
        # d(mean cross-entropy)/d logits = (softmax - onehot) / b, as autograd computes it
        weight = (scale.to(self.dtype) / plan.b).view(self.K, 1, 1)
        grad_logits = plan.grad_logits_kcb
        torch.exp(log_p, out=grad_logits).mul_(weight)
        grad_logits.scatter_add_(1, target, weight.neg().expand(self.K, 1, plan.b))

        if self.compiled:
            grad_edges = self.grad_edges
            self._native.hidden_backward(
                plan.units.data_ptr(), plan.grads.data_ptr(), plan.b, plan.b, self.row[1],
                self.n_rows, self.hidden_rows, self._crow.data_ptr(), self._col.data_ptr(),
                self.edges.data_ptr(), self._crow_t.data_ptr(), self._col_t.data_ptr(),
                self._transpose.data_ptr(), grad_edges.data_ptr(),
            )  # fmt: skip
        else:
            torch.index_select(self.edges, 0, self._transpose, out=self.edges_t)
            threshold = torch.ops.aten.threshold_backward.grad_input
            for grad, later, units, matrix in plan.backward:
                grad.addmm_(matrix, later, beta=0)
                threshold(grad, units, 0, grad_input=grad)
            grad_edges = torch.sparse.sampled_addmm(
                self._pattern, plan.grad_targets, plan.units_t, beta=0.0
            ).values()
        grad_in, grad_bias_in, _ = self.grads
        torch.sum(plan.grad_sources, 1, keepdim=True, out=grad_bias_in)
        if self.compiled:
            self._native.input_backward(
                self.n_in, plan.b, self.mean, self.std, plan.grad_sources.data_ptr(), plan.b,
                grad_bias_in.data_ptr(), self.n_inputs, self.padded, grad_in.data_ptr(),
                plan.work.data_ptr(),
            )  # fmt: skip
        else:
            torch.mm(plan.grad_sources, plan.x, out=grad_in)

        torch._foreach_add_(self.steps, 1)
        torch._fused_adam_(
            self.params,
            [grad_in, grad_bias_in, grad_edges],
            self.exp_avgs,
            self.exp_avg_sqs,
            [],
            self.steps,
            amsgrad=False,
            lr=self.lr,
            beta1=self.betas[0],
            beta2=self.betas[1],
            weight_decay=0.0,
            eps=self.eps,
            maximize=False,
        )

    def _input_copies(self) -> Tensor:
        """A view of the input weights whose first dimension is the copy."""
        if self.compiled:  # [n_in, padded]: columns k * n_0 ... (k + 1) * n_0 - 1
            weights = self.weight_in[:, : self.n_inputs].unflatten(1, (self.K, -1))
            return weights.transpose(0, 1)
        return self.weight_in.view(self.K, -1)

    def snapshot(self, stopped: Tensor) -> list[Tensor]:
        """The trained values of the copies in ``stopped`` (bool ``[K]``), for :meth:`restore`."""
        return [
            self._input_copies()[stopped].clone(),
            self.bias_in.view(self.K, -1)[stopped].clone(),
            self.edges[stopped[self._edge_copy]].clone(),
        ]

    @torch.no_grad()
    def restore(self, stopped: Tensor, saved: list[Tensor]) -> None:
        """Put back the values :meth:`snapshot` took of the copies in ``stopped``."""
        self._input_copies()[stopped] = saved[0]
        self.bias_in.view(self.K, -1)[stopped] = saved[1]
        self.edges[stopped[self._edge_copy]] = saved[2]

    @torch.no_grad()
    def write_back(self) -> None:
        """Copy the trained edge weights and biases into the model's parameters.

        Masked entries keep their values (zero after :func:`~structrob.model.initialize`).
        """
        if self.compiled:
            weight_in = self.weight_in[:, : self.n_inputs].T
            self.net.weight_in.detach().copy_(weight_in.reshape(self.net.weight_in.shape))
        concat = torch.cat([p.detach().reshape(-1) for p in self._params])
        concat[self._flat] = self.edges
        start = 0
        for p in self._params:
            p.copy_(concat[start : start + p.numel()].view_as(p))
            start += p.numel()


class _Plan:
    """A :class:`StackedTrainer`'s buffers for batches of ``b`` images, and views into them.

    ``units`` and ``grads`` are ``[rows, b]`` (row 0 of ``units`` is the constant 1); the views
    are made once, as slicing at every step costs more than some of the products.
    """

    def __init__(self, trainer: StackedTrainer, b: int) -> None:
        rows, dtype, first = trainer.n_rows, trainer.dtype, trainer.row[1]
        self.b = b
        if trainer.compiled:
            self.work = input_workspace(b, trainer.n_in, trainer.padded)
        else:
            self.x = torch.empty(b, trainer.net.n_in, dtype=dtype)
        self.units = units = torch.empty(rows, b, dtype=dtype)
        self.grads = grads = torch.empty(rows, b, dtype=dtype)
        units[0] = 1.0
        self.sources = units[1:first]
        self.forward = [(units[a:z], units[:a], m) for a, z, m in trainer.forward_layers[:-1]]
        a, z, m = trainer.forward_layers[-1]
        self.logits = (units[a:z], units[:a], m)
        self.logits_kcb = units[a:z].view(trainer.K, trainer.C, b)
        self.grad_logits_kcb = grads[a:z].view(trainer.K, trainer.C, b)
        self.backward = [
            (grads[a:z], grads[z:], units[a:z], m) for a, z, m in reversed(trainer.backward_layers)
        ]
        self.grad_sources = grads[1:first]
        self.grad_targets = grads[first:]
        self.units_t = units[: trainer.hidden_rows].T
