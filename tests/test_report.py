"""Tests of structrob.report: table statistics, tables, figures, the page, and the browser."""

from __future__ import annotations

import ast
import html
import importlib
import inspect
import re
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from structrob import stats as structrob_stats
from structrob import vocabulary
from structrob.report import (
    FIGURE_NAMES,
    build_figures,
    correlation_table,
    summary_counts,
    write_report,
)
from structrob.report.figures import (
    figure_heatmap,
    figure_measures_by_init,
    figure_pruning,
    figure_top_correlations,
)
from structrob.report.page import format_config
from structrob.report.tables import (
    correlation_pivot,
    format_estimate,
    measure_columns,
    measure_key,
    measure_label,
    significance_stars,
    strongest_pairs,
)

INITS = ["glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "normal", "uniform"]
ATTACK_MEASURES = [
    "fgsm_error_rate",
    "fgsm_avg_confidence",
    "min_fgsm_error_rate",
    "min_fgsm_avg_confidence",
    "min_fgsm_avg_eps",
    "onepixel_error_rate",
    "onepixel_avg_confidence",
]
PROPERTIES = [
    "dag_density",
    "dag_layers",
    "dag_parameters",
    "dag_diameter",
    "dag_avg_shortest_path",
    "prior_avg_betweenness",
]
HOSTILE = "<script>alert(1)</script>"
N_PRIOR, N_STEPS, N_DRAWS = 10, 5, 60


def _graph_rows(rng, arm, ids, steps):
    layers = rng.integers(12, 30, len(ids))
    return pd.DataFrame(
        {
            "graph_id": ids,
            "arm": arm,
            "step": steps,
            "generator": "watts_strogatz",
            "size": rng.choice([400, 450, 500], len(ids)),
            "nei": 2,
            "p": rng.choice([0.1, 0.3, 0.5, 0.7, 0.9], len(ids)),
            "seed": np.arange(len(ids)),
            "n_parameters": rng.integers(50_000, 91_000, len(ids)),
            "dag_density": rng.uniform(0.005, 0.02, len(ids)),
            "dag_layers": layers,
            "dag_parameters": rng.integers(50_000, 91_000, len(ids)),
            "dag_diameter": layers - rng.integers(0, 3, len(ids)),
            "dag_avg_shortest_path": rng.uniform(3, 9, len(ids)),
            "prior_avg_betweenness": rng.uniform(0.001, 0.01, len(ids)),
        }
    )


def _run_rows(rng, graphs):
    rows = []
    for graph in graphs.itertuples():
        for init in INITS:
            depth = graph.dag_layers / 30.0
            rows.append(
                {
                    "run_id": f"{graph.graph_id}/{init}",
                    "graph_id": graph.graph_id,
                    "arm": graph.arm,
                    "step": graph.step,
                    "init": init,
                    "status": "ok",
                    "error": None,
                    "accuracy": 0.97 - 0.02 * depth + rng.normal(0, 0.003),
                    "f1_macro": 0.965 - 0.02 * depth + rng.normal(0, 0.003),
                    "fgsm_error_rate": np.clip(0.4 + 0.5 * depth + rng.normal(0, 0.05), 0, 1),
                    "fgsm_avg_confidence": rng.uniform(0.5, 0.9),
                    "min_fgsm_error_rate": np.clip(0.9 + rng.normal(0, 0.03), 0, 1),
                    "min_fgsm_avg_confidence": rng.uniform(0.4, 0.8),
                    "min_fgsm_avg_eps": 0.05 + 0.05 * (1 - depth) + rng.normal(0, 0.005),
                    "onepixel_error_rate": rng.uniform(0.01, 0.1),
                    "onepixel_avg_confidence": rng.uniform(0.4, 0.7),
                    "fgsm_n_correct": 95,
                    "fgsm_n_success": 60,
                    "fgsm_n_censored": 0,
                    "min_fgsm_n_correct": 95,
                    "min_fgsm_n_success": 90,
                    "min_fgsm_n_censored": int(rng.integers(0, 6)),
                    "onepixel_n_correct": 95,
                    "onepixel_n_success": 5,
                    "onepixel_n_censored": 0,
                    "train_seconds": 120.0,
                    "attack_seconds": 60.0,
                }
            )
    return pd.DataFrame(rows)


def _correlations(runs, graphs, arm):
    ok = runs[(runs["arm"] == arm) & (runs["status"] == "ok")]
    means = ok.groupby("graph_id")[["accuracy", "f1_macro", *ATTACK_MEASURES]].mean()
    props = graphs[graphs["arm"] == arm].set_index("graph_id").loc[means.index]
    rows = []
    for prop in PROPERTIES:
        for column in means.columns:
            attack, measure = next(
                (
                    (a, column[len(a) + 1 :])
                    for a in ("min_fgsm", "fgsm", "onepixel")
                    if column.startswith(a + "_")
                ),
                (None, column),
            )
            rho, rho_p = stats.spearmanr(props[prop], means[column])
            tau, tau_p = stats.kendalltau(props[prop], means[column])
            rows.append(
                {
                    "arm": arm,
                    "property": prop,
                    "measure": measure,
                    "attack": attack,
                    "n_graphs": len(means),
                    "rho": rho,
                    "rho_p": rho_p,
                    "tau": tau,
                    "tau_p": tau_p,
                }
            )
    table = pd.DataFrame(rows)
    for name in ("rho", "tau"):
        table[f"{name}_q"] = stats.false_discovery_control(table[f"{name}_p"])
        table[f"{name}_ci_low"] = (table[name] - 0.25).clip(-1, 1)
        table[f"{name}_ci_high"] = (table[name] + 0.25).clip(-1, 1)
    table["partial_rho"] = 0.8 * table["rho"]
    table["partial_p"] = table["rho_p"]
    table["strength"] = pd.cut(
        table["rho"].abs(),
        [0, 0.3, 0.5, 1.0],
        include_lowest=True,
        labels=["weak", "moderate", "strong"],
    ).astype(str)
    return table


def synthetic_study(seed: int = 0, pruning: bool = True):
    """A small study following the store's layout exactly, with one failed run."""
    rng = np.random.default_rng(seed)
    graphs = _graph_rows(rng, "prior", [f"g{k}" for k in range(N_PRIOR)], np.nan)
    if pruning:
        graphs = pd.concat(
            [
                graphs,
                _graph_rows(
                    rng, "pruning", [f"prune{s}" for s in range(N_STEPS)], np.arange(N_STEPS)
                ),
            ],
            ignore_index=True,
        )
    runs = _run_rows(rng, graphs)
    failed = runs.index[runs["graph_id"] == "g0"][0]
    runs.loc[failed, ["status", "error"]] = ["failed", f"RuntimeError: {HOSTILE} out of memory"]
    runs.loc[failed, ATTACK_MEASURES] = np.nan
    runs.loc[failed, "run_id"] = HOSTILE
    prior = graphs[graphs["arm"] == "prior"]
    rejected = N_DRAWS - len(prior)
    draws = pd.concat(
        [
            prior[["generator", "size", "nei", "p", "seed", "n_parameters"]].assign(accepted=True),
            pd.DataFrame(
                {
                    "generator": "watts_strogatz",
                    "size": rng.choice([100, 200, 300, 400, 500], rejected),
                    "nei": rng.choice([2, 4, 8], rejected),
                    "p": rng.choice([0.1, 0.5, 0.9], rejected),
                    "seed": np.arange(rejected) + 100,
                    "n_parameters": np.exp(rng.uniform(np.log(5e3), np.log(2e6), rejected)).astype(
                        int
                    ),
                    "accepted": False,
                }
            ),
        ],
        ignore_index=True,
    )
    correlations = _correlations(runs, graphs, "prior")
    if pruning:
        correlations = pd.concat(
            [correlations, _correlations(runs, graphs, "pruning")], ignore_index=True
        )
    meta = {
        "name": f"quick {HOSTILE}",
        "created": "2025-01-01T00:00:00",
        "config": {
            "name": "quick",
            "seed": 0,
            "plan": {"sizes": [400, 500], "parameters": [50000, 91000]},
            "train": {"epochs": 1, "lr": 0.001, "note": HOSTILE},
        },
        "environment": {
            "python": "3.11",
            "versions": {"torch": "2.13.0"},
            "device": "cpu",
            "threads": 2,
        },
        "commit": "abc123",
    }
    return runs, graphs, draws, correlations, meta


@pytest.fixture(scope="module")
def study():
    return synthetic_study()


@pytest.fixture(scope="module")
def report(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    return write_report(out, *study)


# ---------------------------------------------------------------------------------------------
# table statistics, against scipy and hand-worked values
# ---------------------------------------------------------------------------------------------


def test_significance_stars_thresholds():
    assert [significance_stars(q) for q in (0.0009, 0.001, 0.0099, 0.01, 0.049, 0.05, None)] == [
        "***",
        "**",
        "**",
        "*",
        "*",
        "",
        "",
    ]


def test_measure_columns_order_and_keys():
    runs = pd.DataFrame(
        {
            c: [0.5]
            for c in [
                "pgd_error_rate",
                "min_fgsm_avg_eps",
                "fgsm_error_rate",
                "f1_macro",
                "accuracy",
                "min_fgsm_error_rate",
                "fgsm_n_success",
                "train_seconds",
            ]
        }
    )
    assert measure_columns(runs) == [
        "accuracy",
        "f1_macro",
        "fgsm_error_rate",
        "min_fgsm_error_rate",
        "min_fgsm_avg_eps",
        "pgd_error_rate",
    ]
    assert measure_key("min_fgsm", "avg_eps") == "min_fgsm_avg_eps"
    assert measure_key(float("nan"), "accuracy") == "accuracy"
    assert measure_label("onepixel_avg_confidence") == "One-Pixel avg confidence (%)"
    assert measure_label("cw_error_rate") == "cw error rate (%)"


def test_strongest_pairs_are_the_largest_absolute_rho(study):
    correlations = study[3]
    top = strongest_pairs(correlations, "prior", k=6)
    prior = correlations[correlations["arm"] == "prior"]
    expected = np.sort(np.abs(prior["rho"].to_numpy()))[::-1][:6]
    assert np.allclose(np.abs(top["rho"].to_numpy()), expected)
    assert set(top["arm"]) == {"prior"}


def test_correlation_pivot_matches_long_table(study):
    correlations = study[3]
    pivot = correlation_pivot(correlations, "pruning", "tau")
    assert list(pivot.index) == PROPERTIES
    assert list(pivot.columns[:3]) == ["accuracy", "f1_macro", "fgsm_error_rate"]
    row = correlations[
        (correlations["arm"] == "pruning")
        & (correlations["property"] == "dag_layers")
        & (correlations["measure"] == "avg_eps")
    ].iloc[0]
    assert pivot.loc["dag_layers", "min_fgsm_avg_eps"] == row["tau"]


# ---------------------------------------------------------------------------------------------
# figures, checked against independent computations of what they draw
# ---------------------------------------------------------------------------------------------


def test_top_correlations_plot_graph_means_of_strongest_pairs(study):
    runs, graphs, _, correlations, _ = study
    figure = figure_top_correlations(runs, graphs, correlations)
    top = strongest_pairs(correlations, "prior", k=6)
    assert len(figure.axes) == 6
    ok = runs[(runs["arm"] == "prior") & (runs["status"] == "ok")]
    for ax, row in zip(figure.axes, top.itertuples()):
        assert ax.get_title().startswith(f"ρ = {row.rho:.2f}")
        means = ok.groupby("graph_id")[row.measure_key].mean()
        props = graphs.set_index("graph_id").loc[means.index, row.property]
        points = ax.lines[0]
        factor = 1.0 if row.measure_key.endswith("avg_eps") else 100.0
        assert sorted(points.get_xdata()) == pytest.approx(sorted(props))
        shown = np.array(sorted(zip(points.get_xdata(), points.get_ydata())))
        expected = np.array(sorted(zip(props, means * factor)))
        assert np.allclose(shown, expected)


def test_measures_by_init_points_are_runs_in_percent(study):
    runs = study[0]
    figure = figure_measures_by_init(runs)
    ok = runs[(runs["arm"] == "prior") & (runs["status"] == "ok")]
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert titles[:2] == ["clean", "clean"] and "PGD" not in titles  # no pgd columns in this study
    ax = figure.axes[2]  # fgsm_error_rate
    shown = np.concatenate([line.get_ydata() for line in ax.lines if line.get_marker() == "o"])
    assert np.sort(shown) == pytest.approx(np.sort(ok["fgsm_error_rate"].to_numpy() * 100))


def test_pruning_figure_means_per_step(study):
    runs = study[0]
    figure = figure_pruning(runs)
    pruning = runs[runs["arm"] == "pruning"]
    expected = pruning.groupby("step")["accuracy"].mean() * 100
    line = figure.axes[0].lines[0]
    assert line.get_xdata() == pytest.approx(expected.index.to_numpy(dtype=float))
    assert line.get_ydata() == pytest.approx(expected.to_numpy())
    assert figure_pruning(runs[runs["arm"] == "prior"]) is None


def test_heatmap_marks_follow_q_values(study):
    correlations = study[3]
    figure = figure_heatmap(correlations)
    assert [ax.get_title() for ax in figure.axes[:2]] == [
        "Table 1: graph priors",
        "Table 2: random pruning",
    ]
    rho = correlation_pivot(correlations, "prior", "rho")
    q = correlation_pivot(correlations, "prior", "rho_q")
    expected = [
        f"{rho.iat[i, j]:.2f}{significance_stars(q.iat[i, j])}"
        for i in range(rho.shape[0])
        for j in range(rho.shape[1])
    ]
    assert [t.get_text() for t in figure.axes[0].texts] == expected


# ---------------------------------------------------------------------------------------------
# tables and text
# ---------------------------------------------------------------------------------------------


def test_format_estimate_hand_worked():
    assert format_estimate(0.4449, 0.0499, -0.1, 0.8) == "0.44* (q=0.050) [-0.10, 0.80]"
    assert format_estimate(0.3, None, 0.1, None) == "0.30"
    assert format_estimate(None) == "–"


def test_format_config_is_valid_toml_that_round_trips():
    config = {
        "name": 'quick "x"',
        "seed": 7,
        "flag": True,
        "plan": {"sizes": [400, 500], "p": 0.25, "grid": {"nei": [2, 4]}},
        "train": {"lr": 0.001, "weird key": "a.b"},
    }
    assert tomllib.loads(format_config(config)) == config


def test_correlation_table_cells(study):
    correlations = study[3]
    table = correlation_table(correlations, "prior")
    assert table.shape == (2 * len(PROPERTIES), 9)
    row = correlations[
        (correlations["arm"] == "prior")
        & (correlations["property"] == "dag_layers")
        & (correlations["measure"] == "error_rate")
        & (correlations["attack"] == "fgsm")
    ].iloc[0]
    q = row["rho_q"]
    stars = "***" if q < 0.001 else "**" if q < 0.01 else "*" if q < 0.05 else ""
    q_text = "q<0.001" if q < 0.001 else f"q={q:.3f}"
    assert table.loc[("dag_layers", "rho"), "fgsm_error_rate"] == (
        f"{row['rho']:.2f}{stars} ({q_text}) [{row['rho_ci_low']:.2f}, {row['rho_ci_high']:.2f}]"
    )
    assert correlation_table(correlations, "nothing").empty


def test_summary_counts(study):
    runs, graphs, draws, _, _ = study
    counts = summary_counts(runs, graphs, draws)
    ok = runs[runs["status"] == "ok"]
    assert counts["graphs_accepted"] == N_PRIOR and counts["pruned_networks"] == N_STEPS
    assert (counts["draws"], counts["draws_accepted"]) == (N_DRAWS, N_PRIOR)
    assert (counts["runs_ok"], counts["runs_failed"]) == (6 * (N_PRIOR + N_STEPS) - 1, 1)
    assert counts["min_fgsm_censored"] == int(ok["min_fgsm_n_censored"].sum())
    assert counts["min_fgsm_attacked"] == 95 * len(ok)
    assert counts["train_hours"] == pytest.approx(120 * len(runs) / 3600)


# ---------------------------------------------------------------------------------------------
# the report directory and the page
# ---------------------------------------------------------------------------------------------


def test_every_figure_written_as_png_and_pdf(report):
    for name in FIGURE_NAMES:
        png, pdf = (
            report.parent / "figures" / f"{name}.png",
            report.parent / "figures" / f"{name}.pdf",
        )
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert pdf.read_bytes()[:5] == b"%PDF-", name
    assert (report.parent / "tables" / "table1_prior.csv").is_file()
    table2 = pd.read_csv(report.parent / "tables" / "table2_pruning.csv", index_col=[0, 1])
    assert table2.shape == (2 * len(PROPERTIES), 9)


def test_page_embeds_every_figure_and_loads_nothing_from_outside(report):
    page = report.read_text(encoding="utf-8")
    images = re.findall(r"<img [^>]*src=\"([^\"]*)\"", page)
    assert len(images) == len(FIGURE_NAMES)
    assert all(src.startswith("data:image/png;base64,") for src in images)
    references = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", page, flags=re.IGNORECASE)
    assert references and all(ref.startswith(("data:", "#")) for ref in references)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()


def test_page_escapes_data_text(report):
    page = report.read_text(encoding="utf-8")
    assert HOSTILE not in page
    escaped = html.escape(HOSTILE)
    assert f"structrob report: quick {escaped}" in page  # study name
    assert f"RuntimeError: {escaped} out of memory" in page  # failure text
    assert f"<td>{escaped}</td>" in page  # run id in the failures table
    assert html.escape('note = "<script>alert(1)</script>"') in page  # config value


def test_page_has_both_tables_and_the_failure(report):
    page = report.read_text(encoding="utf-8")
    assert page.count('<table class="corr">') == 2
    assert "Failed runs (1)" in page and "not available" not in page
    assert "abc123" in page and "versions.torch" in page  # other metadata and flattened environment


def test_empty_frames_render_with_notes_and_remove_stale_figures(report, tmp_path):
    study_dir = shutil.copytree(
        report.parent, tmp_path / "study"
    )  # the full report, then regenerated empty
    runs_columns = ["run_id", "graph_id", "arm", "step", "init", "status", "error", "accuracy"]
    empty = write_report(
        study_dir,
        pd.DataFrame(columns=runs_columns),
        pd.DataFrame(),
        None,
        pd.DataFrame(columns=["arm", "property", "measure", "attack", "rho"]),
        {},
    )
    page = empty.read_text(encoding="utf-8")
    assert "<img" not in page
    assert (
        page.count("not available") == len(FIGURE_NAMES) + 4
    )  # figures, Table 1/2, config, environment
    assert list((study_dir / "figures").iterdir()) == []
    assert not (study_dir / "tables" / "table1_prior.csv").exists()
    assert write_report(tmp_path / "new" / "dir", None, None, None, None, None).is_file()


def test_partial_study_without_pruning_or_pgd(tmp_path):
    runs, graphs, draws, correlations, meta = synthetic_study(seed=1, pruning=False)
    figures = {f.name: f for f in build_figures(runs, graphs, draws, correlations)}
    assert [name for name, f in figures.items() if not f.available] == ["pruning"]
    assert "study 'pruning'" in figures["pruning"].missing
    page = write_report(tmp_path, runs, graphs, draws, correlations, meta).read_text(
        encoding="utf-8"
    )
    assert "Table 2 not available" in page and "Figure &#x27;pruning&#x27; not available" in page
    assert page.count("<img") == len(FIGURE_NAMES) - 1


def test_write_report_rejects_non_frames(tmp_path):
    with pytest.raises(TypeError, match="runs must be a pandas DataFrame"):
        write_report(tmp_path, [{"run_id": 1}], None, None, None, None)
    with pytest.raises(TypeError, match="meta must be a dict"):
        write_report(tmp_path, None, None, None, None, "quick")


# ---------------------------------------------------------------------------------------------
# one room per concept: names and definitions from the vocabulary, no private imports
# ---------------------------------------------------------------------------------------------

OWN_MODULES = [
    "structrob.report",
    "structrob.report.tables",
    "structrob.report.figures",
    "structrob.report.page",
    "structrob.report.captions",
    "structrob.report.summary",
    "structrob.stats",
    "structrob.stats.coefficients",
    "structrob.stats.correlation",
    "structrob.stats.filtering",
    "structrob.stats.uncertainty",
    "structrob.vocabulary",
]


def _module_path(name: str) -> Path:
    return Path(importlib.import_module(name).__file__)


def test_report_modules_import_no_private_names_of_another():
    offences = []
    for name in OWN_MODULES:
        tree = ast.parse(_module_path(name).read_text(encoding="utf-8"))
        modules = {}  # local alias -> imported structrob module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("structrob"):
                offences += [
                    f"{name}: from {node.module} import {a.name}"
                    for a in node.names
                    if a.name.startswith("_")
                ]
                modules.update({a.asname or a.name: node.module for a in node.names})
            elif isinstance(node, ast.Import):
                modules.update(
                    {
                        a.asname or a.name: a.name
                        for a in node.names
                        if a.name.startswith("structrob")
                    }
                )
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                offences.append(f"{name}: {node.value.id}.{node.attr}")
    assert offences == []


def test_names_are_parsed_only_by_the_vocabulary():
    from structrob.report import figures, page, tables

    removed = {
        structrob_stats: ["MEASURE_SUFFIXES", "CLEAN_MEASURES", "_attack_of"],
        figures: [
            "ATTACKS",
            "INITS",
            "_MEASURES",
            "_CLEAN_MEASURES",
            "_split_measure",
            "_STUDY_TITLES",
            "correlation_pivot",
            "measure_label",
        ],
        page: ["STUDY_TABLES", "_DEFINITIONS", "_number", "_toml_value", "_of_study"],
    }
    for module, names in removed.items():
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        defined = {
            node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))
        }
        defined |= {
            target.id
            for node in tree.body
            if isinstance(node, (ast.Assign, ast.AnnAssign))
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        }
        assert sorted(defined & set(names)) == [], module.__name__
    # the vocabulary's objects are used, not copies of them
    assert tables.ATTACKS is vocabulary.ATTACKS and figures.INIT_LABELS is vocabulary.INIT_LABELS
    assert page.DEFINITIONS is vocabulary.DEFINITIONS
    from structrob.toml_writer import dumps

    assert page.format_config is dumps


def test_captions_state_the_vocabulary_definitions_verbatim():
    captions = {f.name: f.caption for f in build_figures(None, None, None, None)}
    defined = dict(vocabulary.DEFINITIONS)
    assert defined["parameters"] in captions["parameters"]
    for measure in vocabulary.MEASURES.values():
        assert f"{measure.label} ({measure.unit}): {measure.definition}".lower() in (
            captions["measures_by_init"].lower()
        )
    assert defined["pixels, eps"] in captions["measures_by_init"]
    for name in ("top_correlations", "heatmap"):
        assert "* q < .05, ** q < .01, *** q < .001" in captions[name]
    number, description, _ = vocabulary.ARMS["pruning"]
    assert captions["pruning"].startswith(f"{description.capitalize()} ({number})")
    assert "Table 1: graph priors; Table 2: random pruning" in captions["heatmap"]


def test_page_states_definitions_and_arm_titles_from_the_vocabulary(report):
    page = report.read_text(encoding="utf-8")
    for quantity, definition in vocabulary.DEFINITIONS:
        assert (
            f'<th scope="row">{html.escape(quantity)}</th><td>{html.escape(definition)}</td>'
            in page
        )
    for arm, (number, description, _) in vocabulary.ARMS.items():
        anchor = f"table{number.split()[-1]}"
        assert f'<section id="{anchor}"><h2>{number}: {html.escape(description)}</h2>' in page
        assert (report.parent / "tables" / f"{anchor}_{arm}.csv").is_file()
    assert f"<th>{vocabulary.ARM}</th>" in page  # the failures table names the arm column


def _section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}">')
    return page[start : page.index("</section>", start)]


def test_page_states_each_measures_sign_convention(report):
    page = report.read_text(encoding="utf-8")
    definitions = _section(page, "definitions")
    for measure in vocabulary.MEASURES.values():
        assert measure.direction.startswith("higher = ")
        row = f'<th scope="row">{html.escape(measure.label)}</th><td>{measure.direction}</td>'
        assert row in definitions
    directions = {name: m.direction for name, m in vocabulary.MEASURES.items()}
    assert directions == {
        "accuracy": "higher = better",
        "f1_macro": "higher = better",
        "error_rate": "higher = less robust",
        "avg_confidence": "higher = less robust",
        "avg_eps": "higher = more robust",
    }
    note = html.escape(vocabulary.SIGN_NOTE)
    assert "a positive ρ with error rate means the property goes with less robustness" in note
    assert "“error rate” column was 100 − success rate" in vocabulary.SIGN_NOTE
    assert "so its error-rate signs are the opposite" in vocabulary.SIGN_NOTE
    assert note in definitions
    for anchor in ("table1", "table2"):  # and in each table's legend
        legend = _section(page, anchor).split('<p class="legend">')[1]
        assert note in legend


def test_small_studies_are_warned_about_at_the_top_of_each_table(report, study, tmp_path):
    page = report.read_text(encoding="utf-8")
    threshold = structrob_stats.MIN_GRAPHS
    for anchor, n in (("table1", N_PRIOR), ("table2", N_STEPS)):  # 10 and 5 graphs
        assert n < threshold
        section = _section(page, anchor)
        head, _, rest = section.partition("</h2>")
        assert rest.startswith('<p class="warn">Too few graphs for a correlation to mean anything')
        assert f"n = {n}, fewer than {threshold}." in rest.split("</p>")[0]
    # a table on enough graphs carries no warning
    runs, graphs, draws, correlations, meta = study
    enough = correlations.assign(n_graphs=threshold)
    page = write_report(tmp_path, runs, graphs, draws, enough, meta).read_text(encoding="utf-8")
    assert '<p class="warn">' not in page
    assert not structrob_stats.too_few_graphs(enough)
    assert structrob_stats.too_few_graphs(correlations)


def test_correlation_pivot_is_the_stats_pivot_in_report_order():
    rng = np.random.default_rng(5)
    graphs = pd.DataFrame(
        {
            "graph_id": range(12),
            "dag_layers": rng.integers(10, 30, 12),
            "dag_density": rng.uniform(size=12),
        }
    )
    runs = pd.DataFrame(
        {
            "graph_id": np.repeat(range(12), 2),
            "status": "ok",
            "pgd_error_rate": rng.uniform(size=24),
            "accuracy": rng.uniform(size=24),
            "fgsm_avg_confidence": rng.uniform(size=24),
        }
    )
    table = structrob_stats.correlation_table(runs, graphs, control=None, n_boot=0)
    for value in ("rho", "tau_q"):
        wide = correlation_pivot(table, "prior", value)
        expected = structrob_stats.study_table(table, value)
        assert list(wide.columns) == ["accuracy", "fgsm_avg_confidence", "pgd_error_rate"]
        assert np.array_equal(wide.to_numpy(), expected[wide.columns].to_numpy(), equal_nan=True)
        assert list(wide.index) == list(expected.index)
    assert correlation_pivot(table, "pruning").empty  # a table without arm is the prior arm's


def test_of_arm_and_arm_titles():
    from structrob.report.tables import arm_title, of_arm

    frame = pd.DataFrame({vocabulary.ARM: ["prior", "pruning", "pruning"], "x": [1, 2, 3]})
    assert of_arm(frame, "pruning")["x"].tolist() == [2, 3]
    assert of_arm(None, "pruning").empty
    assert [arm_title(arm) for arm in vocabulary.ARMS] == [
        f"{number}: {description}" for number, description, _ in vocabulary.ARMS.values()
    ]


def test_every_public_function_has_a_runnable_example():
    for name in OWN_MODULES:
        module = importlib.import_module(name)
        for public in getattr(module, "__all__", []):
            obj = getattr(module, public)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert ">>> " in (obj.__doc__ or ""), f"{name}.{public}"


# ---------------------------------------------------------------------------------------------
# the page in a real browser
# ---------------------------------------------------------------------------------------------


def _browser_paths() -> tuple[str, str]:
    driver = shutil.which("chromedriver")
    names = ("chromium", "chromium-browser", "google-chrome")
    browser = next((path for path in map(shutil.which, names) if path), None)
    if driver is None or browser is None:
        pytest.skip("chromium/chromedriver not installed: apt-get install chromium chromium-driver")
    return driver, browser


def test_page_in_headless_chromium(report, tmp_path):
    driver_path, browser_path = _browser_paths()
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium not installed: pip install selenium"
    )
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        browser.set_window_size(1440, 900)
        browser.get(report.as_uri())
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);"
        )
        written = sorted((report.parent / "figures").glob("*.png"))
        assert len(images) == len(written) == len(FIGURE_NAMES)
        assert all(complete and width > 0 for complete, width in images), images
        assert len(browser.find_elements("css selector", "table.corr")) == 2
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018 - the escaped <script> must not have run
        severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert severe == []
        height = browser.execute_script("return document.documentElement.scrollHeight;")
        browser.set_window_size(1440, min(int(height) + 100, 16000))
        artifacts = Path(__file__).resolve().parents[1] / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(tmp_path / "report.png"))
        shutil.copyfile(tmp_path / "report.png", artifacts / "report.png")
    finally:
        browser.quit()


def test_save_figure_draws_the_pdf_with_the_layout_of_the_png(tmp_path):
    from matplotlib.figure import Figure

    from structrob.report.page import save_figure

    figure = Figure(figsize=(3, 2), layout="constrained")
    axes = figure.subplots()
    axes.set_ylabel("a long label that constrained layout makes room for")
    engine = figure.get_layout_engine()
    png, pdf = save_figure(figure, tmp_path, "demo", dpi=50)
    placed = axes.get_position().bounds
    assert figure.get_layout_engine() is engine  # the caller's figure is left as it came
    assert placed[0] > 0.15  # the layout moved the axes right, past the label
    figure.savefig(tmp_path / "again.png", dpi=50)  # a fresh constrained draw
    np.testing.assert_allclose(axes.get_position().bounds, placed, atol=1e-9)
    assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:5] == b"%PDF-"


def _report_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.*"))}


def test_figures_drawn_side_by_side_are_the_files_drawn_one_by_one(study, tmp_path, monkeypatch):
    """Forked drawing processes write the same bytes, page included, as drawing in order."""
    from structrob.report import page

    forks = []
    original = page._draw_figures

    def spy(figures, processes):
        forks.append(min(processes, len(figures)) > 1 and page._can_fork())
        return original(figures, processes)

    monkeypatch.setattr(page, "_draw_figures", spy)
    write_report(tmp_path / "serial", *study, processes=1)
    write_report(tmp_path / "forked", *study, processes=3)
    serial, forked = _report_files(tmp_path / "serial"), _report_files(tmp_path / "forked")
    assert forks == [False, page._can_fork()]
    assert sum(name.startswith("figures/") for name in serial) == 2 * len(FIGURE_NAMES)
    assert serial.keys() == forked.keys()
    assert [n for n in serial if serial[n] != forked[n]] == []


def test_figure_bytes_are_what_save_figure_writes(tmp_path):
    from matplotlib.figure import Figure

    from structrob.report.page import figure_bytes, save_figure

    def drawing() -> Figure:
        figure = Figure(figsize=(2, 1.5), layout="constrained")
        axes = figure.subplots()
        axes.plot([0, 1, 2], [100.0, 100.5, 100.25])
        axes.set_xlabel("step")
        return figure

    png, pdf = save_figure(drawing(), tmp_path, "demo", dpi=40)
    assert figure_bytes(drawing(), dpi=40) == (png.read_bytes(), pdf.read_bytes())
    with pytest.raises(ValueError, match="processes must be an integer >= 1"):
        write_report(tmp_path, None, None, None, None, None, processes=0)
