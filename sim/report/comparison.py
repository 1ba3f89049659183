"""A comparison with its pages: the tables from `sim.experiments.compare`, then the reports.

Why here: the experiment layer computes and writes tables and never imports the report layer;
the pages (report.md/.html with figures, each route's summary.md, the council page and maps)
are written by this layer into the same directory before it is committed, so a comparison on
disk is still all-or-nothing.
"""

from __future__ import annotations

from pathlib import Path

from sim.experiments.compare import compare_scenarios
from sim.report.compare_report import write_compare_report
from sim.report.council_report import write_council_report
from sim.report.maps import council_maps
from sim.report.summary import write_summary


def write_comparison_reports(directory: Path, result: dict) -> dict:
    """Write every page of a comparison into `directory`; return the pages and files written."""
    files = ["report.md", "report.html", "figures/"]
    if result["run_summaries"]:
        for route in ("baseline", "reform"):
            run = result[route]
            write_summary(directory / route, run["metrics"], run["system"], run["manifest"])
    councils = result.get("councils")
    if councils is not None:
        council_maps(councils["council_impact"], directory / "figures")
        write_council_report(directory, councils, result["config"].population.scale)
        files += ["councils.md", "figures/council_map_*.png"]
    md, html = write_compare_report(
        directory, result["equity"], result["costs"], result["stock"], result["manifest"], gaps=result["gaps"],
        headline=result["headline"], value_for_money=result["cost_effectiveness"], transition=result["transition"],
        decomposition=result["decomposition"], family_channels=result.get("family_channels"))
    return {"report": (md, html), "files": files}


def compare_with_reports(*args, **kwargs) -> dict:
    """`compare_scenarios` (same arguments) that also writes the report pages."""
    return compare_scenarios(*args, write_reports=write_comparison_reports, **kwargs)
