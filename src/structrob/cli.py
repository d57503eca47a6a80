"""The ``structrob`` command line: run, status, export, report, presets, config.

Examples
--------
>>> main(["presets"])  # doctest: +ELLIPSIS
paper ...
0
"""

from __future__ import annotations

import argparse
import os
import shlex
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from structrob.vocabulary import ARM, ARMS

# torch, pandas and scipy are imported where a command needs them: `structrob run` starts its
# workers before this process imports torch (seconds), and the other commands need less
if TYPE_CHECKING:
    import pandas as pd

__all__ = ["console", "main"]

#: Columns of the headline table, in order.
HEADLINE_COLUMNS = [
    ARM,
    "property",
    "measure",
    "n_graphs",
    "rho",
    "rho_q",
    "tau",
    "partial_rho",
    "strength",
]


#: What ``structrob run``'s exit status means (its ``--help`` epilog, docs/reliability.md).
RUN_EPILOG = """\
exit status:
  0    every planned unit finished (runs whose training diverged are results, not errors)
  1    some units failed or did not run: a summary (first error of each kind) is printed and
       shown in the report; run the same command again to retry them (finished units kept)
  2    an error stopped it (one `error:` line): a bad setting, data file, study directory
       or store, no space or no permission, or another `structrob run` holds the directory
       (its pid is named); units finished before it are kept
  130  stopped by Ctrl-C (SIGINT)
  143  stopped by SIGTERM; after either, the workers are stopped and the finished units kept:
       the same command resumes

Failed units are run again by the next `structrob run` of the study; --retry-failed also runs
again the runs that failed for a reason of their seeds (a non-finite loss). One driver per
study directory. See docs/reliability.md.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="structrob",
        description=(
            "Does the graph structure of a sparse network predict its adversarial robustness?"
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="run (or resume) a study",
        description="Run (or resume) a study: plan, train and attack, store, analyse, report.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = run.add_mutually_exclusive_group()
    source.add_argument(
        "--preset", default=None, help="a shipped preset (see `structrob presets`; default: quick)"
    )
    source.add_argument(
        "--config", type=Path, help="a study TOML file (start from `structrob config quick`)"
    )
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. train.epochs=5 (repeatable)",
    )
    run.add_argument("--out", type=Path, help="study directory (default: runs/<study name>)")
    run.add_argument("--executor", choices=["local", "ray"])
    run.add_argument(
        "--workers", type=int, help="worker processes (default: one per core; 1 = in process)"
    )
    run.add_argument(
        "--ray-address", help="address of a running Ray cluster (default: a local Ray instance)"
    )
    run.add_argument("--device", choices=["auto", "cpu", "cuda"])
    run.add_argument(
        "--data-dir",
        help="folder with the data set's IDX files (default: $STRUCTROB_DATA or the cache)",
    )
    run.add_argument("--no-report", action="store_true", help="skip the report at the end")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="sample the graphs, store the draws, print the plan and a time estimate from a "
        "short timing; train nothing (then `structrob export` writes draws.csv)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument(
        "--retry-failed",
        action="store_true",
        help=(
            "also run again the runs that failed for a reason of their seeds (a non-finite "
            "loss); units that failed with an error (I/O, data, memory, a killed worker) are "
            "run again anyway"
        ),
    )

    status = sub.add_parser(
        "status", help="progress of a study by stage, its failures, whether a driver runs it"
    )
    status.add_argument("directory", type=Path)
    report = sub.add_parser("report", help="regenerate report.html from the store")
    report.add_argument("directory", type=Path)
    report.add_argument(
        "--out", type=Path, help="folder for the report (default: the study directory)"
    )
    report.add_argument(
        "--arm",
        choices=list(ARMS),
        help="report one arm only (graph priors or the pruning baseline), e.g. to publish "
        "one arm while the other still runs",
    )
    export = sub.add_parser(
        "export",
        help="write the tables, config.toml, environment.json and timings (stages, sessions)",
        description=(
            "Write runs, graphs, draws and correlations tables, the study's config.toml "
            "(`structrob run --config` reproduces it), environment.json, stages (worker-"
            "seconds per arm and stage) and sessions (the wall time of each `structrob run`, "
            "and in total). With --report also report.html, figures/ and tables/: a results "
            "folder in one go, e.g. `structrob export runs/quick --out results/quick --report`."
        ),
    )
    export.add_argument("directory", type=Path)
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    export.add_argument(
        "--out", type=Path, help="folder for the files (default: the study directory)"
    )
    export.add_argument(
        "--report",
        action="store_true",
        help="also write report.html with its figures and tables (one analysis for both)",
    )
    export.add_argument(
        "--arm",
        choices=list(ARMS),
        help="write one arm only (graph priors or the pruning baseline), e.g. to publish "
        "one arm while the other still runs",
    )
    sub.add_parser("presets", help="list the shipped presets")
    config = sub.add_parser("config", help="print a preset as TOML")
    config.add_argument("preset")
    return parser


def _headline(correlations: pd.DataFrame, limit: int = 10) -> str:
    """The strongest correlations (by |rho|) of the graph-prior arm, else of any arm."""
    if correlations.empty:
        return "no correlations yet (fewer than 3 finished graphs)"
    prior = correlations[correlations[ARM] == "prior"]
    table = (prior if not prior.empty else correlations).dropna(subset=["rho"])
    table = table.loc[table["rho"].abs().sort_values(ascending=False).index[:limit]]
    table = table[HEADLINE_COLUMNS].astype({"n_graphs": int})
    return table.to_string(index=False, float_format=lambda v: f"{v:.3f}")


#: What each command does, for the one line of an unforeseen OSError.
_DOING = {
    "run": "run the study",
    "status": "read the study",
    "report": "write the report",
    "export": "export the tables",
}


def _resume_command(argv: list[str], out: Path) -> str:
    words = list(argv)
    if "--out" not in words and not any(w.startswith("--out=") for w in words):
        words += ["--out", str(out)]
    return "structrob " + shlex.join(words)


def _finished_units(directory: Path) -> str | None:
    """``"3 of 7 units finished"``, or None when the store cannot be read."""
    from structrob.study import analysis
    from structrob.study.store import Store

    try:
        with Store(directory, readonly=True) as store:
            progress = analysis.progress_of(store)
    except Exception:  # noqa: BLE001 - only a courtesy line after an interruption
        return None
    return f"{progress.done} of {progress.planned} units finished"


def _status_text(directory: Path) -> str:
    from structrob.study import analysis
    from structrob.study.lock import holder
    from structrob.study.store import Store

    running = holder(directory)
    who = ""
    if running:
        who = (
            f"running: process {running.get('pid', '?')} on {running.get('host', '?')}"
            f" (started {running.get('started', '?')})"
        )
        if not (directory / "study.sqlite").exists():
            return f"{who}; it is starting the study (nothing stored yet)"
    with Store(directory, readonly=True) as store:
        progress = analysis.progress_of(store)
    lines = [analysis.status(directory, progress).to_string(index=False)]
    if who:
        lines.append(who)
    if not progress.complete or progress.diverged:
        lines.append(progress.summary())
    return "\n".join(lines)


def _data_error() -> type[Exception]:
    """:class:`structrob.data.DataError`, imported when an error is matched against it."""
    from structrob.data import DataError  # the data module imports torch

    return DataError


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success; for ``run``, 1 when some planned units failed or did not run (a summary
        on stderr); 2 with one ``error: ...`` line on stderr for a configuration, plan, data,
        study directory or store error (damaged, foreign, locked, read-only, disk full); 130
        after SIGINT and 143 after SIGTERM (the workers stopped, how to resume on stderr).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    # the signal handlers first, so Ctrl-C during the seconds of imports exits with 130 too
    from structrob.study.errors import StudyInterrupted
    from structrob.study.interrupt import interruptible

    state: dict = {}
    try:
        with interruptible():
            return _main(argv, state)
    except StudyInterrupted as stop:
        kept = _finished_units(state["out"]) if "out" in state else None
        kept = f"; {kept} kept" if kept else "; finished units are kept"
        print(f"\n{stop}: the workers were stopped{kept}.", file=sys.stderr)
        if state.get("command") == "run" and "out" in state:
            print(f"resume with: {_resume_command(argv, state['out'])}", file=sys.stderr)
        return stop.exit_status
    finally:
        from structrob.study.executors import stop_helper_processes

        stop_helper_processes()


def _main(argv: list[str], state: dict) -> int:
    args = _parser().parse_args(argv)
    state["command"] = args.command
    from structrob.study import config as cfg
    from structrob.study.errors import StudyError
    from structrob.study.files import describe_os_error
    from structrob.study.plan import PlanError

    try:
        return _command(args, argv, state)
    except (cfg.ConfigError, StudyError, PlanError, _data_error()) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as error:
        print(f"error: {describe_os_error(error, _DOING.get(args.command))}", file=sys.stderr)
        return 2


def _command(args: argparse.Namespace, argv: list[str], state: dict) -> int:
    from structrob.study import config as cfg

    if args.command == "run":
        return _run(args, argv, state)
    from structrob.study import analysis

    if args.command == "presets":
        for name in cfg.list_presets():
            first = cfg.preset_text(name).splitlines()[0].lstrip("# ")
            print(f"{name:10s} {first}")
        return 0
    if args.command == "config":
        print(cfg.preset_text(args.preset), end="")
        return 0
    if args.command == "status":
        print(_status_text(args.directory))
        return 0
    if args.command == "export":
        result = None
        if args.report:  # the report and the tables from one analysis
            from structrob.study.store import Store

            with Store(args.directory, readonly=True) as store:
                result = analysis.analyse(store, arm=args.arm)
        for path in analysis.export(
            args.directory, args.format, analysis=result, out=args.out, arm=args.arm
        ):
            print(path)
        if args.report:
            print(analysis.write_study_report(args.directory, result, out=args.out, arm=args.arm))
        return 0
    if args.command == "report":
        print(analysis.write_study_report(args.directory, out=args.out, arm=args.arm))
        return 0
    raise AssertionError(f"unknown command {args.command!r}")  # pragma: no cover - argparse


def _run(args: argparse.Namespace, argv: list[str], state: dict) -> int:
    from structrob.study import config as cfg
    from structrob.study.executors import early_pool

    if args.config:
        config = cfg.load_config(args.config)
    else:
        config = cfg.load_preset(args.preset or "quick")
    overrides = list(args.overrides)
    for key, value in (
        ("executor", args.executor),
        ("workers", args.workers),
        ("ray_address", args.ray_address),
        ("device", args.device),
    ):
        if value is not None:
            overrides.append(f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}")
    config = cfg.apply_overrides(config, overrides)
    out = args.out or Path("runs") / config.name
    state["out"] = out
    if args.dry_run:
        from structrob.study import runner

        runner.run_study(config, out, data_root=args.data_dir, progress=False, dry_run=True)
        print(f"dry run: nothing trained; the draws are in {out} (structrob export {out})")
        return 0
    # the workers start now, importing torch while this process does (run_and_analyse closes
    # the pool)
    data = (config.dataset, args.data_dir)
    pool = early_pool(config.executor, config.workers, config.threads, data)
    try:
        from structrob.study import runner
    except BaseException:
        if pool is not None:
            pool.close(cancel=True)
        raise
    outcome = runner.run_and_analyse(
        config,
        out,
        data_root=args.data_dir,
        progress=not args.quiet,
        report=not args.no_report,
        retry_failed=args.retry_failed,
        pool=pool,
    )
    from structrob import stats
    from structrob.study import analysis

    progress = outcome.progress
    verb = "finished" if progress.complete else "stopped, incomplete,"
    print(f"\nstudy {verb} in {outcome.seconds:.0f} s: {outcome.store.path}")
    print(analysis.status(out, progress).to_string(index=False))
    outcome.store.close()  # the last writer: folds the write-ahead log into the database
    if outcome.report is not None:
        print(f"report: {outcome.report}")
    print("\nstrongest correlations (Spearman rho over graphs, q = Benjamini-Hochberg):")
    print(_headline(outcome.analysis.correlations))
    warning = stats.small_sample_warning(outcome.analysis.correlations)
    if warning:
        print(f"warning: {warning}")
    if not progress.complete:
        print(
            f"error: the study is incomplete: {progress.summary()}\n"
            "Run the same command again to retry them (finished units are kept): "
            f"{_resume_command(argv, out)}",
            file=sys.stderr,
        )
        return 1
    if progress.diverged:
        print(f"note: {progress.summary().splitlines()[-1].strip()}")
    return 0


def console() -> None:
    """The ``structrob`` command: :func:`main`, then exit without the interpreter's teardown.

    When :func:`main` returns, everything is written and closed (the study's store, the
    report, the worker pool and its helper processes). Tearing down an interpreter that
    imported torch, scipy and matplotlib would take most of a second more and free nothing
    the operating system does not, so the process ends at once with main's exit status, its
    output flushed. An exception from main ends the process as usual (with its traceback).
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream has nothing left to write
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
