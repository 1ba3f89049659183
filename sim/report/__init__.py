"""What a person reads after a run: `summary.md` and the figures it embeds.

`write_summary(run_dir, metrics, system, manifest)` is the one entry point; the figures live in
`sim.report.figures`. Both read the per-replicate tables and summarise across replicates
themselves (`sim.metrics.summarise`), so every interval is a spread of replicate values.

The comparison report (`compare_report`, with `decomposition_report` and `transition_report`)
and the experiment report are built on `document.Document` and rendered by the Jinja2 templates
in `templates/` to Markdown and to self-contained HTML.
"""

from sim.report.summary import HEADLINE_METRICS, write_summary

__all__ = ["HEADLINE_METRICS", "write_summary"]
