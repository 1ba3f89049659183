"""Calibration targets and the check of a model run against them (docs/VALIDATION.md)."""

from sim.calibration.targets import TARGETS, Target, targets_frame
from sim.calibration.validate import check_targets, render_table, to_json_records

__all__ = ["TARGETS", "Target", "check_targets", "render_table", "targets_frame", "to_json_records"]
