"""Executors: where units run. In process, a local process pool, or Ray tasks.

Every executor has the same calls: ``submit(spec, payload) -> handle`` (``spec`` a
:class:`~structrob.study.records.PriorSpec` or :class:`~structrob.study.records.PruningSpec`,
``payload`` a :class:`~structrob.study.records.UnitPayload`), ``wait(handles) ->
[(handle, result)]`` returning at least one finished handle, and ``close(cancel=False)``
(``cancel=True``: stop the units in flight now, their workers included). A result is a
:class:`~structrob.study.records.UnitResult`, or a
:class:`~structrob.study.records.UnitFailure` for an exception in the unit or a worker that
died, never an exception, so the driver can record it and go on.

Worker processes ignore SIGINT (the driver handles Ctrl-C for the whole process group and stops
them) and end themselves when their driver is gone, however it ended (a watchdog thread sees
the parent change), so no worker outlives its driver by more than a second.

Where the platform has a fork server (Linux, macOS), a local pool's workers are forked from
it: it imports torch and what a unit runs once (:data:`WORKER_MODULES`), and every worker
starts with them imported, instead of each worker importing them (seconds of CPU each, while
the driver samples the graphs on the same cores). The fork server ends when the driver does
(it reads a pipe the driver holds), and so, by their watchdog, do its workers. Elsewhere the
workers are spawned, each importing them itself.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import hashlib
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from structrob.study.records import UnitFailure, UnitPayload, UnitResult, UnitSpec
from structrob.validation import check_int

# structrob.study.units (torch and all a unit runs) is imported where a unit is run or sent, so
# a driver can start its workers before it imports torch itself (:func:`early_pool`)

__all__ = [
    "InProcessExecutor",
    "LocalExecutor",
    "RayExecutor",
    "early_pool",
    "local_workers",
    "make_executor",
    "stop_helper_processes",
]

Outcome = UnitResult | UnitFailure

#: Seconds between a worker's checks that its driver is still alive.
WATCHDOG_SECONDS = 0.5

#: What a worker imports before its first unit: the fork server's, where there is one.
WORKER_MODULES = ["structrob.study.units", "igraph"]


def _worker_context() -> multiprocessing.context.BaseContext:
    """The fork server's context where the platform has one (see the module), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # read when the fork server starts (the first pool's first worker), ignored after;
        # a module that is not installed (igraph is optional) is skipped
        context.set_forkserver_preload(WORKER_MODULES)
        return context
    return multiprocessing.get_context("spawn")


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(WATCHDOG_SECONDS)
        if os.getppid() != parent:  # the driver is gone: nobody will read the result
            os._exit(1)


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT while worker processes are started, so they start with it blocked.

    A Ctrl-C reaches the whole process group; a worker still importing torch would print a
    KeyboardInterrupt traceback. A child inherits the signal mask, so a worker never sees
    SIGINT before its initializer ignores it; the driver gets a Ctrl-C of that moment when the
    mask is restored.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _exit_now() -> None:
    """End a worker without tearing the interpreter down (its output flushed first).

    A worker has returned its last result when it exits; the teardown of an interpreter that
    imported torch takes most of a second per worker, which the driver waited for before the
    analysis and the report.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream has nothing left to write  # pragma: no cover
            pass
    os._exit(0)


def _init_worker(threads: int, data: tuple[str, str | None] | None = None) -> None:
    import torch

    import structrob.study.units  # noqa: F401 - what every unit runs, imported before the first

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # the process that started this one: the driver, or the fork server that ends with it
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    torch.set_num_threads(threads)
    if data is not None:
        _warm_up(*data)
    # registered last, so it runs first at exit: after multiprocessing's own clean-up (which
    # the worker's process runs before it exits), before the interpreter's teardown
    atexit.register(_exit_now)


def _warm_up(dataset: str, data_root: str | None) -> None:
    """What a worker's first unit would wait for, done while the driver samples the graphs.

    The data set (decoded once per process, :func:`structrob.data.load`) and igraph, which the
    graph properties use and which imports matplotlib at first use (most of a second). A
    failure is left to the first unit, which reports it.
    """
    import importlib.util

    from structrob import data

    try:
        data.load(dataset, root=data_root, download=False)
    except Exception:  # noqa: BLE001, S110 - the first unit loads it again and says what failed
        pass
    if importlib.util.find_spec("igraph") is not None:
        import igraph  # noqa: F401


def stop_helper_processes() -> None:
    """Stop multiprocessing's fork server and resource tracker if this process started them.

    They are helper processes that the worker pool starts (the fork server its workers, the
    tracker its queues); each would otherwise outlive the driver by a moment. Call it once the
    pools are closed (the command line does, before it exits); a later pool starts new ones.
    """
    from multiprocessing import resource_tracker

    helpers = [resource_tracker._resource_tracker]
    if "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        server = forkserver._forkserver
        pid = getattr(server, "_forkserver_pid", None)
        if pid is not None:
            # it holds nothing to save, and its interpreter's teardown (torch imported) would
            # keep the driver waiting a second or two: it is killed, then reaped by _stop
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:  # pragma: no cover - already gone
                pass
        helpers.insert(0, server)
    for helper in helpers:
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            try:
                stop()  # waits until the helper has exited
            except Exception:  # noqa: BLE001 - best effort at exit  # pragma: no cover
                pass


class InProcessExecutor:
    """Runs each unit in the driver's process when submitted (``--workers 1``: for debugging).

    Examples
    --------
    >>> executor = InProcessExecutor()
    >>> executor.workers, executor.wait([])
    (1, [])
    """

    workers = 1

    def submit(self, spec: UnitSpec, payload: UnitPayload) -> cf.Future:
        """Run the unit now: a :class:`~concurrent.futures.Future` already done (module doc)."""
        from structrob.study.units import run_unit_safely

        future: cf.Future = cf.Future()
        future.set_result(run_unit_safely(spec, payload))
        return future

    def wait(self, handles: list[cf.Future]) -> list[tuple[cf.Future, Outcome]]:
        """Every handle with its UnitResult or UnitFailure (they are all done)."""
        return [(h, h.result()) for h in handles if h.done()]

    def close(self, cancel: bool = False) -> None:
        """Nothing to release (a unit runs in the driver, so it has already stopped)."""


class LocalExecutor:
    """A pool of worker processes on this machine, one torch thread each by default.

    A worker that dies (killed, out of memory) breaks the pool: the units in flight come back
    as failures and a fresh pool is started for the rest.

    Parameters
    ----------
    workers : int
        Worker processes, ``>= 1``.
    threads : int
        Torch threads per worker, ``>= 1``.
    data : (str, str or None), optional
        A data set's name and folder (as for :func:`structrob.data.load`) that every worker
        loads when it starts, with the other imports its first unit would wait for.

    Examples
    --------
    >>> executor = LocalExecutor(workers=2)
    >>> executor.workers, executor.threads
    (2, 1)
    >>> executor.close()
    """

    def __init__(
        self, workers: int, threads: int = 1, data: tuple[str, str | None] | None = None
    ) -> None:
        self.workers = check_int("workers", workers, 1)
        self.threads = check_int("threads", threads, 1)
        self.data = data
        self._pool = self._new_pool()
        self._starter: threading.Thread | None = None

    def start(self) -> LocalExecutor:
        """Start every worker now rather than at the first units (returns the executor).

        A worker takes seconds to start (it imports torch); started before the driver checks
        the settings and samples the graphs, it does so while the driver works, so the first
        units start sooner.

        The workers are started from a helper thread, so the driver goes on at once: a fork
        server answers the first request only once it has imported torch (seconds), and the
        driver's own work would otherwise wait for that. The pool's other calls wait for the
        helper first (:meth:`started`).

        Examples
        --------
        >>> executor = LocalExecutor(workers=2).start().started()
        >>> len(multiprocessing.active_children()) >= 2
        True
        >>> executor.close(cancel=True)
        """
        with _sigint_blocked():  # the helper thread, and the processes it starts, inherit it
            self._starter = threading.Thread(target=self._start_workers, daemon=True)
            self._starter.start()
        return self

    def _start_workers(self) -> None:
        # the pool starts a worker for each task submitted while none is idle
        try:
            for _ in range(self.workers):
                self._pool.submit(os.getpid)
        except Exception:  # noqa: BLE001, S110 - a broken pool is renewed by the next submit
            pass

    def started(self) -> LocalExecutor:
        """Wait until :meth:`start` has started every worker process (returns the executor)."""
        if self._starter is not None:
            self._starter.join()
            self._starter = None
        return self

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=_worker_context(),
            initializer=_init_worker,
            initargs=(self.threads, self.data),
        )

    def submit(self, spec: UnitSpec, payload: UnitPayload) -> cf.Future:
        """Queue the unit on the pool: a :class:`~concurrent.futures.Future`, done when run."""
        from structrob.study.units import run_unit_safely

        self.started()
        with _sigint_blocked():  # the pool starts a worker here when it has fewer than it may
            try:
                return self._pool.submit(run_unit_safely, spec, payload)
            except cf.process.BrokenProcessPool:  # a worker died before any unit (start())
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                return self._pool.submit(run_unit_safely, spec, payload)

    def wait(self, handles: list[cf.Future]) -> list[tuple[cf.Future, Outcome]]:
        """Block until at least one handle is done.

        Parameters
        ----------
        handles : list of Future
            From :meth:`submit`, not yet collected.

        Returns
        -------
        list of (Future, UnitResult or UnitFailure)
            The finished handles; a worker that died gives a UnitFailure ``worker failed: ...``
            (and a fresh pool for the rest).
        """
        done, _ = cf.wait(handles, return_when=cf.FIRST_COMPLETED)
        out, broken = [], False
        for handle in done:
            try:
                out.append((handle, handle.result()))
            except Exception as error:  # noqa: BLE001 - a dead worker, reported as a failure
                broken = broken or isinstance(error, cf.process.BrokenProcessPool)
                failure = UnitFailure(None, f"worker failed: {type(error).__name__}: {error}")
                out.append((handle, failure))
        if broken:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        return out

    def close(self, cancel: bool = False) -> None:
        """Stop the workers: after the running units (default), or now (``cancel=True``).

        Parameters
        ----------
        cancel : bool
            Terminate the workers at once (SIGTERM, then SIGKILL after 5 s) and wait for them
            to be gone; the units they ran are lost (the driver had not stored them).
        """
        self.started()  # every worker it starts is one to stop
        if not cancel:
            self._pool.shutdown(wait=True, cancel_futures=True)
            return
        processes = list((self._pool._processes or {}).values())
        for process in processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + 5.0
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():  # pragma: no cover - a worker stuck in the kernel
                process.kill()
                process.join()
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Units as Ray tasks (1 CPU each; 1 GPU each when ``gpus`` is set) on a Ray cluster.

    With ``address=None`` a local Ray instance is started whose temporary files go inside
    ``temp_dir`` (the study directory); otherwise the running cluster at ``address`` is joined.

    Parameters
    ----------
    address : str or None
        A running cluster's address, or None for a local instance.
    temp_dir : path
        Where a local instance keeps its temporary files.
    threads : int
        Torch threads per task, ``>= 1``.
    gpus : float
        GPUs per task.

    Examples
    --------
    Starting Ray takes seconds, so this is not run here:

    >>> executor = RayExecutor(None, Path(tempfile.mkdtemp()))  # doctest: +SKIP
    >>> executor.workers == os.cpu_count()  # doctest: +SKIP
    True
    """

    def __init__(
        self, address: str | None, temp_dir: Path, threads: int = 1, gpus: float = 0.0
    ) -> None:
        try:
            import ray
        except ImportError:  # pragma: no cover - depends on the installation
            raise RuntimeError("the ray executor needs Ray: pip install 'structrob[ray]'") from None
        self.threads = check_int("threads", threads, 1)
        self._ray = ray
        if not ray.is_initialized():
            if address is None:
                ray.init(
                    num_cpus=os.cpu_count(),
                    include_dashboard=False,
                    _temp_dir=_short_path(temp_dir),
                    log_to_driver=False,
                    configure_logging=False,
                )
                self._owns = True
            else:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
                self._owns = False
        else:
            self._owns = False
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(_ray_unit)
        self._pending: set[Any] = set()

    def submit(self, spec: UnitSpec, payload: UnitPayload) -> Any:
        """Start the unit as a Ray task: its ``ray.ObjectRef`` (module doc)."""
        handle = self._task.remote(spec, payload)
        self._pending.add(handle)
        return handle

    def wait(self, handles: list[Any]) -> list[tuple[Any, Outcome]]:
        """Block until one task is done.

        Parameters
        ----------
        handles : list of ray.ObjectRef
            From :meth:`submit`, not yet collected.

        Returns
        -------
        list of (ray.ObjectRef, UnitResult or UnitFailure)
            One finished task; a crashed task gives a UnitFailure ``ray task failed: ...``.
        """
        done, _ = self._ray.wait(handles, num_returns=1)
        out = []
        for handle in done:
            self._pending.discard(handle)
            try:
                out.append((handle, self._ray.get(handle)))
            except Exception as error:  # noqa: BLE001 - a crashed worker, reported as a failure
                failure = UnitFailure(None, f"ray task failed: {type(error).__name__}: {error}")
                out.append((handle, failure))
        return out

    def close(self, cancel: bool = False) -> None:
        """Shut down the local Ray instance this executor started (a joined cluster stays).

        Parameters
        ----------
        cancel : bool
            Cancel the tasks in flight first (force-killing their workers).
        """
        if cancel:
            for handle in list(self._pending):
                try:
                    self._ray.cancel(handle, force=True)
                except Exception:  # noqa: BLE001 - already finished or gone
                    pass
            self._pending.clear()
        if self._owns:
            self._ray.shutdown()


def _short_path(directory: Path) -> str:
    """``directory`` (created), or a short link to it in the system temp folder.

    Ray puts Unix sockets under its temp folder and a socket path may not exceed 107 bytes, so a
    study directory deep in a tree is reached through ``<tmp>/structrob-ray-<hash>``; the
    files themselves stay inside the study directory.
    """
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if len(str(directory)) <= 40:
        return str(directory)
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:10]
    link = Path(tempfile.gettempdir()) / f"structrob-ray-{digest}"
    if link.is_symlink() and Path(os.readlink(link)) != directory:
        link.unlink()
    if not link.is_symlink():
        link.symlink_to(directory, target_is_directory=True)
    return str(link)


def _ray_unit(spec: UnitSpec, payload: UnitPayload) -> Outcome:
    from structrob.study.units import run_unit_safely

    return run_unit_safely(spec, payload)


def make_executor(
    executor: str,
    workers: int | None,
    threads: int,
    directory: Path,
    ray_address: str | None,
    device: str,
) -> InProcessExecutor | LocalExecutor | RayExecutor:
    """The executor a config asks for.

    Parameters
    ----------
    executor : str
        ``"local"`` or ``"ray"``.
    workers : int or None
        Local worker processes, ``>= 1``; None = one per core (``threads`` each); 1 runs units
        in this process.
    threads : int
        Torch threads per worker, ``>= 1``.
    directory : path
        The study directory (a local Ray instance keeps its files in ``directory/ray``).
    ray_address : str or None
        A running Ray cluster to join.
    device : str
        ``"cuda"`` gives each Ray task one GPU.

    Returns
    -------
    InProcessExecutor, LocalExecutor or RayExecutor

    Examples
    --------
    >>> type(make_executor("local", 1, 1, Path("."), None, "cpu")).__name__
    'InProcessExecutor'
    """
    threads = check_int("threads", threads, 1)
    if executor == "ray":
        gpus = 1.0 if device == "cuda" else 0.0
        return RayExecutor(ray_address, directory / "ray", threads=threads, gpus=gpus)
    workers = local_workers(workers, threads)
    if workers == 1:
        return InProcessExecutor()
    return LocalExecutor(workers, threads)


def early_pool(
    executor: str,
    workers: int | None,
    threads: int = 1,
    data: tuple[str, str | None] | None = None,
) -> LocalExecutor | None:
    """The local worker pool a study's settings ask for, its workers started; else None.

    Started before the driver checks the settings, samples the graphs (or imports torch), so
    the workers' seconds of start-up pass meanwhile. Only a pool of worker processes is
    started early (``executor = "local"``, more than one worker): an in-process run has no
    worker, and Ray starts its own. This module imports no torch, so a caller that has not
    imported it yet can start the workers first.

    Parameters
    ----------
    executor : str
        ``"local"`` or ``"ray"``.
    workers : int or None
        As for :func:`make_executor`.
    threads : int
        Torch threads per worker, ``>= 1``.
    data : (str, str or None), optional
        The data set every worker loads as it starts (:class:`LocalExecutor`).

    Returns
    -------
    LocalExecutor or None
        The started pool (:meth:`LocalExecutor.start`), or None for Ray or a single worker.

    Examples
    --------
    >>> early_pool("local", 1) is None, early_pool("ray", 4) is None
    (True, True)
    """
    workers = local_workers(workers, threads)
    if executor != "local" or workers == 1:
        return None
    return LocalExecutor(workers, threads, data).start()


def local_workers(workers: int | None, threads: int = 1) -> int:
    """The local worker processes a ``workers`` setting means (None: one per core).

    Parameters
    ----------
    workers : int or None
        ``>= 1``, or None for as many as the cores hold with ``threads`` each.
    threads : int
        Torch threads per worker, ``>= 1``.

    Returns
    -------
    int
        ``>= 1``; 1 means the units run in the driver's process (:class:`InProcessExecutor`).

    Examples
    --------
    >>> local_workers(3), local_workers(None, threads=10**6)
    (3, 1)
    """
    threads = check_int("threads", threads, 1)
    if workers is None:
        return max(1, (os.cpu_count() or 1) // threads)
    return check_int("workers", workers, 1)
