"""The dated transition from the EHCP route to the tiered route (dual running).

Before the legal switch the current EHCP route keeps running — with reform funding, training
and Experts at Hand already arriving, and the anticipation surge of requests — and from the
switch the tiered route's stages replace it. Which plan runs in a month is decided here, by date,
once per month; processes never test reform dates themselves.
"""

from __future__ import annotations

from sim.timeline import Timeline


class Transition:
    """The reform's dates as month indices of the run."""

    def __init__(self, config, timeline: Timeline) -> None:
        self.switch = timeline.month_index(config.transition.legal_switch)
        self.funding_start = timeline.month_index(config.reform.funding_start)

    def switched(self, t: int) -> bool:
        """The new rules (tiers, ISPs, specialist thresholds, narrowed appeals) apply from month t."""
        return t >= self.switch

    def funded(self, t: int) -> bool:
        """Central reform funds (Inclusive Mainstream Fund, training, Experts at Hand) flow in month t."""
        return t >= self.funding_start
