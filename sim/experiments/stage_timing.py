"""The month's plan of one scenario with the time each stage takes (`sendsim plan`).

Why: the monthly step is the hot path of every experiment; seeing its stages in order with their
share of the time says both what the model does each month and where speed work would pay.
"""

from __future__ import annotations

import time

import pandas as pd

from sim.config.schema import ScenarioConfig
from sim.model import SendModel


def stage_timings(config: ScenarioConfig) -> tuple[pd.DataFrame, float, float]:
    """Run `config` once; return (one row per stage of every plan the route used, build seconds,
    step seconds). Rows: plan, order, stage, when, rule, calls, ms_per_call, share_of_step."""
    started = time.perf_counter()
    model = SendModel(config)
    built = time.perf_counter() - started
    model.run()
    stepped = time.perf_counter() - started - built
    plans = []
    for t in (0, model.n_months - 1):  # a route's plan can change once (the reform's switch)
        model.month = t
        ctx = model.context()
        stages = model.stages(ctx)
        if not plans or [s.name for s in stages] != [s.name for s in plans[-1][1]]:
            label = "from the start" if not plans else "after the switch"
            plans.append((label, stages))
    total = sum(model.timer.seconds.values()) or 1.0
    rows = []
    for label, stages in plans:
        for order, stage in enumerate(stages, start=1):
            calls = model.timer.calls.get(stage.name, 0)
            seconds = model.timer.seconds.get(stage.name, 0.0)
            rows.append({"plan": label, "order": order, "stage": stage.name, "when": stage.when, "rule": stage.rule,
                         "calls": calls, "ms_per_call": 1000 * seconds / calls if calls else float("nan"),
                         "share_of_step": seconds / total})
    return pd.DataFrame(rows), built, stepped
