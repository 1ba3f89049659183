"""Schools and councils as tables of numbers: one row per institution, every rule vectorised over rows.

Why tables: the monthly step needs per-school and per-council values for every child at once
(`table.value[child.school]`), and per-council decisions (gatekeeping, panel capacity, EP time,
places) are vectorised over council rows. The simulation is a Mesa model (time, random streams,
DataCollector); councils and schools were once also wrapped as Mesa agents, but the wrappers
carried no behaviour of their own, so they were removed rather than kept as decoration.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

PRIMARY, SECONDARY, SPECIAL, INDEPENDENT = 0, 1, 2, 3
PHASE_NAMES = ("primary", "secondary", "special", "independent_special")


@dataclass
class SchoolTable:
    council: np.ndarray  # int16
    phase: np.ndarray  # int8: PRIMARY / SECONDARY / SPECIAL / INDEPENDENT
    roll_weight: np.ndarray  # float64: relative size (for allocating pupils)
    fsm_effect: np.ndarray  # float64: school logit shift of FSM eligibility (segregation)
    inclusiveness: np.ndarray  # float64: multiplier on identification (school fixed effect)
    expertise: np.ndarray  # float64 0-1: share of staff with SEN expertise
    attainment_effect: np.ndarray  # float64: school value added (sd)
    base_places: np.ndarray  # int32: inclusion-base places (0 = no base)
    feeder: np.ndarray  # int32: for a primary, the secondary most of its pupils move to
    group: np.ndarray  # int32: school group (reform); -1 = none
    sen_budget: np.ndarray  # float64: notional SEN budget this financial year (£)
    sen_spend: np.ndarray  # float64: notional SEN spend committed this month (£/yr rate)
    central_sen_funding: np.ndarray  # float64: part of sen_spend paid from central reform funds (£/yr rate; the IMF)
    budget_pressure: np.ndarray  # float64: demand on the notional budget / budget (>1 = overstretched)
    fsm_share: np.ndarray  # float64: FSM share of the roll (updated at census)

    def __len__(self) -> int:
        return len(self.council)

    @classmethod
    def concat(cls, parts: list["SchoolTable"]) -> "SchoolTable":
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


@dataclass
class CouncilTable:
    global_id: np.ndarray  # int64: the council's id across runs (its council-table row; first_council + i without a table)
    pupils: np.ndarray  # int64: pupils at the start (for per-1,000 capacities)
    ep_hours_per_month: np.ndarray  # float64: EP hours for statutory assessment (the council's own)
    ep_locum_hours: np.ndarray  # float64: EP hours bought in this month (sim/processes/assessment.py)
    decisions_per_month: np.ndarray  # float64: panel capacity
    special_places: np.ndarray  # float64: state special places commissioned
    high_needs_income: np.ndarray  # float64: £ per year (current financial year)
    deficit: np.ndarray  # float64: cumulative high-needs deficit, £
    gatekeeping: np.ndarray  # float64: current gatekeeping (raises refusals)
    gatekeeping_base: np.ndarray  # float64: the council's gatekeeping with no deficit (its own practice)
    request_multiplier: np.ndarray  # float64: the council's request propensity relative to England
    appeal_multiplier: np.ndarray  # float64: the council's appeal propensity relative to England
    advice_speed: np.ndarray  # float64: hazard multiplier on completing advice and drafting (England = 1)
    tribunal_hearings_per_month: np.ndarray  # float64: hearings the tribunal gives this council's appeals
    spend_this_year: np.ndarray  # float64: high-needs spend booked this financial year, £
    experts_days_capacity: np.ndarray  # float64: Experts at Hand days available this month
    experts_days_used: np.ndarray  # float64: Experts at Hand days allocated this month

    def __len__(self) -> int:
        return len(self.pupils)

    @classmethod
    def concat(cls, parts: list["CouncilTable"]) -> "CouncilTable":
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})
