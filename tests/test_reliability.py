"""A study survives what its users do to it (issue 11): one test per thing a user does.

Real processes, signals, SQLite files and file-size limits, on the tiniest study that still has
both arms (two graph priors, two pruning steps, two initialisations, 200 training images, one
epoch, FGSM and minimal FGSM on 20 images): a few seconds per run.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

import structrob.report
from structrob.cli import main
from structrob.study import analysis, runner, units
from structrob.study import config as cfg
from structrob.study.errors import StoreError, StudyLocked
from structrob.study.files import atomic_path, temp_name
from structrob.study.lock import StudyLock, holder
from structrob.study.store import Store

TINIEST = """
name = "tiniest"
seed = 1
[graphs]
count = 2
min_parameters = 0
max_parameters = 1000000
[graphs.grid]
size = [20]
nei = [2]
p = [0.5]
[train]
inits = ["he_uniform", "normal"]
epochs = 1
train_images = 200
batch_size = 100
[attacks.fgsm]
images = 20
[attacks.min_fgsm]
images = 20
step = 0.05
max_eps = 0.2
[attacks.onepixel]
enabled = false
[attacks.pgd]
enabled = false
[pruning]
enabled = true
widths = [6, 4]
steps = 1
retrain_epochs = 1
"""

#: Settings that make the tiniest study run long enough to be interrupted (about 10 s a unit).
LONG = ["--set", "train.train_images=60000", "--set", "train.epochs=3"]

LINUX = sys.platform.startswith("linux")


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "tiniest.toml"
    path.write_text(TINIEST)
    return path


def run_args(config_path, out, *extra, workers=1):
    return ["run", "--config", str(config_path), "--out", str(out), "--quiet"] + [
        "--workers",
        str(workers),
        *extra,
    ]


def cli(capsys, *argv):
    """``structrob ARGV`` in this process: (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def spawn(*argv, **kwargs):
    """``structrob ARGV`` in a new process (stdout and stderr together)."""
    return subprocess.Popen(
        [sys.executable, "-m", "structrob.cli", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
        **kwargs,
    )


def metrics(directory):
    runs = Store(directory, readonly=True).runs_frame()
    drop = ["train_seconds", "attack_seconds", "weights_path"]
    return runs.drop(columns=drop).sort_values("run_id").reset_index(drop=True)


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, mnist_dir):
    """The tiniest study, run once without interruption (in process, no report)."""
    root = tmp_path_factory.mktemp("reference")
    path = root / "tiniest.toml"
    path.write_text(TINIEST)
    config = cfg.apply_overrides(cfg.load_config(path), ["workers=1"])
    store = runner.run_study(
        config, root / "study", data_root=str(mnist_dir), progress=False, log=str
    )
    store.close()
    return root / "study"


@pytest.fixture
def study(reference, tmp_path):
    """A copy of the finished reference study to damage."""
    copy = tmp_path / "study"
    shutil.copytree(reference, copy)
    return copy


@pytest.fixture(scope="module")
def reported(reference, tmp_path_factory):
    """The reference study with its report written."""
    copy = tmp_path_factory.mktemp("reported") / "study"
    shutil.copytree(reference, copy)
    analysis.write_study_report(copy)
    return copy


@pytest.fixture
def reported_study(reported, tmp_path):
    copy = tmp_path / "study"
    shutil.copytree(reported, copy)
    return copy


def descendants(pid):
    """Every process below ``pid`` (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# -- row 1: a corrupt data file, fixed, then the same --out -----------------------------------
def test_corrupt_data_file_stops_before_any_unit_and_the_fixed_file_runs(
    tmp_path, config_path, mnist_dir, capsys
):
    data = tmp_path / "mnist"
    shutil.copytree(mnist_dir, data)
    for path in data.iterdir():
        path.chmod(0o644)
    bad = data / "train-images-idx3-ubyte.gz"
    good = bad.read_bytes()
    bad.write_bytes(good[:100_000])
    out = tmp_path / "study"
    code, stdout, err = cli(capsys, *run_args(config_path, out, "--data-dir", data))
    assert code == 2
    assert str(bad) in one_error_line(err)
    assert not out.exists()  # nothing planned, trained or failed
    bad.write_bytes(good)
    code, stdout, err = cli(capsys, *run_args(config_path, out, "--data-dir", data, "--no-report"))
    assert code == 0, err
    assert "4 units (0 done, 4 to run)" in stdout


# -- rows 1 and 2: every unit fails; the next run runs them again --------------------------------
def test_failed_units_exit_non_zero_show_in_the_report_and_are_run_again(
    tmp_path, config_path, mnist_dir, capsys, monkeypatch
):
    real = units.run_unit

    def out_of_memory(spec, payload):
        raise MemoryError("out of memory (simulated)")

    monkeypatch.setattr(units, "run_unit", out_of_memory)
    out = tmp_path / "study"
    code, stdout, err = cli(capsys, *run_args(config_path, out, "--data-dir", mnist_dir))
    assert code == 1
    assert "study stopped, incomplete," in stdout
    assert "error: the study is incomplete: 0 of 4 planned units finished, 4 failed" in err
    # three units raised; the last pruning step could not start without the one before
    assert "MemoryError: 3 units; first: MemoryError: out of memory (simulated)" in err
    assert "not run: 1 unit; first: not run: the pruning step before it" in err
    assert "Run the same command again" in err and "Traceback" not in err
    page = (out / "report.html").read_text()
    assert "Failed runs (8)" in page  # 4 units x 2 initialisations, none produced
    assert "out of memory (simulated)" in page
    assert "completion.complete" in page  # the page's metadata: planned vs done
    table = analysis.status(out).set_index("stage")
    assert table.loc["graph priors", ["planned", "done", "failed"]].tolist() == [2, 0, 2]
    code, stdout, err = cli(capsys, "status", out)
    assert code == 0 and "MemoryError: 3 units" in stdout

    monkeypatch.setattr(units, "run_unit", real)
    code, stdout, err = cli(capsys, *run_args(config_path, out, "--data-dir", mnist_dir))
    assert code == 0, err
    assert "4 units (0 done, 4 to run; to run: 4 failed before)" in stdout
    assert "Failed runs" not in (out / "report.html").read_text()
    assert analysis.progress_of(Store(out)).complete


def test_diverged_runs_are_results_and_retry_failed_runs_them_again(
    tmp_path, config_path, mnist_dir, capsys, monkeypatch
):
    """A non-finite loss is a result of the seeds: recorded per copy, not retried unless asked."""
    real = units.fit

    def diverging(net, *args, **kwargs):
        history = real(net, *args, **kwargs)
        history[0].update(failed=True, error="non-finite training loss (nan) in epoch 1")
        return history

    monkeypatch.setattr(units, "fit", diverging)
    out = tmp_path / "study"
    args = run_args(config_path, out, "--data-dir", mnist_dir, "--no-report")
    code, stdout, err = cli(capsys, *args)
    assert code == 0, err
    assert "note:  " not in stdout and "note: diverged runs" in stdout
    runs = Store(out).runs_frame()
    assert (runs["status"] == "failed").sum() == 4  # copy 0 of each of the four units
    code, stdout, _ = cli(capsys, *args)
    assert code == 0 and "(4 done, 0 to run)" in stdout
    monkeypatch.setattr(units, "fit", real)
    code, stdout, err = cli(capsys, *args, "--retry-failed")
    assert code == 0, err
    assert "(0 done, 4 to run; to run: 4 with diverged runs (--retry-failed))" in stdout
    assert set(Store(out).runs_frame()["status"]) == {"ok"}


# -- row 4: grid values the generator refuses ------------------------------------------------
@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("graphs.grid.p=[2.0]", "graphs.grid.p: p must be a probability in [0, 1], got 2.0"),
        ("graphs.grid.nei=[-2]", "graphs.grid.nei: nei must be an integer >= 1, got -2"),
        ("graphs.grid.size=[30.5]", "graphs.grid.size: size must be an integer >= 5, got 30.5"),
        ("graphs.grid.nei=[2, 10]", "graphs.grid.size: size must be an integer >= 21, got 20"),
    ],
)
def test_bad_grid_values_fail_before_anything_is_written(
    tmp_path, config_path, capsys, setting, message
):
    out = tmp_path / "study"
    start = time.perf_counter()
    code, _, err = cli(capsys, *run_args(config_path, out, "--set", setting))
    assert code == 2 and time.perf_counter() - start < 10
    line = one_error_line(err)
    assert line.startswith(f"error: {message} (grid point ")
    assert "change graphs.grid." in line
    assert not out.exists()


def test_a_directory_without_finished_units_accepts_new_settings(
    tmp_path, config_path, mnist_dir, capsys, monkeypatch
):
    def boom(spec, payload):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(units, "run_unit", boom)
    out = tmp_path / "study"
    args = run_args(config_path, out, "--data-dir", mnist_dir, "--no-report")
    assert cli(capsys, *args)[0] == 1
    monkeypatch.undo()
    code, stdout, err = cli(capsys, *args, "--set", "seed=2")
    assert code == 0, err
    assert "no unit finished under the earlier settings; starting afresh" in stdout
    code, _, err = cli(capsys, *args, "--set", "seed=3")
    assert code == 2 and "seed: 2 -> 3" in err  # finished units are protected


# -- rows 5 and 6: two drivers on one directory; SIGTERM ---------------------------------------
def _wait_for(predicate, seconds=60.0, every=0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def _store_is_whole(directory):
    """Every stored unit complete: database intact, weights present, no temp file left."""
    with sqlite3.connect(directory / "study.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = Store(directory, readonly=True)
    assert store.missing_weights() == {}
    assert set(store.runs_frame()["graph_id"]) <= store.finished_units()
    assert not [p for p in directory.rglob("*.tmp")]


@pytest.mark.skipif(not LINUX, reason="lists child processes from /proc")
def test_second_driver_is_refused_and_sigterm_stops_every_process(
    tmp_path, config_path, mnist_dir, capsys
):
    out = tmp_path / "study"
    first = spawn(*run_args(config_path, out, *LONG, "--no-report", workers=2))
    try:
        assert _wait_for(lambda: (holder(out) or {}).get("pid") == first.pid)
        # a second driver, started seconds later, is refused at once and names the first
        start = time.perf_counter()
        code, _, err = cli(capsys, *run_args(config_path, out, "--data-dir", mnist_dir))
        assert code == 2 and time.perf_counter() - start < 10
        line = one_error_line(err)
        assert f"is in use by process {first.pid} on " in line and "started 20" in line
        assert f"kill {first.pid}" in line
        code, stdout, err = cli(capsys, "status", out)
        assert code == 0 and f"running: process {first.pid}" in stdout, err
        assert _wait_for(lambda: "graph priors" in cli(capsys, "status", out)[1])  # planned
        code, stdout, err = cli(capsys, "status", out)
        assert code == 0 and f"running: process {first.pid}" in stdout, err
        # SIGTERM once the workers run: they and the resource tracker go with the driver
        assert _wait_for(lambda: len(descendants(first.pid)) >= 3)
        time.sleep(1.0)
        helpers = descendants(first.pid)
        first.send_signal(signal.SIGTERM)
        output = first.communicate(timeout=60)[0]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 143, output
    assert "interrupted by SIGTERM: the workers were stopped" in output
    assert f"resume with: structrob run --config {config_path}" in output
    assert "Traceback" not in output
    assert [pid for pid in helpers if alive(pid)] == []
    assert holder(out) is None
    _store_is_whole(out)


@pytest.mark.skipif(not LINUX, reason="lists child processes from /proc")
@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_the_workers_and_exits_130_without_a_traceback(tmp_path, config_path, workers):
    out = tmp_path / "study"
    # a new session, so Ctrl-C can be sent to the whole process group, as a terminal does
    process = spawn(*run_args(config_path, out, *LONG, "--no-report", workers=workers),
                    start_new_session=True)  # fmt: skip
    try:
        assert _wait_for(lambda: (holder(out) or {}).get("pid") == process.pid)
        if workers > 1:
            assert _wait_for(lambda: len(descendants(process.pid)) >= workers + 1)
        time.sleep(1.5)
        helpers = descendants(process.pid)
        os.killpg(process.pid, signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, output
    assert "interrupted by SIGINT" in output and "resume with: structrob run" in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert [pid for pid in helpers if alive(pid)] == []
    _store_is_whole(out)


def _ctrl_c(process, ready, delay):
    """Ctrl-C to ``process``'s group ``delay`` s after ``ready``; its output (killed if stuck)."""
    try:
        assert ready
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGINT)
        return process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _catches(pid, signum):
    """Whether process ``pid`` has a handler for ``signum`` (its SigCgt mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False  # pragma: no cover - every Linux process has the line


@pytest.mark.skipif(not LINUX, reason="reads signal masks from /proc")
@pytest.mark.parametrize("delay", [0.0, 0.75, 1.5, 2.25, 3.0])
def test_ctrl_c_while_the_driver_imports_torch_exits_130_without_a_traceback(
    tmp_path, config_path, delay
):
    # the driver imports torch, pandas and the rest in its first seconds: a signal that cut an
    # extension module's import short made the clean-up's import of it fail or crash
    out = tmp_path / "study"
    process = spawn(*run_args(config_path, out, *LONG, "--no-report"), start_new_session=True)
    # the driver's handlers are in place once it catches SIGALRM (the import hold)
    ready = _wait_for(lambda: _catches(process.pid, signal.SIGALRM), every=0.005)
    output = _ctrl_c(process, ready, delay)
    assert process.returncode == 130, output
    assert "interrupted by SIGINT" in output
    assert "Traceback" not in output and "Fatal Python error" not in output
    assert holder(out) is None


def test_the_lock_is_released_whatever_kills_its_holder(tmp_path):
    code = (
        "import sys, time; from structrob.study.lock import StudyLock; "
        "StudyLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(60)"
    )
    holder_process = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder_process.stdout.readline().strip() == "locked"
        with pytest.raises(StudyLocked) as info:
            StudyLock(tmp_path).acquire()
        assert info.value.holder["pid"] == holder_process.pid
        assert f"process {holder_process.pid} on " in str(info.value)
    finally:
        holder_process.kill()
        holder_process.wait()
    with StudyLock(tmp_path):  # SIGKILL released it
        assert holder(tmp_path)["pid"] == os.getpid()


def test_temp_files_are_unique_per_process_and_never_left_behind(tmp_path):
    target = tmp_path / "a.pt"
    assert temp_name(target) != temp_name(target)
    assert f".{os.getpid()}." in temp_name(target).name
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    script = (
        "import sys; from structrob.study.files import temp_name; from pathlib import Path; "
        "print(temp_name(Path(sys.argv[1])).name)"
    )
    other = subprocess.run(
        [sys.executable, "-c", script, str(target)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other.split(".")[3] != str(os.getpid())


# -- row 9: corrupt, garbage, empty or foreign stores; a bad --out; read-only; a full disk -------
def _malformed(study):
    blob = bytearray((study / "study.sqlite").read_bytes())
    blob[8192:16384] = b"\x07" * 8192
    (study / "study.sqlite").write_bytes(bytes(blob))


def _garbage(study):
    (study / "study.sqlite").write_bytes(os.urandom(5000))


def _empty(study):
    (study / "study.sqlite").write_bytes(b"")


def _foreign(study):
    (study / "study.sqlite").unlink()
    with sqlite3.connect(study / "study.sqlite") as db:
        db.execute("CREATE TABLE customers (name TEXT)")


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (_malformed, "is damaged or not a SQLite database (database disk image is malformed"),
        (_garbage, "is damaged or not a SQLite database (file is not a database)"),
        (_empty, "is empty (0 bytes), not a study database"),
        (_foreign, "is another program's SQLite database (tables customers)"),
    ],
    ids=["malformed", "garbage", "empty", "foreign"],
)
def test_a_damaged_store_is_one_line_for_every_command(
    study, config_path, mnist_dir, capsys, damage, words
):
    damage(study)
    before = (study / "study.sqlite").read_bytes()
    for argv in (
        run_args(config_path, study, "--data-dir", mnist_dir),
        ["status", study],
        ["report", study],
        ["export", study],
    ):
        code, _, err = cli(capsys, *argv)
        assert code == 2, argv
        assert words in one_error_line(err), argv
    assert (study / "study.sqlite").read_bytes() == before  # left as it was


def test_an_out_that_is_a_file_is_one_line(tmp_path, config_path, mnist_dir, capsys):
    path = tmp_path / "file"
    path.write_text("not a folder")
    code, _, err = cli(capsys, *run_args(config_path, path, "--data-dir", mnist_dir))
    assert code == 2 and "is a file, not a directory" in one_error_line(err)
    code, _, err = cli(capsys, *run_args(config_path, path / "sub", "--data-dir", mnist_dir))
    assert code == 2 and "a file lies in the path" in one_error_line(err)
    code, _, err = cli(capsys, "status", tmp_path)
    assert code == 2 and "is not a study directory" in one_error_line(err)


def _as_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def _permissions_apply():
    """Whether a folder's permissions can stop a command here: not root, or root as nobody."""
    if not LINUX:
        return False
    if os.geteuid() != 0:
        return True
    try:  # root writes anywhere, so the command runs as nobody, who must be able to run Python
        probe = subprocess.run(
            [sys.executable, "-c", "import structrob"],
            preexec_fn=_as_nobody,
            capture_output=True,
            env=dict(os.environ),
        )
    except OSError:
        return False
    return probe.returncode == 0


@pytest.mark.skipif(
    not _permissions_apply(),
    reason="permissions do not apply: root here, and user nobody cannot run this Python",
)
def test_a_read_only_study_folder_is_one_line_for_run(reference, mnist_dir):
    """``run`` on a study folder it may not write to: one line; nothing changed.

    (A read-only file system is tested in test_reading_commands_work_on_a_read_only_file_system.)
    """
    base = Path(tempfile.mkdtemp())
    try:
        base.chmod(0o755)  # readable by the user the command runs as
        study = base / "study"
        shutil.copytree(reference, study)
        config_path = base / "tiniest.toml"
        config_path.write_text(TINIEST)
        for path in study.rglob("*"):
            path.chmod(0o555 if path.is_dir() else 0o444)
        study.chmod(0o555)
        # root writes anywhere: then the command runs as nobody
        kwargs = {"preexec_fn": _as_nobody} if os.geteuid() == 0 else {}
        before = {p: p.stat().st_mtime_ns for p in study.rglob("*")}
        process = spawn(*run_args(config_path, study, "--data-dir", mnist_dir), **kwargs)
        output = process.communicate(timeout=120)[0]
        assert process.returncode == 2, output
        assert "Traceback" not in output
        assert "error: cannot lock the study directory: permission denied" in output
        assert {p: p.stat().st_mtime_ns for p in study.rglob("*")} == before
    finally:
        for path in (base, *base.rglob("*")):
            path.chmod(0o755)
        shutil.rmtree(base)


def test_a_folder_refusing_writes_is_one_line(study, config_path, mnist_dir, capsys, monkeypatch):
    """The message for EACCES, wherever permissions apply (the test above may be skipped)."""

    def refused(self):
        raise PermissionError(13, "Permission denied", str(self.path))

    monkeypatch.setattr(StudyLock, "acquire", refused)
    code, _, err = cli(capsys, *run_args(config_path, study, "--data-dir", mnist_dir))
    assert code == 2
    line = one_error_line(err)
    assert line.startswith("error: cannot lock the study directory: permission denied (")
    assert "use a writable folder (--out)" in line


def _read_only_mount_works():
    if not LINUX or shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --bind -o ro /tmp /tmp"], capture_output=True
    )
    return probe.returncode == 0


READ_ONLY_MOUNT = pytest.mark.skipif(
    not _read_only_mount_works(),
    reason="needs `unshare -m` and a read-only bind mount (root in a Linux mount namespace)",
)


def _on_read_only_mount(folder, *commands):
    """Run shell ``commands`` while ``folder`` is a read-only bind mount (a private namespace)."""
    script = f"mount --bind -o ro {folder} {folder} && " + " && ".join(commands)
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=dict(os.environ)
    )


# guarded: `run` starts spawned workers, which import this script again as their main module
READ_COMMANDS = """
import sys
from structrob.cli import main
if __name__ == "__main__":
    study, elsewhere, config = sys.argv[1:4]
    codes = [
        main(["status", study]),
        main(["report", study, "--out", elsewhere]),
        main(["export", study, "--out", elsewhere]),
        main(["run", "--config", config, "--out", study, "--quiet"]),
    ]
    print("codes", codes)
"""


@READ_ONLY_MOUNT
def test_reading_commands_work_on_a_read_only_file_system(study, config_path, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    script = tmp_path / "read.py"
    script.write_text(READ_COMMANDS)
    before = sorted(p.name for p in study.iterdir())
    done = _on_read_only_mount(
        study, f"{sys.executable} {script} {study} {elsewhere} {config_path}"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "codes [0, 0, 0, 2]" in done.stdout, done.stdout + done.stderr
    assert "graph priors" in done.stdout and "Traceback" not in done.stderr
    assert (elsewhere / "report.html").is_file() and (elsewhere / "runs.csv").is_file()
    assert len(pd.read_csv(elsewhere / "runs.csv")) == 8
    assert "error: cannot lock the study directory: read-only file system" in done.stderr
    assert sorted(p.name for p in study.iterdir()) == before


@READ_ONLY_MOUNT
def test_a_write_ahead_log_needing_recovery_is_named_on_a_read_only_file_system(study, tmp_path):
    store = Store(study)
    store.set_meta(note="written, not yet folded into the database")
    stuck = tmp_path / "stuck"
    stuck.mkdir()
    for name in ("study.sqlite", "study.sqlite-wal"):  # as a killed driver leaves them
        shutil.copy(study / name, stuck / name)
    store.close()
    assert (stuck / "study.sqlite-wal").stat().st_size > 0
    done = _on_read_only_mount(stuck, f"{sys.executable} -m structrob.cli status {stuck}")
    assert done.returncode != 0
    assert "write-ahead log (study.sqlite-wal" in done.stderr and "needs recovery" in done.stderr
    assert "Traceback" not in done.stderr


def test_reading_opens_the_store_read_only(study):
    """No WAL switch, no schema change, no write: the database's bytes stay as they are."""
    before = (study / "study.sqlite").read_bytes()
    store = Store(study, readonly=True)
    with pytest.raises(StoreError, match="open read-only"):
        store.set_meta(x=1)
    analysis.status(study)
    analysis.export(study, out=study.parent / "tables")
    store.close()
    assert (study / "study.sqlite").read_bytes() == before


def _file_size_limit(limit):
    def set_limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return set_limit


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="no file-size limit here")
def test_a_full_disk_is_one_line_and_the_rerun_completes_the_study(
    tmp_path, config_path, mnist_dir, reference, capsys
):
    """A file-size limit stands for a full disk: the database cannot grow past 100 kB."""
    out = tmp_path / "study"
    process = spawn(
        *run_args(config_path, out, "--data-dir", mnist_dir, "--no-report"),
        preexec_fn=_file_size_limit(100_000),
    )
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 2, output
    assert "Traceback" not in output
    assert "cannot store unit " in output and "the disk may be full" in output
    assert "finished units are kept" in output
    done_before = len(Store(out).finished_units())
    assert 0 < done_before < 4
    args = run_args(config_path, out, "--data-dir", mnist_dir, "--no-report")
    code, stdout, err = cli(capsys, *args)
    assert code == 0, err
    assert f"({done_before} done, {4 - done_before} to run)" in stdout
    pd.testing.assert_frame_equal(metrics(out), metrics(reference))


# -- row 11: a deleted weights file -------------------------------------------------------------
def test_missing_weights_are_reported_by_status_and_recomputed_by_run(
    study, reference, config_path, mnist_dir, capsys
):
    store = Store(study, readonly=True)
    runs = store.runs_frame()
    prior_run = runs[runs["arm"] == "prior"].iloc[0]
    first_step = runs[(runs["arm"] == "pruning") & (runs["step"] == 0)].iloc[0]["graph_id"]
    (study / prior_run["weights_path"]).unlink()
    (study / "weights" / f"{first_step}-stacked.pt").unlink()  # what step 1 starts from
    store.close()
    table = analysis.status(study).set_index("stage")
    assert table.loc["graph priors", ["done", "pending"]].tolist() == [1, 1]
    assert table.loc["pruning steps", ["done", "pending"]].tolist() == [1, 1]
    assert "1 missing weight files (run again)" in table.loc["graph priors", "detail"]
    with pytest.raises(FileNotFoundError, match="computes them again"):
        analysis.load_run_model(study, prior_run["run_id"])
    code, stdout, err = cli(capsys, "status", study)
    assert code == 0 and "missing weights: 2 finished units" in stdout
    args = run_args(config_path, study, "--data-dir", mnist_dir, "--no-report")
    code, stdout, err = cli(capsys, *args)
    assert code == 0, err
    assert "(2 done, 2 to run; to run: 2 finished but missing weight files)" in stdout
    assert Store(study, readonly=True).missing_weights() == {}
    pd.testing.assert_frame_equal(metrics(study), metrics(reference))
    analysis.load_run_model(study, prior_run["run_id"])


# -- row 12: the report, killed while it is written ---------------------------------------------
def _page_only(out, runs, graphs, draws, correlations, meta):
    """``write_report`` without figures or tables (fast): the page alone."""
    Path(out).mkdir(parents=True, exist_ok=True)
    page = Path(out) / "report.html"
    page.write_text(structrob.report.render_page(runs, graphs, draws, correlations, meta))
    return page


def _whole(path):
    blob = path.read_bytes()
    if path.suffix == ".png":
        return blob.startswith(b"\x89PNG") and blob.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")
    return blob.startswith(b"%PDF") and b"%%EOF" in blob[-64:]


@pytest.mark.parametrize("stage", ["drawing", "writing"])
def test_a_report_interrupted_while_written_leaves_the_old_files_whole(
    reported_study, monkeypatch, stage
):
    from matplotlib.figure import Figure

    study = reported_study
    figures = sorted((study / "figures").iterdir())
    before = {p.name: p.read_bytes() for p in figures}
    assert before and all(_whole(p) for p in figures)
    calls = []
    if stage == "drawing":  # figures are drawn into memory, in forked processes where possible
        real_savefig = Figure.savefig

        def dies_half_way(self, target, *args, **kwargs):
            calls.append(target)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return real_savefig(self, target, *args, **kwargs)

        monkeypatch.setattr(Figure, "savefig", dies_half_way)
    else:  # then written to files by the report's process
        real_write = Path.write_bytes

        def dies_half_way(self, data):
            calls.append(self)
            if len(calls) == 3:
                real_write(self, b"")  # what a kill leaves: a 0-byte file
                raise KeyboardInterrupt
            return real_write(self, data)

        monkeypatch.setattr(Path, "write_bytes", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        analysis.write_study_report(study)
    after = {p.name: p.read_bytes() for p in sorted((study / "figures").iterdir())}
    assert after == before
    assert not list(study.glob(".report-*"))


@pytest.mark.skipif(not LINUX, reason="SIGKILL")
def test_a_report_killed_with_sigkill_never_leaves_a_partial_figure(reported_study, monkeypatch):
    study = reported_study
    before = sorted(p.name for p in study.glob("figures/*"))
    assert before
    process = spawn("report", study)
    try:
        assert _wait_for(lambda: any(study.glob(".report-*/figures/*")), 120, 0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert sorted(p.name for p in study.glob("figures/*")) == before
    for path in study.glob("figures/*"):
        assert _whole(path), path
    assert list(study.glob(".report-*"))  # the killed writer's staging folder ...
    monkeypatch.setattr(structrob.report, "write_report", _page_only)
    analysis.write_study_report(study)
    assert not list(study.glob(".report-*"))  # ... is removed by the next writer


# -- row 13: a 0-byte store is an error (test_a_damaged_store_...); created atomically ----------
def test_a_new_store_is_created_whole(tmp_path):
    store = Store(tmp_path / "new")
    assert (tmp_path / "new" / "study.sqlite").stat().st_size > 0
    names = {p.name for p in (tmp_path / "new").iterdir()}  # no temp file left
    assert names <= {"study.sqlite", "study.sqlite-wal", "study.sqlite-shm"}
    assert store.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- row 14: the report of an unfinished study -------------------------------------------------
def test_the_report_of_an_unfinished_study_says_what_is_missing(study, monkeypatch):
    store = Store(study)
    planned = store.get_meta("planned_units")
    planned["prior"].append("0123456789abcdef")  # a unit not run yet
    store.set_meta(planned_units=planned)
    store.close()
    seen = {}

    def capture(out, runs, graphs, draws, correlations, meta):
        seen.update(meta=meta, runs=runs)
        return _page_only(out, runs, graphs, draws, correlations, meta)

    monkeypatch.setattr(structrob.report, "write_report", capture)
    page = analysis.write_study_report(study).read_text()
    completion = seen["meta"]["completion"]
    assert completion["complete"] is False
    assert (completion["planned"], completion["done"], completion["pending"]) == (5, 4, 1)
    assert completion["arms"]["prior"]["pending"] == 1
    assert "completion.complete" in page and "completion.pending" in page
