"""Attacks against closed forms (linear models), hand-built models and the stacked SparseDAGNet."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from structrob.attacks import (
    FGSM,
    PGD,
    AttackResult,
    ExactOnePixel,
    MinimalFGSM,
    OnePixel,
    eps_grid,
    select_images,
)
from structrob.graphs import to_dag, watts_strogatz
from structrob.model import SparseDAGNet
from tests.nets import knotted_net, randomize, stacked_pruned_net

# -- models -----------------------------------------------------------------------------------


def linear_model(n_out: int = 2, seed: int = 0, scale: float = 0.05) -> nn.Linear:
    generator = torch.Generator().manual_seed(seed)
    model = nn.Linear(784, n_out)
    with torch.no_grad():
        model.weight.copy_(torch.randn(n_out, 784, generator=generator) * scale)
        model.bias.copy_(torch.randn(n_out, generator=generator) * 0.1)
    return model


class Stacked(nn.Module):
    """K copies of a 784-h-10 ReLU net implementing the SparseDAGNet contract (no normalisation)."""

    def __init__(self, copies: int, hidden: int = 6, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.copies = copies
        self.w1 = nn.Parameter(torch.randn(copies, hidden, 784, generator=g) * 0.1)
        self.b1 = nn.Parameter(torch.randn(copies, hidden, generator=g))
        self.w2 = nn.Parameter(torch.randn(copies, 10, hidden, generator=g))
        self.b2 = nn.Parameter(torch.randn(copies, 10, generator=g))

    def input_layer(self):
        return self.w1, self.b1

    def forward_from_input(self, pre0):
        return torch.relu(pre0) @ self.w2.transpose(1, 2) + self.b2[:, None]

    def forward(self, x):
        per_copy = x.dim() == 3 and x.shape[0] == self.copies and x.shape[-1] == 784
        if not per_copy:
            x = x.reshape(x.shape[0], -1).expand(self.copies, -1, -1)
        out = self.forward_from_input(x @ self.w1.transpose(1, 2) + self.b1[:, None])
        return out if per_copy or self.copies > 1 else out[0]

    def single(self, k: int) -> Stacked:
        one = Stacked(1, hidden=self.w1.shape[1])
        with torch.no_grad():
            for name in ("w1", "b1", "w2", "b2"):
                getattr(one, name).copy_(getattr(self, name)[k : k + 1])
        return one


class Window(nn.Module):
    """Parameter-free model fooled only while the mean pixel is in (0.56, 0.64).

    Misclassification is therefore not monotone in eps."""

    def forward(self, x):
        t = x.reshape(x.shape[0], -1).mean(1)
        return torch.stack([torch.zeros_like(t), 0.16 - 100 * (t - 0.6) ** 2], 1)


TARGET = (20, 7)


class OneKnownPixel(nn.Module):
    """Class 1 wins only when pixel TARGET exceeds 0.8; a weaker bump around it guides the DE."""

    def __init__(self) -> None:
        super().__init__()
        rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
        bump = 0.5 * torch.exp(-((rows - TARGET[0]) ** 2 + (cols - TARGET[1]) ** 2) / (2 * 6.0**2))
        bump[TARGET] = 1.0
        self.register_buffer("w", bump.flatten())

    def forward(self, x):
        score = x.reshape(x.shape[0], -1) @ self.w
        return torch.stack([torch.full_like(score, 0.8), score], 1)


class Decoy(nn.Module):
    """A bright pixel in the top half flips the image to class 1 (true-class probability about
    0.45); one in the bottom half spreads probability over nine classes (lower true-class
    probability, about 0.1) without ever flipping it: the fittest candidate is not the
    adversarial one."""

    def __init__(self) -> None:
        super().__init__()
        top = (torch.arange(784) < 14 * 28).float()
        self.register_buffer("top", top)

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        a, b = x @ self.top, x @ (1 - self.top)
        spread = (0.99 * b - 1 - 10 * a)[:, None].expand(-1, 8)
        return torch.cat([torch.zeros_like(a)[:, None], (2 * a + 0.99 * b - 1)[:, None], spread], 1)


class Disagreeing(Stacked):
    """Rank-1 path claims every candidate is class 9; the true forward pass says class 0."""

    def forward_from_input(self, pre0):
        out = torch.zeros(*pre0.shape[:2], 10)
        out[..., 9] = 1.0
        return out

    def forward(self, x):
        rows = x.shape[-2] if x.dim() == 3 else x.shape[0]
        out = torch.zeros(self.copies, rows, 10)
        out[..., 0] = 1.0
        return out if x.dim() == 3 or self.copies > 1 else out[0]


def images_and_labels(n: int, seed: int = 0, low: float = 0.0, high: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(n, 784, generator=g), torch.randint(
        0, 2, (n,), generator=g
    )


@pytest.fixture(scope="module")
def dag_net():
    net = SparseDAGNet(to_dag(watts_strogatz(30, 2, 0.5, seed=1)), copies=3)
    x = torch.rand(60, 784, generator=torch.Generator().manual_seed(5))
    y = net(x)[0].argmax(1)
    return net, x, y


def numpy_logits(model: nn.Linear, x: np.ndarray) -> np.ndarray:
    return (
        x.astype(np.float64) @ model.weight.detach().double().numpy().T
        + model.bias.detach().double().numpy()
    )


# -- FGSM -------------------------------------------------------------------------------------


def test_fgsm_linear_closed_form():
    model = linear_model()
    x, y = images_and_labels(40)
    x[:, :100] = 0.0  # pixels at the box edges, so the clamp matters
    x[:, 100:200] = 1.0
    result = FGSM(eps=0.02)(model, x, y)
    w = model.weight.detach().double().numpy()
    yn = y.numpy()
    # two classes: grad_x CE = p_other (w_other - w_y), so sign = sign(w_other - w_y)
    sign = np.sign(w[1 - yn] - w[yn])
    expected = np.clip(x.numpy() + np.float32(0.02) * sign.astype(np.float32), 0, 1)
    np.testing.assert_allclose(result.adv.numpy(), expected, atol=1e-7)
    logits = numpy_logits(model, expected)
    assert np.abs(logits[:, 0] - logits[:, 1]).min() > 1e-4  # no borderline image for this seed
    pred = logits.argmax(1)
    clean_correct = numpy_logits(model, x.numpy()).argmax(1) == yn
    np.testing.assert_array_equal(result.pred.numpy(), pred)
    np.testing.assert_array_equal(result.clean_correct.numpy(), clean_correct)
    np.testing.assert_array_equal(result.success.numpy(), clean_correct & (pred != yn))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(result.confidence.numpy(), probs[np.arange(40), pred], atol=1e-6)
    assert result.eps is None and result.n_zero_grad == 0
    assert 0 < result.success.sum() < result.clean_correct.sum()  # the case is not trivial


def test_fgsm_gradient_does_not_saturate_for_confident_models():
    model = linear_model()
    with torch.no_grad():
        model.weight.mul_(1000.0)  # margins of hundreds of logits
    x, _ = images_and_labels(20, seed=1)
    y = model(x).argmax(1)
    w = model.weight.detach().double().numpy()
    margins = np.abs(numpy_logits(model, x.numpy()) @ np.array([1.0, -1.0]))
    assert margins.min() > 40  # float64 p_y - 1 rounds to 0 beyond a margin of about 37
    naive = x.clone().requires_grad_(True)
    nn.functional.cross_entropy(model(naive).double(), y, reduction="sum").backward()
    assert (naive.grad == 0).all(1).any() or (
        torch.sign(naive.grad).numpy() != np.sign(w[1 - y.numpy()] - w[y.numpy()])
    ).any()
    result = FGSM(eps=0.05)(model, x, y)
    sign = np.sign(w[1 - y.numpy()] - w[y.numpy()])
    np.testing.assert_allclose(
        result.adv.numpy(), np.clip(x.numpy() + np.float32(0.05) * sign, 0, 1), atol=1e-7
    )
    assert result.n_zero_grad == 0


def test_fgsm_counts_zero_gradients():
    model = nn.Linear(784, 3)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([2.0, 0.0, 0.0]))
    x, _ = images_and_labels(7)
    result = FGSM()(model, x, torch.zeros(7, dtype=torch.long))
    assert result.n_zero_grad == 7
    assert torch.equal(result.adv, x) and not result.success.any()


def test_fgsm_shapes_batches_and_no_side_effects():
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 10)
    )
    torch.manual_seed(0)
    model.train()
    x, _ = images_and_labels(30, seed=2)
    y = torch.arange(30) % 10
    images = x.reshape(30, 1, 28, 28)
    images_before, labels_before = images.clone(), y.clone()
    one = FGSM(eps=0.2, batch_size=7)(model, images, y)
    assert model.training and model[3].training  # modes restored
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(images, images_before) and torch.equal(y, labels_before)
    assert one.adv.shape == (30, 1, 28, 28)
    # eval mode was used (dropout off): the same as attacking the eval model, any batch size
    other = FGSM(eps=0.2, batch_size=1000)(model.eval(), x, y)
    assert torch.equal(one.adv.reshape(30, 784), other.adv) and torch.equal(one.pred, other.pred)


def test_inputs_are_validated():
    model = linear_model()
    x, y = images_and_labels(4)
    with pytest.raises(ValueError, match=r"\[N, 784\]"):
        FGSM()(model, x.reshape(4, 28, 28), y)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        FGSM()(model, x * 255, y)
    with pytest.raises(ValueError, match="integer tensor"):
        FGSM()(model, x, y.float())
    with pytest.raises(ValueError, match="< 2"):
        FGSM()(model, x, y + 5)
    with pytest.raises(ValueError, match="eps"):
        FGSM(eps=1.5)
    with pytest.raises(ValueError, match="strategy"):
        OnePixel(strategy="best2")


# -- minimal eps ------------------------------------------------------------------------------


def test_eps_grid_values_are_built_from_k():
    grid = eps_grid(0.001, 0.01, 1.0)
    assert len(grid) == 100
    np.testing.assert_array_equal(grid, 0.001 + 0.01 * np.arange(100))
    accumulated = np.cumsum(np.r_[0.001, np.full(99, 0.01)])
    assert (accumulated != grid).any()  # accumulating would drift from the definition
    assert eps_grid(0.001, 0.01, 0.991)[-1] == 0.001 + 0.01 * 99  # tolerance at max_eps


def test_minimal_eps_linear_closed_form():
    # Interior pixels and small weights: no clamping, so the margin falls linearly,
    # m(eps) = m0 - eps * ||w_y - w_other||_1, and eps* = m0 / ||w_y - w_other||_1.
    model = linear_model(scale=0.01)
    x, _ = images_and_labels(50, low=0.35, high=0.65)
    y = model(x).argmax(1)
    y[:5] = 1 - y[:5]  # five clean mistakes: no eps, not censored
    result = MinimalFGSM()(model, x, y)
    w = model.weight.detach().double().numpy()
    logits = numpy_logits(model, x.numpy())
    yn = y.numpy()
    margin = logits[np.arange(50), yn] - logits[np.arange(50), 1 - yn]
    threshold = margin / np.abs(w[yn] - w[1 - yn]).sum(1)
    k = np.ceil((threshold - 0.001) / 0.01)
    expected = 0.001 + 0.01 * k
    assert np.all(expected < 0.3)  # within the unclamped range
    assert np.min(np.abs((threshold - 0.001) / 0.01 - np.round((threshold - 0.001) / 0.01))) > 1e-3
    eps = result.eps.numpy()
    assert (
        np.isnan(eps[:5]).all()
        and not result.success[:5].any()
        and not result.clean_correct[:5].any()
    )
    np.testing.assert_array_equal(eps[5:], expected[5:])
    assert result.success[5:].all()
    m = result.measures()
    assert m["n_correct"] == 45 and m["n_success"] == 45 and m["n_censored"] == 0
    assert m["avg_eps"] == pytest.approx(expected[5:].mean(), rel=1e-12)
    # the adversarial image is the FGSM image at the minimal eps
    sign = np.sign(w[1 - yn] - w[yn]).astype(np.float32)
    np.testing.assert_allclose(
        result.adv.numpy()[5:], (x.numpy() + eps[:, None].astype(np.float32) * sign)[5:], atol=1e-7
    )


def test_minimal_eps_takes_the_first_fooling_eps_not_a_bisection():
    x = torch.full((3, 784), 0.5)
    y = torch.zeros(3, dtype=torch.long)
    result = MinimalFGSM()(Window(), x, y)
    # fooled only for eps in (0.06, 0.14): the first grid value there is 0.061; larger eps
    # are not fooled
    assert result.eps.tolist() == [0.001 + 0.01 * 6] * 3
    assert result.pred.tolist() == [1, 1, 1]
    assert not FGSM(eps=0.3)(Window(), x, y).success.any()
    censored = MinimalFGSM(max_eps=0.05)(Window(), x, y)
    assert np.isnan(censored.eps.numpy()).all() and censored.measures()["n_censored"] == 3


@pytest.mark.parametrize("eps_per_pass, chunk_rows", [(1, 8192), (3, 50), (100, 8192)])
def test_minimal_eps_does_not_depend_on_chunking(eps_per_pass, chunk_rows):
    model = Stacked(1)
    x, _ = images_and_labels(40, seed=4)
    y = model(x).argmax(1)
    y[::7] = (y[::7] + 1) % 10
    reference = MinimalFGSM()(model, x, y)
    other = MinimalFGSM(eps_per_pass=eps_per_pass, chunk_rows=chunk_rows, batch_size=13)(
        model, x, y
    )
    np.testing.assert_array_equal(reference.eps.numpy(), other.eps.numpy())
    assert torch.equal(reference.pred, other.pred) and torch.equal(reference.adv, other.adv)
    assert reference.measures()["n_success"] > 10


# -- PGD --------------------------------------------------------------------------------------


def test_bim_on_a_linear_model_equals_fgsm():
    model = linear_model()
    x, y = images_and_labels(30, seed=3)
    bim = PGD(eps=0.1, step_size=0.03, steps=5, random_start=False)(model, x, y)
    fgsm = FGSM(eps=0.1)(model, x, y)
    # the gradient sign of a linear model is constant, so the iterates walk to the FGSM corner
    assert torch.equal(bim.adv, fgsm.adv) and torch.equal(bim.success, fgsm.success)


def test_pgd_stays_in_the_ball_and_is_seeded():
    model = Stacked(1)
    x, _ = images_and_labels(25, seed=6)
    y = model(x).argmax(1)
    a = PGD(eps=0.05, step_size=0.02, steps=4, seed=1)(model, x, y)
    b = PGD(eps=0.05, step_size=0.02, steps=4, seed=1, batch_size=6)(model, x, y)
    c = PGD(eps=0.05, step_size=0.02, steps=4, seed=2)(model, x, y)
    assert torch.equal(a.adv, b.adv) and not torch.equal(a.adv, c.adv)
    assert (a.adv - x).abs().max() <= 0.05 + 1e-6 and a.adv.min() >= 0 and a.adv.max() <= 1
    assert a.eps is None and a.clean_correct.all()


# -- One-Pixel --------------------------------------------------------------------------------


def test_one_pixel_finds_the_only_pixel_that_flips_the_decision():
    model = OneKnownPixel()
    x = torch.zeros(3, 784)
    y = torch.zeros(3, dtype=torch.long)
    result = OnePixel(pop_size=20, max_iter=100, seed=0, n_images=None)(model, x, y)
    assert result.success.all() and result.pred.tolist() == [1, 1, 1]
    assert result.pixel[:, :2].tolist() == [list(map(float, TARGET))] * 3
    assert (result.pixel[:, 2] / 255 > 0.8).all()
    assert (result.iterations > 0).all()  # found by evolution, not by the initial draw
    assert torch.equal(result.n_queries, 20 * (result.iterations + 1))
    changed = (result.adv != x).nonzero()
    assert changed[:, 1].tolist() == [TARGET[0] * 28 + TARGET[1]] * 3
    assert result.measures()["error_rate"] == 1.0


def test_one_pixel_best1bin_also_finds_it():
    result = OnePixel(pop_size=20, max_iter=100, n_images=None, strategy="best1bin")(
        OneKnownPixel(), torch.zeros(2, 784), torch.zeros(2, dtype=torch.long)
    )
    assert result.success.all() and result.pixel[:, :2].tolist() == [list(map(float, TARGET))] * 2


def test_one_pixel_failure_runs_the_whole_budget():
    model = OneKnownPixel()
    with torch.no_grad():
        model.w.zero_()
    result = OnePixel(pop_size=8, max_iter=5, n_images=None)(
        model, torch.zeros(2, 784), torch.zeros(2, dtype=torch.long)
    )
    assert not result.success.any()
    assert result.iterations.tolist() == [5, 5] and result.n_queries.tolist() == [48, 48]
    assert result.measures()["error_rate"] == 0.0


def test_one_pixel_stops_on_the_initial_population():
    model = OneKnownPixel()
    with torch.no_grad():
        model.w.fill_(1.0)  # any pixel above 0.8 flips the image
    result = OnePixel(pop_size=50, max_iter=10, n_images=None)(
        model, torch.zeros(2, 784), torch.zeros(2, dtype=torch.long)
    )
    assert (
        result.success.all()
        and result.iterations.tolist() == [0, 0]
        and result.n_queries.tolist() == [50, 50]
    )


def test_one_pixel_stops_when_any_candidate_not_only_the_fittest_misclassifies():
    model = Decoy()
    x, y = torch.zeros(2, 784), torch.zeros(2, dtype=torch.long)
    result = OnePixel(pop_size=50, max_iter=10, n_images=None)(model, x, y)
    assert result.success.all() and result.iterations.tolist() == [0, 0]
    assert (result.pixel[:, 0] < 14).all() and result.pred.tolist() == [1, 1]
    # premise: any bottom-half pixel brighter than 0.5 (about a quarter of the initial draws)
    # is fitter than every adversarial candidate, so checking only the fittest would not stop
    bottom = torch.zeros(1, 784)
    bottom[0, 20 * 28] = 0.5
    p_true = lambda images: torch.softmax(model(images), 1)[:, 0]  # noqa: E731
    assert (p_true(result.adv) > p_true(bottom) + 0.1).all()


def test_one_pixel_confirms_every_success_with_a_true_forward_pass():
    model = Disagreeing(1)
    x = torch.rand(2, 784, generator=torch.Generator().manual_seed(0))
    result = OnePixel(pop_size=6, max_iter=3, n_images=None)(
        model, x, torch.zeros(2, dtype=torch.long)
    )
    assert not result.success.any() and result.iterations.tolist() == [3, 3]
    assert result.pred.tolist() == [0, 0]


def test_rank1_first_layer_equals_full_forward_on_random_candidates():
    from structrob.attacks._base import Runner
    from structrob.attacks._candidates import Candidates

    model = Stacked(3)
    x, _ = images_and_labels(5, seed=8)
    y = torch.zeros(5, dtype=torch.long)
    runner = Runner(model, (784,))
    de = Candidates(runner, x, y, [torch.arange(5)] * 3, "rank1", chunk_rows=64)
    g = torch.Generator().manual_seed(1)
    k = torch.tensor([0, 0, 1, 2, 2, 2])
    s = torch.tensor([0, 4, 2, 1, 3, 0])
    pixel = torch.randint(0, 784, (6, 37), generator=g)
    value = torch.rand(6, 37, generator=g, dtype=torch.float64)
    fast = de.logits(k, s, pixel, value)
    full = de.logits(k, s, pixel, value, forward=True)
    # independent reference: set the pixel and run each copy's model
    for q in range(6):
        images = x[s[q]].repeat(37, 1)
        images[torch.arange(37), pixel[q]] = value[q].float()
        reference = model(images)[k[q]]
        torch.testing.assert_close(full[q], reference, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fast[q], reference, atol=1e-5, rtol=1e-5)


def traced(model, x, selected):
    """The candidate evaluator of ``model`` with the pixel-line table (``.lines``) for the images
    ``selected`` [K] lists (one per copy)."""
    from structrob.attacks._base import Runner
    from structrob.attacks._candidates import Candidates

    runner = Runner(model, (784,))
    y = torch.zeros(len(x), dtype=torch.long)
    return Candidates(runner, x, y, selected, "lines", chunk_rows=256)


def test_pixel_lines_hand_worked_knots():
    x = torch.zeros(2, 784, dtype=torch.float64)
    x[1, 0] = 0.7  # the clean value of the traced pixel does not matter: the line is t in [0, 1]
    lines = traced(knotted_net(784), x, [torch.arange(2)]).lines
    assert lines.n_lines == 2 * 784 and lines.n_pieces == 2 * (
        4 + 783
    )  # pixel 0: 4 pieces, others 1
    for image in range(2):
        first = int(torch.searchsorted(lines.key, torch.tensor(2.0 * image * 784)))
        starts = lines.key[first : first + 4] - 2.0 * image * 784
        torch.testing.assert_close(
            starts, torch.tensor([0, 0.25, 0.5, 7 / 12], dtype=torch.float64), rtol=0, atol=1e-8
        )
        u, slope = lines.table[first : first + 4, 0], lines.table[first : first + 4, 2]
        torch.testing.assert_close(u, torch.tensor([0.0, 0.0, 0.25, 0.0]), rtol=0, atol=1e-7)
        torch.testing.assert_close(slope, torch.tensor([0.0, 1.0, -3.0, 0.0]), rtol=0, atol=1e-7)
    t = torch.tensor([[0.0, 0.1, 0.25, 0.4, 0.5, 0.55, 7 / 12, 0.9, 1.0]], dtype=torch.float64)
    expected = (t - 0.25).clamp(min=0) - 4 * (t - 0.5).clamp(min=0)
    for image in range(2):
        logits = lines.logits(
            torch.tensor([0]), torch.tensor([image]), torch.zeros(1, 9, dtype=torch.long), t
        )
        torch.testing.assert_close(
            logits[0, :, 0].double(), expected.clamp(min=0)[0], rtol=0, atol=1e-7
        )
        torch.testing.assert_close(logits[0, :, 1], -logits[0, :, 0], rtol=0, atol=0)


def test_pixel_lines_equal_the_full_forward_pass():
    net = randomize(
        SparseDAGNet(to_dag(watts_strogatz(40, 2, 0.7, seed=3)), copies=3), seed=1, scale=0.2
    )
    with torch.no_grad():
        net.weight_in.mul_(3)  # one pixel moves the sources far: several pieces per line
    x, _ = images_and_labels(6, seed=12, high=0.1)  # dim images, like MNIST's background
    de = traced(net, x, [torch.tensor([4, 0, 5]), torch.tensor([1]), torch.tensor([2, 3])])
    assert de.lines.n_lines == 6 * 784 and de.lines.n_pieces > 4 * de.lines.n_lines
    g = torch.Generator().manual_seed(2)
    k, s = torch.tensor([0, 0, 0, 1, 2, 2]), torch.tensor([0, 1, 2, 0, 0, 1])
    pixel = torch.randint(0, 784, (6, 300), generator=g)
    value = torch.rand(6, 300, generator=g, dtype=torch.float64)
    value[:, :20], value[:, 20:40] = 0.0, 1.0
    # exactly on knots: the start of a random piece of each pair's lines
    for q in range(6):
        line = (int(k[q]) * de.lines.S + int(s[q])) * 784 + pixel[q, 40:60]
        first = torch.searchsorted(de.lines.key, line.double() * 2, right=False)
        last = torch.searchsorted(de.lines.key, line.double() * 2 + 1, right=True)
        piece = (
            first
            + ((last - first).double() * torch.rand(20, generator=g, dtype=torch.float64)).long()
        )
        value[q, 40:60] = de.lines.key[piece] - line.double() * 2
    value = value.float().double()  # the pixel values the model sees
    lookup = de.lines.logits(k, s, pixel, value)
    full = de.logits(k, s, pixel, value, forward=True)
    torch.testing.assert_close(lookup, full, rtol=0, atol=2e-5)


def test_pixel_lines_of_pruned_stacked_copies_are_the_tables_traced_before():
    # pinned from the tracing before SparseDAGNet.region_tracer (commit 119e07c): a running
    # study resumed with later code must read the same tables, to the bit
    from structrob.attacks._base import Runner
    from structrob.attacks._lines import PixelLines

    net, x, _ = stacked_pruned_net()
    selected = torch.stack([torch.arange(4), torch.arange(2, 6), torch.arange(5, 9)])
    with torch.no_grad():
        lines = PixelLines(Runner(net), x, selected, torch.ones(3, 4, dtype=torch.bool), 64)
    assert lines.n_pieces == 12661
    # exactly rounded sums (math.fsum): torch's sum splits long tensors by thread, so its
    # rounding depends on the thread count; the tables themselves do not
    assert math.fsum(lines.key[:-1].tolist()) == 114934046.40839845
    assert math.fsum(lines.table.double().flatten().tolist()) == 0.5585997949587149
    assert int(lines.cell.long().sum()) == 1972396138


def test_pixel_lines_refuse_a_line_that_never_ends(monkeypatch):
    from structrob.attacks._lines import PixelLines as _PixelLines

    monkeypatch.setattr(_PixelLines, "MAX_ROUNDS", 2)
    with pytest.raises(RuntimeError, match="path='rank1'"):
        traced(knotted_net(784), torch.zeros(1, 784, dtype=torch.float64), [torch.arange(1)])


def many_pieces_net(copies: int = 1) -> SparseDAGNet:
    """A random SparseDAGNet whose pixel lines cross several linear regions on dim images."""
    net = randomize(
        SparseDAGNet(to_dag(watts_strogatz(40, 2, 0.7, seed=3)), copies=copies), seed=1, scale=0.2
    )
    with torch.no_grad():
        net.weight_in.mul_(3)
    return net


def test_exact_one_pixel_hand_worked():
    net = knotted_net(784)
    with torch.no_grad():
        net.bias_out[0] = torch.tensor([0.0, 0.1])  # clean (t = 0): logits (0, 0.1), class 1
    x, y = torch.zeros(1, 784, dtype=torch.float64), torch.tensor([1])
    result = ExactOnePixel(n_images=None)(net, x, y)
    # u peaks at 1/4 for t = 1/2: logits (0.25, -0.15), the lowest class-1 probability of all
    assert result.success.tolist() == [True] and result.pred.tolist() == [0]
    assert result.pixel[0].tolist() == [0.0, 0.0, 127.5]
    assert float(result.confidence[0]) == pytest.approx(1 / (1 + math.exp(-0.4)), abs=1e-6)
    assert (
        int(result.n_queries[0]) == 5 + 783 * 2
    )  # pixel 0: 0, 1/4, 1/2, 7/12, 1; the others: 0, 1


def test_exact_one_pixel_beats_a_brute_force_grid():
    net = many_pieces_net()
    x, _ = images_and_labels(6, seed=12)
    with torch.no_grad():
        y = net(x).argmax(1)
    result = ExactOnePixel(n_images=None)(net, x, y)
    assert result.success.tolist() == [
        False,
        True,
        True,
        False,
        True,
        True,
    ]  # both kinds of verdict
    grid = torch.arange(257, dtype=torch.float32) / 256
    for i, image in enumerate(result.indices.tolist()):
        candidates = x[image].repeat(784 * 257, 1)
        candidates[torch.arange(784 * 257), torch.arange(784).repeat_interleave(257)] = grid.repeat(
            784
        )
        with torch.no_grad():
            p_true = torch.softmax(net(candidates).double(), 1)
        fooled = p_true.argmax(1) != y[image]
        assert bool(result.success[i]) == bool(fooled.any())  # the grid's verdict, exactly
        if not result.success[
            i
        ]:  # the reported change is the global minimum: no grid point is lower
            assert float(result.confidence[i]) <= float(p_true[:, y[image]].min()) + 1e-6
        with torch.no_grad():  # and the reported change is real
            own = torch.softmax(net(result.adv[i : i + 1]).double(), 1)[0, result.pred[i]]
        assert float(own) == pytest.approx(float(result.confidence[i]), abs=1e-6)


def test_exact_one_pixel_finds_everything_the_de_finds():
    net = many_pieces_net(copies=2)
    x, _ = images_and_labels(40, seed=13, high=0.1)
    with torch.no_grad():
        y = net(x)[0].argmax(1)
    exact = ExactOnePixel(n_images=20, seed=2)(net, x, y)
    de = OnePixel(pop_size=40, max_iter=30, n_images=20, seed=2)(net, x, y)
    assert sum(int(r.success.sum()) for r in de) > 0
    for e, d in zip(exact, de):
        assert torch.equal(e.indices, d.indices)
        assert bool((e.success | ~d.success).all())
        neither = ~e.success & ~d.success
        assert bool((e.confidence[neither] <= d.confidence[neither] + 1e-6).all())
    with pytest.raises(ValueError, match="linear_region"):
        ExactOnePixel()(linear_model(), *images_and_labels(3))


def test_log_odds_orders_candidates_like_the_true_class_probability():
    from structrob.attacks._base import log_odds as _log_odds

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 10, generator=g) * 3
    labels = torch.randint(0, 10, (200,), generator=g)
    p = torch.softmax(logits.double(), 1).gather(1, labels[:, None])[:, 0]
    torch.testing.assert_close(_log_odds(logits, labels), (p / (1 - p)).log(), rtol=1e-5, atol=1e-5)
    assert torch.equal(torch.argsort(_log_odds(logits, labels)), torch.argsort(p))
    # margins 40 and 45: p rounds to exactly 1.0 for both, the log-odds still tell them apart
    confident = torch.tensor([[40.0, 0.0, 0.0], [45.0, 0.0, 0.0]])
    assert torch.softmax(confident.double(), 1)[:, 0].tolist() == [1.0, 1.0]
    odds = _log_odds(confident, torch.tensor([0, 0]))
    torch.testing.assert_close(
        odds, torch.tensor([40 - math.log(2), 45 - math.log(2)], dtype=torch.float64)
    )


def test_one_pixel_path_choice_and_validation():
    net = SparseDAGNet(to_dag(watts_strogatz(20, 2, 0.5, seed=0)))
    assert OnePixel().resolve_path(net) == "lines"  # the study's budget
    assert OnePixel(pop_size=100, max_iter=20).resolve_path(net) == "rank1"  # tracing would not pay
    assert (
        OnePixel().resolve_path(Stacked(2)) == "rank1"
        and OnePixel().resolve_path(linear_model()) == "full"
    )
    assert OnePixel(path="full").resolve_path(net) == "full"
    x, y = images_and_labels(3)
    with pytest.raises(ValueError, match="path must be one of"):
        OnePixel(path="fast")
    with pytest.raises(ValueError, match="linear_region"):
        OnePixel(path="lines", pop_size=4, max_iter=1)(Stacked(1), x, y)
    with pytest.raises(ValueError, match="forward_from_input"):
        OnePixel(path="rank1", pop_size=4, max_iter=1)(linear_model(), x, y)


@pytest.mark.parametrize("path", ["lines", "rank1"])
def test_one_pixel_fast_paths_and_the_generic_path_agree(dag_net, path):
    net, x, y = dag_net
    fast = OnePixel(pop_size=30, max_iter=15, n_images=8, seed=3, path=path)(net, x, y)
    again = OnePixel(pop_size=30, max_iter=15, n_images=8, seed=3, path=path)(net, x, y)
    full = OnePixel(pop_size=30, max_iter=15, n_images=8, seed=3, path="full")(net, x, y)
    assert sum(int(r.success.sum()) for r in fast) > 0
    for a, b, c in zip(fast, full, again):
        assert torch.equal(a.pixel, c.pixel) and torch.equal(
            a.confidence, c.confidence
        )  # seeded, deterministic
        assert torch.equal(a.pixel, b.pixel) and torch.equal(a.iterations, b.iterations)
        assert torch.equal(a.success, b.success) and torch.equal(a.adv, b.adv)


@pytest.mark.parametrize("path", ["lines", "rank1"])
def test_one_pixel_copies_equal_single_models(dag_net, path):
    net, x, y = dag_net
    stacked = OnePixel(pop_size=30, max_iter=10, n_images=6, seed=1, path=path)(net, x, y)
    assert isinstance(stacked, list) and len(stacked) == 3
    for k in range(3):
        alone = OnePixel(pop_size=30, max_iter=10, n_images=6, seed=1, path=path)(net.copy(k), x, y)
        assert torch.equal(alone.indices, stacked[k].indices)
        assert torch.equal(alone.pixel, stacked[k].pixel) and torch.equal(
            alone.iterations, stacked[k].iterations
        )
        assert torch.equal(alone.success, stacked[k].success)


def test_one_pixel_is_seeded_and_independent_of_the_other_images():
    model = Stacked(1)
    x, _ = images_and_labels(12, seed=9)
    y = model(x).argmax(1)
    attack = OnePixel(pop_size=10, max_iter=6, n_images=None, seed=4)
    a, b = attack(model, x, y), attack(model, x, y)
    assert torch.equal(a.pixel, b.pixel) and torch.equal(a.iterations, b.iterations)
    part = attack(
        model, x[:5], y[:5]
    )  # the first five images keep their positions, so their streams
    assert torch.equal(part.pixel, a.pixel[:5]) and torch.equal(part.iterations, a.iterations[:5])
    other = OnePixel(pop_size=10, max_iter=6, n_images=None, seed=5)(model, x, y)
    assert not torch.equal(other.pixel, a.pixel)


def test_select_images_takes_the_first_correct_images_of_a_seeded_order():
    model = Stacked(2)
    x, _ = images_and_labels(40, seed=10)
    y = model(x)[0].argmax(1)
    order = torch.randperm(40, generator=torch.Generator().manual_seed(7))
    correct = model(x).argmax(-1) == y
    chosen = select_images(model, x, y, n=6, seed=7)
    for k in range(2):
        expected = sorted([int(i) for i in order if correct[k, i]][:6])  # reported ascending
        assert chosen[k].tolist() == expected
    result = OnePixel(pop_size=5, max_iter=1, n_images=6, seed=7)(model, x, y)
    assert [r.indices.tolist() for r in result] == [c.tolist() for c in chosen]


@pytest.mark.parametrize(
    "attack",
    [
        FGSM(eps=0.05),
        MinimalFGSM(max_eps=0.3),
        PGD(eps=0.05, step_size=0.02, steps=3, random_start=False),
        PGD(eps=0.05, step_size=0.02, steps=3),
    ],
)
def test_gradient_attack_field_i_is_image_i(attack):
    model = Stacked(1)
    x, _ = images_and_labels(24, seed=14)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[::4] = (y[::4] + 1) % 10  # clean mistakes, so clean_correct is not constant
    result = attack(model, x, y)
    with torch.no_grad():
        clean, adv = model(x).argmax(1), model(result.adv)
    assert torch.equal(result.clean_correct, clean == y)
    assert torch.equal(result.pred, adv.argmax(1))
    # the attack's logits come from batches of another shape (minimal eps: every candidate eps
    # at once), and MKL picks its float32 kernel by shape (with AVX-512, differently): they
    # agree with these to float32 rounding, not to the bit; another image's would not be close
    expected = torch.softmax(adv.double(), 1).amax(1)
    torch.testing.assert_close(result.confidence, expected, rtol=1e-5, atol=1e-6)
    budget = attack.max_eps if isinstance(attack, MinimalFGSM) else attack.eps
    assert bool(((result.adv - x).abs().amax(1) <= budget + 1e-6).all())
    assert result.success.any() and not result.success.all()
    if isinstance(attack, PGD) and attack.random_start:
        return  # the random start is drawn in input order: a permutation changes it
    perm = torch.randperm(24, generator=torch.Generator().manual_seed(0))
    permuted = attack(
        model, x[perm], y[perm]
    )  # image i moves to row perm^-1[i], and its result with it
    assert torch.equal(permuted.adv, result.adv[perm]) and torch.equal(
        permuted.pred, result.pred[perm]
    )
    assert torch.equal(permuted.success, result.success[perm])
    if result.eps is not None:
        np.testing.assert_array_equal(permuted.eps.numpy(), result.eps.numpy()[perm])


@pytest.mark.parametrize("exact", [False, True])
def test_one_pixel_indices_are_ascending_and_adv_is_that_image_with_one_pixel_set(dag_net, exact):
    net, x, y = dag_net
    y = y.clone()
    y[::5] = (y[::5] + 1) % 10  # clean mistakes, never selected
    if exact:
        attack, every = ExactOnePixel(n_images=12, seed=4), ExactOnePixel(n_images=None, seed=4)
    else:
        attack = OnePixel(pop_size=20, max_iter=5, n_images=12, seed=4)
        every = OnePixel(pop_size=20, max_iter=5, n_images=None, seed=4)
    results, all_correct = attack(net, x, y), every(net, x, y)
    with torch.no_grad():
        correct = net(x).argmax(-1) == y
    assert max(len(r.indices) for r in results) == 12  # premise: a copy right on more than 12
    for k, (r, a) in enumerate(zip(results, all_correct)):
        assert len(r.indices) == min(12, int(correct[k].sum())) and bool(
            (r.indices.diff() > 0).all()
        )
        assert bool(correct[k, r.indices].all())
        assert torch.equal(a.indices, correct[k].nonzero().flatten())
        changed = r.adv != x[r.indices]
        assert bool((changed.sum(1) <= 1).all())
        pixel = (r.pixel[:, 0] * 28 + r.pixel[:, 1]).long()
        assert bool(changed.gather(1, pixel[:, None]).sum() == changed.sum())  # the reported pixel
        torch.testing.assert_close(
            r.adv.gather(1, pixel[:, None])[:, 0], (r.pixel[:, 2] / 255).float()
        )
        with torch.no_grad():
            assert torch.equal(r.pred, net.copy(k)(r.adv).argmax(1))
        # an image's search depends on that image alone: the same in a subset as among all
        at = torch.searchsorted(a.indices, r.indices)
        assert torch.equal(a.indices[at], r.indices)
        assert torch.equal(a.success[at], r.success) and torch.equal(a.iterations[at], r.iterations)
        if exact:  # the line tables key pieces by slot: a piece end's t may move by float rounding
            torch.testing.assert_close(a.pixel[at], r.pixel, rtol=0, atol=1e-6)
        else:  # the DE streams are seeded by image index, not by slot
            assert torch.equal(a.pixel[at], r.pixel) and torch.equal(a.adv[at], r.adv)


def test_attacks_leave_inputs_and_the_model_untouched():
    model = Stacked(1)
    model.train()
    x, _ = images_and_labels(6, seed=11)
    y = model(x).argmax(1)
    x_before, y_before = x.clone(), y.clone()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for attack in (
        FGSM(),
        MinimalFGSM(),
        PGD(steps=2),
        OnePixel(pop_size=5, max_iter=2, n_images=3),
    ):
        result = attack(model, x, y)
        assert isinstance(result, AttackResult)
    assert torch.equal(x, x_before) and torch.equal(y, y_before) and model.training
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


# -- stacked SparseDAGNet ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "attack", [FGSM(eps=0.05), MinimalFGSM(max_eps=0.3), PGD(eps=0.05, step_size=0.02, steps=3)]
)
def test_gradient_attacks_on_copies_equal_single_models(dag_net, attack):
    net, x, y = dag_net
    stacked = attack(net, x, y)
    assert len(stacked) == 3
    for k in range(3):
        alone = attack(net.copy(k), x, y)
        torch.testing.assert_close(stacked[k].adv, alone.adv, atol=1e-6, rtol=0)
        assert torch.equal(stacked[k].pred, alone.pred) and torch.equal(
            stacked[k].clean_correct, alone.clean_correct
        )
        if alone.eps is not None:
            np.testing.assert_array_equal(stacked[k].eps.numpy(), alone.eps.numpy())
    assert any(r.success.any() for r in stacked)


def test_measures_of_an_attack_follow_their_definition(dag_net):
    net, x, y = dag_net
    result = FGSM(eps=0.1)(net, x, y)[1]
    m = result.measures()
    assert m["n_correct"] == int(result.clean_correct.sum())
    assert m["error_rate"] == int((result.success & result.clean_correct).sum()) / m["n_correct"]
    if m["n_success"]:
        assert m["avg_confidence"] == pytest.approx(float(result.confidence[result.success].mean()))
        assert (result.pred[result.success] != y[result.success]).all()
    assert math.isnan(m["avg_confidence"]) == (m["n_success"] == 0)


def test_de_partners_are_distinct_uniform_and_never_the_member_itself():
    from structrob.attacks._de import distinct_others as _distinct_others

    u = torch.rand(4000, 5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    r = _distinct_others(u)  # population of 5: member i draws 3 of the 4 others
    member = torch.arange(5)[None, :, None]
    assert (r != member).all() and (r >= 0).all() and (r < 5).all()
    assert (
        (r[..., 0] != r[..., 1]).all()
        and (r[..., 0] != r[..., 2]).all()
        and (r[..., 1] != r[..., 2]).all()
    )
    for slot in range(3):  # each other member equally likely in every slot: 1/4
        counts = torch.stack(
            [(r[:, i, slot] == j).float().mean() for i in range(5) for j in range(5) if j != i]
        )
        assert (counts - 0.25).abs().max() < 0.04


@pytest.mark.parametrize("path", ["auto", "lines"])
def test_one_pixel_with_no_correct_image_returns_an_empty_result(path):
    model = (
        SparseDAGNet(to_dag(watts_strogatz(20, 2, 0.5, seed=0)))
        if path == "lines"
        else linear_model()
    )
    x, _ = images_and_labels(6)
    with torch.no_grad():
        logits = model(x)
    wrong = (logits.argmax(1) + 1) % logits.shape[1]
    result = OnePixel(pop_size=5, max_iter=2, n_images=3, path=path)(model, x, wrong)
    assert len(result.indices) == 0 and result.adv.shape == (0, 784)
    assert result.measures()["n_correct"] == 0 and math.isnan(result.measures()["error_rate"])


def test_dense_tracing_gives_the_tables_and_outcomes_of_the_csr_tracing(monkeypatch):
    # RegionTracer traces networks of dense layers with dense products: the same tables to
    # rounding, and the same One-Pixel outcomes, as the CSR products it uses for graph priors
    from structrob import pruning
    from structrob.attacks._base import Runner
    from structrob.attacks._lines import PixelLines
    from structrob.model import RegionTracer

    monkeypatch.setattr(RegionTracer, "DENSE_MIN_ENTRIES", 0)  # a small net, quick to trace
    net = randomize(SparseDAGNet(pruning.dense_layered_dag([10, 20, 20, 10]), copies=2), seed=3)
    pruning.prune_random(net, 0.3, seed=1, per_copy=True)
    with torch.no_grad():
        net.weight_in.mul_(3)  # one pixel moves the sources far: attacks that succeed
    x, _ = images_and_labels(20, seed=4, high=0.1)
    y = net(x)[0].argmax(1)
    assert net.region_tracer().dense == [True, True]
    selected = torch.stack([torch.arange(2), torch.arange(1, 3)])
    valid = torch.ones(2, 2, dtype=torch.bool)

    def outcomes():
        with torch.no_grad():
            lines = PixelLines(Runner(net), x, selected, valid, 1024)
        attack = OnePixel(pop_size=20, max_iter=6, n_images=4, seed=2, path="lines")
        return lines, attack(net, x, y)

    dense_lines, dense_results = outcomes()
    monkeypatch.setattr(RegionTracer, "DENSE_FROM", 2.0)  # every copy on the CSR path
    assert net.region_tracer().dense == [False, False]
    csr_lines, csr_results = outcomes()
    assert dense_lines.n_pieces == csr_lines.n_pieces > dense_lines.n_lines
    torch.testing.assert_close(dense_lines.key, csr_lines.key, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dense_lines.table, csr_lines.table, rtol=1e-5, atol=1e-6)
    assert torch.equal(dense_lines.cell, csr_lines.cell)
    assert sum(int(r.success.sum()) for r in csr_results) > 0
    for a, b in zip(dense_results, csr_results):
        assert torch.equal(a.indices, b.indices) and torch.equal(a.success, b.success)
        assert torch.equal(a.pixel, b.pixel) and torch.equal(a.iterations, b.iterations)


def _same_measures(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[key] == b[key] or (a[key] != a[key] and b[key] != b[key])
        for key in a  # NaN == NaN
    )


def _skip_settings(study: bool) -> dict:
    if study:
        return {**OnePixel.STUDY_SETTINGS, "pop_size": 24, "max_iter": 15, "path": "lines"}
    return {"pop_size": 24, "max_iter": 15, "path": "lines"}


@pytest.mark.parametrize("study", [False, True])
def test_one_pixel_skip_proven_keeps_every_success_exactly(study):
    """Skipping the images the tables prove robust changes no success and no measure."""
    net = many_pieces_net(copies=2)
    x, _ = images_and_labels(60, seed=13, high=0.1)
    with torch.no_grad():
        y = net(x)[0].argmax(1)
    settings = {**_skip_settings(study), "n_images": 12, "seed": 2}
    full = OnePixel(**settings)(net, x, y)
    skip = OnePixel(**settings, skip_proven=True)(net, x, y)
    exact = ExactOnePixel(n_images=12, seed=2)(net, x, y)
    n_skipped = n_success = 0
    for f, s, e in zip(full, skip, exact):
        assert torch.equal(f.indices, s.indices) and torch.equal(f.success, s.success)
        hit = f.success
        for name in ("pixel", "pred", "confidence", "iterations", "n_queries", "adv"):
            assert torch.equal(getattr(f, name)[hit], getattr(s, name)[hit]), name
        skipped = (s.iterations == 0) & ~s.success  # a failed search ran all its generations
        # a skipped image is one no one-pixel change fools, by the complete search
        assert not bool((skipped & e.success).any())
        # it reports the complete search's lowest true-class probability, decoded as the
        # attack's candidates (integer intensities for the study: at or above that minimum)
        if study:
            assert bool((s.confidence[skipped] >= e.confidence[skipped] - 1e-6).all())
        else:
            torch.testing.assert_close(s.confidence[skipped], e.confidence[skipped])
        assert bool((s.n_queries[skipped] > 784).all())
        # searched failures: the same search, so the same fittest candidate; its confirming
        # forward pass runs in another batch, so its confidence agrees to float rounding
        same = ~skipped
        assert torch.equal(f.pixel[same], s.pixel[same])
        assert torch.equal(f.iterations[same], s.iterations[same])
        torch.testing.assert_close(f.confidence[same], s.confidence[same], rtol=1e-5, atol=1e-7)
        assert _same_measures(f.measures(), s.measures())
        n_skipped += int(skipped.sum())
        n_success += int(hit.sum())
    # the test means something only if both kinds of image occur
    assert n_skipped > 0 and n_success > 0


def test_proven_robust_pairs_are_never_fooled_and_its_band_is_conservative():
    """Proven rows have no misclassified piece end with room to spare; a wider band proves
    fewer rows, and a band of 0 proves exactly the rows the complete search does not fool."""
    from structrob.attacks._base import Runner
    from structrob.attacks._candidates import Candidates
    from structrob.attacks.selection import clean_correct, select

    net = many_pieces_net(copies=2)
    x, _ = images_and_labels(60, seed=13, high=0.1)
    with torch.no_grad():
        y = net(x)[0].argmax(1)
    runner = Runner(net)
    selected = select(clean_correct(runner, x, y, 8192), 12, 2)
    candidates = Candidates(runner, x, y, selected, "lines", 8192)
    exact = ExactOnePixel(n_images=12, seed=2)(net, x, y)
    fooled = torch.cat([e.success for e in exact])
    proven = candidates.proven_robust()
    none = candidates.proven_robust(tolerance=0.0)
    wide = candidates.proven_robust(tolerance=0.03)
    assert bool((proven <= none).all()) and bool((wide <= proven).all())
    # tolerance 0 proves exactly the pairs the complete search does not fool (here: no piece
    # end is misclassified by the table yet rejected by the confirming forward pass)
    assert len(proven) == len(fooled) and int(none.sum()) == len(fooled) - int(fooled.sum())
    assert 0 < int(wide.sum()) < int(proven.sum())  # the band matters, the test can fail


def test_one_pixel_skip_proven_searches_every_image_without_the_line_tables():
    x, _ = images_and_labels(12, seed=9)
    model = linear_model(n_out=3, scale=0.3)
    y = model(x).argmax(1).detach()
    plain = OnePixel(pop_size=10, max_iter=6, n_images=None, seed=4)(model, x, y)
    skip = OnePixel(pop_size=10, max_iter=6, n_images=None, seed=4, skip_proven=True)(model, x, y)
    for field in ("success", "pixel", "iterations", "confidence", "n_queries"):
        assert torch.equal(getattr(plain, field), getattr(skip, field)), field
    assert bool((skip.iterations > 0).all())  # nothing was skipped
    with pytest.raises(TypeError, match="skip_proven must be True or False"):
        OnePixel(skip_proven=1)
    assert "skip_proven=True" in repr(OnePixel(skip_proven=True))
    assert "skip_proven" not in repr(OnePixel())
