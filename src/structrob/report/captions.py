"""Captions of the report's figures, composed from the definitions of the vocabulary.

Each caption states the definitions it relies on verbatim from :mod:`structrob.vocabulary`
(parameters, measures, pixels and eps) and the significance marks of
:mod:`structrob.report.tables`, so a figure cut out of the report still says what it shows.

Examples
--------
>>> caption, needs = CAPTIONS["heatmap"]
>>> caption.startswith("Spearman ρ per graph property and measure"), needs
(True, 'needs a correlation table with rho')
"""

from __future__ import annotations

from structrob.report.tables import Q_DEFINITION, SIGNIFICANCE_MARKS, arm_title
from structrob.vocabulary import ARM, ARMS, DEFINITIONS, MEASURES

__all__ = ["CAPTIONS"]

_DEFINED = dict(DEFINITIONS)
_MEASURE_DEFINITIONS = "; ".join(
    f"{measure.label} ({measure.unit}): {measure.definition}" for measure in MEASURES.values()
)
_MEASURE_DEFINITIONS = _MEASURE_DEFINITIONS[:1].upper() + _MEASURE_DEFINITIONS[1:]
_SIGNIFICANCE = f"{SIGNIFICANCE_MARKS} (q: {Q_DEFINITION})"
#: Figure name -> (caption, what the figure needs when it is absent).
CAPTIONS: dict[str, tuple[str, str]] = {
    "parameters": (
        f"Parameter counts ({_DEFINED['parameters']}) of the accepted graph priors (blue) over "
        "all rejected draws (grey); parameter axis logarithmic.",
        "needs graphs or draws with n_parameters",
    ),
    "generator_params": (
        "Accepted graphs per generator parameter value (top) and the percentage of draws with "
        "that value that were accepted (bottom).",
        "needs graphs or draws with size, nei or p",
    ),
    "properties": (
        "Distributions of the DAG properties of the accepted graph priors.",
        "needs graphs with dag_* property columns",
    ),
    "measures_by_init": (
        "Clean accuracy and macro F1, and each attack's robustness measures per initialisation "
        f"(graph-prior arm, {ARMS['prior'].table}). Boxes: quartiles and median, whiskers 1.5 IQR, "
        f"points: runs. {_MEASURE_DEFINITIONS}. Pixels, eps: {_DEFINED['pixels, eps']}.",
        f"needs finished runs of the graph-prior arm ({ARM} 'prior') with measures and init",
    ),
    "top_correlations": (
        "The strongest |Spearman ρ| property-measure pairs of the graph-prior arm. Points: "
        "graphs, the measure averaged over initialisations (plain mean, no outlier filter). "
        "Line: least-squares rank regression (a line through the ranks), mapped back to the "
        "data's scale by interpolating the sorted measure (Iman & Conover 1979); its rank-space "
        f"slope equals ρ without ties. ρ and q from {ARMS['prior'].table}; {_SIGNIFICANCE}.",
        "needs a correlation table and at least 3 graphs with both values of a pair",
    ),
    "heatmap": (
        f"Spearman ρ per graph property and measure ({arm_title('prior', short=True)}; "
        f"{arm_title('pruning', short=True)}). Marks: {_SIGNIFICANCE}.",
        "needs a correlation table with rho",
    ),
    "pruning": (
        f"{ARMS['pruning'].title.capitalize()} ({ARMS['pruning'].table}): measures against pruning "
        "step, mean ± standard deviation over all finished runs at a step (initialisations x "
        "pruned networks).",
        f"needs finished runs of study 'pruning' (the rows with {ARM} 'pruning') with a step",
    ),
}
