"""Tests for a study's export: config.toml, environment.json, stages and the driver's sessions."""

import datetime as dt
import json
import os
import shutil
import signal
import sqlite3

import pandas as pd
import pytest

from structrob.report import summary_counts
from structrob.study import config as cfg
from structrob.study import runner
from structrob.study.exports import STAGE_COLUMNS, export
from structrob.study.plan import plan_units, sample_graphs
from structrob.study.sessions import SESSION_COLUMNS, sessions_of
from structrob.study.store import Store


def _meta(study, key):
    """A meta value read with sqlite3 alone, not through the code under test."""
    with sqlite3.connect(study / "study.sqlite") as db:
        (value,) = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return json.loads(value)


def test_config_toml_reproduces_the_science_hash_and_unit_ids(published_study):
    study, results = published_study["study"], published_study["results"]
    loaded = cfg.load_config(results / "config.toml")
    assert cfg.config_hash(cfg.science(loaded)) == _meta(study, "config_hash")
    assert cfg.science(loaded) == _meta(study, "science")
    planned = _meta(study, "planned_units")
    ids = plan_units(loaded, sample_graphs(loaded))
    assert [u.unit_id for u in ids] == planned["prior"] + planned["pruning"]
    # the stored config, runtime keys included, is what the file holds
    assert loaded.model_dump(mode="json") == _meta(study, "config")


def test_environment_json_is_the_stored_environment(published_study):
    study, results = published_study["study"], published_study["results"]
    env = json.loads((results / "environment.json").read_text())
    assert env == _meta(study, "environment")
    commit = env["git_commit"]
    assert commit is None or (len(commit) == 40 and int(commit, 16) >= 0)
    assert commit == runner.git_commit()
    assert env["compiled_loops"] is True  # the project's install builds them


def test_stages_csv_totals_are_the_units_timings(published_study):
    study, results = published_study["study"], published_study["results"]
    with sqlite3.connect(study / "study.sqlite") as db:
        rows = db.execute("SELECT arm, timings FROM units WHERE status = 'done'").fetchall()
    enabled = [
        name for name, attack in _meta(study, "config")["attacks"].items() if attack["enabled"]
    ]
    parts = {f"attack.{name}" for name in enabled}
    expected: dict[tuple[str, str], list[float]] = {}
    for arm, timings in rows:
        timings = json.loads(timings)
        # each enabled attack is timed alone, inside the attack stage
        assert parts <= set(timings)
        assert 0 < sum(timings[part] for part in parts) <= timings["attack"]
        for stage, seconds in timings.items():
            expected.setdefault((arm, stage), []).append(seconds)
        total = sum(timings[stage] for stage in ("build", "train", "attack", "properties"))
        assert total == pytest.approx(sum(v for k, v in timings.items() if k not in parts))
        expected.setdefault((arm, "total"), []).append(total)
        expected.setdefault(("all", "total"), []).append(total)
    stages = pd.read_csv(results / "stages.csv")
    assert list(stages.columns) == STAGE_COLUMNS
    assert {"build", "train", "attack", "properties"} | parts <= set(stages["stage"])
    assert len(stages) == len(expected)
    workers = _meta(study, "config")["workers"]
    assert workers == 1
    for row in stages.itertuples(index=False):
        seconds = expected[(row.arm, row.stage)]
        assert row.units == len(seconds)
        assert row.total_seconds == pytest.approx(sum(seconds), rel=1e-12)
        assert row.mean_seconds == pytest.approx(sum(seconds) / len(seconds), rel=1e-12)
        assert row.max_seconds == max(seconds)
        assert row.workers == workers
        assert row.wall_seconds == pytest.approx(sum(seconds) / workers, rel=1e-12)
    # 3 graph priors and the pruning steps 0 and 1
    assert stages.set_index(["arm", "stage"]).loc[("all", "total"), "units"] == 5


def test_exported_seeds_are_the_drawn_seeds_exactly(published_study):
    """64-bit graph seeds survive the pruning rows' empty seeds (no float64 on the way)."""
    results = published_study["results"]
    draws = pd.read_csv(results / "draws.csv")
    drawn = sorted(draws.loc[draws["accepted"], "seed"].tolist())
    for name in ("graphs.csv", "runs.csv"):
        frame = pd.read_csv(results / name, dtype={"seed": "Int64"})
        seeds = frame.loc[frame["arm"] == "prior", "seed"]
        assert sorted(set(seeds.tolist())) == drawn, name
        assert frame.loc[frame["arm"] == "pruning", "seed"].isna().all()
    assert max(drawn) > 2**53  # seeds a float64 could not hold


def test_a_run_and_its_resumption_are_two_sessions(published_study):
    study, results = published_study["study"], published_study["results"]
    records = _meta(study, "sessions")
    assert [r["exit"] for r in records] == [0, 0]
    assert [r["units_done"] for r in records] == [5, 1]  # the resumption redid one unit
    for record in records:
        started = dt.datetime.fromisoformat(record["started"])
        finished = dt.datetime.fromisoformat(record["finished"])
        assert started < finished
        assert record["seconds"] == pytest.approx((finished - started).total_seconds(), abs=0.5)
    assert records[0]["finished"] <= records[1]["started"]
    sessions = pd.read_csv(results / "sessions.csv", dtype={"session": str})
    assert list(sessions.columns) == SESSION_COLUMNS
    assert sessions["session"].tolist() == ["1", "2", "total"]
    total = sessions.iloc[-1]
    assert total["seconds"] == pytest.approx(sum(r["seconds"] for r in records), rel=1e-12)
    assert total["units_done"] == 6 and pd.isna(total["exit"])
    assert total["started"] == records[0]["started"]
    assert total["finished"] == records[1]["finished"]


def test_an_interrupted_run_is_a_session_with_its_exit_status(tmp_path, mnist_dir):
    from tests.conftest import PUBLISHED_TOML

    path = tmp_path / "tiny.toml"
    path.write_text(PUBLISHED_TOML)
    config = cfg.apply_overrides(cfg.load_config(path), ["workers=1"])

    def interrupt(_message):  # a real SIGINT, once the plan is logged
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(runner.StudyInterrupted):
        runner.run_study(config, tmp_path / "study", data_root=str(mnist_dir), log=interrupt)
    with Store(tmp_path / "study", readonly=True) as store:
        (record,) = sessions_of(store)
    assert record["exit"] == 130 and record["units_done"] == 0
    assert record["finished"] is not None


def test_a_store_without_sessions_still_exports(published_study, tmp_path):
    """A store written before sessions were recorded (same schema, no such key)."""
    old = tmp_path / "old"
    shutil.copytree(published_study["study"], old)
    with sqlite3.connect(old / "study.sqlite") as db:
        db.execute("DELETE FROM meta WHERE key = 'sessions'")
        environment = json.loads(
            db.execute("SELECT value FROM meta WHERE key = 'environment'").fetchone()[0]
        )
        del environment["git_commit"]
        db.execute(
            "UPDATE meta SET value = ? WHERE key = 'environment'", (json.dumps(environment),)
        )
    out = tmp_path / "out"
    names = [p.name for p in export(old, out=out)]
    assert names[-2:] == ["stages.csv", "sessions.csv"] and "config.toml" in names
    sessions = pd.read_csv(out / "sessions.csv")
    assert list(sessions.columns) == SESSION_COLUMNS and sessions.empty
    assert json.loads((out / "environment.json").read_text()) == environment
    assert len(pd.read_csv(out / "stages.csv")) == len(
        pd.read_csv(published_study["results"] / "stages.csv")
    )


def _arm_rows(frame, arm):
    return frame[frame["arm"] == arm].reset_index(drop=True)


def test_one_arm_exported_alone_is_that_arm_of_the_whole(published_study, tmp_path):
    """``export --arm``: each table is the whole export's rows of that arm, exactly."""
    from structrob.cli import main

    study, whole = published_study["study"], published_study["results"]
    for arm in ("prior", "pruning"):
        out = tmp_path / arm
        assert main(["export", str(study), "--out", str(out), "--report", "--arm", arm]) == 0
        for name in ("runs", "graphs", "correlations", "stages"):
            got = pd.read_csv(out / f"{name}.csv", dtype={"seed": "Int64"})
            full = pd.read_csv(whole / f"{name}.csv", dtype={"seed": "Int64"})
            expected = _arm_rows(full, arm)
            assert set(got["arm"]) <= {arm}, name
            # columns only the other arm fills (its properties) are absent or empty here
            extra = [c for c in expected.columns if c not in got.columns]
            assert expected[extra].isna().all().all(), (name, extra)
            pd.testing.assert_frame_equal(
                got, expected[list(got.columns)], check_exact=True, check_dtype=False
            )
        # the other files are the study's whole: its configuration, environment, sessions
        for name in ("config.toml", "environment.json", "sessions.csv"):
            assert (out / name).read_text() == (whole / name).read_text(), name
        draws = pd.read_csv(out / "draws.csv")
        assert len(draws) == (len(pd.read_csv(whole / "draws.csv")) if arm == "prior" else 0)
        page = (out / "report.html").read_text()
        assert 'id="arm"' in page and "covers one arm of the study" in page
        anchors = {"prior": 'id="table1"', "pruning": 'id="table2"'}
        assert anchors[arm] in page
        assert all(a not in page for other, a in anchors.items() if other != arm)
    assert len(pd.read_csv(tmp_path / "prior" / "runs.csv")) == 6  # 3 graphs x 2 inits
    assert 'id="arm"' not in (whole / "report.html").read_text()


def test_one_arm_is_complete_while_the_other_is_not(published_study, tmp_path):
    """The completion banner of an arm's page counts that arm's units only."""
    from structrob.study.analysis import progress_of, write_study_report

    partial = tmp_path / "partial"
    shutil.copytree(published_study["study"], partial)
    with sqlite3.connect(partial / "study.sqlite") as db:  # the last pruning step not run yet
        db.execute("DELETE FROM runs WHERE arm = 'pruning' AND step = 1")
        db.execute("DELETE FROM units WHERE arm = 'pruning' AND step = 1")
    with Store(partial, readonly=True) as store:
        whole, prior = progress_of(store), progress_of(store, "prior")
        pruning = progress_of(store, "pruning")
    assert (whole.planned, whole.done, whole.complete) == (5, 4, False)
    assert (prior.planned, prior.done, prior.complete) == (3, 3, True)
    assert (pruning.planned, pruning.done, pruning.pending) == (2, 1, 1)
    assert list(prior.arms) == ["prior"]
    pages = {}
    for arm in ("prior", "pruning"):
        path = write_study_report(partial, out=tmp_path / f"page-{arm}", arm=arm)
        pages[arm] = path.read_text()
    assert 'id="unfinished"' not in pages["prior"]
    assert "Unfinished study: 1 of 2 planned units finished" in pages["pruning"]


def test_an_unknown_arm_is_refused_with_the_arms_there_are(published_study, tmp_path):
    from structrob.cli import main
    from structrob.study.analysis import analyse

    with Store(published_study["study"], readonly=True) as store:
        with pytest.raises(ValueError, match=r"arm must be one of \['prior', 'pruning'\]"):
            analyse(store, arm="priors")
        prior = analyse(store, arm="prior")
    with pytest.raises(ValueError, match="holds arm 'prior', the export asks for 'pruning'"):
        export(published_study["study"], analysis=prior, out=tmp_path, arm="pruning")
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(published_study["study"]), "--arm", "priors"])
    assert exit_info.value.code == 2


def test_a_killed_session_counts_its_stored_units_and_lasts_at_least_until_the_last(
    published_study, tmp_path
):
    """A driver killed by SIGKILL leaves its record open: the stored units bound its time."""
    from structrob.study.sessions import sessions_frame

    killed = tmp_path / "killed"
    shutil.copytree(published_study["study"], killed)
    records = _meta(killed, "sessions")
    known = records[0]["seconds"]
    records[1].update(finished=None, seconds=None, units_done=None, exit=None)
    with sqlite3.connect(killed / "study.sqlite") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'sessions'", (json.dumps(records),))
        stored = [t for (t,) in db.execute("SELECT finished_at FROM units WHERE status = 'done'")]
    start = dt.datetime.fromisoformat(records[1]["started"]).timestamp()
    mine = [t for t in stored if t >= start]
    assert len(mine) == 1  # the resumption redid one unit
    with Store(killed, readonly=True) as store:
        frame = sessions_frame(store).set_index("session")
    assert frame.loc["2", "units_done"] == 1 and pd.isna(frame.loc["2", "exit"])
    assert pd.isna(frame.loc["2", "seconds"]) and pd.isna(frame.loc["2", "finished"])
    assert frame.loc["2", "seconds_at_least"] == pytest.approx(mine[0] - start, abs=1e-3)
    assert 0 < frame.loc["2", "seconds_at_least"] < published_study_seconds(published_study)
    assert frame.loc["1", "seconds_at_least"] == frame.loc["1", "seconds"] == known
    assert frame.loc["total", "seconds"] == pytest.approx(known, rel=1e-12)
    # Unix times near 1.8e9 hold about 2e-7 s: the bound is exact to that
    assert frame.loc["total", "seconds_at_least"] == pytest.approx(
        known + mine[0] - start, abs=1e-3
    )
    assert frame.loc["total", "units_done"] == 6


def published_study_seconds(published_study):
    """The second session's recorded wall time (what the killed copy lost)."""
    return _meta(published_study["study"], "sessions")[1]["seconds"]


def test_runs_carry_their_share_of_the_units_time(published_study):
    """A unit trains its copies together: its runs' seconds sum to the unit's, exactly."""
    study, results = published_study["study"], published_study["results"]
    with sqlite3.connect(study / "study.sqlite") as db:
        units = {
            unit_id: json.loads(timings)
            for unit_id, timings in db.execute("SELECT unit_id, timings FROM units")
        }
    runs = pd.read_csv(results / "runs.csv")
    runs["unit"] = runs["run_id"].str.split("-", n=1).str[0]
    assert set(runs["unit"]) == set(units)
    for unit_id, mine in runs.groupby("unit"):
        assert len(mine) == 2  # two initialisations
        for column, stage in (("train_seconds", "train"), ("attack_seconds", "attack")):
            assert mine[column].nunique() == 1
            assert mine[column].sum() == pytest.approx(units[unit_id][stage], rel=1e-12)
    # the report's compute line sums the runs: each unit's seconds once
    counts = summary_counts(runs, None, None)
    assert counts["train_hours"] == pytest.approx(
        sum(t["train"] for t in units.values()) / 3600, rel=1e-12
    )
    assert counts["attack_hours"] == pytest.approx(
        sum(t["attack"] for t in units.values()) / 3600, rel=1e-12
    )
