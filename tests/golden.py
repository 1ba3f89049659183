"""The golden regression run: a small fixed run of both routes whose metrics are stored in git.

Why: a change that moves results should do so on purpose. `tests/test_golden.py` compares a fresh
run with `tests/data/golden/metrics.csv`; when a change is meant to move results, regenerate the
file with `python scripts/update_golden.py`, and say in CHANGELOG.md what moved and why.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.config.loader import deep_merge, load_config
from sim.experiments.runner import run_replicate

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden" / "metrics.csv"
SCENARIOS = {"baseline": "configs/baseline.yaml", "steady_state_reform": "configs/reform_steady_state.yaml"}
SMALL = {"population": {"councils": 1, "pupils_per_council": 6000}, "run": {"end": "2027-08", "seed": 7}}
BREAKDOWNS = ("all", "fsm", "income_quintile", "sen_status")
SIGNIFICANT = 12


def golden_metrics() -> pd.DataFrame:
    """Metrics of one replicate of each golden scenario (the breakdowns most results are read by)."""
    frames = []
    for name, path in SCENARIOS.items():
        config = load_config(ROOT / path)
        config = type(config).model_validate(deep_merge(config.model_dump(mode="json"), SMALL))
        metrics = run_replicate(config, 0).metrics
        metrics = metrics[metrics["by"].isin(BREAKDOWNS)].drop(columns="replicate")
        metrics.insert(0, "scenario", name)
        frames.append(metrics)
    out = pd.concat(frames, ignore_index=True)
    out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    out["value"] = out["value"].map(lambda v: float(f"{v:.{SIGNIFICANT}g}"))
    return out.sort_values(["scenario", "metric", "by", "group", "date"], kind="stable").reset_index(drop=True)
