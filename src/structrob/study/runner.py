"""The study driver: check the settings, plan, run the missing units, store every result.

Only this driver writes to the study directory. Every setting is checked before anything is
sampled, trained or written (:func:`check_settings`). A rerun of the same study skips finished
units (their ids hash their full configuration), so an interrupted study resumes where it
stopped; a changed setting that affects results is refused under an existing directory.
:func:`run_and_analyse` is what ``structrob run`` does: run the study, then analyse it once
(:mod:`structrob.study.analysis`) for the report and the headline.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from structrob import __version__
from structrob.study.analysis import (
    STAGE_LABELS,
    Analysis,
    AnalysisSettings,
    analyse,
    write_study_report,
)
from structrob.study.attack_setup import build_attacks
from structrob.study.config import ConfigError, StudyConfig, config_hash, science
from structrob.study.executors import make_executor
from structrob.study.plan import Unit, plan_units, sample_graphs
from structrob.study.records import UnitFailure, UnitPayload
from structrob.study.store import Store
from structrob.study.units import resolve_device
from structrob.vocabulary import ARMS

__all__ = [
    "StudyError",
    "StudyOutcome",
    "check_settings",
    "environment",
    "run_and_analyse",
    "run_study",
]


class StudyError(RuntimeError):
    """A study that cannot run as asked (e.g. a changed setting under an existing directory).

    Examples
    --------
    >>> import tempfile
    >>> from structrob.study.config import apply_overrides, load_preset, science
    >>> directory = tempfile.mkdtemp()
    >>> Store(directory).set_meta(science=science(load_preset("quick")))
    >>> try:
    ...     run_study(apply_overrides(load_preset("quick"), ["seed=1"]), directory)
    ... except StudyError as error:
    ...     print(str(error).splitlines()[1])
      seed: 0 -> 1
    """


def check_settings(config: StudyConfig) -> None:
    """Check what the schema cannot: every enabled attack is built from its settings once.

    Called by :func:`run_study` before anything is sampled, trained or written, so a setting
    an attack refuses fails at once rather than inside every worker after training.

    Parameters
    ----------
    config : StudyConfig

    Raises
    ------
    ConfigError
        Naming the key and what it may be, e.g. ``attacks.min_fgsm.start: must be a number >
        0.0 and <= 1.0, got 0.0; set it to a number > 0.0 and <= 1.0``, or a ``device`` this
        machine does not have.

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
    """
    build_attacks(config.attacks, config.seed)
    try:
        resolve_device(config.device)
    except RuntimeError as error:
        raise ConfigError(f"device: {error}") from None


def environment(config: StudyConfig) -> dict[str, Any]:
    """Versions, device and threads: what a reader needs to reproduce the numbers.

    Parameters
    ----------
    config : StudyConfig

    Returns
    -------
    dict
        Package versions, platform, CPU count, device, executor, workers and threads.

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
        "cpu_count": os.cpu_count(),
        "device": str(resolve_device(config.device)),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "executor": config.executor,
        "workers": config.workers,
        "threads_per_worker": config.threads,
    }


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _diff(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


def _check_same_study(store: Store, config: StudyConfig) -> None:
    previous = store.get_meta("science")
    if previous is not None and previous != science(config):
        changes = "\n".join(f"  {line}" for line in _diff(previous, science(config)))
        raise StudyError(
            f"{store.directory} holds a study with other settings that change results:\n"
            f"{changes}\n"
            "Use a new --out directory for the new settings, or rerun with the old ones to resume."
        )


def run_study(
    config: StudyConfig,
    directory: str | os.PathLike[str],
    data_root: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Store:
    """Run (or resume) a study into ``directory``; returns its store.

    Parameters
    ----------
    config : StudyConfig
        Checked first (:func:`check_settings`): a bad setting raises before the directory is
        created.
    directory : path
        The study directory (``study.sqlite``, ``weights/``, the report).
    data_root : str or None
        Folder with the data set's IDX files (else ``STRUCTROB_DATA`` or the cache).
    progress : bool
        Show one tqdm bar per stage.
    log : callable
        Where messages go.

    Returns
    -------
    Store
        The study's store, every finished unit written.

    Raises
    ------
    ConfigError
        A setting the attacks or this machine refuse.
    StudyError
        ``directory`` holds a study with other settings that change results.
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
    check_settings(config)
    store = Store(directory)
    _check_same_study(store, config)
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
    store.set_meta(planned={arm: sum(u.arm == arm for u in units) for arm in ARMS})
    done = store.finished_units()
    failed = store.failed_units()
    todo = [u for u in units if u.unit_id not in done and u.unit_id not in failed]
    n_done = len(done & {u.unit_id for u in units})
    log(f"{config.name}: {len(units)} units ({n_done} done, {len(todo)} to run)")
    if todo:
        executor = make_executor(
            config.executor,
            config.workers,
            config.threads,
            store.directory,
            config.ray_address,
            config.device,
        )
        try:
            _drive(store, config, todo, executor, data_root, progress, log)
        finally:
            executor.close()
    return store


def _drive(
    store: Store,
    config: StudyConfig,
    todo: list[Unit],
    executor: Any,
    data_root: str | None,
    progress: bool,
    log: Callable[[str], None],
) -> None:
    from tqdm.auto import tqdm

    waiting = {u.unit_id: u for u in todo}
    bars = {}
    for arm, label in STAGE_LABELS.items():
        total = sum(u.arm == arm for u in todo)
        if total:
            bars[arm] = tqdm(
                total=total, desc=label, unit="unit", disable=not progress, dynamic_ncols=True
            )
    in_flight: dict[Any, Unit] = {}
    finished = store.finished_units()

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

    try:
        while waiting or in_flight:
            slots = max(1, executor.workers) * 2 - len(in_flight)
            for unit in [u for u in waiting.values() if ready(u)][: max(slots, 0)]:
                del waiting[unit.unit_id]
                in_flight[executor.submit(unit.spec, payload(unit))] = unit
            if not in_flight:
                for unit in waiting.values():  # their dependency failed for good
                    store.record_failure(
                        unit.unit_id,
                        unit.arm,
                        unit.spec.step,
                        "an earlier pruning step failed",
                        final=True,
                    )
                break
            for handle, result in executor.wait(list(in_flight)):
                unit = in_flight.pop(handle)
                if isinstance(result, UnitFailure):
                    final = store.attempts(unit.unit_id) + 1 > config.retries
                    store.record_failure(
                        unit.unit_id, unit.arm, unit.spec.step, result.error, final
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

    Examples
    --------
    >>> import dataclasses
    >>> [field.name for field in dataclasses.fields(StudyOutcome)]
    ['store', 'analysis', 'report', 'seconds']
    """

    store: Store
    analysis: Analysis
    report: Path | None
    seconds: float


def run_and_analyse(
    config: StudyConfig,
    directory: str | os.PathLike[str],
    data_root: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    report: bool = True,
    settings: AnalysisSettings | None = None,
) -> StudyOutcome:
    """Run (or resume) a study, analyse it once, and write its report from that analysis.

    Parameters
    ----------
    config, directory, data_root, progress, log
        As for :func:`run_study`.
    report : bool
        Write ``report.html`` (and figures, tables) into ``directory``.
    settings : AnalysisSettings, optional
        Bootstrap settings of the analysis (default: 1,000 resamples, seed 0); made, and so
        checked, before the study starts.

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
    settings = settings or AnalysisSettings.from_config(config.analysis)
    start = time.perf_counter()
    store = run_study(config, directory, data_root=data_root, progress=progress, log=log)
    analysis = analyse(store, settings)
    seconds = time.perf_counter() - start
    path = write_study_report(store.directory, analysis) if report else None
    return StudyOutcome(store, analysis, path, seconds)
