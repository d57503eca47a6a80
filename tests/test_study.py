"""Tests for structrob.study: config, planning, the SQLite store, resume, executors."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from structrob.seeds import derive_seed
from structrob.study import analysis, runner
from structrob.study import config as cfg
from structrob.study.plan import PlanError, plan_units, sample_graphs
from structrob.study.records import UnitPayload
from structrob.study.store import Store

TINY = """
name = "tiny"
seed = 3
[graphs]
count = 4
min_parameters = 0
max_parameters = 1000000
[graphs.grid]
size = [30, 40]
nei = [2]
p = [0.5, 0.9]
[train]
inits = ["he_uniform", "normal"]
epochs = 1
train_images = 600
[attacks.fgsm]
images = 200
[attacks.min_fgsm]
images = 200
max_eps = 0.3
[attacks.onepixel]
pop_size = 8
max_iter = 2
images = 3
[attacks.pgd]
enabled = true
steps = 2
images = 50
[pruning]
enabled = true
widths = [8, 6, 4]
steps = 2
retrain_epochs = 1
"""


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return cfg.load_config(path)


def metric_table(directory):
    runs = Store(directory).runs_frame()
    drop = ["train_seconds", "attack_seconds"]
    return runs.drop(columns=drop).sort_values("run_id").reset_index(drop=True)


# -- config ---------------------------------------------------------------------------------
def test_presets_load_and_paper_preset_is_the_study():
    assert {"paper", "quick", "pruning"} <= set(cfg.list_presets())
    paper = cfg.load_preset("paper")
    assert paper.graphs.grid == {
        "size": [250, 300, 350, 400, 500],
        "nei": [2, 4, 6, 8, 10, 20],
        "p": [0.5, 0.6, 0.7, 0.8, 0.9],
    }
    assert (paper.graphs.count, paper.graphs.min_parameters, paper.graphs.max_parameters) == (
        100,
        50_000,
        91_000,
    )
    assert (paper.train.epochs, paper.train.batch_size, paper.train.lr, len(paper.train.inits)) == (
        30,
        128,
        1e-3,
        6,
    )
    assert (paper.attacks.fgsm.eps, paper.attacks.fgsm.images) == (0.1, None)
    # the paper's 500 ran as 498 in the study code (scipy's popsize is per parameter); the
    # paper's own number stays in paper_text
    text = cfg.load_preset("paper_text").attacks.onepixel
    assert (text.pop_size, text.max_iter, text.images) == (500, 500, 100)
    one_pixel = paper.attacks.onepixel
    assert (one_pixel.pop_size, one_pixel.max_iter, one_pixel.images) == (498, 500, 100)
    assert (
        paper.pruning.enabled
        and paper.pruning.steps == 20
        and paper.pruning.widths == [50, 100, 100, 50]
    )
    pruning = cfg.load_preset("pruning")
    assert not pruning.priors and pruning.pruning.enabled


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[train]\nepoch = 3\n[graphs]\ngenerator = "lattice"\n')
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load_config(path)
    assert "train.epoch: unknown key" in str(info.value)
    assert "graphs.generator" in str(info.value) and "watts_strogatz" in str(info.value)
    with pytest.raises(cfg.ConfigError, match="allowed here"):
        cfg.apply_overrides(cfg.load_preset("quick"), ["train.epoch=3"])
    with pytest.raises(cfg.ConfigError, match="greater than or equal to 1"):
        cfg.apply_overrides(cfg.load_preset("quick"), ["train.epochs=0"])
    with pytest.raises(cfg.ConfigError, match="grid of watts_strogatz needs"):
        cfg.apply_overrides(cfg.load_preset("quick"), ["graphs.grid.m=[2]"])


def test_overrides_and_toml_round_trip(tmp_path):
    config = cfg.apply_overrides(
        cfg.load_preset("paper"), ["train.epochs=5", "graphs.grid.nei=[2, 4]", "device=cpu"]
    )
    assert (
        config.train.epochs == 5 and config.graphs.grid["nei"] == [2, 4] and config.device == "cpu"
    )
    path = tmp_path / "out.toml"
    path.write_text(cfg.to_toml(config))
    assert cfg.load_config(path) == config
    # runtime settings do not change the science hash
    a = cfg.config_hash(cfg.science(config))
    assert a == cfg.config_hash(
        cfg.science(cfg.apply_overrides(config, ["workers=7", "executor=ray"]))
    )
    assert a != cfg.config_hash(cfg.science(cfg.apply_overrides(config, ["seed=1"])))


# -- planning -------------------------------------------------------------------------------
def test_sampling_is_seeded_and_respects_the_range(tiny_config):
    draws = sample_graphs(tiny_config)
    assert draws == sample_graphs(tiny_config)
    assert sum(d.accepted for d in draws) == 4
    narrow = cfg.apply_overrides(
        tiny_config, ["graphs.min_parameters=3000", "graphs.max_parameters=5000"]
    )
    for d in sample_graphs(narrow):
        assert d.accepted == (3000 <= d.n_parameters <= 5000)
    assert derive_seed(3, "graph", 1) == sample_graphs(tiny_config)[1].seed


def test_the_order_of_the_grid_keys_does_not_change_the_draws(tmp_path):
    """A grid is a set of axes: a file listing them in another order (as a config.toml written
    from the store's sorted JSON does) gives the same grid points, drawn in signature order."""
    from structrob.study.exports import config_text
    from structrob.study.store import Store

    config = cfg.apply_overrides(cfg.load_preset("paper"), ["graphs.count=3"])
    assert list(config.graphs.grid) == cfg.grid_axes("watts_strogatz") == ["size", "nei", "p"]
    expected = [(d.index, d.params, d.seed, d.accepted) for d in sample_graphs(config)]
    # the draws as the sampler's rule states them, computed here without it
    for index, params, _, _ in expected:
        rng = np.random.default_rng(derive_seed(config.seed, "grid", index))
        assert params == {k: v[int(rng.integers(len(v)))] for k, v in config.graphs.grid.items()}
    size, nei, p = (f"{k} = {config.graphs.grid[k]}" for k in ("size", "nei", "p"))
    reordered = cfg.preset_text("paper").replace(f"{size}\n{nei}\n{p}", f"{p}\n{nei}\n{size}")
    assert reordered != cfg.preset_text("paper")
    path = tmp_path / "reordered.toml"
    path.write_text(reordered + "\n")
    other = cfg.apply_overrides(cfg.load_config(path), ["graphs.count=3"])
    assert [(d.index, d.params, d.seed, d.accepted) for d in sample_graphs(other)] == expected
    # through the store (JSON with sorted keys) and the exported config.toml
    store = Store(tmp_path / "study")
    store.set_meta(config=config.model_dump(mode="json"))
    path.write_text(config_text(store))
    again = cfg.load_config(path)
    assert list(again.graphs.grid) == ["size", "nei", "p"]
    assert [(d.index, d.params, d.seed, d.accepted) for d in sample_graphs(again)] == expected


def test_unreachable_range_says_what_was_tried(tiny_config):
    config = cfg.apply_overrides(
        tiny_config,
        ["graphs.min_parameters=10000000", "graphs.max_parameters=20000000", "graphs.max_draws=30"],
    )
    with pytest.raises(PlanError) as info:
        sample_graphs(config)
    message = str(info.value)
    assert "0 of 4 graphs" in message and "'size': 30" in message and "parameters (" in message


def test_unit_ids_hash_the_configuration(tiny_config):
    units = plan_units(tiny_config, sample_graphs(tiny_config))
    assert [u.arm for u in units] == ["prior"] * 4 + ["pruning"] * 3
    assert units[5].depends_on == units[4].unit_id and units[4].depends_on is None
    same = plan_units(tiny_config, sample_graphs(tiny_config))
    assert [u.unit_id for u in units] == [u.unit_id for u in same]
    other = plan_units(
        cfg.apply_overrides(tiny_config, ["train.epochs=2"]), sample_graphs(tiny_config)
    )
    assert not {u.unit_id for u in units} & {u.unit_id for u in other}


# -- running --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory, mnist_dir):
    directory = tmp_path_factory.mktemp("study") / "tiny"
    path = directory.parent / "tiny.toml"
    path.write_text(TINY)
    config = cfg.apply_overrides(cfg.load_config(path), ["workers=1"])
    runner.run_study(
        config, directory, data_root=str(mnist_dir), progress=False, log=lambda _: None
    )
    return config, directory


def test_study_stores_every_unit_run_and_draw(tiny_study):
    config, directory = tiny_study
    store = Store(directory)
    runs, graphs, draws = store.runs_frame(), store.graphs_frame(), store.draws_frame()
    assert len(graphs) == 4 + 3 and len(runs) == 2 * 7
    assert set(runs["status"]) == {"ok"}
    assert draws["accepted"].sum() == 4
    prior = runs[runs["arm"] == "prior"]
    for column in (
        "accuracy",
        "f1_macro",
        "fgsm_error_rate",
        "min_fgsm_n_censored",
        "onepixel_error_rate",
        "pgd_error_rate",
    ):
        assert prior[column].notna().all(), column
    # average eps is defined over fooled images only: NaN exactly where none was fooled
    assert (prior["min_fgsm_avg_eps"].isna() == (prior["min_fgsm_n_success"] == 0)).all()
    assert (
        prior["min_fgsm_n_success"] + prior["min_fgsm_n_censored"] == prior["min_fgsm_n_correct"]
    ).all()
    assert "fgsm_avg_eps" not in runs.columns  # FGSM has no minimal eps
    assert {"dag_density", "prior_density", "dag_layers", "dag_parameters"} <= set(graphs.columns)
    pruned = graphs[graphs["arm"] == "pruning"].sort_values("step")
    # 8*6 + 6*4 = 72 hidden connections, then 20% removed per step with an exact count
    assert pruned["dag_edges"].tolist() == [72, 58, 46]
    assert pruned["removed_edges"].tolist()[1:] == [14, 12]
    assert all((directory / path).is_file() for path in runs["weights_path"])


def test_rerun_skips_finished_units_and_changed_settings_are_refused(tiny_study, mnist_dir):
    config, directory = tiny_study
    before = metric_table(directory)
    messages = []
    runner.run_study(
        config, directory, data_root=str(mnist_dir), progress=False, log=messages.append
    )
    assert "0 to run" in messages[0]
    pd.testing.assert_frame_equal(metric_table(directory), before)
    with pytest.raises(runner.StudyError, match="train.epochs: 1 -> 2"):
        runner.run_study(
            cfg.apply_overrides(config, ["train.epochs=2"]),
            directory,
            progress=False,
            log=lambda _: None,
        )


def test_saved_weights_reload_without_retraining(tiny_study, mnist):
    from structrob.train import evaluate

    _, directory = tiny_study
    runs = Store(directory).runs_frame()
    for _, row in runs.iloc[[0, -1]].iterrows():
        net = analysis.load_run_model(directory, row["run_id"])
        (metrics,) = evaluate(net, mnist.test_x, mnist.test_y)
        assert metrics["accuracy"] == pytest.approx(row["accuracy"], abs=1e-12)


def test_export_writes_flat_tables(tiny_study):
    _, directory = tiny_study
    paths = analysis.export(directory, "csv")
    runs = pd.read_csv(directory / "runs.csv")
    graphs = pd.read_csv(directory / "graphs.csv")
    correlations = pd.read_csv(directory / "correlations.csv")
    assert len(runs) == 14 and "dag_density" in runs.columns and "fgsm_error_rate" in runs.columns
    assert len(graphs) == 7
    assert {
        "arm",
        "property",
        "measure",
        "rho",
        "rho_q",
        "tau",
        "partial_rho",
        "n_graphs",
        "strength",
    } <= set(correlations.columns)
    assert set(correlations["arm"]) == {"prior", "pruning"}
    analysis.export(directory, "parquet")
    assert len(pd.read_parquet(directory / "runs.parquet")) == 14
    assert [p.name for p in paths] == [
        "runs.csv",
        "graphs.csv",
        "draws.csv",
        "correlations.csv",
        "config.toml",
        "environment.json",
        "stages.csv",
        "sessions.csv",
    ]


def test_one_structrob_run_computes_the_correlation_table_once(
    tiny_study, tmp_path, mnist_dir, monkeypatch, capsys
):
    """The driver's analysis feeds the report and the headline: one table per arm, once."""
    from structrob import stats
    from structrob.cli import main

    _, directory = tiny_study
    real, calls = stats.correlation_table, []

    def counting(*args, **kwargs):
        calls.append(kwargs["n_boot"])
        return real(*args, **kwargs)

    monkeypatch.setattr(stats, "correlation_table", counting)
    config_path = tmp_path / "tiny.toml"
    config_path.write_text(TINY)
    argv = ["run", "--config", str(config_path), "--out", str(directory), "--workers", "1"]
    code = main([*argv, "--quiet", "--data-dir", str(mnist_dir)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 to run" in out
    assert calls == [1000, 1000]  # prior and pruning arms, each once
    assert (directory / "report.html").is_file()
    header = out.split("strongest correlations")[1].splitlines()[1]
    assert header.split()[:3] == ["arm", "property", "measure"]


def test_status_by_stage(tiny_study):
    _, directory = tiny_study
    table = analysis.status(directory).set_index("stage")
    assert table.loc["graph priors", ["planned", "done", "pending"]].tolist() == [4, 4, 0]
    assert table.loc["pruning steps", ["planned", "done", "pending"]].tolist() == [3, 3, 0]
    draws = Store(directory).draws_frame()
    assert table.loc["sample graphs", ["planned", "done"]].tolist() == [len(draws), 4]


def test_failing_unit_is_retried_recorded_and_does_not_stop_the_study(
    tmp_path, tiny_config, mnist_dir, monkeypatch
):
    from structrob.study import units

    real = units.run_unit
    calls = []

    def flaky(spec, payload):
        calls.append(getattr(spec, "index", None))
        if (
            getattr(spec, "index", None) == sample_graphs(tiny_config)[0].index
            and spec.arm == "prior"
        ):
            raise RuntimeError("boom")
        return real(spec, payload)

    monkeypatch.setattr(units, "run_unit", flaky)
    config = cfg.apply_overrides(tiny_config, ["workers=1", "retries=2", "pruning.enabled=false"])
    store = runner.run_study(
        config, tmp_path / "s", data_root=str(mnist_dir), progress=False, log=lambda _: None
    )
    failed = store.failed_units()
    assert len(failed) == 1 and "RuntimeError: boom" in next(iter(failed.values()))
    assert calls.count(sample_graphs(tiny_config)[0].index) == 3  # first try + 2 retries
    assert len(store.graphs_frame()) == 3
    table = analysis.status(tmp_path / "s").set_index("stage")
    assert table.loc["graph priors", ["planned", "done", "failed", "pending"]].tolist() == [
        4,
        3,
        1,
        0,
    ]


def _run_cli(directory, config_path, mnist_dir, extra=()):
    env = {**os.environ, "STRUCTROB_DATA": str(mnist_dir)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "structrob.cli",
            "run",
            "--config",
            str(config_path),
            "--out",
            str(directory),
            "--quiet",
            "--no-report",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_kill_minus_nine_then_resume_equals_uninterrupted_run(tmp_path, tiny_study, mnist_dir):
    """A study process killed with SIGKILL mid-run resumes to the same tables."""
    _, reference = tiny_study
    config_path = tmp_path / "tiny.toml"
    config_path.write_text(TINY)
    directory = tmp_path / "killed"
    process = _run_cli(directory, config_path, mnist_dir, ["--workers", "1"])
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and process.poll() is None:
        if (directory / "study.sqlite").exists():
            try:
                with sqlite3.connect(directory / "study.sqlite", timeout=5) as db:
                    done = db.execute(
                        "SELECT COUNT(*) FROM units WHERE status = 'done'"
                    ).fetchone()[0]
            except sqlite3.OperationalError:
                done = 0
            if done >= 2:
                break
        time.sleep(0.05)
    assert process.poll() is None, "the study finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 2 <= len(Store(directory).finished_units()) < 7
    resumed = _run_cli(directory, config_path, mnist_dir, ["--workers", "1"])
    output = resumed.communicate(timeout=300)[0].decode()
    assert resumed.returncode == 0, output
    pd.testing.assert_frame_equal(
        metric_table(directory).drop(columns="weights_path"),
        metric_table(reference).drop(columns="weights_path"),
    )


def test_process_pool_gives_the_same_results(tmp_path, tiny_study, tiny_config, mnist_dir):
    _, reference = tiny_study
    config = cfg.apply_overrides(tiny_config, ["workers=2"])
    runner.run_study(
        config, tmp_path / "pool", data_root=str(mnist_dir), progress=False, log=lambda _: None
    )
    pd.testing.assert_frame_equal(
        metric_table(tmp_path / "pool").drop(columns="weights_path"),
        metric_table(reference).drop(columns="weights_path"),
    )


def test_the_pool_starts_before_the_checks_and_stops_when_they_fail(
    tmp_path, tiny_config, monkeypatch
):
    """The workers import while the driver checks and samples; an error stops them at once."""
    import multiprocessing

    seen, wait_for = [], [2]
    refused = []

    def refuse(config):
        # the pool's helper thread starts the workers while the driver goes on: wait for them
        deadline = time.perf_counter() + 60
        while len(multiprocessing.active_children()) < wait_for[0]:
            assert time.perf_counter() < deadline
            time.sleep(0.02)
        seen.append(len(multiprocessing.active_children()))
        refused.append(time.perf_counter())
        raise cfg.ConfigError("device: refused")

    monkeypatch.setattr(runner, "check_settings", refuse)
    config = cfg.apply_overrides(tiny_config, ["workers=2"])
    with pytest.raises(cfg.ConfigError, match="device: refused"):
        runner.run_study(config, tmp_path / "s", progress=False, log=lambda _: None)
    assert seen == [2]  # both workers were being started before the checks
    assert multiprocessing.active_children() == []
    assert time.perf_counter() - refused[0] < 10  # stopped, not waited for
    assert not (tmp_path / "s").exists()
    # one worker (in process) or a dry run: nothing is started early
    wait_for[0] = 0
    for overrides in (["workers=1"], ["workers=2"]):
        seen.clear()
        config = cfg.apply_overrides(tiny_config, overrides)
        with pytest.raises(cfg.ConfigError):
            runner.run_study(config, tmp_path / "s", dry_run=overrides == ["workers=2"])
        assert seen == [0]


def test_a_started_worker_that_died_is_replaced_for_the_first_unit(tiny_config, mnist_dir):
    from structrob.study.executors import LocalExecutor

    executor = LocalExecutor(workers=1).start().started()
    try:
        (pid,) = list(executor._pool._processes)
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 60
        while not executor._pool._broken and time.time() < deadline:
            time.sleep(0.05)
        assert executor._pool._broken
        unit = plan_units(tiny_config, sample_graphs(tiny_config))[0]
        handle = executor.submit(unit.spec, UnitPayload(data_root=str(mnist_dir), device="cpu"))
        ((_, record),) = executor.wait([handle])
        assert [run.init for run in record.runs] == list(tiny_config.train.inits)
    finally:
        executor.close()


def test_dead_worker_comes_back_as_a_failure(tmp_path, tiny_config, mnist_dir):
    from structrob.study.executors import LocalExecutor

    executor = LocalExecutor(workers=1)
    try:
        unit = plan_units(tiny_config, sample_graphs(tiny_config))[0]
        handle = executor.submit(unit.spec, UnitPayload(data_root=str(mnist_dir), device="cpu"))
        deadline = time.time() + 60
        while not executor._pool._processes and time.time() < deadline:
            time.sleep(0.05)
        for pid in list(executor._pool._processes):
            os.kill(pid, signal.SIGKILL)
        ((_, record),) = executor.wait([handle])
        assert "worker failed" in record.error
        # the pool was replaced and runs the next unit
        again = executor.submit(unit.spec, UnitPayload(data_root=str(mnist_dir), device="cpu"))
        ((_, record),) = executor.wait([again])
        assert hasattr(record, "runs")
    finally:
        executor.close()


def test_ray_executor_gives_the_same_results(tmp_path, tiny_study, tiny_config, mnist_dir):
    pytest.importorskip("ray")
    _, reference = tiny_study
    config = cfg.apply_overrides(tiny_config, ["executor=ray", "pruning.enabled=false"])
    directory = tmp_path / "r"
    runner.run_study(
        config, directory, data_root=str(mnist_dir), progress=False, log=lambda _: None
    )
    assert (directory / "ray").is_dir()  # Ray's temporary files stay in the study directory
    got = metric_table(directory).drop(columns="weights_path")
    want = metric_table(reference).drop(columns="weights_path")
    want = want[want["arm"] == "prior"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


def _print_unflushed(text: str) -> int:
    sys.stdout.write(text)  # no newline, no flush: left in the buffer when the worker exits
    return os.getpid()


def test_pool_workers_exit_at_once_with_their_output_written(capfd):
    """Workers skip the interpreter's teardown at exit, but write what they printed first."""
    from structrob.study.executors import LocalExecutor, stop_helper_processes

    # workers write to the file descriptors of the fork server, which an earlier test may
    # have started under another capture: start a fresh one under this test's
    stop_helper_processes()
    executor = LocalExecutor(workers=1)
    pid = executor._pool.submit(_print_unflushed, "worker says hello").result(timeout=120)
    (process,) = executor._pool._processes.values()
    executor.close()
    assert process.exitcode == 0 and not os.path.exists(f"/proc/{pid}")
    assert "worker says hello" in capfd.readouterr().out


def test_units_are_handed_out_largest_network_first(tiny_config):
    """Pruning chains first (their steps run in sequence), then priors by falling parameter
    count (draw order among equals)."""
    from structrob.study.records import Draw

    sizes = [500, 900, 700, 900, 100]
    draws = [Draw(i, "watts_strogatz", {"size": 20}, i, n, n != 100) for i, n in enumerate(sizes)]
    config = cfg.apply_overrides(tiny_config, ["pruning.steps=2"])
    order = runner.submission_order(plan_units(config, draws), draws)
    assert [u.spec.index for u in order if u.arm == "prior"] == [1, 3, 2, 0]
    assert [u.spec.step for u in order if u.arm == "pruning"] == [0, 1, 2]
    assert [u.arm for u in order] == ["pruning"] * 3 + ["prior"] * 4


def test_a_study_run_leaves_no_thread_so_the_report_draws_in_forked_processes(tmp_path, mnist_dir):
    # tqdm's monitor thread, started by the progress bars, kept write_report from forking
    (tmp_path / "tiny.toml").write_text(TINY)
    script = f"""
import threading
from structrob.report import page
from structrob.study import config, runner
cfg = config.apply_overrides(config.load_config({str(tmp_path / "tiny.toml")!r}),
                             ["graphs.count=3", "pruning.enabled=false", "workers=1"])
runner.run_study(cfg, {str(tmp_path / "s")!r}, data_root={str(mnist_dir)!r}, progress=False,
                 log=lambda _: None)
print(threading.active_count(), page._can_fork())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-2:] == ["1", "True"]


def test_pool_workers_load_the_data_and_igraph_as_they_start(mnist_dir):
    """So a worker's first unit does not wait for them (most of a second each)."""
    import multiprocessing

    from structrob.study.executors import LocalExecutor

    warm = "bool(__import__('structrob.data').data._cache), 'igraph' in __import__('sys').modules"
    # igraph: a fork server imports it for every worker (WORKER_MODULES), else the warm-up
    preloaded = "forkserver" in multiprocessing.get_all_start_methods()
    for data, expected in ((None, (False, preloaded)), (("mnist", str(mnist_dir)), (True, True))):
        pool = LocalExecutor(workers=1, data=data).start()
        try:
            assert pool._pool.submit(eval, warm).result(timeout=120) == expected
        finally:
            pool.close()


def test_a_valid_configs_analysis_section_makes_valid_analysis_settings():
    """run_and_analyse makes its settings after the units, trusting the config's validation."""
    from typing import get_args

    from structrob import stats
    from structrob.study.analysis import PROPERTY_SETS
    from structrob.study.config import AnalysisConfig

    fields = AnalysisConfig.model_fields
    assert get_args(fields["outlier_rule"].annotation) == stats.OUTLIER_RULES
    assert get_args(fields["pruning_rows"].annotation) == stats.PRUNING_ROWS
    assert get_args(fields["properties"].annotation) == PROPERTY_SETS


@pytest.mark.skipif(
    "forkserver" not in __import__("multiprocessing").get_all_start_methods(),
    reason="no fork server on this platform: the workers are spawned",
)
def test_pool_workers_are_forked_from_a_server_that_imported_torch_once():
    from multiprocessing import forkserver

    from structrob.study.executors import WORKER_MODULES, LocalExecutor, stop_helper_processes

    stop_helper_processes()
    pool = LocalExecutor(workers=2).start().started()
    try:
        imported = (
            "'structrob.study.units' in __import__('sys').modules, __import__('os').getppid()"
        )
        results = {pool._pool.submit(eval, imported).result(timeout=120) for _ in range(4)}
        server = forkserver._forkserver._forkserver_pid
        assert results == {(True, server)}  # forked from the server, the modules inherited
        assert "structrob.study.units" in WORKER_MODULES
    finally:
        pool.close()
    stop_helper_processes()
    assert forkserver._forkserver._forkserver_pid is None


def test_the_driver_imports_the_analysis_once_a_worker_idles_to_the_end(
    tiny_config, tmp_path, mnist_dir, monkeypatch
):
    """Three units on two workers: after the second finishes, one runs and a core is idle."""
    calls = []
    monkeypatch.setattr(runner, "_prepare_analysis", lambda: calls.append(1))
    config = cfg.apply_overrides(
        tiny_config, ["graphs.count=3", "pruning.enabled=false", "workers=2"]
    )
    runner.run_study(
        config, tmp_path / "s", data_root=str(mnist_dir), progress=False, log=lambda _: None
    )
    assert calls == [1]
    calls.clear()
    config = cfg.apply_overrides(config, ["workers=1"])  # in process: no worker idles
    runner.run_study(
        config, tmp_path / "t", data_root=str(mnist_dir), progress=False, log=lambda _: None
    )
    assert calls == []
