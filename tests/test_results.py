"""Published results folders (``results/<study>/``): complete, light, and reproducible.

Every folder under ``results/`` that holds ``config.toml`` and ``runs.csv`` is checked: that it
holds every file of a published study and nothing heavy (a fast test), and (``-m slow``) that
``structrob run --config <folder>/config.toml`` with one graph and no pruning gives its first
graph's runs exactly. The two checks are functions of a folder, tested here on a tiny study
exported into a temp folder (:func:`tests.conftest.published_study`).
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import torch

from structrob import _compiled
from structrob.cli import main
from structrob.vocabulary import ATTACKS, CLEAN_MEASURES

RESULTS = Path(__file__).resolve().parents[1] / "results"
FOLDERS = sorted(
    p for p in RESULTS.glob("*/") if (p / "config.toml").is_file() and (p / "runs.csv").is_file()
)

#: What a results folder holds (``structrob export STUDY --out FOLDER --report``).
REQUIRED_FILES = (
    "report.html",
    "runs.csv",
    "graphs.csv",
    "draws.csv",
    "correlations.csv",
    "config.toml",
    "environment.json",
    "stages.csv",
    "sessions.csv",
)
#: Weights and databases stay out of a results folder.
HEAVY_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors", ".npz", ".npy", ".sqlite", ".pkl")
MAX_BYTES = 10 * 1024 * 1024


def check_contents(folder: Path) -> None:
    """Assert ``folder`` holds every published file, figures and tables, and nothing heavy."""
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    assert not missing, f"{folder} lacks {missing}"
    assert list((folder / "figures").glob("*.png")), f"{folder}/figures holds no figure"
    assert list((folder / "tables").glob("*.csv")), f"{folder}/tables holds no table"
    files = [p for p in folder.rglob("*") if p.is_file()]
    heavy = [p.name for p in files if p.suffix in HEAVY_SUFFIXES or "sqlite" in p.name]
    assert not heavy, f"{folder} holds weights or a database: {heavy}"
    size = sum(p.stat().st_size for p in files)
    assert size < MAX_BYTES, f"{folder} holds {size} bytes, over {MAX_BYTES}"
    check_complete(folder)


def check_complete(folder: Path) -> None:
    """Assert each arm in ``folder`` is whole: every planned unit, every initialisation.

    An arm is in a folder when ``runs.csv`` has its rows (a folder written with ``structrob
    export --arm`` holds one). Its units (run ids are ``<unit>-<init>``) must be those its
    config plans (``graphs.count`` priors; ``pruning.repetitions x (pruning.steps + 1)``
    pruning steps), each with one run per initialisation of ``train.inits``, finished or
    failed, and every run's graph in ``graphs.csv``.
    """
    config = tomllib.loads((folder / "config.toml").read_text())
    inits = sorted(config["train"]["inits"])
    pruning = config.get("pruning", {})
    planned = {
        "prior": config["graphs"]["count"],
        "pruning": pruning.get("repetitions", 1) * (pruning.get("steps", 0) + 1),
    }
    graphs = pd.read_csv(folder / "graphs.csv")
    runs = read_runs(folder / "runs.csv")
    assert not runs.empty, f"{folder}/runs.csv holds no run"
    for arm, mine in runs.groupby("arm"):
        units = mine.groupby(mine["run_id"].str.split("-", n=1).str[0])["init"].apply(sorted)
        assert len(units) == planned[arm], (
            f"{folder}: {len(units)} {arm} units, {planned[arm]} planned"
        )
        short = [u for u, got in units.items() if got != inits]
        assert not short, f"{folder}: runs missing for {len(short)} {arm} units, e.g. {short[0]}"
    lost = set(runs["graph_id"]) - set(graphs["graph_id"])
    assert not lost, f"{folder}: {len(lost)} runs' graphs are not in graphs.csv"


#: Columns that measure time or name files: they differ between runs of the same science.
def _compared(columns: pd.Index) -> list[str]:
    return [c for c in columns if not c.endswith("_seconds") and c != "weights_path"]


def _measured(columns: list[str]) -> list[str]:
    """The trained networks' measures (clean and under attack), as opposed to the plan's
    columns (ids, seeds, graphs): float32 training makes them depend on the CPU's kernels."""
    attacks = tuple(f"{name}_" for name in ATTACKS)
    return [c for c in columns if c in (*CLEAN_MEASURES, "final_loss") or c.startswith(attacks)]


def read_runs(path: Path) -> pd.DataFrame:
    """A runs.csv with its seeds as exact integers (64-bit seeds; empty for pruning rows)."""
    return pd.read_csv(path, dtype={"seed": "Int64", "step": "Int64"})


def first_graph_runs(folder: Path) -> pd.DataFrame:
    """The committed runs of the prior arm's graph with the lowest draw index."""
    runs = read_runs(folder / "runs.csv")
    draws = pd.read_csv(folder / "draws.csv")
    prior = runs[runs["arm"] == "prior"]
    # a graph's seed is its draw's (derive_seed(seed, "graph", index)): that gives its index
    index_of = dict(zip(draws["seed"], draws["idx"]))
    first = min(
        prior["graph_id"].unique(),
        key=lambda g: index_of[prior.loc[prior["graph_id"] == g, "seed"].iloc[0]],
    )
    return prior[prior["graph_id"] == first].sort_values("run_id").reset_index(drop=True)


def check_reproduces(folder: Path, work: Path, data_root: Path) -> pd.DataFrame:
    """Run ``folder``'s config with one graph and no pruning; assert its first graph's runs.

    Returns the reproduced runs (the rows compared).
    """
    study, out = work / "study", work / "export"
    argv = ["run", "--config", str(folder / "config.toml"), "--out", str(study)]
    argv += ["--set", "graphs.count=1", "--set", "pruning.enabled=false"]
    # one worker (results do not depend on the workers); no report: only runs.csv is compared
    argv += ["--workers", "1", "--quiet", "--no-report", "--data-dir", str(data_root)]
    assert main(argv) == 0
    assert main(["export", str(study), "--out", str(out)]) == 0
    expected = first_graph_runs(folder)
    got = read_runs(out / "runs.csv")
    got = got[got["arm"] == "prior"].sort_values("run_id").reset_index(drop=True)
    columns = [c for c in _compared(expected.columns) if c in got.columns]
    for key in ("run_id", "graph_id", "seed", "init", "accuracy", "f1_macro", "fgsm_error_rate"):
        assert key in columns, key
    assert not set(_compared(got.columns)) - set(columns), "columns the folder lacks"
    # the full study's runs.csv also has the pruning arm's columns, empty in a prior's rows
    others = [c for c in _compared(expected.columns) if c not in columns]
    assert expected[others].isna().all().all(), others
    # values exactly; dtypes may differ (a column the pruning rows leave empty reads as float)
    measured = _measured(columns)
    plan = [c for c in columns if c not in measured]
    pd.testing.assert_frame_equal(got[plan], expected[plan], check_exact=True, check_dtype=False)
    environment = json.loads((folder / "environment.json").read_text())
    recorded = environment.get("cpu_capability")
    here = torch.backends.cpu.get_cpu_capability()
    # training's input layer is the compiled sparse product or, without the module, the dense
    # one: equal to rounding only (structrob._kernels.compiled_applies)
    compiled = environment.get("compiled_loops"), _compiled.available()
    try:
        pd.testing.assert_frame_equal(
            got[columns], expected[columns], check_exact=True, check_dtype=False
        )
    except AssertionError:
        if recorded == here and compiled[0] == compiled[1]:
            raise
        # another CPU's float32 kernels (or the other input layer) round differently, and 30
        # epochs amplify it: the networks differ, so their measures cannot be compared
        # exactly (the plan was)
        diff = (got[measured].astype(float) - expected[measured].astype(float)).abs().max()
        worst = ", ".join(f"{c} {diff[c]:.4g}" for c in ("accuracy", "fgsm_error_rate"))
        pytest.skip(
            f"{folder.name}: the plan's columns match exactly; the measures were made on a CPU "
            f"of capability {recorded or 'not recorded'} with compiled_loops {compiled[0]} and "
            f"this one is {here} with {compiled[1]}: their float32 trainings round differently "
            f"(largest differences: {worst})"
        )
    return got[columns]


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_results_folder_is_complete_and_light(folder):
    check_contents(folder)


@pytest.mark.slow
@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_results_folder_reproduces_its_first_graph(folder, tmp_path, mnist_dir):
    check_reproduces(folder, tmp_path, mnist_dir)


def test_checks_pass_on_a_freshly_exported_study_and_catch_changes(
    published_study, tmp_path, mnist_dir
):
    results = published_study["results"]
    check_contents(results)
    got = check_reproduces(results, tmp_path, mnist_dir)
    committed = read_runs(results / "runs.csv")
    assert len(got) == 2 and got["graph_id"].nunique() == 1  # its two initialisations
    assert got["graph_id"].iloc[0] in set(committed["graph_id"])

    changed = tmp_path / "changed"
    shutil.copytree(results, changed)
    (changed / "weights.pt").write_bytes(b"x")
    with pytest.raises(AssertionError, match="weights or a database"):
        check_contents(changed)
    (changed / "weights.pt").unlink()
    full = read_runs(results / "runs.csv")
    full.drop(index=full.index[-1]).to_csv(changed / "runs.csv", index=False)
    with pytest.raises(AssertionError, match="runs missing for 1 pruning units"):
        check_contents(changed)
    first = first_graph_runs(changed)
    committed.loc[committed["run_id"] == first["run_id"].iloc[0], "accuracy"] += 1e-9
    committed.to_csv(changed / "runs.csv", index=False)
    # the same work folder: the study resumes with nothing to run, only the comparison differs
    with pytest.raises(AssertionError, match="accuracy"):
        check_reproduces(changed, tmp_path, mnist_dir)
    # made on a CPU of another capability: the measures are not compared, and the skip says why
    env = json.loads((changed / "environment.json").read_text())
    (changed / "environment.json").write_text(json.dumps({**env, "cpu_capability": "OTHER"}))
    with pytest.raises(pytest.skip.Exception, match="capability OTHER .* round differently"):
        check_reproduces(changed, tmp_path, mnist_dir)
    # ... or without the compiled module (the dense input layer): the same
    here = torch.backends.cpu.get_cpu_capability()
    changed_env = {**env, "cpu_capability": here, "compiled_loops": not _compiled.available()}
    (changed / "environment.json").write_text(json.dumps(changed_env))
    with pytest.raises(pytest.skip.Exception, match="compiled_loops False .* round differently"):
        check_reproduces(changed, tmp_path, mnist_dir)
    # ... but the plan's columns still are, exactly
    committed.loc[committed["run_id"] == first["run_id"].iloc[0], "n_parameters"] += 1
    committed.to_csv(changed / "runs.csv", index=False)
    with pytest.raises(AssertionError, match="n_parameters"):
        check_reproduces(changed, tmp_path, mnist_dir)
