"""Tests of structrob.stats against scipy, numpy regressions and hand-worked examples."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from structrob.stats import (
    TABLE_COLUMNS,
    aggregate,
    benjamini_hochberg,
    bootstrap_ci,
    correlation_table,
    iqr_bounds,
    iqr_filter,
    partial_spearman,
    rank_regression_curve,
    strength,
    study_table,
)
from structrob.vocabulary import CLEAN, split_measure

# ------------------------------------------------------------------------------ helpers


def ranks_residual(target: np.ndarray, covariate: np.ndarray) -> np.ndarray:
    """Residual of rank(target) after least squares on [1, rank(covariate)]."""
    design = np.column_stack([np.ones(target.size), sps.rankdata(covariate)])
    ranks = sps.rankdata(target)
    return ranks - design @ np.linalg.lstsq(design, ranks, rcond=None)[0]


def ols_t_pvalue(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Two-sided p of rank(x)'s coefficient in OLS rank(y) ~ 1 + rank(z) + rank(x)."""
    n = x.size
    design = np.column_stack([np.ones(n), sps.rankdata(z), sps.rankdata(x)])
    response = sps.rankdata(y)
    beta, *_ = np.linalg.lstsq(design, response, rcond=None)
    residual = response - design @ beta
    sigma2 = residual @ residual / (n - 3)
    se = np.sqrt(sigma2 * np.linalg.inv(design.T @ design)[2, 2])
    return float(2 * sps.t.sf(abs(beta[2] / se), n - 3))


def loop_bootstrap_ci(x, y, method, n_boot, level, seed):
    """Percentile interval from an explicit loop of scipy calls over the index matrix."""
    indices = np.random.default_rng(seed).integers(0, x.size, size=(n_boot, x.size))
    coefficient = sps.spearmanr if method == "spearman" else sps.kendalltau
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant resamples: scipy warns and returns NaN
        replicates = np.array([coefficient(x[i], y[i]).statistic for i in indices])
    replicates = replicates[np.isfinite(replicates)]
    tail = 50 * (1 - level)
    return tuple(np.percentile(replicates, [tail, 100 - tail]))


def study_frames(n_graphs=30, inits=3, seed=0):
    """Seeded runs/graphs frames with ties, NaNs, a failed run, and a constant property."""
    rng = np.random.default_rng(seed)
    density = rng.uniform(0.01, 0.2, n_graphs)
    graphs = pd.DataFrame({
        "graph_id": np.arange(n_graphs) + 100,
        "generator": "watts_strogatz",
        "nei": rng.integers(2, 6, n_graphs),
        "dag_density": density,
        "dag_layers": rng.integers(3, 8, n_graphs),  # ties
        "dag_parameters": (60_000 + 100_000 * density + rng.normal(0, 3000, n_graphs)).round(),
        "prior_avg_shortest_path": rng.normal(3, 0.5, n_graphs),
        "dag_constant": 7.0,
    })  # fmt: skip
    graphs.loc[3, "prior_avg_shortest_path"] = np.nan
    graph_id = np.repeat(graphs["graph_id"].to_numpy(), inits)
    base = np.repeat(density, inits)
    runs = pd.DataFrame({
        "graph_id": graph_id,
        "init": np.tile(["kaiming", "xavier", "normal"][:inits], n_graphs),
        "status": "ok",
        "accuracy": 0.97 - 0.2 * base + rng.normal(0, 0.01, graph_id.size),
        "fgsm_error_rate": 0.3 + 2 * base + rng.normal(0, 0.05, graph_id.size),
        "min_fgsm_avg_eps": 0.1 - 0.3 * base + rng.normal(0, 0.02, graph_id.size),
        "min_fgsm_censored": rng.integers(0, 5, graph_id.size),
    })  # fmt: skip
    runs.loc[5, "fgsm_error_rate"] = 50.0  # an outlier run
    runs.loc[7, "status"] = "failed"
    runs.loc[7, "accuracy"] = 0.1
    runs.loc[[9, 10, 11], "min_fgsm_avg_eps"] = np.nan  # graph 103: no value at all
    return runs, graphs


def independent_aggregate(runs: pd.DataFrame, measure: str) -> dict:
    """Per graph mean after Tukey fences, by a plain Python loop."""
    ok = runs[runs["status"] == "ok"]
    values = ok[measure].to_numpy(float)
    finite = values[np.isfinite(values)]
    q1, q3 = np.percentile(finite, [25, 75])
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    kept: dict = {}
    for graph, value in zip(ok["graph_id"], values):
        kept.setdefault(graph, [])
        if np.isfinite(value) and low <= value <= high:
            kept[graph].append(value)
    return {g: (np.mean(v) if v else np.nan) for g, v in kept.items()}


@pytest.fixture(scope="module")
def frames():
    return study_frames()


@pytest.fixture(scope="module")
def table(frames):
    runs, graphs = frames
    return correlation_table(runs, graphs, n_boot=300, seed=3)


# ------------------------------------------------------------------------- IQR filter


def test_iqr_bounds_hand_worked():
    # n = 8, linear interpolation: Q1 at position 0.25 * 7 = 1.75 -> 1.75,
    # Q3 at position 0.75 * 7 = 5.25 -> 5.25; IQR = 3.5; fences 1.75 - 5.25, 5.25 + 5.25.
    assert iqr_bounds([0, 1, 2, 3, 4, 5, 6, 30]) == pytest.approx((-3.5, 10.5))


def test_iqr_filter_includes_fences_and_rejects_nan():
    # Same quartiles as above (the maximum does not enter Q3 at position 5.25).
    values = [0, 1, 2, 3, 4, 5, 6, 10.5, np.nan]
    assert iqr_filter(values).tolist() == [True] * 8 + [False]
    assert iqr_filter([0, 1, 2, 3, 4, 5, 6, 30]).tolist() == [True] * 7 + [False]


def test_iqr_empty_and_all_nan():
    assert np.isnan(iqr_bounds([np.nan, np.nan])).all()
    assert iqr_filter([np.nan, np.inf]).tolist() == [False, False]


def test_iqr_rejects_non_numeric():
    with pytest.raises(ValueError, match="numeric"):
        iqr_filter(["a", "b"])


# ------------------------------------------------------------------------ aggregation


def test_aggregate_hand_worked():
    runs = pd.DataFrame({
        "graph_id": ["A", "A", "A", "A", "B", "B", "B", "C", "C", "D", "D"],
        "status": ["ok", "ok", "ok", "failed", "ok", "ok", "ok", "ok", "ok", "ok", "ok"],
        "pgd_error_rate": [0.1, 0.2, 0.3, 0.4, 0.2, 0.3, 0.2, 0.9, 1.0, 0.25, 0.15],
        "pgd_avg_confidence": [0.5, np.nan, 0.7, 0.0, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6],
    })  # fmt: skip
    # pgd_error_rate over the 10 ok runs, sorted: .1 .15 .2 .2 .2 .25 .3 .3 .9 1.0;
    # Q1 at position 2.25 -> 0.2, Q3 at position 6.75 -> 0.3, IQR 0.1, fences [0.05, 0.45]:
    # both runs of C fall out; the failed run of A (0.4) is never counted.
    # pgd_avg_confidence: Q1 = Q3 = 0.6, fences [0.6, 0.6]: A's 0.5 and 0.7 fall out, NaN too.
    out = aggregate(runs, ["pgd_error_rate", "pgd_avg_confidence"])
    assert out.index.name == "graph_id"
    assert out.index.tolist() == ["A", "B", "C", "D"]
    np.testing.assert_allclose(out["pgd_error_rate"], [0.2, 0.7 / 3, np.nan, 0.2])
    assert out["n_inits_pgd_error_rate"].tolist() == [3, 3, 0, 2]
    np.testing.assert_allclose(out["pgd_avg_confidence"], [np.nan, 0.6, 0.6, 0.6])
    assert out["n_inits_pgd_avg_confidence"].tolist() == [0, 3, 2, 2]


def test_aggregate_without_status_counts_every_row():
    runs = pd.DataFrame({"graph_id": [1, 1, 2], "accuracy": [0.9, 0.8, 0.7]})
    out = aggregate(runs, "accuracy")
    np.testing.assert_allclose(out["accuracy"], [0.85, 0.7])
    assert out["n_inits_accuracy"].tolist() == [2, 1]


def test_aggregate_matches_loop(frames):
    runs, _ = frames
    for measure in ("accuracy", "fgsm_error_rate", "min_fgsm_avg_eps"):
        expected = independent_aggregate(runs, measure)
        out = aggregate(runs, measure)[measure]
        np.testing.assert_allclose(out.to_numpy(), [expected[g] for g in out.index])


def test_aggregate_missing_column_message():
    runs = pd.DataFrame({"graph_id": [1], "accuracy": [0.9]})
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['pgd_error_rate'\]"):
        aggregate(runs, ["pgd_error_rate"])
    with pytest.raises(ValueError, match="not numeric"):
        aggregate(runs.assign(accuracy=["x"]), "accuracy")


# --------------------------------------------------------------------------- strength


@pytest.mark.parametrize(
    ("r", "label"),
    [
        (0.0, "negligible"), (0.0999, "negligible"), (-0.0999, "negligible"),
        (0.10, "small"), (-0.10, "small"), (0.295, "small"), (0.2999, "small"),
        (0.30, "moderate"), (-0.30, "moderate"), (0.4999, "moderate"),
        (0.50, "large"), (-0.50, "large"), (1.0, "large"), (np.nan, "n/a"),
    ],
)  # fmt: skip
def test_strength_bands(r, label):
    assert strength(r) == label


# ------------------------------------------------------------------ Benjamini-Hochberg


def test_bh_matches_scipy_with_ties():
    rng = np.random.default_rng(4)
    p = np.concatenate([rng.uniform(0, 0.05, 20), rng.uniform(0, 1, 40), [0.01, 0.01, 1.0, 0.0]])
    np.testing.assert_allclose(benjamini_hochberg(p), sps.false_discovery_control(p, method="bh"))


def test_bh_nan_stay_nan_and_do_not_count():
    rng = np.random.default_rng(5)
    p = rng.uniform(0, 0.2, (4, 6))
    p[1, 2] = p[3, 0] = np.nan
    q = benjamini_hochberg(p)
    assert q.shape == p.shape
    assert np.isnan(q[1, 2]) and np.isnan(q[3, 0])
    present = ~np.isnan(p)
    np.testing.assert_allclose(q[present], sps.false_discovery_control(p[present], method="bh"))


def test_bh_hand_worked_and_validation():
    # sorted 0.01, 0.03, 0.04 (m = 3): 0.03, 0.045, 0.04 -> running min from the top: .03 .04 .04
    np.testing.assert_allclose(benjamini_hochberg([0.04, 0.01, 0.03]), [0.04, 0.03, 0.04])
    assert np.isnan(benjamini_hochberg([np.nan])).all()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg([0.5, 1.2])


# ------------------------------------------------------------------ partial Spearman


def test_partial_spearman_against_residuals_closed_form_and_ols():
    rng = np.random.default_rng(6)
    z = rng.normal(size=40)
    x = z + rng.normal(size=40)
    y = 0.5 * z + 0.4 * x + rng.integers(0, 3, 40)  # ties in y
    rho, p = partial_spearman(x, y, z)

    by_residuals = sps.pearsonr(ranks_residual(x, z), ranks_residual(y, z)).statistic
    r_xy = sps.spearmanr(x, y).statistic
    r_xz = sps.spearmanr(x, z).statistic
    r_yz = sps.spearmanr(y, z).statistic
    closed_form = (r_xy - r_xz * r_yz) / np.sqrt((1 - r_xz**2) * (1 - r_yz**2))
    assert rho == pytest.approx(by_residuals, abs=1e-12)
    assert rho == pytest.approx(closed_form, abs=1e-12)
    assert p == pytest.approx(ols_t_pvalue(x, y, z), rel=1e-9)
    assert 0 < p < 1


def test_partial_spearman_drops_nan_and_degenerate_cases():
    rng = np.random.default_rng(7)
    x, y, z = rng.normal(size=(3, 20))
    x_nan = x.copy()
    x_nan[[2, 5]] = np.nan
    keep = np.isfinite(x_nan)
    expected = partial_spearman(x[keep], y[keep], z[keep])
    assert partial_spearman(x_nan, y, z) == pytest.approx(expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(partial_spearman(x, y, np.ones(20))).all()  # constant control
        assert np.isnan(partial_spearman(2 * z + 1, y, z)).all()  # x monotone in z
        assert np.isnan(partial_spearman(x[:3], y[:3], z[:3])).all()  # n - 3 = 0 df
    with pytest.raises(ValueError, match="equal lengths"):
        partial_spearman(x, y[:5], z)


# -------------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("method", ["spearman", "kendall"])
def test_bootstrap_matches_scipy_loop_with_ties(method):
    rng = np.random.default_rng(8)
    x = rng.integers(0, 6, 25).astype(float)  # heavy ties, so tau-b's tie terms matter
    y = x + rng.normal(0, 2, 25).round()
    got = bootstrap_ci(x, y, method=method, n_boot=300, level=0.9, seed=11)
    expected = loop_bootstrap_ci(x, y, method, n_boot=300, level=0.9, seed=11)
    assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("method", ["spearman", "kendall"])
def test_bootstrap_skips_constant_resamples(method):
    # With 5 points and two distinct x values, some resamples have constant x.
    x = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    y = np.array([0.3, 0.1, 0.2, 0.5, 0.9])
    got = bootstrap_ci(x, y, method=method, n_boot=200, seed=2)
    assert got == pytest.approx(loop_bootstrap_ci(x, y, method, 200, 0.95, 2), abs=1e-12)


def test_bootstrap_reproducible_and_contains_estimate():
    rng = np.random.default_rng(9)
    x = rng.normal(size=60)
    y = x + rng.normal(size=60)
    for method, coefficient in (("spearman", sps.spearmanr), ("kendall", sps.kendalltau)):
        low, high = bootstrap_ci(x, y, method=method, seed=5)
        assert (low, high) == bootstrap_ci(x, y, method=method, seed=5)
        assert (low, high) != bootstrap_ci(x, y, method=method, seed=6)
        assert low < coefficient(x, y).statistic < high
        assert 0 < low  # clearly correlated data
        inner = bootstrap_ci(x, y, method=method, level=0.5, seed=5)
        assert low < inner[0] < inner[1] < high


def test_bootstrap_degenerate_and_validation():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(bootstrap_ci(np.ones(10), np.arange(10.0))).all()
        assert np.isnan(bootstrap_ci([1.0, 2.0], [2.0, 1.0])).all()
    with pytest.raises(ValueError, match="method"):
        bootstrap_ci([1, 2, 3], [1, 2, 3], method="pearson")
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci([1, 2, 3], [1, 2, 3], n_boot=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([1, 2, 3], [1, 2, 3], level=95)


# ---------------------------------------------------------------------- the table


def test_table_shape_defaults_and_labels(table):
    assert list(table.columns) == list(TABLE_COLUMNS)
    # Constant, non-prefixed and non-numeric columns are not properties; censored counts and
    # ids are not measures; attacked measures come first, then the clean ones.
    properties = ["dag_density", "dag_layers", "dag_parameters", "prior_avg_shortest_path"]
    measures = ["fgsm_error_rate", "min_fgsm_avg_eps", "accuracy"]
    assert table["property"].tolist() == [p for p in properties for _ in measures]
    assert table["measure"].tolist() == measures * len(properties)
    assert table["attack"].tolist()[:3] == ["fgsm", "min_fgsm", "clean"]
    assert table["strength"].tolist() == [strength(r) for r in table["rho"]]


def test_table_coefficients_match_scipy(frames, table):
    runs, graphs = frames
    props = graphs.set_index("graph_id")
    for row in table.itertuples():
        per_graph = independent_aggregate(runs, row.measure)
        ids = sorted(per_graph)
        x = props.loc[ids, row.property].to_numpy(float)
        y = np.array([per_graph[g] for g in ids])
        z = props.loc[ids, "dag_parameters"].to_numpy(float)
        keep = np.isfinite(x) & np.isfinite(y)
        assert row.n_graphs == keep.sum()
        rho = sps.spearmanr(x[keep], y[keep])
        tau = sps.kendalltau(x[keep], y[keep])
        assert (row.rho, row.rho_p) == pytest.approx((rho.statistic, rho.pvalue), rel=1e-10)
        assert (row.tau, row.tau_p) == pytest.approx((tau.statistic, tau.pvalue), rel=1e-10)
        if row.property == "dag_parameters":
            assert np.isnan(row.partial_rho) and np.isnan(row.partial_p)
        else:
            residual_x = ranks_residual(x[keep], z[keep])
            expected = sps.pearsonr(residual_x, ranks_residual(y[keep], z[keep]))
            assert row.partial_rho == pytest.approx(expected.statistic, abs=1e-12)
            assert row.partial_p == pytest.approx(ols_t_pvalue(x[keep], y[keep], z[keep]), rel=1e-9)
    # The NaN in prior_avg_shortest_path (graph 103) and the all-NaN min_fgsm_avg_eps of
    # graph 103 drop one graph from those pairs only; the failed run drops no graph.
    n = table.set_index(["property", "measure"])["n_graphs"]
    assert n["dag_density", "accuracy"] == 30
    assert n["dag_density", "min_fgsm_avg_eps"] == 29
    assert n["prior_avg_shortest_path", "accuracy"] == 29
    assert n["prior_avg_shortest_path", "min_fgsm_avg_eps"] == 29


def test_table_q_values_over_whole_table(table):
    for name in ("rho", "tau"):
        expected = sps.false_discovery_control(table[f"{name}_p"].to_numpy(), method="bh")
        np.testing.assert_allclose(table[f"{name}_q"], expected)


def test_table_intervals_equal_bootstrap_ci(frames, table):
    runs, graphs = frames
    props = graphs.set_index("graph_id")
    for row in table.iloc[[0, 4, 10]].itertuples():  # n = 30 and n = 29 pairs
        per_graph = aggregate(runs, row.measure)[row.measure]
        x = props.loc[per_graph.index, row.property].to_numpy(float)
        for name, method in (("rho", "spearman"), ("tau", "kendall")):
            expected = bootstrap_ci(x, per_graph.to_numpy(), method=method, n_boot=300, seed=3)
            got = (getattr(row, f"{name}_ci_low"), getattr(row, f"{name}_ci_high"))
            assert got == pytest.approx(expected, abs=1e-12)
            assert got[0] <= getattr(row, name) <= got[1]


def test_table_constant_columns_give_nan_without_warnings(frames):
    runs, graphs = frames
    runs = runs.assign(pgd_error_rate=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = correlation_table(
            runs, graphs, properties=["dag_constant", "dag_density"],
            measures=["pgd_error_rate", "accuracy"], n_boot=50,
        )  # fmt: skip
    values = out.drop(columns=["property", "measure", "attack", "n_graphs", "strength"])
    finite = np.isfinite(values.to_numpy(float)).all(axis=1)
    # Only (dag_density, accuracy) has two non-constant columns.
    assert finite.tolist() == [False, False, False, True]
    assert out["strength"].tolist()[:3] == ["n/a"] * 3


def test_table_options_and_validation(frames):
    runs, graphs = frames
    out = correlation_table(runs, graphs, properties=["dag_density"], measures=["accuracy"],
                            control=None, n_boot=0)  # fmt: skip
    assert np.isnan(out[["partial_rho", "partial_p", "rho_ci_low", "tau_ci_high"]].to_numpy()).all()
    assert np.isfinite(out[["rho", "tau", "rho_q"]].to_numpy()).all()
    other = correlation_table(runs, graphs, properties=["dag_density"],
                              measures=["min_fgsm_censored"], n_boot=0)  # fmt: skip
    assert other["attack"].tolist() == ["other"]
    with pytest.raises(ValueError, match="control=None"):
        correlation_table(runs, graphs.drop(columns="dag_parameters"), n_boot=0)
    with pytest.raises(ValueError, match="one row per graph_id"):
        correlation_table(runs, pd.concat([graphs, graphs.iloc[:1]]), n_boot=0)
    with pytest.raises(ValueError, match="not numeric"):
        correlation_table(runs, graphs, properties=["generator"], n_boot=0)
    with pytest.raises(ValueError, match="n_boot"):
        correlation_table(runs, graphs, n_boot=-1)
    with pytest.raises(ValueError, match="same ids and dtype"):
        correlation_table(runs.assign(graph_id=runs["graph_id"].astype(str)), graphs, n_boot=0)


def test_study_table_layout(table):
    wide = study_table(table)
    assert wide.index.tolist() == list(dict.fromkeys(table["property"]))
    assert wide.columns.tolist() == list(dict.fromkeys(table["measure"]))
    for row in table.itertuples():
        assert wide.loc[row.property, row.measure] == row.rho
    labels = study_table(table, value="strength")
    assert labels.loc["dag_density", "accuracy"] == strength(wide.loc["dag_density", "accuracy"])
    with pytest.raises(ValueError, match="twice"):
        study_table(pd.concat([table, table]))


# ------------------------------------------------------------ exact small-sample p-values


def test_spearman_exact_pvalue_matches_brute_force_over_orderings():
    import itertools

    from structrob.stats import spearman_exact_pvalue

    rng = np.random.default_rng(4)
    for n in (4, 6, 7):
        x = rng.normal(size=n)
        y = x + rng.normal(size=n)
        rho = sps.spearmanr(x, y).statistic
        # independent: scipy's rho for every reordering of y, counted by hand
        null = [
            sps.spearmanr(x, y[list(order)]).statistic for order in itertools.permutations(range(n))
        ]
        expected = np.mean(np.abs(null) >= abs(rho) - 1e-12)
        assert spearman_exact_pvalue(rho, n) == pytest.approx(expected, rel=1e-12)
    # hand count: n = 4 has 24 orderings, exactly 2 with |rho| = 1
    assert spearman_exact_pvalue(-1.0, 4) == pytest.approx(2 / 24)
    with pytest.raises(ValueError):
        spearman_exact_pvalue(0.5, 9)


def test_small_tables_use_exact_spearman_pvalues():
    # six perfectly ordered graphs: the t approximation says p = 0, the exact test 2/720
    runs = pd.DataFrame({"graph_id": range(6), "status": "ok", "fgsm_error_rate": np.arange(6.0)})
    graphs = pd.DataFrame({"graph_id": range(6), "dag_density": np.arange(6.0) ** 2})
    row = correlation_table(runs, graphs, control=None, n_boot=0).iloc[0]
    assert sps.spearmanr(graphs["dag_density"], runs["fgsm_error_rate"]).pvalue == pytest.approx(
        0.0, abs=1e-12
    )
    assert row["rho"] == pytest.approx(1.0) and row["rho_p"] == pytest.approx(2 / 720)
    # with ties the p-value is exact too (it used to be scipy's t approximation, 0.0003):
    # the permutation count with the tie kept, by brute force over the 720 orderings
    import itertools

    tied = graphs.assign(dag_density=[0.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    row = correlation_table(runs, tied, control=None, n_boot=0).iloc[0]
    x, y = tied["dag_density"].to_numpy(), runs["fgsm_error_rate"].to_numpy()
    observed = sps.spearmanr(x, y).statistic
    null = [sps.spearmanr(x, y[list(o)]).statistic for o in itertools.permutations(range(6))]
    assert row["rho_p"] == pytest.approx(np.mean(np.abs(null) >= abs(observed) - 1e-9))
    assert row["rho_p"] == pytest.approx(4 / 720)  # y in order, or 0 and 1 swapped; reversed
    assert sps.spearmanr(x, y).pvalue < 0.001 < row["rho_p"]


# ------------------------------------------------------------------ rank regression line


def test_rank_regression_slope_is_spearman_rho_without_ties():
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    y = 0.5 * x + rng.normal(size=40)
    xs, fit, slope = rank_regression_curve(x, y)
    assert slope == pytest.approx(sps.spearmanr(x, y)[0], abs=1e-12)
    assert np.array_equal(xs, np.sort(x))
    assert np.all(np.diff(fit) >= 0)  # positive slope: non-decreasing
    assert fit.min() >= y.min() and fit.max() <= y.max()


def test_rank_regression_with_ties_matches_linregress_on_ranks():
    x = np.array([1, 1, 2, 3, 3, 3, 4, 5.0])
    y = np.array([9, 7, 7, 5, 4, 6, 1, 2.0])
    _, fit, slope = rank_regression_curve(x, y)
    assert slope == pytest.approx(sps.linregress(sps.rankdata(x), sps.rankdata(y)).slope)
    assert slope < 0 and np.all(np.diff(fit) <= 0)


def test_rank_regression_reproduces_a_monotone_relation_exactly():
    # ranks of y equal ranks of x, so the fitted ranks are the ranks and map back to y itself
    x = np.array([0.3, 2.0, -1.0, 5.0, 1.0])
    xs, fit, slope = rank_regression_curve(x, x**3)
    assert slope == pytest.approx(1.0)
    assert np.allclose(fit, xs**3)


def test_rank_regression_constant_x_gives_flat_median_line():
    _, fit, slope = rank_regression_curve([2, 2, 2], [1.0, 5.0, 3.0])
    assert slope == 0.0 and np.allclose(fit, 3.0)


def test_rank_regression_rejects_bad_input():
    with pytest.raises(ValueError, match="equal length"):
        rank_regression_curve([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        rank_regression_curve([1, np.nan], [1, 2])


# ------------------------------------------------------------ names from the vocabulary


def test_default_measures_and_attacks_follow_the_vocabulary():
    rng = np.random.default_rng(8)
    columns = [
        "f1_macro",
        "pgd_error_rate",
        "fgsm_n_correct",
        "error_rate",
        "min_fgsm_avg_eps",
        "accuracy",
        "cw_avg_confidence",
        "train_seconds",
    ]
    runs = pd.DataFrame(
        {
            "graph_id": np.repeat(range(8), 2),
            "status": "ok",
            **{c: rng.uniform(size=16) for c in columns},
        }
    )
    graphs = pd.DataFrame({"graph_id": range(8), "dag_density": rng.uniform(size=8)})
    table = correlation_table(runs, graphs, control=None, n_boot=0)
    attacked = [c for c in columns if split_measure(c) and split_measure(c)[0] != CLEAN]
    assert table["measure"].tolist() == [*attacked, "accuracy", "f1_macro"]
    assert table["attack"].tolist() == [split_measure(m)[0] for m in table["measure"]]
    assert table["attack"].tolist() == ["pgd", "min_fgsm", "cw", CLEAN, CLEAN]
