"""The sparse network built on a layered DAG, with K stacked copies trained as one model.

Every hidden vertex ``v`` of layer ``l`` computes one unit

    z_v = relu( sum over predecessors u of  w_uv z_u  +  b_v ),

that is ``z_l = relu( sum_{s<l} (W_sl * M_sl) z_s + b_l )`` with ONE ReLU after the sum over all
incoming blocks, skip-layer edges included [1]_. The input (784 pixels, normalised inside the
model) is fully connected to every source vertex (layer 0), and every sink vertex (no outgoing
edge, whatever its layer) is connected to the ``n_out`` outputs (logits, no activation).

Per layer the model gathers the activations its vertices read (from any earlier layer) and does
one masked batched matmul, so a graph hundreds of layers deep costs one small kernel per layer,
not one per pair of layers. ``copies = K`` independently initialised copies of the same
structure share the index tables; their weights are stacked on a leading dimension. The copies
share one mask per layer, or, after :meth:`SparseDAGNet.split_masks`, each has its own (a
subset of the shared structure: the random-pruning baseline prunes every copy at random).

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
.. [2] X. Glorot, Y. Bengio, "Understanding the difficulty of training deep feedforward neural
   networks", AISTATS 2010.
.. [3] K. He, X. Zhang, S. Ren, J. Sun, "Delving deep into rectifiers", ICCV 2015.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import networkx as nx
import numpy as np
import torch
from torch import Tensor, nn

from structrob._autograd import HiddenStack
from structrob.graphs import layers as graph_layers
from structrob.initialization import INIT_BIAS, INIT_FANS, INIT_LAYERS, INIT_SCHEMES, initialize
from structrob.regions import RegionTracer
from structrob.validation import check_int

__all__ = [
    "INIT_BIAS",
    "INIT_FANS",
    "INIT_LAYERS",
    "INIT_SCHEMES",
    "MNIST_MEAN",
    "MNIST_STD",
    "SparseDAGNet",
    "initialize",
]

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class SparseDAGNet(nn.Module):
    """Sparse MLP whose hidden units and connections are the vertices and edges of a DAG.

    Implements the network of Ben Amor et al. [1]_ (see the module docstring for the formula).

    Parameters
    ----------
    dag : networkx.DiGraph
        Acyclic hidden structure (see :func:`structrob.graphs.to_dag`); at least one vertex.
    n_in : int
        Input width; inputs are pixels in [0, 1], flattened to ``n_in``.
    n_out : int
        Number of classes (logits).
    copies : int
        K, the number of independently initialised copies held as one stacked model.
    normalize : tuple of float or None
        ``(mean, std)`` applied to the pixels inside the model (MNIST's by default); ``None``
        feeds the pixels unchanged.
    sinks : {"own", "last"}
        Where vertices without outgoing edges sit (:func:`structrob.graphs.layers`): ``"last"``
        is the study code's layering (an isolated vertex reads no input). Layer 0 is fed by
        the input; every sink feeds the output either way.

    Attributes
    ----------
    copies : int
    vertices : list
        DAG vertices in the model's order (by layer, then by vertex id); ``vertices[i]`` is unit i.
    n_layers : int
        Number of hidden layers (depth of the DAG).

    Notes
    -----
    Input shapes: ``[B, n_in]`` or ``[B, 1, 28, 28]`` give logits ``[B, n_out]`` when K == 1
    and ``[K, B, n_out]`` when K > 1 (the same batch through every copy); ``[K, B, n_in]``
    gives ``[K, B, n_out]`` with copy k reading its own batch ``x[k]``.

    Masked weights are exactly zero and receive exactly zero gradient (the forward multiplies
    by the mask), so they stay zero under any optimiser without weight decay. Masks are buffers:
    they are saved in ``state_dict`` and follow ``.to()``. Weights start from
    :func:`initialize` with ``glorot_uniform`` for every copy and seed 0.

    Masks are shared by the copies (``mask_l`` is ``[n_l, len(reads_l)]``) until
    :meth:`split_masks` gives each copy its own (``[K, n_l, len(reads_l)]``); every method
    handles both, and the methods that read masks take ``copy=k``. A state dict carries the
    layout in the number of dimensions of its masks, and :meth:`load_state_dict` adopts it.

    Examples
    --------
    >>> import networkx as nx, torch
    >>> net = SparseDAGNet(nx.DiGraph([(2, 1), (1, 0), (2, 0)]), n_in=4, n_out=3, copies=2)
    >>> net(torch.rand(5, 4)).shape
    torch.Size([2, 5, 3])
    >>> net.count_parameters()  # 4*1 + 3 edges + 3*1 + 3 hidden biases + 3 output biases
    16
    """

    def __init__(
        self,
        dag: nx.DiGraph,
        n_in: int = 784,
        n_out: int = 10,
        copies: int = 1,
        normalize: tuple[float, float] | None = (MNIST_MEAN, MNIST_STD),
        sinks: str = "own",
    ) -> None:
        super().__init__()
        if not isinstance(dag, nx.DiGraph) or dag.number_of_nodes() == 0:
            raise ValueError(
                "dag must be a non-empty networkx.DiGraph (see structrob.graphs.to_dag)"
            )
        for name, value in (("n_in", n_in), ("n_out", n_out), ("copies", copies)):
            check_int(name, value, 1)
        if normalize is not None and not normalize[1] > 0:
            raise ValueError(f"normalize must be (mean, std) with std > 0, got {normalize!r}")
        self.n_in, self.n_out, self.copies = n_in, n_out, copies
        self.normalize = None if normalize is None else (float(normalize[0]), float(normalize[1]))

        self.sinks = sinks
        layer_of = graph_layers(dag, sinks)
        self.vertices = sorted(dag.nodes, key=lambda v: (layer_of[v], v))
        self.index = {v: i for i, v in enumerate(self.vertices)}
        sizes = np.bincount([layer_of[v] for v in self.vertices])
        self.n_layers = len(sizes)
        self.layer_sizes = [int(s) for s in sizes]
        self.offsets = [0, *np.cumsum(sizes).tolist()]
        self.n_hidden = len(self.vertices)
        n_sources = self.layer_sizes[0]

        # layer l reads the units in `reads_l` (sorted unit indices); mask_l[i, j] = 1 when
        # unit reads_l[j] feeds the i-th unit of layer l.
        self.edge_slot: dict[tuple, tuple[int, int, int]] = {}
        for l in range(1, self.n_layers):
            start, stop = self.offsets[l], self.offsets[l + 1]
            units = self.vertices[start:stop]
            reads = sorted({self.index[u] for v in units for u in dag.pred[v]})
            column = {u: j for j, u in enumerate(reads)}
            mask = torch.zeros(len(units), len(reads))
            for i, v in enumerate(units):
                for u in dag.pred[v]:
                    j = column[self.index[u]]
                    mask[i, j] = 1.0
                    self.edge_slot[(u, v)] = (l, i, j)
            self.register_buffer(f"reads_{l}", torch.tensor(reads, dtype=torch.long))
            self.register_buffer(f"mask_{l}", mask)
            self.register_parameter(
                f"weight_{l}", nn.Parameter(torch.zeros(copies, len(units), len(reads)))
            )
            self.register_parameter(f"bias_{l}", nn.Parameter(torch.zeros(copies, len(units))))
        sinks = [self.index[v] for v in self.vertices if dag.out_degree(v) == 0]
        self.register_buffer("sink_units", torch.tensor(sinks, dtype=torch.long))
        self.weight_in = nn.Parameter(torch.zeros(copies, n_sources, n_in))
        self.bias_in = nn.Parameter(torch.zeros(copies, n_sources))
        self.weight_out = nn.Parameter(torch.zeros(copies, n_out, len(sinks)))
        self.bias_out = nn.Parameter(torch.zeros(copies, n_out))
        initialize(self, "glorot_uniform", seed=0)

    # -- structure ---------------------------------------------------------------------------
    def hidden_blocks(self) -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
        """``(reads, mask, weight, bias)`` of every hidden layer l >= 1, in layer order.

        ``weight`` is ``[K, n_l, len(reads)]`` and must be multiplied by ``mask``, which is
        ``[n_l, len(reads)]`` (shared by the copies) or ``[K, n_l, len(reads)]`` (per copy, see
        :meth:`split_masks`); ``weight * mask`` broadcasts either way.
        """
        return [
            (
                getattr(self, f"reads_{l}"),
                getattr(self, f"mask_{l}"),
                getattr(self, f"weight_{l}"),
                getattr(self, f"bias_{l}"),
            )
            for l in range(1, self.n_layers)
        ]

    @property
    def per_copy_masks(self) -> bool:
        """Whether each copy has its own masks (after :meth:`split_masks` or loading them)."""
        return any(mask.dim() == 3 for _, mask, _, _ in self.hidden_blocks())

    @torch.no_grad()
    def split_masks(self) -> SparseDAGNet:
        """Give every copy its own masks: each ``mask_l`` becomes ``[K, n_l, len(reads_l)]``.

        Each copy starts from the shared masks; :meth:`remove_edges` with ``copy=k`` then
        prunes copy ``k`` alone. The ``reads_l`` index sets stay shared, so a copy's masks are
        always a subset of the graph the model was built on. A no-op when already split.

        Returns
        -------
        SparseDAGNet
            ``self``, modified in place.

        Examples
        --------
        >>> import networkx as nx
        >>> net = SparseDAGNet(nx.DiGraph([(2, 1), (1, 0), (2, 0)]), n_in=2, n_out=2, copies=3)
        >>> net.split_masks().mask_2.shape, net.per_copy_masks
        (torch.Size([3, 1, 2]), True)
        >>> net.remove_edges([(2, 0)], copy=1)
        >>> net.hidden_edges(copy=1), net.count_parameters(copy=0) - net.count_parameters(copy=1)
        ([(2, 1), (1, 0)], 1)

        A state dict with per-copy (3-dim) masks splits the model it is loaded into:

        >>> fresh = SparseDAGNet(nx.DiGraph([(2, 1), (1, 0), (2, 0)]), n_in=2, n_out=2, copies=3)
        >>> _ = fresh.load_state_dict(net.state_dict()); fresh.hidden_edges(copy=1)
        [(2, 1), (1, 0)]
        """
        for l in range(1, self.n_layers):
            mask = getattr(self, f"mask_{l}")
            if mask.dim() == 2:
                setattr(self, f"mask_{l}", mask.expand(self.copies, *mask.shape).clone())
        return self

    def _check_copy(self, k: int) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < self.copies:
            raise IndexError(f"copy index {k!r} out of range for {self.copies} copies")
        return int(k)

    def layer_masks(self, copy: int | None = None) -> list[Tensor]:
        """Every hidden layer's mask ``[n_l, len(reads_l)]`` for one copy, in layer order.

        Parameters
        ----------
        copy : int or None
            Copy ``k``'s masks; ``None``: the masks of every copy, which must then be the same
            (always true unless :meth:`split_masks` was called and the copies pruned apart).

        Raises
        ------
        ValueError
            ``copy`` is None and the copies' masks differ.

        Examples
        --------
        >>> import networkx as nx
        >>> SparseDAGNet(nx.DiGraph([(2, 0), (1, 0)]), n_in=2, n_out=2).layer_masks()
        [tensor([[1., 1.]])]
        """
        masks = [mask for _, mask, _, _ in self.hidden_blocks()]
        if copy is not None:
            k = self._check_copy(copy)
            return [mask[k] if mask.dim() == 3 else mask for mask in masks]
        if not all(mask.dim() == 2 or bool((mask == mask[:1]).all()) for mask in masks):
            raise ValueError("the copies have different masks: pass copy=k")
        return [mask[0] if mask.dim() == 3 else mask for mask in masks]

    def count_parameters(self, copy: int | None = None) -> int:
        """Trainable, unmasked parameters of ONE copy.

        Equals :func:`structrob.graphs.count_parameters` of the DAG (of the pruned DAG while no
        vertex is cut off: the layering and the input and output blocks never change).

        Parameters
        ----------
        copy : int or None
            Count copy ``k``'s masks; ``None``: the count of every copy, which must then be the
            same (it is when masks are shared, and after equal-count per-copy pruning such as
            :func:`structrob.pruning.prune_random`).

        Raises
        ------
        ValueError
            ``copy`` is None and the copies' counts differ.

        Examples
        --------
        >>> import networkx as nx
        >>> SparseDAGNet(nx.DiGraph([(1, 0)]), n_in=4, n_out=2).count_parameters()
        11
        """
        total = (
            self.weight_in[0].numel()
            + self.bias_in[0].numel()
            + self.weight_out[0].numel()
            + self.bias_out[0].numel()
        )
        for _, _, _, bias in self.hidden_blocks():
            total += bias[0].numel()
        if copy is not None or not self.per_copy_masks:
            return total + sum(int(m.count_nonzero()) for m in self.layer_masks(copy))
        counts = {
            total + sum(int(m.count_nonzero()) for m in self.layer_masks(k))
            for k in range(self.copies)
        }
        if len(counts) > 1:
            raise ValueError("the copies have different parameter counts: pass copy=k")
        return counts.pop()

    def hidden_edges(self, copy: int | None = None) -> list[tuple]:
        """Hidden edges ``(u, v)`` still present (mask 1), in a fixed order (sorted by slot).

        Parameters
        ----------
        copy : int or None
            Copy ``k``'s edges; ``None``: the edges of every copy, which must then be the same
            (see :meth:`layer_masks`).

        Examples
        --------
        >>> import networkx as nx
        >>> SparseDAGNet(nx.DiGraph([(2, 1), (1, 0)]), n_in=2, n_out=2).hidden_edges()
        [(2, 1), (1, 0)]
        """
        masks = [mask.detach().cpu().numpy() for mask in self.layer_masks(copy)]
        present = [
            (slot, edge)
            for edge, slot in self.edge_slot.items()
            if masks[slot[0] - 1][slot[1], slot[2]] != 0
        ]
        return [edge for _, edge in sorted(present, key=lambda item: item[0])]

    def hidden_density(self, copy: int | None = None) -> float:
        """Share of the hidden layer blocks' entries that are edges: the hidden edges over the
        sum of ``n_l * len(reads_l)`` over the hidden layers.

        1.0 for a fully connected layered network (:func:`structrob.pruning.dense_layered_dag`);
        a few percent for the study's graph priors, whose layers read from many earlier layers.
        :class:`RegionTracer` picks its layers' format by it.

        Parameters
        ----------
        copy : int or None
            Copy ``k``'s masks; ``None``: the masks of every copy, which must then be the same
            (see :meth:`layer_masks`).

        Returns
        -------
        float
            In [0, 1]; 0.0 for a network without hidden layer blocks.

        Examples
        --------
        >>> from structrob.pruning import dense_layered_dag
        >>> SparseDAGNet(dense_layered_dag([4, 5]), n_in=3, n_out=2).hidden_density()
        1.0
        """
        masks = self.layer_masks(copy)
        total = sum(mask.numel() for mask in masks)
        return sum(int(mask.count_nonzero()) for mask in masks) / total if total else 0.0

    @torch.no_grad()
    def remove_edges(self, edges: Iterable[tuple], copy: int | None = None) -> None:
        """Remove hidden edges: their mask entries and weights become zero.

        The layering is unchanged; the removed weights then stay zero through training.

        Parameters
        ----------
        edges : iterable of tuple
            Hidden edges ``(u, v)`` of the graph the model was built on (removing one already
            removed is a no-op).
        copy : int or None
            Remove from copy ``k`` only (needs per-copy masks, :meth:`split_masks`); ``None``:
            from every copy.

        Raises
        ------
        KeyError
            An edge is not a hidden edge of the graph (the edges before it are removed).
        ValueError
            ``copy`` is given but the masks are shared.

        Examples
        --------
        >>> import networkx as nx
        >>> net = SparseDAGNet(nx.DiGraph([(2, 1), (1, 0), (2, 0)]), n_in=2, n_out=2)
        >>> net.remove_edges([(2, 0)]); net.hidden_edges()
        [(2, 1), (1, 0)]
        """
        if copy is not None:
            copy = self._check_copy(copy)
            if not self.per_copy_masks:
                raise ValueError(
                    "the copies share their masks: call split_masks() before removing edges "
                    "from one copy"
                )
        for edge in edges:
            if edge not in self.edge_slot:
                raise KeyError(f"{edge!r} is not a hidden edge of this network")
            l, i, j = self.edge_slot[edge]
            mask, weight = getattr(self, f"mask_{l}"), getattr(self, f"weight_{l}")
            if copy is None:
                mask[..., i, j] = 0.0
                weight[:, i, j] = 0.0
            else:
                mask[copy, i, j] = 0.0
                weight[copy, i, j] = 0.0

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Adopt the saved mask layout: 3-dim saved masks split this model's, 2-dim merge them."""
        for l in range(1, self.n_layers):
            saved, mask = state_dict.get(f"{prefix}mask_{l}"), getattr(self, f"mask_{l}")
            if isinstance(saved, Tensor) and saved.dim() in (2, 3) and saved.dim() != mask.dim():
                # placeholders of the right shape; the copy from the state dict overwrites them
                new = mask[0] if mask.dim() == 3 else mask.expand(self.copies, *mask.shape)
                setattr(self, f"mask_{l}", new.clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def copy(self, k: int) -> SparseDAGNet:
        """A single-copy model (``copies == 1``) holding copy ``k``'s weights and masks.

        The single model's masks are 2-dim (``[n_l, len(reads_l)]``) whether or not this
        model's are per copy, so its ``state_dict`` loads into a fresh ``SparseDAGNet(dag)``.

        Examples
        --------
        >>> import networkx as nx, torch
        >>> net = SparseDAGNet(nx.DiGraph([(1, 0)]), n_in=3, n_out=2, copies=3)
        >>> x = torch.rand(4, 3)
        >>> torch.allclose(net.copy(2)(x), net(x)[2])
        True
        """
        k = self._check_copy(k)
        single = self.__class__.__new__(self.__class__)
        nn.Module.__init__(single)
        for name, value in self.__dict__.items():
            if not name.startswith("_"):
                single.__dict__[name] = value
        single.copies = 1
        for name, buffer in self.named_buffers(recurse=False):
            if name.startswith("mask_") and buffer.dim() == 3:
                buffer = buffer[k]
            single.register_buffer(name, buffer.clone())
        for name, param in self.named_parameters(recurse=False):
            single.register_parameter(name, nn.Parameter(param.detach()[k : k + 1].clone()))
        single.train(self.training)
        return single

    # -- forward -----------------------------------------------------------------------------
    def input_layer(self) -> tuple[Tensor, Tensor]:
        """Weights of the first layer in PIXEL space, normalisation folded in.

        Returns
        -------
        weight : Tensor [K, n_sources, n_in]
        bias : Tensor [K, n_sources]
            The pre-activation of the sources of copy k is ``x @ weight[k].T + bias[k]`` for
            pixels x in [0, 1]; changing pixel j by ``d`` moves it by ``weight[k][:, j] * d``.

        Examples
        --------
        >>> import networkx as nx, torch
        >>> net = SparseDAGNet(nx.DiGraph([(1, 0)]), n_in=3, n_out=2)
        >>> w, b = net.input_layer(); x = torch.rand(4, 3)
        >>> torch.allclose(net.forward_from_input((x @ w[0].T + b[0])[None])[0], net(x), atol=1e-6)
        True
        """
        if self.normalize is None:
            return self.weight_in, self.bias_in
        mean, std = self.normalize
        weight = self.weight_in / std
        return weight, self.bias_in - weight.sum(-1) * mean

    def forward_from_input(self, pre0: Tensor) -> Tensor:
        """Logits from the pre-activation of the source vertices.

        With autograd off (inference: evaluation, One-Pixel), the hidden layers run as sparse
        (CSR) products over the real edges only; otherwise as masked dense blocks with a
        hand-written backward. Both compute the same function (to float rounding).

        Parameters
        ----------
        pre0 : Tensor [K, B, n_sources]

        Returns
        -------
        Tensor [K, B, n_out]
        """
        needs_grad = torch.is_grad_enabled() and (
            pre0.requires_grad or any(p.requires_grad for p in self.parameters())
        )
        if not needs_grad:
            return self._forward_sparse(pre0)
        blocks = self.hidden_blocks()
        flat = [t for reads, mask, weight, bias in blocks for t in (weight, bias)]
        structure = (self.offsets, [(reads, mask) for reads, mask, _, _ in blocks])
        units = HiddenStack.apply(pre0.transpose(1, 2), structure, *flat)
        sinks = units.index_select(1, self.sink_units)
        return torch.baddbmm(self.bias_out.unsqueeze(2), self.weight_out, sinks).transpose(1, 2)

    def _csr_structure(self, k: int = 0) -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
        """Copy ``k``'s hidden layers: CSR row pointers and columns (unit ids) of its edges, and
        their slots.

        Cached (once for shared masks, per copy for per-copy masks); rebuilt when a mask
        changes (pruning, ``load_state_dict``, ``.to()``, :meth:`split_masks`).
        """
        blocks = self.hidden_blocks()
        key = tuple((mask.data_ptr(), mask._version, mask.shape) for _, mask, _, _ in blocks)
        if getattr(self, "_csr_key", None) != key:
            self._csr_cache, self._csr_key = {}, key
        slot = k if self.per_copy_masks else 0
        if slot not in self._csr_cache:
            structure = []
            for reads, mask, _, _ in blocks:
                mask = mask[k] if mask.dim() == 3 else mask
                rows, cols = mask.nonzero(as_tuple=True)  # row-major order, as CSR needs
                crow = torch.zeros(mask.shape[0] + 1, dtype=torch.long, device=mask.device)
                crow[1:] = torch.bincount(rows, minlength=mask.shape[0]).cumsum(0)
                structure.append((crow, reads[cols], rows, cols))
            self._csr_cache[slot] = structure
        return self._csr_cache[slot]

    def _csr_layers(self, k: int, dtype: torch.dtype) -> list[tuple[Tensor, Tensor]]:
        """Copy ``k``'s hidden layers as ``(CSR [n_l, offset_l], bias [n_l, 1])`` in ``dtype``.

        Over copy ``k``'s edges (its own masks when they are per copy).

        Built from the current weights at every call: optimisers update parameters in place
        without a reliable version bump (fused Adam), so the weights are never cached by
        version. Only inside :meth:`frozen_layers`, whose caller promises that the weights
        stay put, is a copy's first build kept for the later calls.
        """
        frozen = getattr(self, "_frozen_csr", None)
        if frozen is not None and (k, dtype) in frozen:
            return frozen[(k, dtype)]
        layers = []
        with warnings.catch_warnings():
            # torch flags all CSR support as beta; the 2-D CSR @ dense product used here is stable
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            for l, ((crow, columns, rows, cols), (_, _, weight, bias)) in enumerate(
                zip(self._csr_structure(k), self.hidden_blocks()), start=1
            ):
                start, stop = self.offsets[l], self.offsets[l + 1]
                values = weight.detach()[k, rows, cols].to(dtype)
                matrix = torch.sparse_csr_tensor(
                    crow, columns, values, size=(stop - start, start), check_invariants=False
                )
                layers.append((matrix, bias.detach()[k].to(dtype).unsqueeze(1)))
        if frozen is not None:
            frozen[(k, dtype)] = layers
        return layers

    def _dense_layers(
        self, k: int, dtype: torch.dtype
    ) -> list[tuple[Tensor, Tensor, slice | Tensor]]:
        """Copy ``k``'s hidden layers as ``(weight * mask [n_l, len(reads)], bias [n_l, 1],
        reads)`` in ``dtype``, new tensors built from the current weights.

        ``reads`` is a ``slice`` of the unit rows when the layer reads a contiguous run of
        units (every layer of a layered network), else the index tensor of the units it reads.
        """
        layers: list[tuple[Tensor, Tensor, slice | Tensor]] = []
        for reads, mask, weight, bias in self.hidden_blocks():
            mask = mask[k] if mask.dim() == 3 else mask
            matrix = (weight.detach()[k] * mask).to(dtype).contiguous()
            first = int(reads[0]) if reads.numel() else 0
            run = torch.arange(first, first + reads.numel(), device=reads.device)
            source = slice(first, first + reads.numel()) if torch.equal(reads, run) else reads
            layers.append((matrix, bias.detach()[k].to(dtype).unsqueeze(1).clone(), source))
        return layers

    @contextmanager
    def frozen_layers(self) -> Iterator[SparseDAGNet]:
        """A block in which the weights and masks do not change: the inference path builds
        each copy's CSR layers once, at first use, and reuses them.

        For callers that only read the model, many forward passes in a row (every attack
        enters it: :func:`structrob.attacks._base.opened`). The layers hold the same values a
        rebuild would, so results are bit-identical; changing the weights or masks inside
        (a training step, pruning, ``.to()``) is not allowed, as the kept layers would not
        follow. Nested blocks share the outermost block's layers; leaving it drops them.

        Examples
        --------
        >>> import networkx as nx, torch
        >>> net = SparseDAGNet(nx.DiGraph([(2, 1), (1, 0)]), n_in=3, n_out=2)
        >>> x = torch.rand(4, 3)
        >>> with torch.no_grad(), net.frozen_layers():
        ...     same = torch.equal(net(x), net(x))
        >>> same
        True
        """
        outermost = getattr(self, "_frozen_csr", None) is None
        if outermost:
            self._frozen_csr: dict[tuple[int, torch.dtype], list[tuple[Tensor, Tensor]]] = {}
        try:
            yield self
        finally:
            if outermost:
                del self._frozen_csr

    def _forward_sparse(self, pre0: Tensor) -> Tensor:
        """Inference forward over the real edges only (CSR products), unit-major per copy."""
        return torch.stack([self._forward_sparse_copy(k, pre0[k]) for k in range(pre0.shape[0])])

    def _forward_sparse_copy(self, k: int, pre0: Tensor) -> Tensor:
        """Copy ``k``'s logits ``[B, n_out]`` from its source pre-activation ``[B, n0]``."""
        n0 = self.offsets[1]
        units = pre0.new_empty(self.n_hidden, pre0.shape[0])
        units[:n0] = pre0.T.clamp(min=0)
        for l, (matrix, bias) in enumerate(self._csr_layers(k, pre0.dtype), start=1):
            start, stop = self.offsets[l], self.offsets[l + 1]
            torch.addmm(bias, matrix, units[:start], out=units[start:stop]).clamp_(min=0)
        sinks = units.index_select(0, self.sink_units)
        return torch.addmm(self.bias_out[k].unsqueeze(1), self.weight_out[k], sinks).T

    @torch.no_grad()
    def linear_region(self, pre0: Tensor, direction: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The affine piece of the network along a line, and how far along the line it holds.

        The network is piecewise affine (ReLU units, affine output): on the line
        ``pre0 + s * direction`` through the source pre-activations, for ``s`` from 0 up to the
        first point where some unit's pre-activation changes sign, the logits are exactly
        ``logits + s * slope``. This gives exact logits for a whole segment of inputs from one
        pass, e.g. every value of one pixel (``direction`` = that pixel's column of
        :meth:`input_layer`), which One-Pixel uses to tabulate its search space.

        Computed in the dtype of ``pre0`` (use float64 for tracing many pieces: the sign of a
        unit just past its crossing must survive rounding). A unit is active when its
        pre-activation is > 0, as in :meth:`forward`.

        Parameters
        ----------
        pre0 : Tensor [K, B, n_sources]
            Source pre-activations at the start of the segment (copy k reads ``pre0[k]``).
        direction : Tensor [K, B, n_sources]
            Derivative of the source pre-activations along the line.

        Returns
        -------
        logits : Tensor [K, B, n_out]
            Logits at the start (``forward_from_input(pre0)`` up to rounding).
        slope : Tensor [K, B, n_out]
            Derivative of the logits along the line on this piece.
        reach : Tensor [K, B]
            Largest ``s >= 0`` up to which no unit changes sign (``inf`` if none ever does):
            the affine form is exact on ``[0, reach]``.

        Examples
        --------
        >>> import networkx as nx, torch
        >>> net = SparseDAGNet(nx.DiGraph([(2, 1), (1, 0)]), n_in=3, n_out=2).double()
        >>> pre0 = torch.rand(1, 4, 1, dtype=torch.float64)
        >>> direction = torch.rand(1, 4, 1, dtype=torch.float64)
        >>> logits, slope, reach = net.linear_region(pre0, direction)
        >>> s = torch.minimum(reach, torch.tensor(1.0))[..., None] / 2  # inside the piece
        >>> torch.allclose(net.forward_from_input(pre0 + s * direction), logits + s * slope)
        True
        """
        if pre0.shape != direction.shape or pre0.dim() != 3 or pre0.shape[0] != self.copies:
            raise ValueError(
                f"pre0 and direction must both be [{self.copies}, B, {self.offsets[1]}], got "
                f"{tuple(pre0.shape)} and {tuple(direction.shape)}"
            )
        return self.region_tracer(pre0.dtype)(pre0, direction)

    @torch.no_grad()
    def region_tracer(self, dtype: torch.dtype = torch.float64) -> RegionTracer:
        """:meth:`linear_region` for many calls, with the layers built once (a snapshot).

        The CSR layers, biases and output weights of every copy are converted to ``dtype`` now,
        from the present weights, and reused by every call of the returned tracer: use it only
        while the weights do not change (no training step in between), e.g. for one tracing of
        the pixel lines. :meth:`linear_region` builds a new one per call.

        Examples
        --------
        >>> import networkx as nx, torch
        >>> net = SparseDAGNet(nx.DiGraph([(2, 1), (1, 0)]), n_in=3, n_out=2).double()
        >>> pre0, direction = torch.rand(2, 1, 4, 1, dtype=torch.float64)
        >>> trace = net.region_tracer(torch.float64)
        >>> all(torch.equal(a, b) for a, b in zip(trace(pre0, direction),
        ...                                       net.linear_region(pre0, direction)))
        True
        """
        return RegionTracer(self, dtype)

    def forward(self, x: Tensor) -> Tensor:
        """Logits for pixels ``x`` in [0, 1] (shapes in the class Notes)."""
        per_copy = x.dim() == 3 and x.shape[0] == self.copies and x.shape[-1] == self.n_in
        if not per_copy:
            x = x.reshape(x.shape[0], -1)
            if x.shape[1] != self.n_in:
                raise ValueError(
                    f"expected inputs of {self.n_in} pixels ([B, {self.n_in}], [B, 1, 28, 28] or "
                    f"[{self.copies}, B, {self.n_in}]), got shape {tuple(x.shape)}"
                )
        weight, bias = self.weight_in, self.bias_in
        x = x.to(weight.dtype)
        if self.normalize is not None:
            # normalising the [B, n_in] input is cheaper than folding into [K, n0, n_in] weights
            x = (x - self.normalize[0]) / self.normalize[1]
        if per_copy:
            pre0 = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
        else:
            # The same batch through every copy: one GEMM against all copies' stacked sources.
            K, n0, _ = weight.shape
            pre0 = torch.addmm(bias.reshape(1, K * n0), x, weight.reshape(K * n0, -1).T)
            pre0 = pre0.reshape(x.shape[0], K, n0).transpose(0, 1)
        logits = self.forward_from_input(pre0)
        return logits if per_copy or self.copies > 1 else logits[0]
