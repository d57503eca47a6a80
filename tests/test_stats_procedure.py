"""Tests of the study code's procedure in structrob.stats: outlier rule, pooled Table 2 rows,
exact small-sample p-values with ties, and the small-study threshold; hand-worked numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from structrob import stats
from structrob.stats import (
    MIN_GRAPHS,
    aggregate,
    correlation_table,
    iqr_keep,
    kendall,
    permutation_pvalue,
    small_sample_warning,
    spearman,
    too_few_graphs,
)

# ------------------------------------------------------------------------ the outlier rule


@pytest.fixture
def two_graphs():
    """Two graphs x four inits; only the FGSM confidence 0.9 of g0's fourth run is an outlier.

    Pooled over the 8 runs (numpy's type-7 quartiles, h = 7 p):
    error rate 0.1 0.2 0.2 0.2 0.3 0.3 0.3 0.3: Q1 = 0.2, Q3 = 0.3, fences [0.05, 0.45], none out;
    confidence 0.5 x 7, 0.9: Q1 = Q3 = 0.5, fences [0.5, 0.5], the 0.9 is out;
    accuracy 0.90 ... 0.97, evenly spread: none out.
    """
    return pd.DataFrame(
        {
            "graph_id": ["g0"] * 4 + ["g1"] * 4,
            "status": "ok",
            "fgsm_error_rate": [0.1, 0.2, 0.3, 0.3, 0.2, 0.3, 0.2, 0.3],
            "fgsm_avg_confidence": [0.5, 0.5, 0.5, 0.9, 0.5, 0.5, 0.5, 0.5],
            "accuracy": [0.90, 0.92, 0.94, 0.96, 0.91, 0.93, 0.95, 0.97],
        }
    )


MEASURES = ["fgsm_error_rate", "fgsm_avg_confidence", "accuracy"]


def test_outlier_rules_give_different_graph_means_worked_by_hand(two_graphs):
    per_measure = aggregate(two_graphs, MEASURES)
    per_attack = aggregate(two_graphs, MEASURES, outlier_rule="per_attack")
    # per measure: only the confidence 0.9 goes; g0's error rate keeps all four runs
    assert per_measure.loc["g0", "fgsm_error_rate"] == pytest.approx((0.1 + 0.2 + 0.3 + 0.3) / 4)
    assert per_measure.loc["g0", "n_inits_fgsm_error_rate"] == 4
    # per attack: the run is an FGSM outlier, so its FGSM error rate goes too
    assert per_attack.loc["g0", "fgsm_error_rate"] == pytest.approx((0.1 + 0.2 + 0.3) / 3)
    assert per_attack.loc["g0", "n_inits_fgsm_error_rate"] == 3
    for frame in (per_measure, per_attack):
        assert frame.loc["g0", "fgsm_avg_confidence"] == pytest.approx(0.5)
        assert frame.loc["g0", "n_inits_fgsm_avg_confidence"] == 3
        # accuracy is its own group ("clean"): the FGSM outlier does not touch it
        assert frame.loc["g0", "accuracy"] == pytest.approx((0.90 + 0.92 + 0.94 + 0.96) / 4)
        assert frame.loc["g0", "n_inits_accuracy"] == 4
        assert frame.loc["g1", "fgsm_error_rate"] == pytest.approx(0.25)
    assert aggregate(two_graphs, MEASURES).equals(per_measure)  # the default is per measure


def test_per_attack_rule_groups_by_attack_and_ignores_nan(two_graphs):
    runs = two_graphs.assign(
        pgd_error_rate=[0.4] * 8,
        train_seconds=[1.0] * 7 + [50.0],  # no measure: a group of its own
    )
    runs.loc[0, "fgsm_avg_confidence"] = np.nan  # missing, not an outlier
    columns = [*MEASURES, "pgd_error_rate", "train_seconds"]
    keep = iqr_keep(runs, columns, "per_attack")
    assert keep["fgsm_error_rate"].tolist() == [True, True, True, False] + [True] * 4
    assert keep["fgsm_avg_confidence"].tolist() == [False, True, True, False] + [True] * 4
    assert keep["pgd_error_rate"].all() and keep["accuracy"].all()
    assert keep["train_seconds"].tolist() == [True] * 7 + [False]
    # one measure of an attack alone is the per-measure rule
    alone = iqr_keep(runs, ["fgsm_error_rate"], "per_attack")
    assert alone.equals(iqr_keep(runs, ["fgsm_error_rate"]))
    with pytest.raises(ValueError, match="outlier_rule"):
        iqr_keep(runs, MEASURES, "per_run")


def test_correlation_table_passes_the_outlier_rule_on():
    rng = np.random.default_rng(2)
    n = 12
    runs = pd.DataFrame(
        {
            "graph_id": np.repeat(range(n), 6),
            "status": "ok",
            "fgsm_error_rate": rng.uniform(size=6 * n),
            "fgsm_avg_confidence": rng.uniform(size=6 * n),
        }
    )
    runs.loc[[3, 20, 41], "fgsm_avg_confidence"] = 40.0  # outliers of confidence only
    graphs = pd.DataFrame({"graph_id": range(n), "dag_density": rng.uniform(size=n)})
    common = {"properties": ["dag_density"], "control": None, "n_boot": 0}
    default = correlation_table(runs, graphs, **common)
    assert default.equals(correlation_table(runs, graphs, outlier_rule="per_measure", **common))
    table = correlation_table(runs, graphs, outlier_rule="per_attack", **common)
    means = aggregate(runs, ["fgsm_error_rate", "fgsm_avg_confidence"], outlier_rule="per_attack")
    x = graphs.set_index("graph_id").loc[means.index, "dag_density"]
    rho = sps.spearmanr(x, means["fgsm_error_rate"]).statistic
    assert table.loc[table["measure"] == "fgsm_error_rate", "rho"].item() == pytest.approx(rho)
    assert not np.isclose(
        table.loc[0, "rho"], default.loc[0, "rho"]
    )  # the error rates of the outlier runs are gone
    with pytest.raises(ValueError, match="outlier_rule"):
        correlation_table(runs, graphs, outlier_rule="per_run", **common)


# ------------------------------------------------------------------- Table 2: pooled rows

REPETITIONS, INITS, STEPS = 3, 6, 5


@pytest.fixture
def pruning_chains():
    """3 chains x 5 steps (one graph each) x 6 initialisations, one failed run, one outlier."""
    rng = np.random.default_rng(7)
    graphs, runs = [], []
    for repetition in range(REPETITIONS):
        edges = 5000.0
        for step in range(STEPS):
            edges *= 0.8 * rng.uniform(0.95, 1.05)
            graph_id = f"r{repetition}s{step}"
            graphs.append(
                {
                    "graph_id": graph_id,
                    "step": step,
                    "dag_edges": edges,
                    "dag_density": rng.uniform(),
                    "dag_parameters": 784 * 10 + edges,
                }
            )
            for init in range(INITS):
                runs.append(
                    {
                        "graph_id": graph_id,
                        "step": step,
                        "repetition": repetition,
                        "init": init,
                        "status": "ok",
                        "fgsm_error_rate": 0.9 - edges / 10_000 + rng.normal(0, 0.05),
                        "accuracy": 0.9 + rng.normal(0, 0.01),
                    }
                )
    runs, graphs = pd.DataFrame(runs), pd.DataFrame(graphs)
    runs.loc[5, "fgsm_error_rate"] = 50.0  # an IQR outlier: pooled rows keep it
    failed = pd.DataFrame([{**runs.iloc[0].to_dict(), "status": "failed", "accuracy": 0.0}])
    return pd.concat([runs, failed], ignore_index=True), graphs


def test_pooled_rows_count_every_run(pruning_chains):
    runs, graphs = pruning_chains
    table = correlation_table(runs, graphs, n_boot=50, pruning_rows="pooled")
    assert (table["n_graphs"] == REPETITIONS * INITS * STEPS).all()  # 90, the failed run left out
    # each run row with its own graph's properties, no filter, no mean over initialisations
    ok = runs[runs["status"] == "ok"]
    joined = ok.merge(graphs.drop(columns="step"), on="graph_id")
    for row in table.itertuples():
        x, y = joined[row.property], joined[row.measure]
        assert row.rho == pytest.approx(sps.spearmanr(x, y).statistic)
        assert row.rho_p == pytest.approx(sps.spearmanr(x, y).pvalue)
        assert row.tau == pytest.approx(sps.kendalltau(x, y).statistic)
        assert row.rho_ci_low <= row.rho <= row.rho_ci_high
    assert table["partial_rho"].notna().any()


def test_step_means_stay_the_default(pruning_chains):
    runs, graphs = pruning_chains
    default = correlation_table(runs, graphs, n_boot=50)
    explicit = correlation_table(runs, graphs, n_boot=50, pruning_rows="step_means")
    pd.testing.assert_frame_equal(default, explicit)
    assert (default["n_graphs"] == REPETITIONS * STEPS).all()  # one mean per graph
    means = aggregate(runs, ["fgsm_error_rate"])
    x = graphs.set_index("graph_id").loc[means.index, "dag_edges"]
    row = default[(default["property"] == "dag_edges") & (default["measure"] == "fgsm_error_rate")]
    assert row["rho"].item() == pytest.approx(sps.spearmanr(x, means["fgsm_error_rate"]).statistic)
    with pytest.raises(ValueError, match="pruning_rows"):
        correlation_table(runs, graphs, pruning_rows="runs")


def test_pooled_rows_need_matching_graph_ids(pruning_chains):
    runs, graphs = pruning_chains
    with pytest.raises(ValueError, match="same ids and dtype"):
        correlation_table(
            runs.assign(graph_id=range(len(runs))), graphs, n_boot=0, pruning_rows="pooled"
        )


# --------------------------------------------------- exact small-sample p-values with ties

EDGES = np.array([700.0, 1000.0, 1000.0])
ONEPIXEL = np.array([0.267, 0.3, 0.3])


def brute_force_pvalue(x, y, coefficient):
    """Fraction of the n! reorderings of y with |coefficient| >= the observed one."""
    observed = abs(coefficient(x, y).statistic)
    null = [
        abs(coefficient(x, y[list(o)]).statistic) for o in itertools.permutations(range(x.size))
    ]
    return float(np.mean(np.array(null) >= observed - 1e-9))


def test_three_graph_example_is_exact_with_ties():
    # scipy: rho 1, p 0 (t approximation); tau 1, p 0.157 (normal approximation)
    assert sps.spearmanr(EDGES, ONEPIXEL).pvalue == 0.0
    assert sps.kendalltau(EDGES, ONEPIXEL).pvalue == pytest.approx(0.1573, abs=1e-4)
    # by hand: of the 3! = 6 orderings of the error rates, the two that put 0.267 with 700
    # edges give rho = tau = 1; the other four give rho = tau = -0.5. So p = 2/6.
    assert brute_force_pvalue(EDGES, ONEPIXEL, sps.spearmanr) == pytest.approx(1 / 3)
    assert brute_force_pvalue(EDGES, ONEPIXEL, sps.kendalltau) == pytest.approx(1 / 3)
    rho, rho_p = spearman(EDGES, ONEPIXEL)
    tau, tau_p = kendall(EDGES, ONEPIXEL)
    assert (rho, tau) == pytest.approx((1.0, 1.0))
    assert rho_p == pytest.approx(1 / 3) and tau_p == pytest.approx(1 / 3)
    # and so in a three-graph study's table
    runs = pd.DataFrame({"graph_id": [0, 1, 2], "status": "ok", "onepixel_error_rate": ONEPIXEL})
    graphs = pd.DataFrame({"graph_id": [0, 1, 2], "dag_edges": EDGES})
    row = correlation_table(runs, graphs, control=None, n_boot=0).iloc[0]
    assert row["rho"] == pytest.approx(1.0)
    assert row["rho_p"] == pytest.approx(1 / 3) and row["tau_p"] == pytest.approx(1 / 3)
    assert row["rho_q"] == pytest.approx(1 / 3)


def tied_sample(n):
    rng = np.random.default_rng(n)
    x = rng.integers(0, 3, size=n).astype(float)  # heavy ties
    y = np.round(x + rng.normal(0, 1, size=n))
    x[:2] = 0.0, 2.0  # not constant, and tied: 3 values in n >= 4 places
    y[1], y[-1] = y[0], y[0] + 5  # tied, and not constant
    return x, y


@pytest.mark.parametrize("n", [4, 5, 6])
def test_permutation_pvalue_matches_brute_force_with_ties(n):
    x, y = tied_sample(n)
    assert np.unique(x).size < n and np.unique(y).size < n
    for method, coefficient in (("spearman", sps.spearmanr), ("kendall", sps.kendalltau)):
        expected = brute_force_pvalue(x, y, coefficient)
        got = permutation_pvalue(x, y, method)
        assert got == pytest.approx(expected, abs=1e-12)
        orderings = got * np.prod(np.arange(1, n + 1))
        assert orderings == pytest.approx(round(orderings))  # a whole number of orderings


def test_permutation_pvalue_with_ties_for_eight_graphs_by_textbook_formulas():
    # 8! = 40,320 orderings: scipy per ordering is slow, so the null is computed here from the
    # textbook formulas, row by row: Pearson r of average ranks; tau-b = (concordant -
    # discordant) / sqrt((n0 - n1)(n0 - n2)) with n1, n2 the pairs tied in x, in y.
    x, y = tied_sample(8)
    orderings = np.array(list(itertools.permutations(range(8))))
    permuted = y[orderings]
    ranks = sps.rankdata(permuted, axis=1)  # average ranks of every row
    centred = ranks - ranks.mean(1, keepdims=True)
    rank_x = sps.rankdata(x) - sps.rankdata(x).mean()
    rho_null = centred @ rank_x / np.sqrt((centred**2).sum(1) * (rank_x**2).sum())
    rho = sps.spearmanr(x, y).statistic
    assert permutation_pvalue(x, y) == pytest.approx(np.mean(np.abs(rho_null) >= abs(rho) - 1e-9))
    i, j = np.triu_indices(8, k=1)
    n0 = i.size
    n1 = np.sum(x[i] == x[j])
    n2 = np.sum(y[i] == y[j])
    products = np.sign(x[i] - x[j]) * np.sign(permuted[:, i] - permuted[:, j])
    tau_null = products.sum(1) / np.sqrt((n0 - n1) * (n0 - n2))
    tau = sps.kendalltau(x, y).statistic
    assert permutation_pvalue(x, y, "kendall") == pytest.approx(
        np.mean(np.abs(tau_null) >= abs(tau) - 1e-9)
    )


def test_permutation_pvalue_without_ties_is_the_known_exact_one():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=7), rng.normal(size=7)
    rho = sps.spearmanr(x, y).statistic
    assert permutation_pvalue(x, y) == pytest.approx(stats.spearman_exact_pvalue(rho, 7))
    assert permutation_pvalue(x, y, "kendall") == pytest.approx(
        sps.kendalltau(x, y, method="exact").pvalue
    )
    # untied small samples keep today's paths
    assert spearman(x, y)[1] == stats.spearman_exact_pvalue(rho, 7)
    assert kendall(x, y)[1] == sps.kendalltau(x, y).pvalue


def test_large_or_degenerate_samples_keep_scipy_and_nan():
    rng = np.random.default_rng(12)
    x = rng.integers(0, 4, size=9).astype(float)
    y = x + rng.normal(size=9)
    assert spearman(x, y)[1] == sps.spearmanr(x, y).pvalue  # n = 9 > EXACT_SPEARMAN_MAX_N
    assert kendall(x, y)[1] == sps.kendalltau(x, y).pvalue
    assert np.isnan(spearman([1, 1, 1, 1], [1, 2, 3, 4])).all()
    assert np.isnan(kendall([1, 2], [1, 2])).all()
    with pytest.raises(ValueError, match="n <="):
        permutation_pvalue(x, y)
    with pytest.raises(ValueError, match="constant"):
        permutation_pvalue([1, 1, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="method"):
        permutation_pvalue([1, 2, 3], [1, 2, 3], "pearson")


# ---------------------------------------------------------------- too few graphs to mean much


def test_min_graphs_is_where_a_large_correlation_first_reaches_p_below_05():
    def p_of_large(n):  # scipy's t test of rho = 0.5 on n graphs
        return 2 * sps.t.sf(0.5 * np.sqrt((n - 2) / 0.75), n - 2)

    assert p_of_large(MIN_GRAPHS) < 0.05 <= p_of_large(MIN_GRAPHS - 1)
    assert stats.strength(0.5) == "large"


def test_too_few_graphs_and_its_message():
    small = pd.DataFrame({"n_graphs": [3, 2]})
    assert too_few_graphs(small)
    assert small_sample_warning(small).startswith(
        "Too few graphs for a correlation to mean anything: n = 3, fewer than 16."
    )
    enough = pd.DataFrame({"n_graphs": [MIN_GRAPHS, 3]})  # the table's n is its largest
    assert not too_few_graphs(enough) and small_sample_warning(enough) == ""
    by_study = pd.DataFrame({"study": ["prior", "pruning"], "n_graphs": [40, 5]})
    assert too_few_graphs(by_study)
    assert "Table 2 (random-pruning baseline) has n = 5" in small_sample_warning(by_study)
    assert "Table 1" not in small_sample_warning(by_study)
    for empty in (None, pd.DataFrame(), pd.DataFrame({"n_graphs": []})):
        assert not too_few_graphs(empty) and small_sample_warning(empty) == ""
