"""A comparison with its pages: the tables from `sim.experiments.compare`, then the reports.

Why here: the experiment layer computes and writes tables and never imports the report layer;
the pages (report.md/.html with figures, each route's summary.md, the council page and maps)
are written by this layer into the same directory before it is committed, so a comparison on
disk is still all-or-nothing.

The pages' modules (matplotlib, seaborn and scipy.stats: seconds to import) are imported when the
first page is written, after the first route has run, while the second may still be running on
the other core: imported here before the runs, they held up the start of the workers.
"""

from __future__ import annotations

from pathlib import Path

from sim.experiments.compare import compare_scenarios


def write_route_summary(directory: Path, run: dict) -> Path:
    """A route's summary.md and figures, written as soon as the route has run (while the other
    route may still be running)."""
    from sim.report.summary import write_summary  # lazy: see the module docstring

    return write_summary(directory, run["metrics"], run["system"], run["manifest"])


def write_comparison_reports(directory: Path, result: dict) -> dict:
    """Write the comparison's pages into `directory` (each route's summary is already there, if
    asked for: `write_route_summary`); return the pages and files written."""
    from sim.report.compare_report import write_compare_report  # lazy: see the module docstring
    from sim.report.council_report import write_council_report
    from sim.report.maps import council_maps

    files = ["report.md", "report.html", "figures/"]
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
    return compare_scenarios(*args, write_reports=write_comparison_reports, write_route_report=write_route_summary, **kwargs)
