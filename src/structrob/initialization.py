"""Weight and bias initialisation of a :class:`~structrob.model.SparseDAGNet`'s copies.

Six schemes (the study's ``init_functions`` [1]_), each copy drawn from its own seeded
generator, with the fan rule, the blocks drawn and the biases as options: the defaults use the
real connections' fans and zero biases; ``fans="block", layers="hidden", bias="normal"`` is
what the study's code did (``torch.nn.init`` on dense layer-to-layer blocks, ``nn.Linear``
defaults for the input and output layers, N(0, 0.1^2) hidden biases).

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021; study code
   ``models/SNN.py`` and ``experiment_pipeline.py``.
.. [2] X. Glorot, Y. Bengio, "Understanding the difficulty of training deep feedforward neural
   networks", AISTATS 2010.
.. [3] K. He, X. Zhang, S. Ren, J. Sun, "Delving deep into rectifiers", ICCV 2015.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from structrob.seeds import derive_seed
from structrob.vocabulary import INIT_SCHEMES

if TYPE_CHECKING:
    from structrob.model import SparseDAGNet

__all__ = ["INIT_BIAS", "INIT_FANS", "INIT_LAYERS", "INIT_SCHEMES", "initialize"]

INIT_FANS = ("sparse", "block")
INIT_LAYERS = ("all", "hidden")
INIT_BIAS = ("zeros", "normal")


def _fans(net: SparseDAGNet, copy: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Real fan-in and fan-out of every hidden unit, counted from (copy ``copy``'s) masks."""
    fan_in = np.zeros(net.n_hidden)
    fan_out = np.zeros(net.n_hidden)
    fan_in[: net.offsets[1]] = net.n_in
    for l, (reads, mask) in enumerate(
        zip((b[0] for b in net.hidden_blocks()), net.layer_masks(copy)), start=1
    ):
        m = mask.detach().cpu().numpy()
        fan_in[net.offsets[l] : net.offsets[l + 1]] = m.sum(1)
        np.add.at(fan_out, reads.cpu().numpy(), m.sum(0))
    fan_out[net.sink_units.cpu().numpy()] += net.n_out
    return fan_in, fan_out


def _sample(
    scheme: str, fan_in: np.ndarray, fan_out: np.ndarray, shape: tuple, generator: torch.Generator
) -> Tensor:
    """Weights of one block; ``fan_in`` broadcasts over rows (targets), ``fan_out`` over columns."""
    fan_in = np.reshape(fan_in, (-1, 1))
    fan_out = np.reshape(fan_out, (1, -1))
    return _draw(scheme, fan_in, fan_out, shape, generator)


def _draw(scheme: str, fan_in, fan_out, shape: tuple, generator: torch.Generator) -> Tensor:
    """Draws of ``scheme`` with fans broadcastable to ``shape``, float64."""
    fan_in = torch.as_tensor(fan_in, dtype=torch.float64).clamp(min=1)
    fan_out = torch.as_tensor(fan_out, dtype=torch.float64).clamp(min=1)
    gain = math.sqrt(2.0)
    if scheme == "normal":
        return torch.randn(shape, generator=generator, dtype=torch.float64) * 0.1
    if scheme == "uniform":
        return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * 0.1
    if scheme == "glorot_normal":
        scale = gain * torch.sqrt(2.0 / (fan_in + fan_out))
    elif scheme == "glorot_uniform":
        scale = gain * torch.sqrt(6.0 / (fan_in + fan_out))
    elif scheme == "he_normal":
        scale = gain / torch.sqrt(fan_in) * torch.ones_like(fan_out)
    else:  # he_uniform
        scale = gain * torch.sqrt(3.0 / fan_in) * torch.ones_like(fan_out)
    if scheme.endswith("normal"):
        return torch.randn(shape, generator=generator, dtype=torch.float64) * scale
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * scale


def _linear_default(shape: tuple, fan_in: int, generator: torch.Generator) -> Tensor:
    """torch's ``nn.Linear`` default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), weights and biases."""
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound


@torch.no_grad()
def initialize(
    net: SparseDAGNet,
    schemes: str | Sequence[str],
    seed: int = 0,
    fans: str = "sparse",
    layers: str = "all",
    bias: str = "zeros",
) -> SparseDAGNet:
    """Initialise every copy's weights and biases with its scheme.

    Schemes (``gain = sqrt(2)``, the study's ``calculate_gain("relu")``) [1]_:

    - ``glorot_normal``: N(0, gain^2 * 2 / (fan_in + fan_out)) [2]_
    - ``glorot_uniform``: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) [2]_
    - ``he_normal``: N(0, gain^2 / fan_in) (a = 0, mode fan_in) [3]_
    - ``he_uniform``: U(-a, a), a = gain * sqrt(3 / fan_in) [3]_
    - ``normal``: N(0, 0.1^2);  ``uniform``: U(-0.1, 0.1)

    Parameters
    ----------
    net : SparseDAGNet
    schemes : str or sequence of str
        One scheme for all copies, or one per copy (length K), from ``INIT_SCHEMES``.
    seed : int
        Copy k draws from its own generator seeded with ``structrob.seeds.derive_seed(seed, k)``,
        so its weights do not depend on the other copies.
    fans : {"sparse", "block"}
        ``"sparse"``: a weight on the connection u -> v uses ``fan_in`` = connections into v
        (784 for a source) and ``fan_out`` = connections out of u (its out-degree, plus
        ``n_out`` for a sink; ``n_sources`` for an input pixel), counted from the copy's own
        masks when they are per copy. ``"block"``: the study code's
        fans [1]_, which applied ``torch.nn.init`` to each dense (source layer -> target layer)
        block before masking it: ``fan_in`` = units in the source layer, ``fan_out`` = units in
        the target layer (784 and ``n_out`` for the input and output blocks). On a fully
        connected layered graph the two agree.
    layers : {"all", "hidden"}
        Which blocks the scheme draws: all, or only the hidden (layer >= 1) blocks as in the
        study code, whose input and output layers were plain ``nn.Linear`` with torch's default
        (weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in 784 and the number of
        sinks) under every scheme.
    bias : {"zeros", "normal"}
        Biases of the blocks the scheme draws: zero, or N(0, 0.1^2) as in the study code.

    Returns
    -------
    SparseDAGNet
        ``net``, modified in place.

    Notes
    -----
    Masked entries (of each copy's own masks, when per copy) are set to zero. With the
    defaults (``"sparse"``, ``"all"``, ``"zeros"``) every block is drawn with real-connection
    fans and biases are zero (the paper's text says neither). Draws are taken in a fixed order
    (input block, hidden blocks in layer order, output block, then biases), so the defaults give
    the same weights as before the options.

    References
    ----------
    .. [1] M. Ben Amor, J. Stier, M. Granitzer, study code, ``models/SNN.py`` and
       ``experiment_pipeline.py`` (``init_functions``), github.com/mehdibenamorr/
       Adv_attacks_Framework.
    .. [2] X. Glorot, Y. Bengio, "Understanding the difficulty of training deep feedforward
       neural networks", AISTATS 2010.
    .. [3] K. He et al., "Delving deep into rectifiers", ICCV 2015.

    Examples
    --------
    >>> import networkx as nx
    >>> from structrob.model import SparseDAGNet
    >>> net = SparseDAGNet(nx.DiGraph([(1, 0)]), n_in=3, n_out=2, copies=2)
    >>> net = initialize(net, ["normal", "he_uniform"], seed=1)
    >>> float(net.bias_in.detach().abs().sum())
    0.0
    >>> net = initialize(net, "he_normal", fans="block", layers="hidden", bias="normal")
    >>> bool(net.bias_in.abs().max() <= 3 ** -0.5), bool(net.bias_1.abs().sum() > 0)
    (True, True)
    """
    if isinstance(schemes, str):
        schemes = [schemes] * net.copies
    schemes = list(schemes)
    if len(schemes) != net.copies:
        raise ValueError(
            f"got {len(schemes)} schemes for {net.copies} copies; "
            "give one per copy or a single name"
        )
    for scheme in schemes:
        if scheme not in INIT_SCHEMES:
            raise ValueError(f"unknown initialisation {scheme!r}; choose from {list(INIT_SCHEMES)}")
    for name, value, allowed in (
        ("fans", fans, INIT_FANS),
        ("layers", layers, INIT_LAYERS),
        ("bias", bias, INIT_BIAS),
    ):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    n0 = net.offsets[1]
    n_sinks = net.sink_units.numel()
    blocks = net.hidden_blocks()
    per_copy = net.per_copy_masks
    if fans == "sparse" and not per_copy:
        fan_in, fan_out = _fans(net)
    elif fans == "block":
        # width of the layer each unit sits in
        width = np.repeat(net.layer_sizes, net.layer_sizes).astype(np.float64)
    for k, scheme in enumerate(schemes):
        gen = torch.Generator().manual_seed(derive_seed(seed, k))
        if fans == "sparse" and per_copy:
            fan_in, fan_out = _fans(net, k)
        if layers == "hidden":
            net.weight_in[k] = _linear_default(net.weight_in.shape[1:], net.n_in, gen)
        elif fans == "sparse":
            net.weight_in[k] = _sample(
                scheme, fan_in[:n0], np.full(net.n_in, n0), net.weight_in.shape[1:], gen
            )
        else:
            net.weight_in[k] = _draw(scheme, net.n_in, n0, net.weight_in.shape[1:], gen)
        for l, (reads, mask, weight, _) in enumerate(blocks, start=1):
            if fans == "sparse":
                rows = fan_in[net.offsets[l] : net.offsets[l + 1]]
                cols = fan_out[reads.cpu().numpy()]
                block = _sample(scheme, rows, cols, weight.shape[1:], gen)
            else:
                source_width = width[reads.cpu().numpy()].reshape(1, -1)
                block = _draw(scheme, source_width, net.layer_sizes[l], weight.shape[1:], gen)
            weight[k] = block.to(mask) * (mask[k] if mask.dim() == 3 else mask)
        if layers == "hidden":
            net.weight_out[k] = _linear_default(net.weight_out.shape[1:], n_sinks, gen)
        elif fans == "sparse":
            net.weight_out[k] = _sample(
                scheme,
                np.full(net.n_out, n_sinks),
                fan_out[net.sink_units.cpu().numpy()],
                net.weight_out.shape[1:],
                gen,
            )
        else:
            net.weight_out[k] = _draw(scheme, n_sinks, net.n_out, net.weight_out.shape[1:], gen)
        # biases, after every weight so that the weights do not depend on the bias option
        hidden_biases = [b for _, _, _, b in blocks]
        outer = [(net.bias_in, net.n_in), (net.bias_out, n_sinks)]
        for param in hidden_biases:
            param[k] = _bias(bias, param.shape[1:], gen)
        for param, fan in outer:
            if layers == "hidden":
                param[k] = _linear_default(param.shape[1:], fan, gen)
            else:
                param[k] = _bias(bias, param.shape[1:], gen)
    return net


def _bias(rule: str, shape: tuple, generator: torch.Generator) -> Tensor:
    if rule == "zeros":
        return torch.zeros(shape, dtype=torch.float64)
    return torch.randn(shape, generator=generator, dtype=torch.float64) * 0.1
