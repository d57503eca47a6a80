"""Non-targeted one-pixel attack by differential evolution (Su et al.), batched over images."""

from __future__ import annotations

from torch import Tensor, nn

from structrob.attacks._base import N_PIXELS, Attack, AttackResult, Runner
from structrob.attacks._candidates import Candidates
from structrob.attacks._de import STRATEGIES, DifferentialEvolution
from structrob.attacks.selection import clean_correct, select
from structrob.validation import check_int, check_number


class OnePixel(Attack):
    """Non-targeted one-pixel attack by differential evolution (Su et al. [3]_), batched.

    A candidate is ``(row, col, intensity)``: coordinates are continuous in [0, 28] (the pixel
    is ``(min(floor(row), 27), min(floor(col), 27))``), intensity in [0, 255] (the pixel is
    set to ``intensity / 255``). The initial population draws coordinates uniformly and
    intensity from N(128, 127) clipped to [0, 255]. Fitness, minimised: softmax probability p
    of the true class, evaluated as its log-odds ``log(p / (1 - p))`` (strictly increasing in
    p, so every comparison and hence the search is the same, but it does not round to a tie
    between confident candidates as p does). Strategies [4]_:

    - ``"rand1"`` (Su et al.): ``trial_i = x_r1 + F (x_r2 - x_r3)``, no crossover;
    - ``"best1bin"``: ``mutant_i = x_best + F (x_r1 - x_r2)``, binomial crossover with the
      parent (each coordinate from the mutant with probability ``crossover``, one coordinate
      always);

    with r1, r2, r3 distinct and != i, trials clipped to the bounds, and greedy selection
    (the trial replaces its parent when its fitness is <= the parent's), all trials of a
    generation evaluated before any replacement. An image stops as soon as ANY evaluated
    candidate (initial population included) is misclassified; that candidate (the lowest
    true-class probability among those misclassified) is confirmed by a plain forward pass of
    the modified image. A candidate the confirmation rejects (float rounding only) is not a
    success and the search goes on.

    Every active image's whole population is evaluated in one batch per generation and fooled
    images drop out. How a candidate's logits are computed (``path``):

    - ``"lines"``: a one-pixel change moves the input along a line, and a ReLU network is
      piecewise affine along any line. For a model with ``input_layer()`` and
      ``linear_region()`` (:class:`structrob.model.SparseDAGNet`) each (image, pixel) line is
      traced once, piece by piece, in float64 (about 6 pieces per line for the study's
      networks), and every candidate is then read off that table: a look-up and one
      ``C``-wide multiply-add, exact up to float32 rounding of the stored logits. The table
      holds about ``images x 784 x pieces x 88`` bytes per copy (some 40 MB for 100 images).
    - ``"rank1"``: for a model with ``input_layer()`` and ``forward_from_input()`` the first
      pre-activation of a candidate is the clean one plus ``W1[:, pixel] * (new - old)``
      (no 784-wide product), then the rest of the network runs per candidate.
    - ``"full"``: a forward pass of every modified image, for any model.
    - ``"auto"`` (default): ``"lines"`` when available and the budget
      ``pop_size * (max_iter + 1)`` is at least ``LINES_MIN_QUERIES`` (40 x 784) candidates
      per image, where tracing pays for itself; else ``"rank1"`` when available, else
      ``"full"`` (:meth:`resolve_path`).

    Whatever the path, every success is confirmed by a plain forward pass.

    Parameters
    ----------
    pop_size : int
        Population per image (study: 500); >= 4 for ``rand1``, >= 3 for ``best1bin``.
    max_iter : int
        Most generations after the initial population (study: 500).
    seed : int
        Seeds the image order and each image's DE. Image i (its position in ``images``) draws
        from its own CPU generator seeded from ``(seed, i)``, so its result does not depend on
        which other images or copies are attacked, the batch, or the device's RNG.
    n_images : int or None
        Per copy, attack the first ``n_images`` correctly classified images of a permutation of
        ``images`` drawn from ``seed`` (:func:`structrob.attacks.select_images`; study: 100 of
        the test set). None: every correctly classified image.
    strategy : {"rand1", "best1bin"}
    mutation : float
        F, in (0, 2].
    crossover : float
        CR of ``best1bin``, in [0, 1] (unused by ``rand1``).
    path : {"auto", "lines", "rank1", "full"}
        How candidates are evaluated (above); all give the same search up to float rounding.
    chunk_rows : int
        Most rows (candidates x copies) per forward pass; the line tracing takes
        ``chunk_rows // 4`` lines per copy per pass.

    Returns
    -------
    AttackResult
        Fields refer to the images attacked: entry i to ``images[indices[i]]``, ``indices``
        ascending. Every one of them is clean-correct, so ``measures()["n_correct"]`` is the
        number attacked and ``error_rate`` the fraction fooled. ``pixel``, ``iterations``,
        ``n_queries`` as documented there; ``eps`` is None.

    References
    ----------
    .. [3] Su et al., 2019 (see :mod:`structrob.attacks`).
    .. [4] Storn and Price, 1997 (see :mod:`structrob.attacks`).

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Linear(784, 10)
    >>> images = torch.rand(20, 784)
    >>> labels = model(images).argmax(1).detach()
    >>> result = OnePixel(pop_size=20, max_iter=5, n_images=3, seed=1)(model, images, labels)
    >>> result.indices.shape, result.n_queries.max() <= 20 * 6
    (torch.Size([3]), tensor(True))
    >>> bool((result.indices.diff() > 0).all())  # ascending
    True
    """

    STRATEGIES = STRATEGIES
    PATHS = ("auto", "lines", "rank1", "full")
    # "auto" tabulates the pixel lines when a search may evaluate at least this many candidates
    # per image; tracing costs about as much as evaluating 10-30 candidates per pixel
    LINES_MIN_QUERIES = 40 * N_PIXELS

    def __init__(
        self,
        pop_size: int = 500,
        max_iter: int = 500,
        seed: int = 0,
        n_images: int | None = 100,
        strategy: str = "rand1",
        mutation: float = 0.5,
        crossover: float = 0.7,
        path: str = "auto",
        chunk_rows: int = 8192,
    ) -> None:
        if strategy not in self.STRATEGIES:
            raise ValueError(f"strategy must be one of {self.STRATEGIES}, got {strategy!r}")
        self.strategy = strategy
        self.pop_size = check_int("pop_size", pop_size, 4 if strategy == "rand1" else 3)
        self.max_iter = check_int("max_iter", max_iter, 0)
        self.seed = check_int("seed", seed, 0)
        self.n_images = None if n_images is None else check_int("n_images", n_images, 1)
        self.mutation = check_number("mutation", mutation, 0.0, 2.0, low_open=True)
        self.crossover = check_number("crossover", crossover, 0.0, 1.0)
        if path not in self.PATHS:
            raise ValueError(f"path must be one of {self.PATHS}, got {path!r}")
        self.path = path
        self.chunk_rows = check_int("chunk_rows", chunk_rows, 1)

    def __repr__(self) -> str:
        return (
            f"OnePixel(pop_size={self.pop_size}, max_iter={self.max_iter}, seed={self.seed}, "
            f"n_images={self.n_images}, strategy={self.strategy!r}, path={self.path!r})"
        )

    def resolve_path(self, model: nn.Module) -> str:
        """The evaluation path a call on ``model`` takes: ``path`` itself unless it is "auto".

        For ``path="auto"``: ``"lines"`` if ``model`` has ``input_layer()`` and
        ``linear_region()`` and the budget ``pop_size * (max_iter + 1)`` reaches
        ``LINES_MIN_QUERIES`` candidates per image; otherwise ``"rank1"`` if it has
        ``input_layer()`` and ``forward_from_input()``; otherwise ``"full"``. An explicit path
        is returned as given; a call refuses it if the model lacks what it needs.

        Parameters
        ----------
        model : torch.nn.Module

        Returns
        -------
        {"lines", "rank1", "full"}

        Examples
        --------
        >>> import torch
        >>> OnePixel().resolve_path(torch.nn.Linear(784, 10))
        'full'
        >>> OnePixel(path="rank1").resolve_path(torch.nn.Linear(784, 10))
        'rank1'
        """
        return self._resolve(Runner(model))

    def _resolve(self, runner: Runner) -> str:
        if self.path != "auto":
            return self.path
        if runner.has_lines and self.pop_size * (self.max_iter + 1) >= self.LINES_MIN_QUERIES:
            return "lines"
        return "rank1" if runner.has_rank1 else "full"

    def _check_model(self, runner: Runner) -> None:
        if self.path == "rank1" and not runner.has_rank1:
            raise ValueError(
                "path='rank1' needs a model with input_layer() and forward_from_input(); "
                "use path='auto'"
            )
        if self.path == "lines" and not runner.has_lines:
            raise ValueError(
                "path='lines' needs a model with input_layer() and linear_region(); use path='auto'"
            )

    def _attack(self, runner: Runner, x: Tensor, y: Tensor) -> list[AttackResult]:
        selected = select(clean_correct(runner, x, y, self.chunk_rows), self.n_images, self.seed)
        candidates = Candidates(runner, x, y, selected, self._resolve(runner), self.chunk_rows)
        search = DifferentialEvolution(
            candidates,
            pop_size=self.pop_size,
            max_iter=self.max_iter,
            seed=self.seed,
            strategy=self.strategy,
            mutation=self.mutation,
            crossover=self.crossover,
        )
        return search.run()
