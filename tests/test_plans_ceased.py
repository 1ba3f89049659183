"""Plans ceased as needs met: the rule must not drain a stock of plans the model itself issued.

Why: the baseline starts from a severe stock (the January 2025 census), so almost no plan is
below `reviews.plan_needs_met_severity` in 2025 and any `reviews.cease_when_met_probability`
meets the 2025 ceasing target. Plans the model issues later are milder and ease under their
support; at 0.8 the baseline ceased 0.4-0.9 plans per 1,000 pupils a year as needs met by
2028-2030 and the 2015 backtest 0.2-0.5 from 2020, against a published 0.05 (school age,
2023-2025, sen2 ceased plans, flat while plans grew). The check counts needs-met ceasings of
school-age pupils in 2028-2030 of one baseline run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.config import load_config
from sim.model import SendModel

REPO = Path(__file__).resolve().parents[1]


def _needs_met_per_1000(probability: float) -> float:
    config = load_config(REPO / "configs" / "baseline.yaml", {"population": {"scale": 0.25}, "run": {"end": "2030-12"},
                                                              "reviews": {"cease_when_met_probability": probability}})
    model = SendModel(config, seed=1).run()
    timeline = model.timeline
    frame = model.events.frame("plan_ceased")
    academic = np.array([timeline.academic_year(t) for t in range(timeline.n_months)])
    year_group = academic[frame["month"].to_numpy()] - model.children.entry_year[frame["row"].to_numpy()]
    years = np.array([timeline.calendar(int(t))[0] for t in frame["month"]])
    count = int(((frame["reason"] == "needs_met").to_numpy() & (year_group <= 11) & (years >= 2028)).sum())
    pupils = config.population.pupils_per_council * config.population.scale * config.population.councils
    return count / 3 / pupils * 1000


@pytest.mark.slow
def test_plans_the_model_issues_rarely_cease_as_needs_met():
    """Default: under 0.25 per 1,000 pupils a year in 2028-2030 (published 0.05; one run at this
    scale counts ~10 events, so the bound leaves room for noise); the former 0.8 is the contrast
    (0.4-0.9 per 1,000 in the runs that found the problem)."""
    default = _needs_met_per_1000(load_config(REPO / "configs" / "baseline.yaml").reviews.cease_when_met_probability)
    former = _needs_met_per_1000(0.8)
    assert default < 0.25, default
    assert former > 2 * default and former > 0.3, (former, default)
