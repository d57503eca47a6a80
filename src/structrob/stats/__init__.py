"""Outlier filtering, aggregation over initialisations, and rank correlations with uncertainty.

The study's procedure [1]_, exactly:

1. for each robustness measure, discard the runs (one trained model per graph and
   initialisation) outside the Tukey fences ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]`` [2]_, with the
   quartiles taken over all runs of that measure by ``numpy.percentile``'s default linear
   interpolation (Hyndman-Fan type 7);
2. average the remaining initialisations of each graph;
3. for every (graph property, measure) pair compute Spearman's rho and Kendall's tau-b over
   the graphs, and label the strength of rho with Cohen's bands [3]_.

The study's code differs in two places, and both are options with the paper's reading as the
default: ``outlier_rule="per_attack"`` (:func:`aggregate`, :func:`iqr_keep`,
:func:`correlation_table`) drops all of a run's values of an attack when any measure of that
attack is outside its fences; ``pruning_rows="pooled"`` (:func:`correlation_table`, for
Table 2) correlates every run of the pruning chains, unfiltered and not averaged, instead of
one mean per pruning step.

Beyond the study, every coefficient carries a p-value (exact by permutation up to
``EXACT_SPEARMAN_MAX_N`` graphs, ties kept; scipy's beyond), a Benjamini-Hochberg q-value
over the whole table [4]_, a bootstrap 95% percentile confidence interval over graphs [5]_,
and a partial Spearman correlation controlling for a covariate (by default the number of
parameters); :func:`rank_regression_curve` is the rank regression line [6]_ the report draws
through its scatter plots. :func:`too_few_graphs` and :func:`small_sample_warning` say when a
table has fewer than :data:`MIN_GRAPHS` graphs. Measure and attack names are read with
:func:`structrob.vocabulary.split_measure`. The package works on pandas DataFrames and arrays
only; it never reads the study store.

Modules: :mod:`~structrob.stats.filtering` (the IQR filter and the mean per graph),
:mod:`~structrob.stats.coefficients` (rho, tau, exact small-sample p-values, partial rho,
q-values, the rank regression line), :mod:`~structrob.stats.uncertainty` (bootstrap
intervals) and :mod:`~structrob.stats.correlation` (the study's correlation table). Every
public name is re-exported here, so ``from structrob import stats; stats.correlation_table``
is the way to call them.

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
.. [2] J. W. Tukey, "Exploratory Data Analysis", Addison-Wesley, 1977.
.. [3] J. Cohen, "Statistical Power Analysis for the Behavioral Sciences", 2nd ed., 1988.
.. [4] Y. Benjamini, Y. Hochberg, "Controlling the false discovery rate: a practical and
   powerful approach to multiple testing", J. R. Stat. Soc. B 57(1), 1995.
.. [5] B. Efron, R. J. Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall, 1993.
.. [6] R. L. Iman, W. J. Conover, "The use of the rank transform in regression",
   Technometrics 21(4), 1979.
"""

from structrob.stats.coefficients import (
    EXACT_SPEARMAN_MAX_N,
    benjamini_hochberg,
    kendall,
    partial_spearman,
    permutation_pvalue,
    rank_regression_curve,
    spearman,
    spearman_exact_pvalue,
    strength,
)
from structrob.stats.correlation import (
    MIN_GRAPHS,
    PRUNING_ROWS,
    TABLE_COLUMNS,
    correlation_table,
    default_properties,
    small_sample_warning,
    study_table,
    too_few_graphs,
)
from structrob.stats.filtering import OUTLIER_RULES, aggregate, iqr_bounds, iqr_filter, iqr_keep
from structrob.stats.uncertainty import bootstrap_ci, bootstrap_intervals

__all__ = [
    "EXACT_SPEARMAN_MAX_N",
    "MIN_GRAPHS",
    "OUTLIER_RULES",
    "PRUNING_ROWS",
    "TABLE_COLUMNS",
    "aggregate",
    "benjamini_hochberg",
    "bootstrap_ci",
    "bootstrap_intervals",
    "correlation_table",
    "default_properties",
    "iqr_bounds",
    "iqr_filter",
    "iqr_keep",
    "kendall",
    "partial_spearman",
    "permutation_pvalue",
    "rank_regression_curve",
    "small_sample_warning",
    "spearman",
    "spearman_exact_pvalue",
    "strength",
    "study_table",
    "too_few_graphs",
]
