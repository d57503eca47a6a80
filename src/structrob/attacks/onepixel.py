"""Non-targeted one-pixel attack by differential evolution (Su et al.), batched over images."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from structrob.attacks._base import N_PIXELS, Attack, AttackResult, Runner
from structrob.attacks._candidates import Candidates, Outcome
from structrob.attacks._de import (
    EARLY_STOPS,
    OUT_OF_BOUNDS,
    SELECTIONS,
    STRATEGIES,
    DifferentialEvolution,
    Settings,
)
from structrob.attacks.selection import clean_correct, select
from structrob.seeds import derive_seed
from structrob.validation import check_int


class OnePixel(Attack):
    """Non-targeted one-pixel attack by differential evolution (Su et al. [3]_), batched.

    A candidate is ``(row, col, intensity)``. By default coordinates are continuous in
    [0, 28] (the pixel is ``(min(floor(row), 27), min(floor(col), 27))``), intensity in
    [0, 255] (the pixel is set to ``intensity / 255``). The initial population draws
    coordinates uniformly in [0, 28) and intensity from N(128, 127), clipped to the box.
    Fitness, minimised: softmax probability p of the true class, evaluated as its log-odds
    ``log(p / (1 - p))`` (strictly increasing in p, so every comparison and hence the search is
    the same, but it does not round to a tie between confident candidates as p does).
    Strategies [4]_:

    - ``"rand1"`` (Su et al.): ``trial_i = x_r1 + F (x_r2 - x_r3)``, no crossover;
    - ``"best1bin"``: ``mutant_i = x_best + F (x_r1 - x_r2)``, binomial crossover with the
      parent (each coordinate from the mutant with probability ``recombination``, one
      coordinate, drawn uniformly, always);

    with r1, r2, r3 distinct and != i and x_best the fittest member (lowest index among
    ties). All trials of a generation are built from the population at its start and
    evaluated before any replacement (scipy's ``updating="deferred"``); a trial replaces its
    parent by ``selection``. By default an image stops as soon as ANY evaluated candidate
    (initial population included) is misclassified; that candidate (the lowest true-class
    probability among those misclassified) is confirmed by a plain forward pass of the
    modified image. A candidate the confirmation rejects (float rounding only) is not a
    success and the search goes on.

    **The study's own procedure.** The study's code (mehdibenamorr/Adv_attacks_Framework,
    ``utils/attacks.py`` ``one_pixel`` with its copy of scipy's ``differential_evolution`` in
    ``utils/differential_evolution.py``) ran best1bin with F dithered in U[0.5, 1) per
    generation, recombination 1, no polishing, ``atol=-1`` (so no tolerance stop), bounds
    ``[(0, 27), (0, 27), (0, 255)]``, an initial population of ``3 * int(500 / 3) = 498``
    members (scipy's ``popsize`` multiplies the number of parameters; the study's "500" ran as
    498) drawn as above and clipped to the bounds, candidates truncated to integers
    (``astype(int)``; pixel ``(row, col)`` set to ``i / 255`` before normalisation), and
    stopped when the CURRENT BEST candidate is misclassified, checked after each generation
    (scipy's ``callback``). ``OnePixel(**OnePixel.STUDY_SETTINGS)`` runs that procedure (with
    the log-odds fitness: the study minimised the float32 probability, whose ties between
    confident candidates stop replacements there). Facts of scipy's versions behind each
    option: :class:`structrob.attacks._de.Settings`.

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

    Whatever the path, every success is confirmed by a plain forward pass. Evaluation is
    deterministic, so a candidate is not evaluated twice where that is cheap to see: a trial
    that sets the same pixel to the same value as its parent takes the parent's fitness (late
    in a search most do), a generation's equal candidates (``"lines"``) are evaluated once,
    and with ``integer_candidates``, where an image has only 784 x 256 distinct candidates,
    each one's fitness is computed when the search first meets it and then looked up (a
    float32 table of 0.8 MB per attacked image and copy). None of this changes the search.

    Parameters
    ----------
    pop_size : int
        Population per image (study: 500, which its code ran as 498); >= 4 for ``rand1``,
        >= 3 for ``best1bin``.
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
    mutation : float or (float, float)
        F, in (0, 2]; or ``(low, high)`` with ``0 < low < high <= 2`` to dither: each image's
        search draws a new F ~ U[low, high) per generation, as scipy does (study: (0.5, 1)).
    recombination : float
        Crossover probability CR of ``best1bin``, in [0, 1] (study: 1; unused by ``rand1``).
    integer_candidates : bool
        False (default): continuous candidates as above. True: the study's encoding: the box is
        ``[0, 27] x [0, 27] x [0, 255]`` and every candidate is decoded by truncation to integer
        row and column 0..27 and intensity 0..255 (so 27 and 255 are reached only at the
        exact upper bound, as in the study); ``AttackResult.pixel`` reports the integers.
    out_of_bounds : {"clip", "resample"}
        A trial coordinate outside the box is clipped to it (default) or redrawn uniformly
        within its bounds (scipy, every version, and the study).
    selection : {"greedy", "strict", "study"}
        A trial replaces its parent when its fitness is ``<=`` the parent's (``"greedy"``,
        default; scipy 1.17), ``<`` (``"strict"``; scipy 1.2/1.3), or ``<`` with the study's
        bookkeeping (``"study"``: member 0 holds the best, and a trial that beats it is also
        copied over member 0, as the study's copy of scipy does).
    early_stop : {"any", "best"}
        Stop an image when any evaluated candidate is misclassified (default; Su et al.'s
        "any" reading), or when the fittest member is, checked after each generation and not
        on the initial population (``"best"``: scipy's callback, the study; with
        ``max_iter=0`` the initial population's fittest member is checked).
    path : {"auto", "lines", "rank1", "full"}
        How candidates are evaluated (above); all give the same search up to float rounding.
    skip_proven : bool
        False (default): every attacked image runs its search. True: on the ``"lines"`` path
        (on others every image is searched, as with False), the line tables first decide
        which images no candidate can misclassify
        (:meth:`~structrob.attacks._candidates.Candidates.proven_robust`: the largest rival
        margin at every piece end of every pixel line is clearly negative, as
        :class:`ExactOnePixel` reads them), and only the other images are searched. A search
        that cannot succeed is not run, so ``success``, and ``pred``, ``confidence``,
        ``pixel``, ``iterations`` and ``n_queries`` of every success, are those of the full
        run exactly (each image's search draws from its own stream, so the others' do not
        change), and so are the error rate and the average confidence over successes
        (:func:`structrob.robustness.measures`), all a study stores. A skipped image reports,
        instead of its search's fittest candidate, the piece end of lowest true-class
        probability (decoded as the attack's candidates are: with ``integer_candidates``, its
        intensity truncated), ``iterations`` 0 and ``n_queries`` the number of piece ends.
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
    >>> study = OnePixel(**{**OnePixel.STUDY_SETTINGS, "max_iter": 5, "n_images": 3})
    >>> pixel = study(model, images, labels).pixel
    >>> bool((pixel == pixel.floor()).all())  # integer candidates
    True
    """

    STRATEGIES = STRATEGIES
    SELECTIONS = SELECTIONS
    OUT_OF_BOUNDS = OUT_OF_BOUNDS
    EARLY_STOPS = EARLY_STOPS
    # the search's keywords, as Settings holds them
    KEYWORDS = (
        "pop_size",
        "max_iter",
        "strategy",
        "mutation",
        "recombination",
        "integer_candidates",
        "out_of_bounds",
        "selection",
        "early_stop",
    )
    # the procedure of the study's code (see the class docstring); images and seed left as given
    STUDY_SETTINGS: dict[str, Any] = {
        "pop_size": 498,
        "max_iter": 500,
        "strategy": "best1bin",
        "mutation": (0.5, 1.0),
        "recombination": 1.0,
        "integer_candidates": True,
        "out_of_bounds": "resample",
        "selection": "study",
        "early_stop": "best",
    }
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
        mutation: float | tuple[float, float] = 0.5,
        recombination: float = 0.7,
        integer_candidates: bool = False,
        out_of_bounds: str = "clip",
        selection: str = "greedy",
        early_stop: str = "any",
        path: str = "auto",
        chunk_rows: int = 8192,
        skip_proven: bool = False,
    ) -> None:
        self.settings = Settings(
            pop_size=pop_size,
            max_iter=max_iter,
            strategy=strategy,
            mutation=mutation,
            recombination=recombination,
            integer_candidates=integer_candidates,
            out_of_bounds=out_of_bounds,
            selection=selection,
            early_stop=early_stop,
        )
        for name in self.KEYWORDS:
            setattr(self, name, getattr(self.settings, name))
        self.seed = check_int("seed", seed, 0)
        self.n_images = None if n_images is None else check_int("n_images", n_images, 1)
        if path not in self.PATHS:
            raise ValueError(f"path must be one of {self.PATHS}, got {path!r}")
        self.path = path
        self.chunk_rows = check_int("chunk_rows", chunk_rows, 1)
        if not isinstance(skip_proven, bool):
            raise TypeError(f"skip_proven must be True or False, got {skip_proven!r}")
        self.skip_proven = skip_proven

    def __repr__(self) -> str:
        search = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.KEYWORDS)
        skip = ", skip_proven=True" if self.skip_proven else ""
        return (
            f"OnePixel({search}, seed={self.seed}, n_images={self.n_images}, "
            f"path={self.path!r}{skip})"
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
        path = self._resolve(runner)
        skip = self.skip_proven and path == "lines"  # the proof reads the line tables
        selected = select(clean_correct(runner, x, y, self.chunk_rows), self.n_images, self.seed)
        candidates = Candidates(
            runner,
            x,
            y,
            selected,
            path,
            self.chunk_rows,
            integer=self.settings.integer_candidates,
        )
        outcome = Outcome(candidates, iterations=self.settings.max_iter)
        n_queries = torch.zeros(candidates.valid.shape, dtype=torch.long)
        searched = torch.arange(len(candidates.pair_k))
        if skip:
            # the piece ends, read once: which images are proven robust, and what they report
            ends = candidates.piece_ends()
            proven = candidates.proven_robust(ends=ends)
            searched = (~proven).nonzero().view(-1)
            skipped = proven.nonzero().view(-1)
            if len(skipped):
                at_ends, fitness_at_ends, _, counts = candidates.end_populations(ends)
                k, s = candidates.pair_k[skipped], candidates.pair_s[skipped]
                outcome.finish(skipped, at_ends[k, s], fitness_at_ends[k, s])
                outcome.iterations[k, s] = 0
                n_queries[k, s] = counts[k, s]
                del at_ends, fitness_at_ends  # not kept through the search
            del ends
        k, s = candidates.pair_k[searched], candidates.pair_s[searched]
        search = DifferentialEvolution(
            self.settings, [derive_seed(self.seed, int(i)) for i in candidates.image[k, s]]
        )
        if skip:
            some = _SomeRows(candidates, outcome, searched)
            stopped_at, rows, population, fitness = search.run(some, some)
        else:
            stopped_at, rows, population, fitness = search.run(candidates, outcome)
        outcome.finish(searched[rows], population, fitness)
        n_queries[k, s] = self.settings.pop_size * (stopped_at + 1)
        return outcome.results(n_queries)


class _SomeRows:
    """The evaluator and stops of a search over some rows: its row r is ``rows[r]`` of both."""

    def __init__(self, candidates: Candidates, outcome: Outcome, rows: Tensor) -> None:
        self.candidates, self.outcome, self.rows = candidates, outcome, rows
        self.remembers = candidates.remembers

    def key(self, candidates: Tensor) -> Tensor:
        return self.candidates.key(candidates)

    def fitness(
        self, rows: Tensor, candidates: Tensor, fooled: bool = False, keys: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        return self.candidates.fitness(self.rows[rows], candidates, fooled, keys)

    def misclassified(self, rows: Tensor, candidates: Tensor) -> Tensor:
        return self.candidates.misclassified(self.rows[rows], candidates)

    def accept(self, rows: Tensor, candidates: Tensor, fooled: Tensor, generation: int) -> Tensor:
        return self.outcome.accept(self.rows[rows], candidates, fooled, generation)
