"""Tests for structrob.study.estimate: One-Pixel's worst case from two full-budget timings."""

import torch

from structrob.graphs import to_dag, watts_strogatz
from structrob.model import SparseDAGNet, initialize
from structrob.study import estimate
from structrob.study.config import apply_overrides, load_preset


def test_one_pixel_is_extrapolated_from_never_fooled_images(monkeypatch):
    config = apply_overrides(
        load_preset("quick"), ["attacks.onepixel.images=40", "attacks.onepixel.max_iter=2"]
    )
    torch.manual_seed(0)
    net = SparseDAGNet(to_dag(watts_strogatz(30, 2, 0.5, seed=1)), copies=2)
    initialize(net, ["he_uniform", "normal"], seed=0)
    x = torch.rand(60, 784, generator=torch.Generator().manual_seed(5))
    y = net.copy(0)(x).argmax(1)  # every image clean-correct for copy 0
    attacked = []

    def fake_timed(work):  # a clock for which an attack costs 1 s plus 0.5 s per image
        work()
        return 1.0 + 0.5 * attacked[-1]

    from structrob.attacks import OnePixel

    real_call = OnePixel.__call__

    def counting_call(self, model, images, labels):
        attacked.append(len(images))
        return real_call(self, model, images, labels)

    monkeypatch.setattr(estimate, "_timed", fake_timed)
    monkeypatch.setattr(OnePixel, "__call__", counting_call)
    seconds = estimate._onepixel_seconds(config, net, x, y)
    assert attacked == [3, 9]  # never-fooled images exist among 60 here
    # (1 s fixed + 0.5 s x 40 planned images) x 2 copies
    assert seconds == (1.0 + 0.5 * 40) * 2
