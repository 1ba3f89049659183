"""The EHCP pipeline as the vectorised model runs it: the stages the oracle re-implements, and nothing else.

The oracle covers the EHCP route from identification to plans issued: identification by the
school, SEN support from the notional SEN budget (requests depend on whether it meets need and on
budget pressure), requests (with the private reports parents buy), the council's decision whether
to assess, EP time in queue order, and completed assessments ending in a plan, with the setting
the council names in it. The route's other mechanisms (appeals, reviews) and the rest of the
month (need dynamics, the calendar, outcomes, finance) are left out of both sides, so that a
difference between the two can only come from these rules. `PipelineModel` is the vectorised
model restricted to exactly these stages, calling the same process functions as `EhcpRoute`
with no dispute callbacks.
"""

from __future__ import annotations

from sim.model import SendModel
from sim.month_plan import Stage
from sim.processes import assessment, decisions, identification, placement, requests, support
from sim.step_context import StepContext

# the events both implementations log, with the columns compared between them
PIPELINE_EVENTS: dict[str, tuple[str, ...]] = {
    "identified": (),
    "support_ended": (),
    "support_restarted": (),
    "request": ("by_parent",),
    "private_report": (),
    "decision": ("refused", "weeks", "by_parent"),
    "ep_advice": (),
    "assessment": ("plan",),
    "plan_issued": ("weeks", "by_parent"),
    "travel_declined": (),
    "placement_breakdown": (),
    "placement": ("placement", "preferred_special"),
}

# the child state the pipeline reads or writes: compared between the two after every month
PIPELINE_COLUMNS: tuple[str, ...] = (
    "identified",
    "support_level",
    "support_intensity",
    "support_since",
    "isp",
    "pipeline",
    "pipeline_since",
    "request_month",
    "request_fraction",
    "request_by_parent",
    "ep_hours_received",
    "ep_done_month",
    "last_refusal_month",
    "plan_start_month",
    "private_report",
    "private_reports_bought",
    "spent_reports",
    "placement",
    "school",
    "preferred_special",
    "special_wanted",
    "special_secured",
)


def pipeline_stages() -> list[Stage]:
    """The EHCP route's stages from identification to plans issued and settings named, as the vectorised processes."""
    return [
        Stage("identification by the school", identification.step),
        Stage("SEN support within the notional SEN budget", support.allocate),
        Stage("requests for an EHC needs assessment", requests.step),
        Stage("decisions whether to assess", decisions.step),
        Stage("EP advice in queue order", assessment.allocate_ep_time),
        Stage("assessments completed: plans issued, settings named", issue_plans_and_name_settings),
    ]


def issue_plans_and_name_settings(ctx: StepContext) -> None:
    """Assessments whose advice is in end in a plan, with a setting named, or a refusal to issue."""
    assessment.issue_plans(ctx, on_issued=placement.place)


class PipelineModel(SendModel):
    """The vectorised model running only the EHCP pipeline each month (see the module docstring)."""

    def stages(self, ctx: StepContext) -> list[Stage]:
        return pipeline_stages()
