"""The study driver: check the settings, plan, run the missing units, store every result.

Only this driver writes to the study directory, and only one driver at a time
(:class:`~structrob.study.lock.StudyLock`: a second one is refused at once, naming the first).
Every setting is checked before anything is sampled, trained or written (:func:`check_settings`:
the attacks, every point of the graph grid, the device), and the data set is loaded once, so a
missing or corrupt data file stops the study before any unit runs. A rerun of the same study
skips finished units (their ids hash their full configuration), so an interrupted study resumes
where it stopped; a changed setting that affects results is refused under a directory holding
finished units (one without any is started afresh).

Failures are of two kinds. A unit that raises (data or I/O trouble, memory, a killed worker) is
*environmental*: it is retried up to ``retries`` times in the run, recorded ``failed`` with its
error and traceback, and run again by the next ``structrob run`` of the study. A run whose
training diverged (non-finite loss) is *deterministic*, a result of its seeds: its unit
finishes, the run is recorded ``failed`` with its error, and only ``retry_failed=True``
(``structrob run --retry-failed``) runs it again. A finished unit whose weight files are
missing counts as not finished and is run again.

Each run (not a dry run) is recorded as a session of the driver in the store's meta
(:mod:`~structrob.study.sessions`: started, finished, units done, exit status), so the wall time
a study took is known after any number of resumptions.

SIGINT and SIGTERM stop the driver cleanly (:mod:`~structrob.study.interrupt`): the workers are
terminated, the results already stored stay, none is half-written, and
:class:`~structrob.study.errors.StudyInterrupted` is raised.
:func:`run_and_analyse` is what ``structrob run`` does: run the study, then analyse it once
(:mod:`structrob.study.analysis`) for the report and the headline.
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from structrob import __version__, _compiled, graphs
from structrob.study.attack_setup import build_attacks
from structrob.study.config import ConfigError, StudyConfig, config_hash, science
from structrob.study.errors import StoreError, StudyError, StudyInterrupted, StudyLocked
from structrob.study.estimate import describe_plan, estimate_seconds
from structrob.study.executors import LocalExecutor, early_pool, make_executor
from structrob.study.files import describe_os_error
from structrob.study.interrupt import critical, interruptible
from structrob.study.lock import StudyLock
from structrob.study.plan import Unit, plan_units, sample_graphs
from structrob.study.progress import STAGE_LABELS, Progress, progress_of
from structrob.study.records import Draw, PriorSpec, UnitFailure, UnitPayload
from structrob.study.sessions import SESSIONS_KEY, begin_session, end_session, exit_status
from structrob.study.store import Store
from structrob.study.units import resolve_device
from structrob.vocabulary import ARMS

# the analysis (scipy.stats) and the report (matplotlib) are imported once the units are
# running: a second of imports the driver would otherwise spend before handing out the first
if TYPE_CHECKING:
    from structrob.study.analysis import Analysis, AnalysisSettings

__all__ = [
    "StoreError",
    "StudyError",
    "StudyInterrupted",
    "StudyLocked",
    "StudyOutcome",
    "check_settings",
    "environment",
    "git_commit",
    "run_and_analyse",
    "run_study",
    "submission_order",
]

#: A grid with more points than this is checked on this many of them (first, last, spread).
MAX_GRID_CHECKS = 2000


def _grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    total = 1
    for values in grid.values():
        total *= len(values)
    points = itertools.product(*(grid[k] for k in keys))
    if total > MAX_GRID_CHECKS:  # every value still appears: the extremes are in the sample
        step = total / MAX_GRID_CHECKS
        wanted = {int(i * step) for i in range(MAX_GRID_CHECKS)} | {total - 1}
        points = (p for i, p in enumerate(points) if i in wanted)
    return [dict(zip(keys, p)) for p in points]


def _check_graphs(config: StudyConfig) -> None:
    """Every grid point through the generator's own checks, so a bad value fails now.

    The checks run without drawing the graphs (:func:`structrob.graphs.check_parameters`):
    drawing the paper grid's 150 took seconds of every ``structrob run``.
    """
    settings = config.graphs
    generator = graphs.GENERATORS[settings.generator]
    names = [n for n in inspect.signature(generator).parameters if n != "seed"]
    # generator options kept outside the grid (e.g. rewiring) are settings of their own
    options = {
        n: getattr(settings, n) for n in names if n not in settings.grid and hasattr(settings, n)
    }
    for point in _grid_points(settings.grid):
        try:
            graphs.check_parameters(settings.generator, **point, **options)
        except (ValueError, TypeError) as error:
            message = str(error)
            first = message.split()[0] if message else ""
            key = (
                f"graphs.grid.{first}"
                if first in settings.grid
                else f"graphs.{first}"
                if first in options
                else "graphs.grid"
            )
            text = ", ".join(f"{k}={v!r}" for k, v in point.items())
            raise ConfigError(
                f"{key}: {message} (grid point {text}); every combination of the "
                f"graphs.grid values must be valid for {settings.generator}: change {key} "
                "(or the values it is combined with)"
            ) from None


def check_settings(config: StudyConfig) -> None:
    """Check what the schema cannot: the attacks, every graph grid point, the device.

    Called by :func:`run_study` before anything is sampled, trained or written, so a setting
    an attack or the graph generator refuses fails at once rather than inside every worker
    after training: every enabled attack is built from its settings once, and every
    combination of the ``graphs.grid`` values goes through the generator's own checks (e.g.
    Watts-Strogatz: ``p`` in [0, 1], integer ``nei >= 1``, integer ``size > 2 * nei``).

    Parameters
    ----------
    config : StudyConfig

    Raises
    ------
    ConfigError
        Naming the key and what it may be, e.g. ``attacks.min_fgsm.start: must be a number >
        0.0 and <= 1.0, got 0.0; set it to a number > 0.0 and <= 1.0``, ``graphs.grid.p: p
        must be a number in [0.0, 1.0], got 2.0 ...``, or a ``device`` this machine does not
        have.

    Examples
    --------
    >>> from structrob.study.config import apply_overrides, load_preset
    >>> check_settings(load_preset("quick"))
    >>> overrides = ["attacks.min_fgsm.start=0.5", "attacks.min_fgsm.max_eps=0.3"]
    >>> try:
    ...     check_settings(apply_overrides(load_preset("quick"), overrides))
    ... except ConfigError as error:
    ...     print(str(error).split(";")[0])
    attacks.min_fgsm.max_eps: must be a number >= 0.5 and <= 1.0, got 0.3
    >>> try:
    ...     check_settings(apply_overrides(load_preset("quick"), ["graphs.grid.nei=[2, 200]"]))
    ... except ConfigError as error:
    ...     print(str(error).split(" (")[0])
    graphs.grid.size: size must be an integer >= 401, got 250
    """
    build_attacks(config.attacks, config.seed)
    if config.priors:
        _check_graphs(config)
    try:
        resolve_device(config.device)
    except RuntimeError as error:
        raise ConfigError(f"device: {error}") from None


def git_commit() -> str | None:
    """The commit of the git checkout structrob is imported from, if it is one.

    Returns
    -------
    str or None
        ``git rev-parse HEAD`` in the package's folder; None when git is missing, the package
        is not in a checkout (an installed wheel), or the checkout around it does not track
        the package (a virtual environment inside some other repository).

    Examples
    --------
    >>> commit = git_commit()
    >>> commit is None or len(commit) == 40
    True
    """
    folder = Path(__file__).resolve().parent.parent
    try:
        # a package merely lying inside another repository's folder is not its checkout
        subprocess.run(
            ["git", "ls-files", "--error-unmatch", "__init__.py"],
            cwd=folder,
            capture_output=True,
            check=True,
            timeout=10,
        )
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            check=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return commit or None


def environment(config: StudyConfig) -> dict[str, Any]:
    """Versions, device and threads: what a reader needs to reproduce the numbers.

    Parameters
    ----------
    config : StudyConfig

    Returns
    -------
    dict
        Package versions, platform, the CPU capability torch's kernels use (``"AVX2"``,
        ``"AVX512"``, ...), CPU count, whether the compiled loops were built
        (``compiled_loops``, :mod:`structrob._compiled`: One-Pixel's, the same numbers
        either way, and training's products, the same to rounding), device, executor, workers
        and threads, and
        ``git_commit`` (:func:`git_commit`: the checkout's commit, None outside one). Meta
        only: nothing here enters the science hash or a unit id.

    Examples
    --------
    >>> from structrob.study.config import apply_overrides, load_preset
    >>> env = environment(apply_overrides(load_preset("quick"), ["device=cpu"]))
    >>> env["device"], env["threads_per_worker"]
    ('cpu', 1)
    """
    import networkx
    import numpy
    import scipy

    return {
        "structrob": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "networkx": networkx.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
        # the instruction set torch's float32 kernels use here: 30 epochs amplify their
        # rounding, so a unit's numbers repeat exactly only on a CPU of the same capability
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        # whether the compiled loops ran: One-Pixel's give the same numbers either way, the
        # training's products the same to rounding (which 30 epochs amplify)
        "compiled_loops": _compiled.available(),
        "device": str(resolve_device(config.device)),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "executor": config.executor,
        "workers": config.workers,
        "threads_per_worker": config.threads,
        "git_commit": git_commit(),
    }


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _diff(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


def _check_same_study(store: Store, config: StudyConfig, log: Callable[[str], None]) -> None:
    previous = store.get_meta("science")
    if previous is None or previous == science(config):
        return
    changes = "\n".join(f"  {line}" for line in _diff(previous, science(config)))
    if not store.finished_units():
        log(f"{store.directory}: no unit finished under the earlier settings; starting afresh")
        store.reset_results()
        store.set_meta(**{SESSIONS_KEY: []})  # their time went to results no longer held
        return
    raise StudyError(
        f"{store.directory} holds a study with other settings that change results:\n"
        f"{changes}\n"
        "Use a new --out directory for the new settings, or rerun with the old ones to resume."
    )


def _check_data(config: StudyConfig, data_root: str | None) -> None:
    """Check the data set's files in the driver: a missing or corrupt file fails before any unit.

    Their checksums (:func:`structrob.data.verify`; missing files are downloaded first), not
    their decoding: a file with its published checksum is the published file, and the workers
    decode it. A joined Ray cluster's workers may see other files than the driver, so it is
    not checked.
    """
    if config.executor == "ray" and config.ray_address:
        return
    from structrob import data

    data.verify(config.dataset, root=data_root, download=True)


def _prepare_directory(directory: str | os.PathLike[str]) -> Path:
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise StudyError(f"--out {path} is a file, not a directory; choose a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(describe_os_error(error, "create the study directory")) from None
    return path


def _lock(directory: Path) -> StudyLock:
    try:
        return StudyLock(directory).acquire()
    except OSError as error:
        raise StoreError(describe_os_error(error, "lock the study directory")) from None


def run_study(
    config: StudyConfig,
    directory: str | os.PathLike[str],
    data_root: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    retry_failed: bool = False,
    dry_run: bool = False,
    pool: LocalExecutor | None = None,
) -> Store:
    """Run (or resume) a study into ``directory``; returns its store.

    Parameters
    ----------
    config : StudyConfig
        Checked first (:func:`check_settings`), then the data set is loaded once: a bad
        setting or data file raises before the directory is created.
    directory : path
        The study directory (``study.sqlite``, ``weights/``, the report).
    data_root : str or None
        Folder with the data set's IDX files (else ``STRUCTROB_DATA`` or the cache).
    progress : bool
        Show one tqdm bar per stage.
    log : callable
        Where messages go.
    retry_failed : bool
        Also run again the finished units with a run that failed deterministically (a
        non-finite loss); units that failed with an exception are always run again.
    dry_run : bool
        Sample the graphs, store the draws and the plan, log the plan with a time estimate
        (:func:`structrob.study.estimate.describe_plan`), and run no unit.
    pool : LocalExecutor, optional
        The config's worker pool, already started
        (:func:`structrob.study.executors.early_pool`: the command line starts it before it
        imports torch); this function closes it. Default: started here, first thing, when the
        config asks for a local pool (so its workers start while the settings are checked and
        the graphs sampled).

    Returns
    -------
    Store
        The study's store, every finished unit written. Whether every planned unit finished:
        :func:`structrob.study.analysis.progress_of`.

    Raises
    ------
    ConfigError
        A setting the attacks, the graph generator or this machine refuse.
    DataError
        The data set's files are missing (and cannot be downloaded) or corrupt: names the file.
    StudyError
        ``directory`` is a file, or holds finished units under other settings that change
        results.
    StudyLocked
        Another driver runs the study in ``directory`` (names its pid, host and start time).
    StoreError
        The store is empty, damaged or foreign, or cannot be written (read-only, disk full).
    StudyInterrupted
        SIGINT or SIGTERM (main thread only): the workers were stopped, finished units kept.
    PlanError
        The parameter range cannot be reached within ``graphs.max_draws``.

    Examples
    --------
    Training takes minutes, so this is not run here:

    >>> from structrob.study.config import load_preset
    >>> store = run_study(load_preset("quick"), "runs/quick")  # doctest: +SKIP
    >>> len(store.runs_frame())  # doctest: +SKIP
    120
    """
    epoch, clock = time.time(), time.monotonic()  # the session's start: checks count too
    with interruptible():
        # the workers start first, so they import torch while this process checks the
        # settings and samples the graphs (seconds each); they are stopped on any error
        if pool is None and not dry_run:
            data = (config.dataset, data_root)
            pool = early_pool(config.executor, config.workers, config.threads, data)
        used = False
        try:
            check_settings(config)
            path = Path(directory)
            # an existing directory is locked first (a second driver is refused at once); a
            # new one is created only once the data set loaded
            lock = _lock(path) if path.is_dir() else None
            try:
                _check_data(config, data_root)
                directory = _prepare_directory(path)
                lock = lock or _lock(directory)
                store = Store(directory)
                used = _run_locked(
                    store,
                    config,
                    data_root,
                    progress,
                    log,
                    retry_failed,
                    dry_run,
                    (epoch, clock),
                    pool,
                )
            finally:
                if lock is not None:
                    lock.release()
        finally:
            if pool is not None:
                # after its units the pool's workers end as usual; unused (nothing to run, or
                # an error) they are stopped at once, still importing perhaps
                pool.close(cancel=not used)
    return store


def _run_locked(
    store: Store,
    config: StudyConfig,
    data_root: str | None,
    progress: bool,
    log: Callable[[str], None],
    retry_failed: bool,
    dry_run: bool = False,
    started: tuple[float, float] | None = None,
    pool: LocalExecutor | None = None,
) -> bool:
    """Run the session; whether it ran units on ``pool`` (then that pool is done with)."""
    _check_same_study(store, config, log)
    if dry_run:  # planning only: no session of the driver
        _run_session(store, config, data_root, progress, log, retry_failed, dry_run)
        return False
    session = begin_session(store, *(started or (None, None)))
    try:
        used = _run_session(store, config, data_root, progress, log, retry_failed, dry_run, pool)
    except BaseException as error:
        try:
            end_session(store, session, exit_status(error))
        except StoreError:  # the store's own trouble (disk full, say) is the error to show
            pass
        raise
    with critical():  # a Ctrl-C now would leave the record open
        end_session(store, session, 0 if progress_of(store).complete else 1)
    return used


def _run_session(
    store: Store,
    config: StudyConfig,
    data_root: str | None,
    progress: bool,
    log: Callable[[str], None],
    retry_failed: bool,
    dry_run: bool,
    pool: LocalExecutor | None = None,
) -> bool:
    """Plan and run the missing units, on ``pool`` if given (left open); whether it ran any."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    created = store.get_meta("created") or now
    store.set_meta(
        name=config.name,
        science=science(config),
        config=config.model_dump(mode="json"),
        config_hash=config_hash(science(config)),
        environment=environment(config),
        created=created,
    )
    draws = sample_graphs(config) if config.priors else []
    store.save_draws(draws)
    units = plan_units(config, draws)
    store.set_meta(
        planned={arm: sum(u.arm == arm for u in units) for arm in ARMS},
        planned_units={arm: [u.unit_id for u in units if u.arm == arm] for arm in ARMS},
    )
    planned = {u.unit_id for u in units}
    missing = {k: v for k, v in store.missing_weights().items() if k in planned}
    rerun = store.units_with_failed_runs() & planned if retry_failed else set()
    done = (store.finished_units() & planned) - set(missing) - rerun
    failed_before = set(store.failed_units()) & planned
    todo = [u for u in units if u.unit_id not in done]
    notes = []
    if failed_before:
        notes.append(f"{len(failed_before)} failed before")
    if missing:
        notes.append(f"{len(missing)} finished but missing weight files")
    if rerun:
        notes.append(f"{len(rerun)} with diverged runs (--retry-failed)")
    note = f"; to run: {', '.join(notes)}" if notes else ""
    log(f"{config.name}: {len(units)} units ({len(done)} done, {len(todo)} to run{note})")
    if missing:
        unit_id, files = next(iter(missing.items()))
        log(f"unit {unit_id} is run again: {', '.join(files)} missing")
    if dry_run:  # the plan and its cost, from short timings; nothing is trained or stored
        workers = config.workers or os.cpu_count() or 1
        seconds = estimate_seconds(config, todo, data_root, workers=workers) if todo else None
        log(describe_plan(config, draws, units, seconds))
        return False
    if not todo:
        return False
    todo = submission_order(todo, draws)
    if pool is not None:  # its owner closes it
        _drive(store, config, todo, done, pool, data_root, progress, log)
        return True
    executor = make_executor(
        config.executor,
        config.workers,
        config.threads,
        store.directory,
        config.ray_address,
        config.device,
    )
    clean = False
    try:
        _drive(store, config, todo, done, executor, data_root, progress, log)
        clean = True
    finally:
        executor.close(cancel=not clean)
    return True


def submission_order(todo: list[Unit], draws: list[Draw]) -> list[Unit]:
    """The units in the order they are handed to the workers: pruning chains, then priors.

    The driver hands a free slot the first unit in this order whose dependency is done. A
    pruning chain's steps run one after another, so a chain left to the end would run alone
    while the other workers idle: its steps come first, and each next step is taken as soon as
    the step before it is stored, the priors filling the other workers meanwhile. The graph
    priors follow, largest first (by the draw's parameter count, which sets a network's
    training time), so no large network trains alone at the end either. Nothing depends on
    the order: every seed derives from the unit's id, and the store's tables are read sorted.

    Parameters
    ----------
    todo : list of Unit
        The units to run, in plan order (:func:`~structrob.study.plan.plan_units`).
    draws : list of Draw
        The study's draws (:func:`~structrob.study.plan.sample_graphs`).

    Returns
    -------
    list of Unit
        The same units: the pruning steps in their order, then the graph priors by falling
        parameter count (draw order among equals).

    Examples
    --------
    >>> from structrob.study.config import apply_overrides, load_preset
    >>> config = apply_overrides(load_preset("quick"), ["graphs.count=3", "pruning.steps=1"])
    >>> draws = sample_graphs(config)
    >>> order = submission_order(plan_units(config, draws), draws)
    >>> size = {d.index: d.n_parameters for d in draws}
    >>> [u.spec.step for u in order[:2]]
    [0, 1]
    >>> [size[u.spec.index] for u in order[2:]] == sorted(size[d.index] for d in draws
    ...                                                   if d.accepted)[::-1]
    True
    """
    size = {d.index: d.n_parameters for d in draws}
    priors = [u for u in todo if isinstance(u.spec, PriorSpec)]
    others = [u for u in todo if not isinstance(u.spec, PriorSpec)]
    return others + sorted(priors, key=lambda u: -size.get(u.spec.index, 0))


def _prepare_analysis() -> None:
    """Import what the analysis and the report run (scipy.stats, matplotlib: a second or two).

    :func:`_drive` calls it once the last units run and a worker has nothing left to do, so
    the imports take that worker's idle core instead of delaying the analysis after the units.
    It also draws one small figure: matplotlib loads its PDF backend and fonts at the first
    figure it saves, and the report's forked drawing processes then inherit them loaded.
    """
    import structrob.study.analysis  # noqa: F401
    from structrob.report.page import Figure, figure_bytes

    figure = Figure(figsize=(1, 1))
    figure.add_subplot()  # tick labels: text, so the fonts load
    figure_bytes(figure, dpi=20)


def _drive(
    store: Store,
    config: StudyConfig,
    todo: list[Unit],
    finished: set[str],
    executor: Any,
    data_root: str | None,
    progress: bool,
    log: Callable[[str], None],
) -> None:
    from structrob._bars import progress_bar

    waiting = {u.unit_id: u for u in todo}
    bars = {}
    for arm, label in STAGE_LABELS.items():
        total = sum(u.arm == arm for u in todo)
        if total:
            bars[arm] = progress_bar(
                total=total, desc=label, unit="unit", disable=not progress, dynamic_ncols=True
            )
    in_flight: dict[Any, Unit] = {}
    finished = set(finished)
    failures: dict[str, int] = {}  # failed attempts in this run, per unit

    def payload(unit: Unit) -> UnitPayload:
        previous = None if unit.depends_on is None else store.stacked_weights(unit.depends_on)
        return UnitPayload(
            device=config.device,
            threads=config.threads,
            data_root=data_root,
            previous_weights=previous,
        )

    def ready(unit: Unit) -> bool:
        return unit.depends_on is None or unit.depends_on in finished

    prepared = False
    try:
        while waiting or in_flight:
            slots = max(1, executor.workers) * 2 - len(in_flight)
            for unit in [u for u in waiting.values() if ready(u)][: max(slots, 0)]:
                del waiting[unit.unit_id]
                in_flight[executor.submit(unit.spec, payload(unit))] = unit
            if not prepared and not waiting and 0 < len(in_flight) < executor.workers:
                _prepare_analysis()  # a worker is idle to the end: use its core
                prepared = True
            if not in_flight:
                with critical():
                    for unit in waiting.values():  # their dependency failed in this run
                        store.record_failure(
                            unit.unit_id,
                            unit.arm,
                            unit.spec.step,
                            f"not run: the pruning step before it ({unit.depends_on}) failed",
                            final=True,
                        )
                        if unit.arm in bars:
                            bars[unit.arm].update(1)
                break
            for handle, result in executor.wait(list(in_flight)):
                unit = in_flight.pop(handle)
                if isinstance(result, UnitFailure):
                    failures[unit.unit_id] = failures.get(unit.unit_id, 0) + 1
                    final = failures[unit.unit_id] > config.retries
                    with critical():
                        store.record_failure(
                            unit.unit_id,
                            unit.arm,
                            unit.spec.step,
                            result.error,
                            final,
                            result.traceback,
                        )
                    log(
                        f"unit {unit.unit_id} ({unit.arm}) failed: {result.error}"
                        + ("" if final else "; retrying")
                    )
                    if not final:
                        waiting[unit.unit_id] = unit
                    elif unit.arm in bars:
                        bars[unit.arm].update(1)
                    continue
                with critical():
                    store.save_unit(result)
                finished.add(unit.unit_id)
                bars[unit.arm].update(1)
    finally:
        for bar in bars.values():
            bar.close()


@dataclass(frozen=True, eq=False)
class StudyOutcome:
    """What :func:`run_and_analyse` leaves: the store, its one analysis, the report.

    Parameters
    ----------
    store : Store
    analysis : Analysis
        The correlation analysis of the finished study (the report's and the headline's).
    report : pathlib.Path or None
        ``report.html``, None when no report was asked for.
    seconds : float
        Wall time of the run and the analysis (the report not included).
    progress : Progress
        Planned, finished and failed units: ``progress.complete`` is whether every planned
        unit finished (the command line's exit status).

    Examples
    --------
    >>> import dataclasses
    >>> [field.name for field in dataclasses.fields(StudyOutcome)]
    ['store', 'analysis', 'report', 'seconds', 'progress']
    """

    store: Store
    analysis: Analysis
    report: Path | None
    seconds: float
    progress: Progress


def run_and_analyse(
    config: StudyConfig,
    directory: str | os.PathLike[str],
    data_root: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    report: bool = True,
    settings: AnalysisSettings | None = None,
    retry_failed: bool = False,
    pool: LocalExecutor | None = None,
) -> StudyOutcome:
    """Run (or resume) a study, analyse it once, and write its report from that analysis.

    Parameters
    ----------
    config, directory, data_root, progress, log
        As for :func:`run_study`.
    report : bool
        Write ``report.html`` (and figures, tables) into ``directory``.
    settings : AnalysisSettings, optional
        The analysis's settings (default: the config's ``analysis`` section, which the
        config's own validation checked before the study starts).
    retry_failed, pool
        As for :func:`run_study`.

    Returns
    -------
    StudyOutcome

    Examples
    --------
    Training takes minutes, so this is not run here:

    >>> from structrob.study.config import load_preset
    >>> outcome = run_and_analyse(load_preset("quick"), "runs/quick")  # doctest: +SKIP
    >>> outcome.report.name, outcome.analysis.correlations.columns[0]  # doctest: +SKIP
    ('report.html', 'arm')
    """
    start = time.perf_counter()
    with interruptible():
        store = run_study(
            config,
            directory,
            data_root=data_root,
            progress=progress,
            log=log,
            retry_failed=retry_failed,
            pool=pool,
        )
        # imported now, not before the units: scipy.stats and matplotlib take a second, and
        # the config's analysis section was checked with the config (AnalysisConfig)
        from structrob.study.analysis import AnalysisSettings, analyse, write_study_report

        analysis = analyse(store, settings or AnalysisSettings.from_config(config.analysis))
        seconds = time.perf_counter() - start
        path = write_study_report(store.directory, analysis) if report else None
    return StudyOutcome(store, analysis, path, seconds, progress_of(store))
