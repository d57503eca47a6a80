"""Small networks with known answers, shared by the model and attack tests."""

from __future__ import annotations

import networkx as nx
import torch

from structrob.model import SparseDAGNet


def randomize(net, seed=0, scale=0.3):
    """Random weights and biases (biases too, so no unit sits exactly on the ReLU kink)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
        for _, mask, weight, _ in net.hidden_blocks():
            weight.mul_(mask)
    return net


def knotted_net(n_in: int = 1) -> SparseDAGNet:
    """Two sources relu(t - 1/4), relu(t - 1/2) feed u = relu(z0 - 4 z1); logits (u, -u).

    Along t (both sources' pre-activations move with slope 1) u is 0 up to 1/4, rises with
    slope 1 to 1/4 at t = 1/2, falls with slope -3 to 0 at t = 7/12 and stays 0: knots at
    1/4, 1/2 and 7/12. Below 1/4, u's pre-activation is exactly 0 with zero slope. With
    ``n_in`` > 1, t is input 0 and the other inputs are not connected (zero weights).
    """
    net = SparseDAGNet(nx.DiGraph([(0, 2), (1, 2)]), n_in=n_in, n_out=2, normalize=None).double()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.weight_in[0, :, 0] = 1.0
        net.bias_in[0] = torch.tensor([-0.25, -0.5])
        reads, _, weight, _ = net.hidden_blocks()[0]
        weight[0, 0, reads.tolist().index(net.index[0])] = 1.0
        weight[0, 0, reads.tolist().index(net.index[1])] = -4.0
        net.weight_out[0, :, 0] = torch.tensor([1.0, -1.0])
    return net


def stacked_pruned_net() -> tuple[SparseDAGNet, torch.Tensor, torch.Tensor]:
    """Three stacked copies, each pruned at random on its own masks, with 30 random images and
    the copies' majority class as labels (so every copy has images it classifies correctly).

    The network, images and labels of the pinned One-Pixel numbers: those tests compare with
    what the code computed before a change, so this must not change.
    """
    from structrob import pruning
    from structrob.graphs import to_dag, watts_strogatz

    net = randomize(SparseDAGNet(to_dag(watts_strogatz(60, 2, 0.7, seed=3)), copies=3), seed=4)
    pruning.prune_random(net, 0.3, seed=5, per_copy=True)
    x = torch.rand(30, 784, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        y = net(x).argmax(-1).mode(0).values
    return net, x, y
