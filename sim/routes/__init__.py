"""Routes decide who gets what support. A route composes processes; it does not copy them."""

from __future__ import annotations

from typing import Protocol

from sim.step_context import StepContext


class Route(Protocol):
    name: str

    def step(self, ctx: StepContext) -> None:
        """Identification to reviews, for one month."""

    def on_september(self, ctx: StepContext) -> None:
        """Year rollover: phase transfers and their reviews."""


def make_route(name: str, config) -> "Route":
    from sim.routes.ehcp import EhcpRoute

    routes = {"ehcp": EhcpRoute}
    try:
        from sim.routes.tiered import TieredRoute

        routes["tiered"] = TieredRoute
    except ImportError:  # the tiered route arrives with the reform issue
        pass
    if name not in routes:
        raise ValueError(f"run.route = {name!r} is not available; choose one of {sorted(routes)}")
    return routes[name](config)


__all__ = ["Route", "make_route"]
