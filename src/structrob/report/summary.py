"""The counts a reader of a study report checks first: graphs, draws, runs, failures, time.

Input frames follow the store's layout (see :func:`structrob.report.write_report`); the arm of
a row is read by :func:`structrob.report.tables.of_arm`.
"""

from __future__ import annotations

import pandas as pd

from structrob.report.tables import of_arm

__all__ = ["summary_counts"]


def summary_counts(
    runs: pd.DataFrame | None, graphs: pd.DataFrame | None, draws: pd.DataFrame | None
) -> dict[str, float]:
    """The counts a reader checks first: graphs, draws, runs, failures, censored images, time.

    Parameters
    ----------
    runs, graphs, draws : pandas.DataFrame or None
        The study's tables (layout in :func:`structrob.report.write_report`); missing columns
        count as zero.

    Returns
    -------
    dict
        ``graphs_accepted`` (distinct graphs of the graph-prior arm), ``pruned_networks``
        (distinct graphs of the pruning arm), ``draws`` and ``draws_accepted``, ``runs_ok`` and
        ``runs_failed`` (status other than ``ok``), ``min_fgsm_attacked`` and
        ``min_fgsm_censored`` (sums over finished runs of the clean-correct images the minimal
        eps search ran on, and of those it did not fool up to the largest eps),
        ``train_hours`` and ``attack_hours`` (sums over all runs).

    Examples
    --------
    >>> runs = pd.DataFrame({"status": ["ok", "ok", "failed"], "min_fgsm_n_correct": [90, 80, None],
    ...                      "min_fgsm_n_censored": [2, 3, None], "train_seconds": [1800, 1800, 0]})
    >>> counts = summary_counts(runs, None, pd.DataFrame({"accepted": [True, False, False]}))
    >>> counts["runs_ok"], counts["runs_failed"], counts["min_fgsm_censored"], counts["train_hours"]
    (2, 1, 5, 1.0)
    >>> counts["draws"], counts["draws_accepted"]
    (3, 1)
    """
    runs = pd.DataFrame() if runs is None else runs
    draws = pd.DataFrame() if draws is None else draws

    def distinct_graphs(arm: str) -> int:
        rows = of_arm(graphs, arm)
        return int(rows["graph_id"].nunique()) if "graph_id" in rows.columns else len(rows)

    def total(frame: pd.DataFrame, column: str) -> float:
        if column not in frame.columns:
            return 0.0
        return float(pd.to_numeric(frame[column], errors="coerce").sum())

    status = runs["status"] if "status" in runs.columns else pd.Series("ok", index=runs.index)
    finished = runs[status == "ok"]
    accepted = draws["accepted"].astype(bool).sum() if "accepted" in draws.columns else 0
    return {
        "graphs_accepted": distinct_graphs("prior"),
        "pruned_networks": distinct_graphs("pruning"),
        "draws": len(draws),
        "draws_accepted": int(accepted),
        "runs_ok": int((status == "ok").sum()),
        "runs_failed": int((status != "ok").sum()),
        "min_fgsm_attacked": int(total(finished, "min_fgsm_n_correct")),
        "min_fgsm_censored": int(total(finished, "min_fgsm_n_censored")),
        "train_hours": total(runs, "train_seconds") / 3600.0,
        "attack_hours": total(runs, "attack_seconds") / 3600.0,
    }
