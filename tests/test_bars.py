"""Tests for structrob._bars: progress bars that leave no thread behind."""

import subprocess
import sys


def _threads_after(code: str) -> int:
    """Threads alive in a fresh interpreter after ``code`` ran (its last printed line)."""
    script = f"import threading\n{code}\nprint(threading.active_count())"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def test_a_plain_tqdm_bar_leaves_its_monitor_thread_running():
    # what progress_bar avoids: tqdm's monitor outlives every bar, even a disabled one
    code = "from tqdm.auto import tqdm\ntqdm(total=1, disable=True).close()"
    assert _threads_after(code) == 2


def test_progress_bar_starts_no_thread():
    code = (
        "from structrob._bars import progress_bar\n"
        "bar = progress_bar(total=3, disable=True)\nbar.update(3)\nbar.close()\n"
        "assert list(progress_bar(range(4), disable=True)) == [0, 1, 2, 3]"
    )
    assert _threads_after(code) == 1
