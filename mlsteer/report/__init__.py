"""One offline HTML report per run folder, plus PNG/SVG exports of its figures."""

from mlsteer.report.html import ReportPaths, build_report

__all__ = ["ReportPaths", "build_report"]
