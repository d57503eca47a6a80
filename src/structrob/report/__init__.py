"""Study report: figures, correlation tables and one self-contained HTML page.

Built from the study store's tables alone; it never trains or attacks, so
``structrob report DIR`` can regenerate it at any time. :func:`write_report` is the entry
point; the figure and table functions are public for papers and notebooks. Five modules, none
reaching into another's private names: :mod:`~structrob.report.tables` (labels, pivots and
the correlation table's cells), :mod:`~structrob.report.summary` (the summary counts),
:mod:`~structrob.report.figures` (figures), :mod:`~structrob.report.captions` (their captions)
and :mod:`~structrob.report.page` (the HTML page and the report directory).

References
----------
The study the report shows (the modules below cite it as "the study"):

.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
"""

from structrob.report.figures import FIGURE_NAMES, ReportFigure, build_figures
from structrob.report.page import render_page, save_figure, write_report
from structrob.report.summary import summary_counts
from structrob.report.tables import correlation_table

__all__ = [
    "FIGURE_NAMES",
    "ReportFigure",
    "build_figures",
    "correlation_table",
    "render_page",
    "save_figure",
    "summary_counts",
    "write_report",
]
