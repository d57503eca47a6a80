"""How far a study got: planned, finished and failed units, and why they failed (read-only).

:func:`progress_of` reads a study's :class:`Progress` from its store; :func:`status` turns it
into the per-stage table ``structrob status`` prints (graph sampling, graph-prior units,
pruning steps). Nothing here writes to the store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from structrob.study.store import Store
from structrob.validation import check_arm
from structrob.vocabulary import ARM, ARMS

__all__ = ["STAGE_LABELS", "Progress", "error_kind", "progress_of", "status", "unit_of_run"]

#: Progress stage of each arm (status rows, progress bars), in display order.
STAGE_LABELS = {"prior": "graph priors", "pruning": "pruning steps"}


def unit_of_run(run_ids: pd.Series) -> pd.Series:
    """The unit of each run: run ids are ``<unit_id>-<init>``.

    Parameters
    ----------
    run_ids : pandas.Series of str

    Returns
    -------
    pandas.Series of str

    Examples
    --------
    >>> unit_of_run(pd.Series(["0123abcd-he_uniform"])).tolist()
    ['0123abcd']
    """
    return run_ids.astype(str).str.split("-", n=1).str[0]


def error_kind(error: str | None) -> str:
    """What kind of failure an error text is: the part before its first colon.

    Parameters
    ----------
    error : str or None

    Returns
    -------
    str

    Examples
    --------
    >>> error_kind("DataError: corrupt gzip stream in /d/train.gz"), error_kind("worker failed: x")
    ('DataError', 'worker failed')
    >>> error_kind("non-finite training loss (nan) in epoch 1")
    'non-finite training loss'
    """
    text = (error or "unknown error").strip()
    return text.split(":", 1)[0].split(" (", 1)[0].strip() or "unknown error"


@dataclass(frozen=True, eq=False)
class Progress:
    """How far a study got: planned, finished and failed units, per arm, and why they failed.

    Parameters
    ----------
    arms : dict
        Per arm (``"prior"``, ``"pruning"``), counts of units: ``planned``, ``done`` (finished
        with their weight files), ``failed`` (last attempt raised; run again by the next
        ``structrob run``), ``retry`` (left between attempts by a stopped driver), ``pending``
        (planned, neither done nor failed), ``missing_weights`` (finished, but weight files
        gone: run again) and ``diverged_runs`` (runs of finished units whose training diverged,
        a deterministic failure: ``--retry-failed`` runs them again).
    failures : list of dict
        One per planned unit whose last attempt failed: ``unit_id, arm, step, status,
        attempts, error``.
    diverged : list of dict
        One per diverged run: ``run_id, arm, error``.
    missing_weights : dict
        Unit id -> its missing weight files.

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> store.set_meta(planned_units={"prior": ["a", "b"], "pruning": []})
    >>> store.record_failure("a", "prior", None, "MemoryError: out of memory", final=True)
    >>> progress = progress_of(store)
    >>> progress.planned, progress.done, progress.failed, progress.pending, progress.complete
    (2, 0, 1, 1, False)
    >>> progress.kinds()
    [('MemoryError', 1, 'MemoryError: out of memory')]
    """

    arms: dict[str, dict[str, int]]
    failures: list[dict[str, Any]] = field(default_factory=list)
    diverged: list[dict[str, Any]] = field(default_factory=list)
    missing_weights: dict[str, list[str]] = field(default_factory=dict)

    def _total(self, key: str) -> int:
        return sum(counts[key] for counts in self.arms.values())

    @property
    def planned(self) -> int:
        """Planned units."""
        return self._total("planned")

    @property
    def done(self) -> int:
        """Finished units (weight files present)."""
        return self._total("done")

    @property
    def failed(self) -> int:
        """Units whose last attempt failed (``failed`` or ``retry``)."""
        return self._total("failed") + self._total("retry")

    @property
    def pending(self) -> int:
        """Planned units neither finished nor failed (never run, or missing weights)."""
        return self.planned - self.done - self.failed

    @property
    def complete(self) -> bool:
        """Whether every planned unit finished."""
        return self.done >= self.planned

    def kinds(self) -> list[tuple[str, int, str]]:
        """Unit failures by kind: ``(kind, units, first error)``, most frequent first."""
        groups: dict[str, list[str]] = {}
        for failure in self.failures:
            groups.setdefault(error_kind(failure["error"]), []).append(failure["error"] or "")
        return sorted(
            ((kind, len(errors), errors[0]) for kind, errors in groups.items()),
            key=lambda item: -item[1],
        )

    def summary(self) -> str:
        """A few lines for people: what is missing, the first error of each kind, what to do."""
        lines = [
            f"{self.done} of {self.planned} planned units finished"
            + (f", {self.failed} failed" if self.failed else "")
            + (f", {self.pending} not run" if self.pending else "")
        ]
        for kind, count, first in self.kinds():
            lines.append(f"  {kind}: {count} unit{'s' if count != 1 else ''}; first: {first}")
        if self.missing_weights:
            unit_id, files = next(iter(self.missing_weights.items()))
            lines.append(
                f"  missing weights: {len(self.missing_weights)} finished units (e.g. {unit_id}:"
                f" {files[0]}); they are computed again"
            )
        if self.diverged:
            first = self.diverged[0]
            lines.append(
                f"  diverged runs (seeded, kept as results): {len(self.diverged)}; first: "
                f"{first['run_id']}: {first['error']}; `--retry-failed` runs them again"
            )
        return "\n".join(lines)

    def as_meta(self) -> dict[str, Any]:
        """The report's ``completion`` entry: totals, per-arm counts, failure kinds."""
        return {
            "complete": self.complete,
            "planned": self.planned,
            "done": self.done,
            "failed": self.failed,
            "pending": self.pending,
            "arms": self.arms,
            "failure_kinds": [
                {"kind": kind, "units": count, "first_error": first}
                for kind, count, first in self.kinds()
            ],
            "diverged_runs": len(self.diverged),
            "missing_weights": len(self.missing_weights),
        }


def progress_of(store: Store, arm: str | None = None) -> Progress:
    """A study's :class:`Progress`, read from its store (the units the last run planned).

    Parameters
    ----------
    store : Store
    arm : {"prior", "pruning"}, optional
        Count this arm's units only (:func:`check_arm`): its ``arms`` then has that one key,
        and ``complete`` says whether that arm finished. Default: both arms.

    Returns
    -------
    Progress

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> store.set_meta(planned_units={"prior": [], "pruning": ["a"]})
    >>> progress_of(store).complete, progress_of(store, "prior").complete
    (False, True)
    """
    arms_counted = ARMS if arm is None else (check_arm(arm),)
    planned_units = store.get_meta("planned_units")
    planned_counts = store.get_meta("planned") or {}
    units = store.units_frame()
    missing = store.missing_weights()
    runs = store.runs_frame()
    arms: dict[str, dict[str, int]] = {}
    failures: list[dict[str, Any]] = []
    diverged: list[dict[str, Any]] = []
    kept: set[str] = set()  # finished units of the arms counted
    for arm in arms_counted:
        mine = units[units[ARM] == arm] if not units.empty else units
        if planned_units is not None:
            ids = set(planned_units.get(arm, []))
            mine = mine[mine["unit_id"].isin(ids)] if not mine.empty else mine
            planned = len(ids)
        else:  # a store written before the planned ids were kept
            planned = int(planned_counts.get(arm, len(mine)))
        status = mine["status"] if not mine.empty else pd.Series(dtype=str)
        done_ids = set(mine.loc[status == "done", "unit_id"]) if not mine.empty else set()
        gone = done_ids & set(missing)
        kept |= done_ids
        rows = mine[status.isin(["failed", "retry"])] if not mine.empty else mine
        failures += [
            {k: row[k] for k in ("unit_id", ARM, "step", "status", "attempts", "error")}
            for row in rows.to_dict("records")
        ]
        bad = runs[(runs[ARM] == arm) & (runs["status"] != "ok")] if not runs.empty else runs
        bad = bad[unit_of_run(bad["run_id"]).isin(done_ids)] if not bad.empty else bad
        diverged += [
            {"run_id": r["run_id"], ARM: arm, "error": r["error"]} for r in bad.to_dict("records")
        ]
        counts = {
            "planned": planned,
            "done": len(done_ids - gone),
            "failed": int((status == "failed").sum()),
            "retry": int((status == "retry").sum()),
            "missing_weights": len(gone),
            "diverged_runs": len(bad),
        }
        counts["pending"] = max(0, planned - counts["done"] - counts["failed"] - counts["retry"])
        arms[arm] = counts
    return Progress(
        arms=arms,
        failures=failures,
        diverged=diverged,
        missing_weights={k: v for k, v in missing.items() if k in kept},
    )


def _sampling_row(store: Store) -> dict[str, Any] | None:
    draws = store.draws_frame()
    if draws.empty:
        return None
    accepted = int(draws["accepted"].sum())
    config = store.get_meta("config") or {}
    planned = int(config.get("graphs", {}).get("count", accepted))
    return {
        "stage": "sample graphs",
        "planned": planned,
        "done": accepted,
        "failed": 0,
        "retry": 0,
        "pending": max(0, planned - accepted),
        "detail": f"{len(draws)} draws, {accepted} accepted ({planned} planned)",
    }


def status(directory: str | os.PathLike[str], progress: Progress | None = None) -> pd.DataFrame:
    """Progress by stage: graph sampling, graph-prior units, pruning steps (read-only).

    Parameters
    ----------
    directory : path-like
        A study directory.
    progress : Progress, optional
        The study's progress if already read.

    Returns
    -------
    pandas.DataFrame
        One row per stage: ``planned`` (graphs to accept / units planned), ``done`` (graphs
        accepted / units finished with their weight files), ``failed`` (last attempt failed:
        the next ``structrob run`` tries again), ``retry`` (failed, left between attempts),
        ``pending`` (planned, neither finished nor failed) and ``detail``: for ``sample
        graphs`` the draws made and graphs accepted, e.g. ``660 draws, 20 accepted (20
        planned)``; for units, finished units whose weight files are missing (run again) and
        diverged runs.

    Examples
    --------
    >>> import tempfile
    >>> from structrob.study.records import Draw
    >>> store = Store(tempfile.mkdtemp())
    >>> store.set_meta(config={"graphs": {"count": 1}}, planned={"prior": 1})
    >>> store.save_draws([Draw(0, "watts_strogatz", {"size": 30}, 5, 900, False),
    ...                   Draw(1, "watts_strogatz", {"size": 40}, 6, 1200, True)])
    >>> table = status(store.directory)
    >>> table.columns.tolist()
    ['stage', 'planned', 'done', 'failed', 'retry', 'pending', 'detail']
    >>> table[["stage", "planned", "done", "pending"]].values.tolist()
    [['sample graphs', 1, 1, 0], ['graph priors', 1, 0, 1]]
    >>> table.loc[0, "detail"]
    '2 draws, 1 accepted (1 planned)'
    """
    with Store(directory, readonly=True) as store:
        progress = progress or progress_of(store)
        rows = [row] if (row := _sampling_row(store)) else []
        for arm, label in STAGE_LABELS.items():
            counts = progress.arms.get(arm)
            if not counts or not counts["planned"]:
                continue
            detail = []
            if counts["missing_weights"]:
                detail.append(f"{counts['missing_weights']} missing weight files (run again)")
            if counts["diverged_runs"]:
                detail.append(f"{counts['diverged_runs']} diverged runs")
            rows.append(
                {
                    "stage": label,
                    **{k: counts[k] for k in ("planned", "done", "failed", "retry", "pending")},
                    "detail": "; ".join(detail),
                }
            )
        columns = ["stage", "planned", "done", "failed", "retry", "pending", "detail"]
        return pd.DataFrame(rows, columns=columns)
