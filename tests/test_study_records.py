"""Tests for the study's records, settings checks, store schema and status (no training)."""

import os
import pickle
import sqlite3
import subprocess
import sys
import time

import pytest

from structrob.cli import main
from structrob.study import analysis, runner, units
from structrob.study import config as cfg
from structrob.study.plan import Unit, plan_units, sample_graphs
from structrob.study.records import (
    Draw,
    GraphRecord,
    PriorSpec,
    PruningSpec,
    RunRecord,
    UnitFailure,
    UnitPayload,
    UnitResult,
)
from structrob.study.store import Store
from tests.test_study import TINY


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return cfg.load_config(path)


# -- identities: the refactoring must not change a single id, hash or seed -----------------
def test_science_hashes_and_unit_ids_are_unchanged(tiny_config):
    """Values computed with the code before the typed records and the ``arm`` rename."""
    hashes = {p: cfg.config_hash(cfg.science(cfg.load_preset(p))) for p in cfg.list_presets()}
    # the study code's procedure changed `paper`; the former `paper` lives on as `paper_text`
    assert hashes == {
        "paper": "494716e23b080568",
        "paper_text": "37843e8905b2a48f",
        "pruning": "2064ed3ee356473f",
        "quick": "d122078ecb4be468",
    }
    assert cfg.config_hash(cfg.science(tiny_config)) == "a1dbd8b599e5f4f5"
    planned = [(u.arm, u.unit_id) for u in plan_units(tiny_config, sample_graphs(tiny_config))]
    assert planned == [
        ("prior", "ef6695f8abd1e872"),
        ("prior", "f8c2e239a2cf32db"),
        ("prior", "b3624c0d3cd12eac"),
        ("prior", "f388f2760382194a"),
        ("pruning", "095f158577425b4c"),
        ("pruning", "299342baf503617e"),
        ("pruning", "32def0233c21c8b6"),
    ]


def test_records_are_frozen_and_pickle(tiny_config):
    draws = sample_graphs(tiny_config)
    plan = plan_units(tiny_config, draws)
    assert isinstance(plan[0].spec, PriorSpec) and isinstance(plan[-1].spec, PruningSpec)
    assert plan[0].spec.step is None and plan[-1].spec.step == 2
    graph = GraphRecord("dense_layered", {"widths": [2, 2]}, None, 10, 4, [[0, 2]], {}, {})
    run = RunRecord("normal", 0, "ok", None, {"accuracy": 0.5}, b"weights")
    records = [
        draws[0],
        plan[0],
        plan[-1],
        UnitPayload(device="cpu", previous_weights=b"w"),
        UnitResult("ab", "pruning", 1, graph, (run,), {"train": 1.0}, b"stacked"),
        UnitFailure("ab", "RuntimeError: boom", "Traceback ..."),
    ]
    for record in records:
        again = pickle.loads(pickle.dumps(record))
        assert again == record
        with pytest.raises(AttributeError):
            record.__setattr__(next(iter(record.__dataclass_fields__)), None)
    assert pickle.loads(pickle.dumps(plan[0])).unit_id == plan[0].unit_id


def test_unit_is_identified_by_its_spec(tiny_config):
    spec = PruningSpec.from_config(tiny_config, step=1)
    assert Unit(spec).unit_id == spec.unit_id == cfg.config_hash(spec.identity())
    with pytest.raises(ValueError, match="step must be an integer in \\[0, 2\\]"):
        PruningSpec.from_config(tiny_config, step=3)


# -- settings checked when a study starts ---------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "key", "hint"),
    [
        (["attacks.min_fgsm.start=0"], "attacks.min_fgsm.start", "set it to a number > 0"),
        (["attacks.min_fgsm.start=2"], "attacks.min_fgsm.start", "<= 1.0"),
        (
            ["attacks.min_fgsm.start=0.5", "attacks.min_fgsm.max_eps=0.3"],
            "attacks.min_fgsm.max_eps",
            "set it to a number >= 0.5",
        ),
    ],
)
def test_attack_settings_are_checked_when_a_study_starts(
    tiny_config, tmp_path, monkeypatch, overrides, key, hint
):
    started = []
    monkeypatch.setattr(runner, "sample_graphs", lambda *a: started.append("sample") or [])
    monkeypatch.setattr(units, "run_unit", lambda *a: started.append("unit"))
    config = cfg.apply_overrides(tiny_config, ["workers=1", *overrides])
    directory = tmp_path / "study"
    with pytest.raises(cfg.ConfigError) as info:
        runner.run_study(config, directory, progress=False, log=lambda _: None)
    message = str(info.value)
    assert message.startswith(f"{key}: must be ") and hint in message
    assert "\n" not in message
    assert not directory.exists()  # no store, no draws, no unit, no weights
    assert started == []


def test_valid_and_disabled_attack_settings_pass_the_check(tiny_config):
    runner.check_settings(tiny_config)
    runner.check_settings(cfg.apply_overrides(tiny_config, ["attacks.onepixel.strategy=best1bin"]))
    config = cfg.apply_overrides(
        tiny_config, ["attacks.min_fgsm.start=0", "attacks.min_fgsm.enabled=false"]
    )
    runner.check_settings(config)


def test_cli_refuses_a_bad_attack_setting_before_training(tmp_path):
    """``structrob run`` stops in seconds with one line: no sampling, training or traceback."""
    out = tmp_path / "study"
    command = [sys.executable, "-m", "structrob.cli", "run", "--preset", "quick", "--quiet"]
    command += ["--set", "attacks.min_fgsm.start=0", "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
    seconds = time.perf_counter() - start
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "error: attacks.min_fgsm.start: must be a number > 0.0 and <= 1.0, got 0.0; "
        "set it to a number > 0.0 and <= 1.0"
    ]
    assert not out.exists()
    assert seconds < 60  # the interpreter and torch start; the quick study would take minutes


def test_cli_bad_attack_setting_in_process(tmp_path, capsys):
    out = tmp_path / "study"
    code = main(["run", "--set", "attacks.min_fgsm.start=0", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1 and "attacks.min_fgsm.start: must be" in captured.err
    assert "Traceback" not in captured.err and not out.exists()


def test_analysis_settings_are_checked():
    with pytest.raises(ValueError, match="n_boot must be an integer >= 0"):
        analysis.AnalysisSettings(n_boot=1.5)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        analysis.AnalysisSettings(seed=-1)


# -- store and status -------------------------------------------------------------------------
FORMER_SCHEMA = """
CREATE TABLE units (unit_id TEXT PRIMARY KEY, kind TEXT NOT NULL, step INTEGER,
    status TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT, timings TEXT, finished_at REAL);
CREATE TABLE graphs (graph_id TEXT PRIMARY KEY, study TEXT NOT NULL, step INTEGER,
    generator TEXT NOT NULL, params TEXT NOT NULL, seed INTEGER, n_parameters INTEGER NOT NULL,
    n_vertices INTEGER NOT NULL, edges TEXT NOT NULL, properties TEXT NOT NULL,
    distributions TEXT NOT NULL);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, graph_id TEXT NOT NULL, study TEXT NOT NULL,
    step INTEGER, init TEXT NOT NULL, copy INTEGER NOT NULL, status TEXT NOT NULL, error TEXT,
    metrics TEXT NOT NULL, train_seconds REAL, attack_seconds REAL, weights TEXT);
INSERT INTO units VALUES ('u1', 'prior', NULL, 'done', 1, NULL, '{}', 0);
INSERT INTO graphs VALUES ('u1', 'prior', NULL, 'watts_strogatz', '{"size": 30}', 5, 900, 30,
    '[]', '{"dag_layers": 3}', '{}');
INSERT INTO runs VALUES ('u1-normal', 'u1', 'prior', NULL, 'normal', 0, 'ok', NULL,
    '{"accuracy": 0.5}', 1.0, 2.0, 'weights/u1-normal.pt');
"""


def test_a_store_written_before_the_arm_column_is_renamed_in_place(tmp_path):
    with sqlite3.connect(tmp_path / "study.sqlite") as db:
        db.executescript(FORMER_SCHEMA)
    store = Store(tmp_path)
    assert store.runs_frame()[["run_id", "arm"]].values.tolist() == [["u1-normal", "prior"]]
    assert store.graphs_frame()["arm"].tolist() == ["prior"]
    assert store.units_frame()["arm"].tolist() == ["prior"]
    assert store.run_weights("u1-normal") == ("u1", "prior", tmp_path / "weights/u1-normal.pt")
    assert store.finished_units() == {"u1"}


def test_status_reports_draws_and_accepted_graphs_apart(tmp_path):
    store = Store(tmp_path)
    store.set_meta(config={"graphs": {"count": 2}}, planned={"prior": 2})
    store.save_draws(
        Draw(i, "watts_strogatz", {"size": 30}, i, 1000 + i, i in (3, 6)) for i in range(7)
    )
    table = analysis.status(tmp_path).set_index("stage")
    row = table.loc["sample graphs"]
    assert [row["planned"], row["done"], row["pending"]] == [2, 2, 0]
    assert row["detail"] == "7 draws, 2 accepted (2 planned)"
    assert table.loc["graph priors", ["planned", "done", "pending"]].tolist() == [2, 0, 2]
