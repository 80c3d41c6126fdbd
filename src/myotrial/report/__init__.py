"""The trial report: a self-contained HTML file and its PDF (issue 6).

:func:`render_report` turns the derived tables and the analysis results of a ProDERM-design
trial into ``report.html`` (inline CSS and SVG figures, no network) and ``report.pdf``
(WeasyPrint): CONSORT flow, baseline characteristics, primary and secondary endpoints with
method footnotes, response over time, core set measures, Kaplan-Meier curves, subgroups,
safety and a methods appendix (rules, interpretations, versions, seed, checksums).

Every estimate, interval and p-value is taken from :class:`myotrial.analysis.AnalysisResults`
and formatted by :mod:`myotrial.report.formatting`; the same input gives byte-identical HTML
and SVG. See ``docs/report.md``.
"""

from typing import TYPE_CHECKING, Any

from myotrial.report.formatting import (
    format_ci,
    format_count_pct,
    format_estimate,
    format_mean_sd,
    format_median,
    format_number,
    format_p_equals,
    format_p_value,
    parse_number,
)

if TYPE_CHECKING:
    from myotrial.report.render import (
        RenderedReport,
        ReportPaths,
        build_report,
        html_to_pdf,
        render_report,
    )
    from myotrial.report.safety import validate_safety_inputs

#: Imported on first use (matplotlib, jinja2 and WeasyPrint are not needed to format a number).
_LAZY = {
    "RenderedReport": "myotrial.report.render",
    "ReportPaths": "myotrial.report.render",
    "build_report": "myotrial.report.render",
    "html_to_pdf": "myotrial.report.render",
    "render_report": "myotrial.report.render",
    "validate_safety_inputs": "myotrial.report.safety",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'myotrial.report' has no attribute {name!r}")

__all__ = [
    "RenderedReport",
    "ReportPaths",
    "build_report",
    "format_ci",
    "format_count_pct",
    "format_estimate",
    "format_mean_sd",
    "format_median",
    "format_number",
    "format_p_equals",
    "format_p_value",
    "html_to_pdf",
    "parse_number",
    "render_report",
    "validate_safety_inputs",
]
