"""What a person reads after a run: `summary.md` and the figures it embeds (STYLE.md, "Outputs people read").

`write_summary(run_dir, metrics, system, manifest)` is the one entry point; the figures live in
`sim.report.figures`. Both read the per-replicate tables and summarise across replicates
themselves (`sim.metrics.summarise`), so every interval is a spread of replicate values.
"""

from sim.report.summary import HEADLINE_METRICS, write_summary

__all__ = ["HEADLINE_METRICS", "write_summary"]
