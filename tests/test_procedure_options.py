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
