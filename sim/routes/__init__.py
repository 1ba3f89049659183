"""Routes decide who gets what support. A route composes processes into the month's stages; it
does not copy them."""

from __future__ import annotations

from typing import Protocol

from sim.month_plan import Stage
from sim.population.institutions import CouncilTable, SchoolTable
from sim.random_streams import RandomStreams
from sim.routes.ehcp import EhcpRoute
from sim.routes.tiered import TieredRoute
from sim.step_context import StepContext
from sim.timeline import Timeline

ROUTES = {"ehcp": EhcpRoute, "tiered": TieredRoute}


class Route(Protocol):
    name: str

    def stages(self, ctx: StepContext) -> list[Stage]:
        """Identification to reviews: this month's stages, in order."""

    def on_september(self, ctx: StepContext) -> None:
        """Year rollover: phase transfers and their reviews."""


def make_route(name: str, config, timeline: Timeline, schools: SchoolTable, councils: CouncilTable,
               streams: RandomStreams) -> Route:
    if name not in ROUTES:
        raise ValueError(f"run.route = {name!r} is not available; choose one of {sorted(ROUTES)}")
    return ROUTES[name](config, timeline, schools, councils, streams)


__all__ = ["ROUTES", "Route", "make_route"]
