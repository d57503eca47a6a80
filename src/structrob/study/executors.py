"""Executors: where units run. In process, a local process pool, or Ray tasks.

Every executor has the same calls: ``submit(spec, payload) -> handle``, ``wait(handles) ->
[(handle, result)]`` returning at least one finished handle, and ``close()``. A result is a
:class:`~structrob.study.records.UnitResult`, or a
:class:`~structrob.study.records.UnitFailure` for an exception in the unit or a worker that
died, never an exception, so the driver can record it and go on.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import multiprocessing
import os
import tempfile
from pathlib import Path
from typing import Any

from structrob.study.records import UnitFailure, UnitPayload, UnitResult, UnitSpec
from structrob.study.units import run_unit_safely
from structrob.validation import check_int

__all__ = ["InProcessExecutor", "LocalExecutor", "RayExecutor", "make_executor"]

Outcome = UnitResult | UnitFailure


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


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
        """Run the unit now.

        Parameters
        ----------
        spec : PriorSpec or PruningSpec
        payload : UnitPayload

        Returns
        -------
        concurrent.futures.Future
            Already done, holding a UnitResult or a UnitFailure.
        """
        future: cf.Future = cf.Future()
        future.set_result(run_unit_safely(spec, payload))
        return future

    def wait(self, handles: list[cf.Future]) -> list[tuple[cf.Future, Outcome]]:
        """The finished handles with their results.

        Parameters
        ----------
        handles : list of Future
            From :meth:`submit`.

        Returns
        -------
        list of (Future, UnitResult or UnitFailure)
            Every handle (they are all done).
        """
        return [(h, h.result()) for h in handles if h.done()]

    def close(self) -> None:
        """Nothing to release."""


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

    Examples
    --------
    >>> executor = LocalExecutor(workers=2)
    >>> executor.workers, executor.threads
    (2, 1)
    >>> executor.close()
    """

    def __init__(self, workers: int, threads: int = 1) -> None:
        self.workers = check_int("workers", workers, 1)
        self.threads = check_int("threads", threads, 1)
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads,),
        )

    def submit(self, spec: UnitSpec, payload: UnitPayload) -> cf.Future:
        """Queue the unit on the pool.

        Parameters
        ----------
        spec : PriorSpec or PruningSpec
        payload : UnitPayload

        Returns
        -------
        concurrent.futures.Future
            Done when a worker has run the unit.
        """
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

    def close(self) -> None:
        """Finish the running units and stop the workers."""
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

    def submit(self, spec: UnitSpec, payload: UnitPayload) -> Any:
        """Start the unit as a Ray task.

        Parameters
        ----------
        spec : PriorSpec or PruningSpec
        payload : UnitPayload

        Returns
        -------
        ray.ObjectRef
        """
        return self._task.remote(spec, payload)

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
            try:
                out.append((handle, self._ray.get(handle)))
            except Exception as error:  # noqa: BLE001 - a crashed worker, reported as a failure
                failure = UnitFailure(None, f"ray task failed: {type(error).__name__}: {error}")
                out.append((handle, failure))
        return out

    def close(self) -> None:
        """Shut down the local Ray instance this executor started (a joined cluster stays)."""
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
    if workers is None:
        workers = max(1, (os.cpu_count() or 1) // threads)
    if check_int("workers", workers, 1) == 1:
        return InProcessExecutor()
    return LocalExecutor(workers, threads)
