"""The current system (since 2014): SEN support, then the statutory EHCP route.

The month's stages, in order: the school notices need and gives SEN support within its notional
SEN budget; families and schools request an EHC needs assessment; the council decides whether to
assess; EP advice is given in queue order; completed assessments end in a plan (and a named
setting) or a refusal; the tribunal hears appeals; plans are reviewed each year. Refusals,
placements and plan contents are appealable [law].
"""

from __future__ import annotations

from sim.month_plan import Stage
from sim.processes import assessment, calendar, decisions, disputes, identification, placement, requests, reviews, support
from sim.step_context import StepContext


class EhcpRoute:
    name = "ehcp"

    def __init__(self, config, timeline=None, schools=None, councils=None, streams=None) -> None:
        self.config = config
        self.plan = [
            Stage("identification by the school", identification.step),
            Stage("SEN support within the notional SEN budget", support.allocate),
            Stage("requests for an EHC needs assessment", requests.step),
            Stage("decisions whether to assess", self.decide),
            Stage("EP advice in queue order", assessment.allocate_ep_time),
            Stage("assessments completed: plans issued, settings named", self.complete_assessments),
            Stage("appeals withdrawn while waiting for a hearing", disputes.withdrawals),
            Stage("tribunal hearings", disputes.hear_appeals),
            Stage("annual reviews of plans", self.review_plans),
        ]

    def stages(self, ctx: StepContext) -> list[Stage]:
        return self.plan

    def decide(self, ctx: StepContext) -> None:
        """The council decides waiting requests within its panel capacity; refusals are appealable."""
        decisions.step(ctx, on_refused=self.appealable)

    def complete_assessments(self, ctx: StepContext) -> None:
        """Assessments whose advice is in end in a plan (with a named setting) or a refusal to issue."""
        assessment.issue_plans(ctx, on_issued=self.name_setting, on_not_issued=self.appealable)

    def review_plans(self, ctx: StepContext) -> None:
        """Plans reach their anniversary: maintained, amended or ceased; decisions appealable."""
        reviews.annual_reviews(ctx, on_disputed=self.appealable)

    def on_september(self, ctx: StepContext) -> None:
        """Year rollover, phase transfers and their reviews."""
        calendar.september(ctx, on_disputed=self.appealable)

    def name_setting(self, ctx: StepContext, idx) -> None:
        placement.place(ctx, idx, on_disputed=self.appealable)

    def appealable(self, ctx: StepContext, idx, kind: str) -> None:
        disputes.consider_appeal(ctx, idx, kind)
