"""Signals inside :func:`structrob.study.interrupt.interruptible`: held by imports, then raised."""

import signal
import sys
import time

import pytest

from structrob.study import interrupt
from structrob.study.errors import StudyInterrupted
from structrob.study.interrupt import critical, interruptible

pytestmark = pytest.mark.skipif(
    not interrupt._CAN_HOLD_IMPORTS, reason="no interval timer to hold a signal with"
)

# a module whose import is interrupted half-way: the signal comes before its last line
SIGNALS_ITSELF = """\
import os, signal, time
os.kill(os.getpid(), signal.{name})
time.sleep(0.2)  # several retry intervals inside the import
FINISHED = True
"""


@pytest.fixture
def module(tmp_path, monkeypatch):
    """A fresh importable module name that sends ``name`` to this process while imported."""

    def make(name):
        module_name = f"_signals_itself_{name.lower()}_{time.monotonic_ns()}"
        (tmp_path / f"{module_name}.py").write_text(SIGNALS_ITSELF.format(name=name))
        return module_name

    monkeypatch.syspath_prepend(str(tmp_path))
    return make


def _import(name):
    return __import__(name)


@pytest.mark.parametrize(("name", "status"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_during_an_import_is_raised_once_the_import_has_finished(module, name, status):
    name_of_module = module(name)
    imported = None
    with pytest.raises(StudyInterrupted) as info, interruptible():
        imported = _import(name_of_module)
        time.sleep(2)  # the held signal is raised here, a retry interval later
    assert imported is not None and imported.FINISHED is True
    assert sys.modules[name_of_module] is imported
    assert info.value.exit_status == status


def test_a_signal_held_by_an_import_is_raised_when_the_block_ends(module, monkeypatch):
    monkeypatch.setattr(interrupt, "_RETRY_SECONDS", 60.0)  # the retry never comes in time
    name_of_module = module("SIGINT")
    with pytest.raises(StudyInterrupted) as info, interruptible():
        imported = _import(name_of_module)
    assert imported.FINISHED is True and info.value.exit_status == 130


def test_a_signal_held_by_an_import_inside_a_critical_block_waits_for_the_block(module):
    name_of_module = module("SIGINT")
    steps = []
    with pytest.raises(StudyInterrupted), interruptible():
        with critical():
            _import(name_of_module)
            time.sleep(0.2)  # retries come and go: a critical block is never cut
            steps.append("critical block finished")
        steps.append("after the block")  # pragma: no cover - the block's end raises
    assert steps == ["critical block finished"]


def test_the_handlers_and_the_timer_are_restored_after_the_block():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    with interruptible():
        assert signal.getsignal(signal.SIGALRM) is interrupt._retry
    assert {s: signal.getsignal(s) for s in before} == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
