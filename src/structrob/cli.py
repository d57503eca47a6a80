"""The ``structrob`` command line: run, status, export, report, presets, config.

Examples
--------
>>> main(["presets"])  # doctest: +ELLIPSIS
paper ...
0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from structrob.vocabulary import ARM

__all__ = ["main"]

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="structrob",
        description=(
            "Does the graph structure of a sparse network predict its adversarial robustness?"
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run (or resume) a study")
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
    run.add_argument("--quiet", action="store_true", help="no progress bars")

    for name, text in (
        ("status", "progress of a study by stage"),
        ("report", "regenerate report.html from the store"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("directory", type=Path)
    export = sub.add_parser(
        "export", help="write runs/graphs/draws/correlations tables into the study directory"
    )
    export.add_argument("directory", type=Path)
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
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


def _require_study(directory: Path) -> None:
    if not (directory / "study.sqlite").is_file():
        raise SystemExit(
            f"error: {directory} is not a study directory (no study.sqlite); "
            f"run `structrob run --out {directory}` first"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for a bad setting or input).

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success; 2 with one ``error: ...`` line on stderr for a configuration, plan,
        data or study error.
    """
    args = _parser().parse_args(argv)
    from structrob.data import DataError
    from structrob.study import analysis, runner
    from structrob.study import config as cfg
    from structrob.study.plan import PlanError

    try:
        if args.command == "presets":
            for name in cfg.list_presets():
                first = cfg.preset_text(name).splitlines()[0].lstrip("# ")
                print(f"{name:10s} {first}")
            return 0
        if args.command == "config":
            print(cfg.preset_text(args.preset), end="")
            return 0
        if args.command == "status":
            _require_study(args.directory)
            print(analysis.status(args.directory).to_string(index=False))
            return 0
        if args.command == "export":
            _require_study(args.directory)
            for path in analysis.export(args.directory, args.format):
                print(path)
            return 0
        if args.command == "report":
            _require_study(args.directory)
            print(analysis.write_study_report(args.directory))
            return 0

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
        outcome = runner.run_and_analyse(
            config, out, data_root=args.data_dir, progress=not args.quiet, report=not args.no_report
        )
        print(f"\nstudy finished in {outcome.seconds:.0f} s: {outcome.store.path}")
        print(analysis.status(out).to_string(index=False))
        if outcome.report is not None:
            print(f"report: {outcome.report}")
        print("\nstrongest correlations (Spearman rho over graphs, q = Benjamini-Hochberg):")
        print(_headline(outcome.analysis.correlations))
        return 0
    except (cfg.ConfigError, runner.StudyError, PlanError, DataError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
