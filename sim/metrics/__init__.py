"""Metric definitions (docs/METRICS.md) and cross-replicate summaries."""

from sim.metrics.compute import BREAKDOWNS, children_table, compute_metrics, system_table
from sim.metrics.summarise import summarise

__all__ = ["BREAKDOWNS", "children_table", "compute_metrics", "summarise", "system_table"]
