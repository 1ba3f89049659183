"""Councils and schools as Mesa agents: named institutions over the shared tables.

Why thin agents: their numbers live in numpy tables so the monthly step can read them for all
children at once; the agents give each institution an identity, a readable API and a place for
per-institution decisions, and keep Mesa's tooling (agent sets, DataCollector) usable.
"""

from __future__ import annotations

import mesa

from sim.population.institutions import PHASE_NAMES


class Council(mesa.Agent):
    """A local authority: EP capacity, special places, high-needs budget and gatekeeping."""

    def __init__(self, model: mesa.Model, index: int) -> None:
        super().__init__(model)
        self.index = index

    @property
    def table(self):
        return self.model.councils

    @property
    def deficit(self) -> float:
        return float(self.table.deficit[self.index])

    @property
    def gatekeeping(self) -> float:
        return float(self.table.gatekeeping[self.index])

    @property
    def ep_hours_per_month(self) -> float:
        return float(self.table.ep_hours_per_month[self.index])

    @property
    def special_places(self) -> float:
        return float(self.table.special_places[self.index])

    def __repr__(self) -> str:
        return f"Council({self.index}, deficit=£{self.deficit:,.0f}, gatekeeping={self.gatekeeping:.2f})"


class School(mesa.Agent):
    """A school: phase, inclusiveness, SEN expertise, notional SEN budget and inclusion base."""

    def __init__(self, model: mesa.Model, index: int) -> None:
        super().__init__(model)
        self.index = index

    @property
    def table(self):
        return self.model.schools

    @property
    def phase(self) -> str:
        return PHASE_NAMES[int(self.table.phase[self.index])]

    @property
    def council(self) -> int:
        return int(self.table.council[self.index])

    @property
    def budget_pressure(self) -> float:
        return float(self.table.budget_pressure[self.index])

    @property
    def inclusion_base_places(self) -> int:
        return int(self.table.base_places[self.index])

    def __repr__(self) -> str:
        return f"School({self.index}, {self.phase}, council={self.council})"
