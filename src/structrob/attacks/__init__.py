"""Adversarial attacks on (stacked) MNIST classifiers: FGSM, minimal FGSM, PGD, One-Pixel.

Attacks are configured once and called like torchattacks: ``attack(model, images, labels)``
with pixels in [0, 1] (``[N, 784]`` or ``[N, 1, 28, 28]``) and integer labels ``[N]``. Every
call puts the model in eval mode and restores each submodule's mode afterwards, never modifies
the caller's tensors or the model's ``.grad``, runs on the device of the model's parameters
(CPU for a model without any) and returns an :class:`AttackResult` whose tensors are on the
CPU. Its fields line up with the caller's images: entry i belongs to ``images[i]``, or, for the
one-pixel attacks, which attack a seeded subset, to ``images[indices[i]]`` (``indices``
ascending).

A model holding ``K = model.copies > 1`` stacked copies (:class:`structrob.model.SparseDAGNet`)
is attacked per copy in one call and gives a list of K results, each equal to attacking that
copy alone. The generic path needs only ``model(x) -> logits [B, C]`` (K == 1) or, for K > 1,
``model(x [B, 784]) -> [K, B, C]`` and ``model(x [K, B, 784]) -> [K, B, C]`` (copy k reads
``x[k]``). One-Pixel additionally uses ``model.input_layer()`` with
``model.linear_region(pre0, direction)`` (exact pixel-line tables) or with
``model.forward_from_input(pre0)`` (the rank-1 first-layer path) when present.

Measures (error rate, average confidence, average eps) are computed by
:mod:`structrob.robustness` from the result (``result.measures()``).

One public attack per module: :mod:`~structrob.attacks.fgsm`,
:mod:`~structrob.attacks.min_fgsm`, :mod:`~structrob.attacks.pgd`,
:mod:`~structrob.attacks.onepixel`, :mod:`~structrob.attacks.exact_onepixel`, and
:mod:`~structrob.attacks.selection` for the images the one-pixel attacks take. Private modules
hold what they share: ``_base`` (the result, the model adapter, input checks and the base class
whose ``__call__`` every attack uses), ``_gradients``, ``_candidates`` (the one evaluator of
one-pixel changes, for the DE and the exhaustive search), ``_de`` (the DE engine;
``_de.minimize`` runs it on any objective over the One-Pixel box) and ``_lines``.

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
.. [2] I. J. Goodfellow, J. Shlens, C. Szegedy, "Explaining and harnessing adversarial
   examples", ICLR 2015.
.. [3] J. Su, D. V. Vargas, K. Sakurai, "One pixel attack for fooling deep neural networks",
   IEEE Transactions on Evolutionary Computation 23(5), 2019.
.. [4] R. Storn, K. Price, "Differential evolution - a simple and efficient heuristic for
   global optimization over continuous spaces", Journal of Global Optimization 11, 1997.
.. [5] A. Kurakin, I. Goodfellow, S. Bengio, "Adversarial examples in the physical world",
   ICLR workshop 2017.
.. [6] A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, "Towards deep learning models
   resistant to adversarial attacks", ICLR 2018.

Examples
--------
>>> import torch
>>> from structrob import attacks
>>> model = torch.nn.Linear(784, 10)
>>> images = torch.rand(6, 784)
>>> labels = model(images).argmax(1).detach()
>>> [type(a(model, images, labels)).__name__ for a in (attacks.FGSM(), attacks.PGD(steps=2))]
['AttackResult', 'AttackResult']
"""

from structrob.attacks._base import AttackResult
from structrob.attacks.exact_onepixel import ExactOnePixel
from structrob.attacks.fgsm import FGSM
from structrob.attacks.min_fgsm import MinimalFGSM, eps_grid
from structrob.attacks.onepixel import OnePixel
from structrob.attacks.pgd import PGD
from structrob.attacks.selection import select_images

__all__ = [
    "FGSM",
    "PGD",
    "AttackResult",
    "ExactOnePixel",
    "MinimalFGSM",
    "OnePixel",
    "eps_grid",
    "select_images",
]
