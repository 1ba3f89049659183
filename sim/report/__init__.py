"""What a person reads after a run: `summary.md` and the figures it embeds.

`write_summary(run_dir, metrics, system, manifest)` is the one entry point; the figures live in
`sim.report.figures`. Both read the per-replicate tables and summarise across replicates
themselves (`sim.metrics.summarise`), so every interval is a spread of replicate values.

The comparison report (`compare_report`, with `decomposition_report` and `transition_report`)
and the experiment report are built on `document.Document` and rendered by the Jinja2 templates
in `templates/` to Markdown and to self-contained HTML.
"""

__all__ = ["HEADLINE_METRICS", "write_summary"]


def __getattr__(name: str):
    """`HEADLINE_METRICS` and `write_summary` from `sim.report.summary`, imported on first use: a
    comparison imports `sim.report.comparison` before its runs, and the figures' libraries
    (seconds to import) are not needed until the first page is written."""
    if name in __all__:
        from sim.report import summary  # lazy: the plotting libraries load at the first page, not at import

        return getattr(summary, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
