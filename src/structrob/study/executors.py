"""Executors: where units run. In process, a local process pool, or Ray tasks.

Every executor has the same two calls: ``submit(spec, payload) -> handle`` and
``wait(handles) -> [(handle, record or failure)]`` returning at least one finished handle.
A failure (an exception in the unit, a worker that died) comes back as a record with an
``error`` key, never as an exception, so the driver can record it and go on.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import multiprocessing
import os
import tempfile
from pathlib import Path
from typing import Any

from structrob.study.units import run_unit_safely

__all__ = ["InProcessExecutor", "LocalExecutor", "RayExecutor", "make_executor"]


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class InProcessExecutor:
    """Runs each unit in the driver's process when submitted (``--workers 1``: for debugging)."""

    workers = 1

    def submit(self, spec: dict[str, Any], payload: dict[str, Any]) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_result(run_unit_safely(spec, payload))
        return future

    def wait(self, handles: list[cf.Future]) -> list[tuple[cf.Future, dict[str, Any]]]:
        return [(h, h.result()) for h in handles if h.done()]

    def close(self) -> None:
        pass


class LocalExecutor:
    """A pool of worker processes on this machine, one torch thread each by default.

    A worker that dies (killed, out of memory) breaks the pool: the units in flight come back
    as failures and a fresh pool is started for the rest.
    """

    def __init__(self, workers: int, threads: int = 1) -> None:
        self.workers = workers
        self.threads = threads
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads,),
        )

    def submit(self, spec: dict[str, Any], payload: dict[str, Any]) -> cf.Future:
        return self._pool.submit(run_unit_safely, spec, payload)

    def wait(self, handles: list[cf.Future]) -> list[tuple[cf.Future, dict[str, Any]]]:
        done, _ = cf.wait(handles, return_when=cf.FIRST_COMPLETED)
        out, broken = [], False
        for handle in done:
            try:
                out.append((handle, handle.result()))
            except Exception as error:  # noqa: BLE001 - a dead worker, reported as a failure
                broken = broken or isinstance(error, cf.process.BrokenProcessPool)
                out.append((handle, {"error": f"worker failed: {type(error).__name__}: {error}"}))
        if broken:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Units as Ray tasks (1 CPU each; 1 GPU each when ``gpus`` is set) on a Ray cluster.

    With ``address=None`` a local Ray instance is started whose temporary files go inside
    ``temp_dir`` (the study directory); otherwise the running cluster at ``address`` is joined.
    """

    def __init__(self, address: str | None, temp_dir: Path, threads: int = 1, gpus: float = 0.0) -> None:
        try:
            import ray
        except ImportError:  # pragma: no cover - depends on the installation
            raise RuntimeError("the ray executor needs Ray: pip install 'structrob[ray]'") from None
        self._ray = ray
        if not ray.is_initialized():
            if address is None:
                ray.init(
                    num_cpus=os.cpu_count(), include_dashboard=False, _temp_dir=_short_path(temp_dir),
                    log_to_driver=False, configure_logging=False,
                )
                self._owns = True
            else:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
                self._owns = False
        else:
            self._owns = False
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(_ray_unit)
        self.threads = threads

    def submit(self, spec: dict[str, Any], payload: dict[str, Any]) -> Any:
        return self._task.remote(spec, payload)

    def wait(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
        done, _ = self._ray.wait(handles, num_returns=1)
        out = []
        for handle in done:
            try:
                out.append((handle, self._ray.get(handle)))
            except Exception as error:  # noqa: BLE001 - a crashed worker, reported as a failure
                out.append((handle, {"error": f"ray task failed: {type(error).__name__}: {error}"}))
        return out

    def close(self) -> None:
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


def _ray_unit(spec: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return run_unit_safely(spec, payload)


def make_executor(kind: str, workers: int | None, threads: int, directory: Path, ray_address: str | None, device: str) -> Any:
    """The executor a config asks for (``workers=None``: one per core)."""
    if kind == "ray":
        gpus = 1.0 if device == "cuda" else 0.0
        return RayExecutor(ray_address, directory / "ray", threads=threads, gpus=gpus)
    workers = workers or max(1, (os.cpu_count() or 1) // threads)
    if workers == 1:
        return InProcessExecutor()
    return LocalExecutor(workers, threads)
