"""The current system (since 2014): SEN support, then the statutory EHCP route (MODEL.md §5)."""

from __future__ import annotations

from sim.processes import assessment, calendar, decisions, disputes, identification, placement, requests, reviews, support
from sim.step_context import StepContext


class EhcpRoute:
    name = "ehcp"

    def __init__(self, config) -> None:
        self.config = config

    def step(self, ctx: StepContext) -> None:
        identification.step(ctx)
        support.allocate(ctx)
        requests.step(ctx)
        decisions.step(ctx, on_refused=self.appealable)
        assessment.allocate_ep_time(ctx)
        assessment.issue_plans(ctx, on_issued=self.name_setting, on_not_issued=self.appealable)
        disputes.withdrawals(ctx)
        disputes.hear_appeals(ctx)
        reviews.annual_reviews(ctx, on_disputed=self.appealable)

    def on_september(self, ctx: StepContext) -> None:
        calendar.september(ctx, on_disputed=self.appealable)

    def name_setting(self, ctx: StepContext, idx) -> None:
        placement.place(ctx, idx, on_disputed=self.appealable)

    def appealable(self, ctx: StepContext, idx, kind: str) -> None:
        disputes.consider_appeal(ctx, idx, kind)
