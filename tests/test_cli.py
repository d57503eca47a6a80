"""Tests for the structrob command line."""

import tomllib

import pytest

from structrob.cli import main


def test_presets_and_config(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "quick" in out and "paper" in out and "pruning" in out
    assert main(["config", "paper"]) == 0
    text = capsys.readouterr().out
    assert tomllib.loads(text)["graphs"]["count"] == 100


def test_run_help_documents_exit_status_and_retry_failed(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "--retry-failed" in text and "docs/reliability.md" in text
    for status in ("0 ", "1 ", "2 ", "130", "143"):
        assert f"\n  {status}" in text


def test_bad_input_gives_a_clear_message(capsys, tmp_path):
    assert main(["config", "nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert main(["run", "--set", "train.epoch=2", "--out", str(tmp_path / "x")]) == 2
    assert "unknown key 'train.epoch'" in capsys.readouterr().err
    assert main(["status", str(tmp_path)]) == 2
    assert "not a study directory" in capsys.readouterr().err


def test_run_status_export_report(tmp_path, capsys, mnist_dir):
    from tests.test_study import TINY

    config = tmp_path / "tiny.toml"
    config.write_text(TINY.replace("count = 4", "count = 3").replace("steps = 2", "steps = 1"))
    out = tmp_path / "study"
    code = main(
        [
            "run",
            "--config",
            str(config),
            "--out",
            str(out),
            "--workers",
            "1",
            "--quiet",
            "--data-dir",
            str(mnist_dir),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    assert "strongest correlations" in text and "report:" in text
    assert (out / "report.html").is_file()
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").is_file()
    assert main(["status", str(out)]) == 0
    assert "graph priors" in capsys.readouterr().out
    assert main(["export", str(out), "--format", "csv"]) == 0
    assert (out / "runs.csv").is_file() and (out / "correlations.csv").is_file()


def test_export_help_names_the_published_files(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for word in ("config.toml", "environment.json", "stages", "sessions", "--report"):
        assert word in text, word


def test_run_can_start_its_workers_before_this_process_imports_torch():
    """`structrob run` reads its settings and starts its pool on light imports alone, so the
    workers import torch while the driver does (it starts them before importing the runner)."""
    import subprocess
    import sys

    code = (
        "import sys; import structrob.cli; from structrob.study import config; "
        "from structrob.study.executors import early_pool; "
        "config.apply_overrides(config.load_preset('paper'), ['graphs.count=4']); "
        "print(sorted(m for m in ('torch', 'pandas', 'scipy', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
