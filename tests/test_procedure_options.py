"""The study code's choices as config keys: hashing, analysis settings, the presets."""

import pandas as pd
import pytest

from structrob.study.analysis import AnalysisSettings
from structrob.study.config import (
    ConfigError,
    apply_overrides,
    config_hash,
    hashed,
    load_preset,
    science,
)


def test_options_added_later_leave_the_science_hash_of_older_studies_alone():
    quick = load_preset("quick")
    assert "rewiring" not in science(quick)["graphs"]
    assert "init_fans" not in science(quick)["train"]
    changed = apply_overrides(quick, ["graphs.rewiring=endpoints"])
    assert science(changed)["graphs"]["rewiring"] == "endpoints"
    assert config_hash(science(changed)) != config_hash(science(quick))
    # the analysis does not change stored results, so it is not part of the science hash
    reanalysed = apply_overrides(quick, ["analysis.outlier_rule=per_attack"])
    assert config_hash(science(reanalysed)) == config_hash(science(quick))
    later = ("init_fans", "init_layers", "bias_init")
    dumped = quick.train.model_dump(mode="json")
    assert hashed(quick.train) == {k: v for k, v in dumped.items() if k not in later}


def test_bad_option_values_name_the_key():
    with pytest.raises(ConfigError, match="graphs.rewiring"):
        apply_overrides(load_preset("quick"), ["graphs.rewiring=both"])
    with pytest.raises(ConfigError, match="analysis.pruning_rows"):
        apply_overrides(load_preset("quick"), ["analysis.pruning_rows=all"])
    with pytest.raises(ValueError, match="analysis.properties"):
        AnalysisSettings(properties="igraph")


def test_analysis_settings_come_from_the_config_section():
    config = apply_overrides(
        load_preset("quick"), ["analysis.outlier_rule=per_attack", "analysis.n_boot=10"]
    )
    settings = AnalysisSettings.from_config(config.analysis)
    assert (settings.outlier_rule, settings.n_boot, settings.pruning_rows) == (
        "per_attack",
        10,
        "step_means",
    )
    assert AnalysisSettings.from_config(None) == AnalysisSettings()
    assert AnalysisSettings.from_config({"seed": 4}).seed == 4


def test_property_sets_select_the_networkx_or_the_study_code_columns():
    graphs = pd.DataFrame(
        {
            "dag_edges": [1, 2, 3],
            "dag_avg_shortest_path": [1.0, 2.0, 1.5],
            "dag_avg_betweenness": [0.1, 0.2, 0.3],
            "dag_study_avg_path_length": [1.0, 2.0, 1.5],
            "dag_study_avg_betweenness": [5.0, 9.0, 4.0],
            "dag_study_radius": [0, 0, 0],  # constant: never correlated
        }
    )
    assert AnalysisSettings().select_properties(graphs) == [
        "dag_edges",
        "dag_avg_shortest_path",
        "dag_avg_betweenness",
    ]
    assert AnalysisSettings(properties="study_code").select_properties(graphs) == [
        "dag_edges",
        "dag_study_avg_path_length",
        "dag_study_avg_betweenness",
    ]
    assert AnalysisSettings(properties="both").select_properties(graphs) is None


TINY_PRUNING = [
    "priors=false",
    "train.inits=['he_uniform', 'normal', 'uniform']",
    "train.epochs=1",
    "train.train_images=400",
    "attacks.fgsm.images=100",
    "attacks.min_fgsm.images=100",
    "attacks.onepixel.enabled=false",
    "attacks.pgd.enabled=false",
    "pruning.enabled=true",
    "pruning.widths=[8, 6, 4]",
    "pruning.steps=2",
    "pruning.retrain_epochs=1",
    "pruning.repetitions=2",
    "pruning.masks=per_init",
    "workers=1",
]


def test_pruning_chains_with_masks_per_initialisation_pool_every_run(tmp_path):
    pytest.importorskip("torch")
    import os

    from structrob import stats
    from structrob.study import analysis, runner
    from structrob.study.store import Store

    data_root = os.environ.get("STRUCTROB_DATA")
    if not data_root:
        pytest.skip("MNIST mirror not found: set STRUCTROB_DATA")
    config = apply_overrides(load_preset("quick"), TINY_PRUNING)
    runner.run_study(config, tmp_path / "s", data_root=data_root, progress=False, log=lambda m: 0)
    store = Store(tmp_path / "s")
    runs, graphs = store.runs_frame(), store.graphs_frame()
    # 2 chains x 3 steps x 3 initialisations, every run with its own graph
    assert len(runs) == 2 * 3 * 3 and runs["graph_id"].is_unique
    assert set(runs["graph_id"]) == set(graphs["graph_id"])
    assert sorted(graphs["repetition"].unique()) == [0, 1]
    # exact counts per step and copy: 8*6 + 6*4 = 72 edges, then 72 - 14 = 58, then 58 - 12
    assert graphs.groupby("step")["dag_edges"].nunique().tolist() == [1, 1, 1]
    assert graphs.groupby("step")["dag_edges"].first().tolist() == [72, 58, 46]
    # the copies of a pruned step differ in structure, the chains too
    step2 = graphs[graphs["step"] == 2]
    edge_sets = {tuple(map(tuple, store.graph_edges(g)[1])) for g in step2["graph_id"]}
    assert len(edge_sets) == 6
    table = stats.correlation_table(
        runs, graphs, properties=["dag_edges", "dag_density"], n_boot=0, pruning_rows="pooled"
    )
    # repetitions x initialisations x steps rows (a measure an attack left undefined on some
    # runs, e.g. avg confidence without a success, has fewer)
    clean = table["measure"].isin(["accuracy", "f1_macro"])
    assert set(table.loc[clean, "n_graphs"]) == {18} and table["n_graphs"].max() == 18
    settings = analysis.AnalysisSettings(n_boot=0, pruning_rows="pooled")
    pooled = analysis.analyse(store, settings).correlations
    assert pooled.loc[pooled["arm"] == "pruning", "n_graphs"].max() == 18


def test_table_legend_says_how_rows_were_formed():
    from structrob.report.page import render_page

    rows = [
        {"arm": arm, "property": "dag_edges", "measure": "fgsm_error_rate", "attack": "fgsm",
         "n_graphs": 20, "rho": 0.5, "rho_q": 0.04}
        for arm in ("prior", "pruning")
    ]  # fmt: skip
    config = {"analysis": {"pruning_rows": "pooled", "outlier_rule": "per_attack"}}
    page = render_page(None, None, None, pd.DataFrame(rows), {"config": config})
    table1, table2 = page.split('id="table2"')
    assert "after the IQR outlier filter (per attack)" in table1
    assert "pooled rows: no outlier filter" in table2 and "pooled rows" not in table1


def test_paper_preset_is_the_study_code_everywhere_it_has_a_key():
    from structrob.attacks import OnePixel
    from structrob.study.attack_setup import build_attacks

    paper = load_preset("paper")
    one_pixel = build_attacks(paper.attacks, seed=0)["onepixel"]
    assert {k: getattr(one_pixel.settings, k) for k in OnePixel.STUDY_SETTINGS} == (
        OnePixel.STUDY_SETTINGS
    )
    # searches the line tables prove cannot succeed are not run: no stored measure changes
    # (tests/test_attacks.py; the slow tests/test_results.py reruns a published unit with it)
    assert one_pixel.skip_proven
    assert (paper.graphs.rewiring, paper.graphs.sinks) == ("endpoints", "last")
    assert (paper.train.init_fans, paper.train.init_layers, paper.train.bias_init) == (
        "block",
        "hidden",
        "normal",
    )
    assert paper.attacks.min_fgsm.max_eps == 0.261
    assert (paper.pruning.repetitions, paper.pruning.masks, paper.pruning.steps) == (
        10,
        "per_init",
        20,
    )
    assert (paper.analysis.outlier_rule, paper.analysis.pruning_rows) == ("per_attack", "pooled")
    # the former paper preset keeps every default of the options added later
    text = load_preset("paper_text")
    assert "rewiring" not in science(text)["graphs"] and text.analysis.outlier_rule == "per_measure"


def test_paper_preset_samples_igraph_priors_spread_over_the_grid():
    import collections

    from structrob.study.plan import sample_graphs

    draws = sample_graphs(load_preset("paper"))
    accepted = [d for d in draws if d.accepted]
    assert len(accepted) == 100 and 600 < len(draws) < 1200  # about 11.6% accepted
    per_p = collections.Counter(d.params["p"] for d in accepted)
    assert set(per_p) == {0.5, 0.6, 0.7, 0.8, 0.9} and min(per_p.values()) >= 8
    counts = [d.n_parameters for d in accepted]
    assert sum(c > 80_000 for c in counts) >= 5 and 50_000 <= min(counts) <= max(counts) <= 91_000


def test_dry_run_stores_the_draws_prints_the_plan_and_trains_nothing(tmp_path, capsys):
    import os

    from structrob.cli import main
    from structrob.study.store import Store

    data_root = os.environ.get("STRUCTROB_DATA")
    if not data_root:
        pytest.skip("MNIST mirror not found: set STRUCTROB_DATA")
    out = tmp_path / "dry"
    grid = ["graphs.grid.size=[30, 40]", "graphs.grid.nei=[2]", "graphs.grid.p=[0.5, 0.9]"]
    small = ["graphs.count=3", "graphs.min_parameters=0", "pruning.steps=1", *grid]
    argv = ["run", "--preset", "quick", "--out", str(out), "--dry-run", "--data-dir", data_root]
    assert main(argv + [a for s in small for a in ("--set", s)]) == 0
    printed = capsys.readouterr().out
    assert "plan: 5 units (3 graph priors, 2 pruning steps); 3 of 3 draws accepted" in printed
    assert "estimated wall time:" in printed and "dry run: nothing trained" in printed
    store = Store(out)
    assert len(store.draws_frame()) == 3 and store.runs_frame().empty
    assert not (out / "weights").exists() or not any((out / "weights").iterdir())
    store.close()
    assert main(["export", str(out), "--format", "csv"]) == 0
    assert (out / "draws.csv").is_file() or any(out.rglob("draws.csv"))
