"""The scenario schema: every parameter of the model, with unit, meaning, source and range.

Sources: `Txxx` ids refer to `sim/data/targets.csv` (copied from the project's shared data with
their URLs); `sen2:<file>` to the DfE "Education, health and care plans" extracts; "law" to the
Children and Families Act 2014 / SEND Code of Practice; "assumption" marks our own choices, each
with a plausible range for sensitivity analysis. See configs/SOURCES.md for the longer story.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import field_validator, model_validator

from sim.config.council_table import resolve_selection
from sim.config.params import Section, param

NEED_TYPES = ("ASD", "SLCN", "SEMH", "MLD", "SpLD", "SLD", "PMLD", "PD", "HI", "VI", "MSI", "OTH")
#: `population.councils: all` simulates every council of the table (or of `population.region`).
ALL_COUNCILS_KEYWORD = "all"
_YM = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
LATEST_END = "2075-12"  # 50 years from the latest start: month counters stay far inside their integer range


def _year_month_value(value: str, field: str) -> str:
    """A calendar month written YYYY-MM (how every date in a scenario is written)."""
    if not isinstance(value, str) or not _YM.match(value):
        raise ValueError(f"{field}: expected a month written YYYY-MM (e.g. 2029-09), got {value!r}")
    if not "2000-01" <= value <= LATEST_END:
        raise ValueError(f"{field}: {value} lies outside the months a scenario can cover (2000-01 to {LATEST_END})")
    return value


def _positive_total(values: list[float], name: str) -> list[float]:
    if sum(values) <= 0:
        raise ValueError(f"{name} needs at least one positive value (all are zero)")
    return values


def _twelve(values: list[float], name: str) -> list[float]:
    if len(values) != len(NEED_TYPES):
        raise ValueError(f"{name} needs {len(NEED_TYPES)} values, one per need type {NEED_TYPES}")
    if any(v < 0 for v in values):
        raise ValueError(f"{name} values must be >= 0")
    return values


def _year_group_multipliers(values: list[float]) -> list[float]:
    """A multiplier per year group, Reception to Year 13 (an age profile of a rate)."""
    if len(values) != 14 or any(not 0 <= v <= 20 for v in values):
        raise ValueError("needs 14 multipliers in [0, 20], Reception to Year 13")
    return values


#: The earliest January census a run can start from: 2015 is the first year with both the census
#: shares and the plan series (new plans, caseload) published, which the rolling-origin backtest
#: needs (docs/BACKTEST.md).
EARLIEST_START_YEAR = 2015


class RunSection(Section):
    start: str = param("2025-01", unit="YYYY-MM", meaning="first simulated month (a January census)", source="model design")
    end: str = param("2036-08", unit="YYYY-MM", meaning="last simulated month", source="model design")
    seed: int = param(20250101, unit="integer", meaning="root random seed", source="convention", ge=0, le=2**63 - 1)
    route: Literal["ehcp", "tiered"] = param("ehcp", unit="name", meaning="which support route runs", source="model design")

    @field_validator("start", "end")
    @classmethod
    def _year_month(cls, value: str) -> str:
        if not _YM.match(value):
            raise ValueError(f"expected YYYY-MM (e.g. 2025-01), got {value!r}")
        if value > LATEST_END:
            raise ValueError(f"{value} is after {LATEST_END}, the last month a scenario can cover")
        return value

    @field_validator("start")
    @classmethod
    def _census_start(cls, value: str) -> str:
        if not value.endswith("-01") or not (EARLIEST_START_YEAR <= int(value[:4]) <= 2025):
            raise ValueError(f"start must be a January census month between {EARLIEST_START_YEAR}-01 and 2025-01, got {value!r}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> "RunSection":
        if self.end <= self.start:
            raise ValueError(f"run.end ({self.end}) must be after run.start ({self.start})")
        return self


class PopulationSection(Section):
    """Who is simulated. With `council_table`, the run simulates councils first_council ..
    first_council + councils - 1 of the selection: every council of the table, those named in
    `councils: [...]`, or those of `region`, in table order."""

    councils: int = param(1, unit="councils", meaning="number of councils simulated (they do not interact); in a config file also `all` (every council of the table, or of the region) or a list of council names or codes, e.g. [Birmingham, E08000003]", source="model design", ge=1, le=200)
    council_table: str | None = param(None, unit="name or path", meaning="instantiate councils from a table ('england' = the packaged table of England's councils built from SEN2 and the school census, sim/data/councils.csv): pupils, deprivation, EHCP rate, EP capacity, gatekeeping, request and appeal propensity per council", source="sim/data/councils_PROVENANCE.md")
    council_names: list[str] | None = param(None, unit="names or codes", meaning="the councils selected by name, la_code or 3-digit DfE code (written `councils: [...]` in a config; needs a council table, 'england' if none is given)", source="convention")
    region: str | None = param(None, unit="region name", meaning="simulate the councils of one English region (e.g. North West); `councils` defaults to all of them", source="convention")
    first_council: int = param(0, unit="council index", meaning="index of the first council simulated within the selection: councils first..first+councils-1 of a larger run, with identical draws (blocks of a national run)", source="convention", ge=0, le=10_000)

    @model_validator(mode="before")
    @classmethod
    def _councils_by_identity(cls, data: Any) -> Any:
        """`councils: [names]` and `councils: all` become a selection and a count (the count blocks slice)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        councils = data.get("councils")
        if isinstance(councils, (list, tuple)):
            data["council_names"], councils = [str(c) for c in councils], ALL_COUNCILS_KEYWORD
        selecting = data.get("council_names") is not None or data.get("region") is not None
        if selecting and data.get("council_table") is None:
            data["council_table"] = "england"
        if councils == ALL_COUNCILS_KEYWORD or (selecting and "councils" not in data):
            if data.get("council_table") is None:
                raise ValueError("population.councils: 'all' needs population.council_table (e.g. england)")
            rows = resolve_selection(str(data["council_table"]), data.get("council_names"), data.get("region"))
            data["councils"] = max(len(rows) - int(data.get("first_council", 0) or 0), 1)
        return data

    @field_validator("fsm_share_path")
    @classmethod
    def _fsm_path(cls, values: dict[int, float]) -> dict[int, float]:
        for year, share in values.items():
            if not 2000 <= year <= 2100 or not 0.0 <= share <= 0.9:
                raise ValueError(f"fsm_share_path needs years 2000-2100 and shares in [0, 0.9], got {year}: {share}")
        return values

    @model_validator(mode="after")
    def _table_rows(self) -> "PopulationSection":
        if self.council_table is None and (self.council_names is not None or self.region is not None):
            raise ValueError("population.council_names and population.region need population.council_table")
        if self.council_table is not None:
            rows = len(resolve_selection(self.council_table, self.council_names, self.region))
            if self.first_council + self.councils > rows:
                what = (f"the {rows} councils in the table {self.council_table!r}" if self.council_names is None and self.region is None
                        else f"the {rows} councils selected")
                raise ValueError(
                    f"population.first_council + population.councils = {self.first_council + self.councils} exceeds {what}"
                )
        return self
    pupils_per_council: int = param(60_000, unit="pupils", meaning="pupils (Reception-Year 11, the census count used for every per-pupil rate) in a typical council at the start", source="convention (a typical council); England ~8.1m Reception-Y11 pupils / 152 councils = 53k", ge=500, le=3_000_000)
    scale: float = param(1.0, unit="fraction", meaning="multiplies every council's population (0.01 = quick sample)", source="convention", gt=0.0, le=1.0)
    primary_school_size: int = param(280, unit="pupils", meaning="average roll of a primary school", source="T289: ~4.7m primary pupils / 16,783 schools", ge=30, le=1000)
    secondary_school_size: int = param(1000, unit="pupils", meaning="average roll of a secondary school", source="T290: ~3.9m secondary pupils / 3,444 schools", ge=200, le=2500)
    school_size_spread: float = param(0.35, unit="coefficient of variation", meaning="spread of school rolls", source="assumption", plausible=(0.2, 0.5), ge=0.0, le=1.0)
    fsm_share: float = param(0.26, unit="fraction of pupils", meaning="pupils eligible for free school meals", source="T149", plausible=(0.12, 0.45), ge=0.0, le=0.9)
    fsm_share_path: dict[int, float] = param({}, unit="year -> fraction of pupils", meaning="dated FSM eligibility: each January the share of pupils eligible is raised to this path's value (interpolated; never lowered: transitional protection); empty = held at fsm_share", source="T147, T143, T149 (15.4% in 2019, 20.8% in 2021, 26% in 2025); configs/backtest_2019.yaml")
    fsm_segregation: float = param(0.6, unit="sd of school logit FSM", meaning="how unevenly FSM pupils are spread across schools", source="assumption", plausible=(0.3, 1.0), ge=0.0, le=2.0)
    fsm_in_lowest_quintile: float = param(0.7, unit="fraction of FSM families", meaning="FSM families in income quintile 1 (rest in quintile 2)", source="assumption", plausible=(0.55, 0.9), ge=0.0, le=1.0)
    advocacy_mean_lowest_quintile: float = param(0.30, unit="0-1", meaning="mean family advocacy in income quintile 1", source="assumption", plausible=(0.15, 0.45), ge=0.0, le=1.0)
    advocacy_mean_highest_quintile: float = param(0.70, unit="0-1", meaning="mean family advocacy in income quintile 5", source="assumption", plausible=(0.55, 0.85), ge=0.0, le=1.0)
    advocacy_concentration: float = param(6.0, unit="beta concentration", meaning="higher = advocacy tied more tightly to income", source="assumption", plausible=(3.0, 12.0), gt=0.0, le=100.0)
    trust_in_mainstream_mean: float = param(0.6, unit="0-1", meaning="mean trust that mainstream can meet the child's needs", source="assumption", plausible=(0.4, 0.8), ge=0.0, le=1.0)
    trust_concentration: float = param(5.0, unit="beta concentration", meaning="higher = families' trust in mainstream spread less around its mean", source="assumption", plausible=(2.0, 10.0), gt=0.0, le=100.0)
    family_ties: int = param(4, unit="ties per family", meaning="families each family knows well (network degree, within school)", source="assumption", plausible=(2, 8), ge=0, le=20)
    family_tie_rewiring: float = param(0.1, unit="probability", meaning="share of ties that reach another school (small-world rewiring)", source="assumption", plausible=(0.0, 0.3), ge=0.0, le=1.0)
    feeder_mix_noise_sd: float = param(0.3, unit="sd of school logit FSM", meaning="chance in which secondary a primary school feeds, beyond closeness in social mix (0 = every primary feeds the secondary nearest its FSM mix)", source="assumption", plausible=(0.0, 0.6), ge=0.0, le=3.0)


class CensusSection(Section):
    """The January census the population starts from (shares of pupils)."""

    ehcp_share: float = param(0.053, unit="fraction of pupils", meaning="pupils with an EHCP at the start census", source="T002", ge=0.0, le=0.3)
    sen_support_share: float = param(0.142, unit="fraction of pupils", meaning="pupils on SEN support at the start census", source="T004", ge=0.0, le=0.5)
    ehcp_age_profile: list[float] = param(
        [0.45, 0.6, 0.72, 0.82, 0.9, 0.97, 1.03, 1.07, 1.08, 1.1, 1.12, 1.15, 1.05, 0.95],
        unit="relative to mean, Reception..Y13", meaning="EHCP prevalence by year group", source="T330 (2.4% at 5, 3.8% at 10, 4.0% at 15); T322", )
    sen_support_age_profile: list[float] = param(
        [0.55, 0.8, 0.95, 1.05, 1.15, 1.22, 1.25, 1.12, 1.05, 1.0, 0.95, 0.92, 0.7, 0.6],
        unit="relative to mean, Reception..Y13", meaning="SEN support prevalence by year group", source="T328-T329 (15.2% at 10, 11.4% at 15)", )
    special_school_share_of_ehcp: float = param(0.40, unit="fraction of EHCP pupils", meaning="EHCP pupils in special schools (state and independent)", source="T065 (56.2% mainstream); T293; T294", ge=0.0, le=1.0)
    independent_share_of_special: float = param(0.14, unit="fraction of special-school EHCP pupils", meaning="special-school EHCP pupils in independent special schools", source="T293-T294 (26k of ~182k)", ge=0.0, le=1.0)
    initial_special_trust_weight: float = param(0.8, unit="log-severity units per unit trust", meaning="at the start census, trust in mainstream keeps a plan holder out of special school at the same need (the weight of trust against log severity in who holds the special places)", source="assumption (trust keeps children in mainstream, as placement.special_preference_trust does for new plans)", plausible=(0.0, 1.5), ge=0.0, le=10.0)
    initial_placement_noise_sd: float = param(0.3, unit="sd (log-severity units; advocacy units for independent places)", meaning="at the start census, how loosely need and trust (special places) and advocacy (independent places) decide who holds a place", source="assumption (placements also depend on where places were free when each plan was made)", plausible=(0.1, 0.6), ge=0.0, le=5.0)
    assessments_in_progress_per_1000: float = param(6.5, unit="children per 1,000 pupils", meaning="children already in assessment at the start census (avoids a cold start)", source="assumption (about 0.6 years of new plans in flight), calibrated to new plans in 2025 (sen2:newplans_national) with 2025's requests", plausible=(3.0, 10.0), ge=0.0, le=100.0)
    advocacy_weight: float = param(0.6, unit="log-severity units per unit advocacy", meaning="at the start census, how much family advocacy (beyond severity) decides who already holds support", source="assumption calibrated to FSM shares by SEN status (T133-T135)", plausible=(0.0, 1.2), ge=0.0, le=5.0)
    support_noise_sd: float = param(0.25, unit="log-severity units", meaning="at the start census, chance in who holds support at a given severity", source="assumption", plausible=(0.1, 0.5), ge=0.0, le=3.0)
    latent_need_share: float = param(0.27, unit="fraction of pupils", meaning="pupils with some latent special educational need at the start (identified or not)", source="assumption (T160-T161: up to 40-44% ever recorded)", plausible=(0.22, 0.35), ge=0.0, le=0.8)
    latent_need_probability_cap: float = param(0.95, unit="probability", meaning="highest chance a child has latent need at the start, whatever its year group and FSM status (a guard: binds only for extreme prevalence settings)", source="assumption", plausible=(0.9, 1.0), ge=0.0, le=1.0)
    in_flight_wait_monthly_hazard: float = param(0.15, unit="per month", meaning="assessments in flight at the start census were requested a geometric number of months earlier with this monthly hazard (most recent, a long tail of waits)", source="assumption", plausible=(0.08, 0.3), gt=0.0, le=1.0)
    in_flight_max_wait_months: int = param(24, unit="months", meaning="longest time an assessment in flight at the start census has been waiting", source="assumption", plausible=(12, 36), ge=1, le=120)
    in_flight_parent_request_share: float = param(0.3, unit="fraction", meaning="assessments in flight at the start census that parents requested (the rest schools)", source="assumption", plausible=(0.2, 0.5), ge=0.0, le=1.0)
    in_flight_ep_progress_noise: float = param(0.2, unit="fraction of the EP hours", meaning="at the start census, spread in how much of an in-flight assessment's EP work is done beyond what its wait implies", source="assumption", plausible=(0.0, 0.4), ge=0.0, le=1.0)

    @field_validator("ehcp_age_profile", "sen_support_age_profile")
    @classmethod
    def _fourteen(cls, values: list[float]) -> list[float]:
        if len(values) != 14 or any(v < 0 for v in values):
            raise ValueError("needs 14 non-negative values, Reception to Year 13")
        return values

    @field_validator("ehcp_age_profile", "sen_support_age_profile")
    @classmethod
    def _some_school_age(cls, values: list[float]) -> list[float]:
        _positive_total(values[:12], "an age profile's Reception to Year 11 values")
        return values


class NeedsSection(Section):
    type_mix: list[float] = param(
        [0.16, 0.25, 0.19, 0.17, 0.10, 0.015, 0.004, 0.03, 0.012, 0.006, 0.002, 0.041],
        unit="relative weights by need type", meaning="need-type mix among children with need (ASD..OTH)", source="T309-T327 (SEN support and plan mixes)")
    type_severity: list[float] = param(
        [1.8, 0.85, 1.0, 0.75, 0.6, 2.2, 3.0, 1.2, 1.0, 1.1, 1.4, 0.6],
        unit="multiplier", meaning="typical severity by need type (ASD..OTH)", source="calibrated to the plan need mix T309-T320 (an assumption)")
    deprivation_type_tilt: list[float] = param(
        [-0.25, 0.3, 0.35, 0.3, -0.6, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        unit="log weight for FSM families", meaning="need types more/less common among FSM families", source="T158-T159 (SpLD, ASD more affluent; SLCN, MLD, SEMH more deprived)", )
    later_onset_severity_ratio: float = param(0.5, unit="multiplier", meaning="needs emerging during school are milder than those present at entry", source="assumption", plausible=(0.3, 1.0), gt=0.0, le=2.0)
    fsm_need_odds_ratio: float = param(2.5, unit="odds ratio", meaning="odds of latent need, FSM vs non-FSM", source="T133-T135 (FSM 39-44% among SEN vs 22% without)", plausible=(1.6, 3.0), ge=1.0, le=6.0)
    severity_shape: float = param(1.6, unit="gamma shape", meaning="shape of the severity distribution among children with need", source="assumption", plausible=(1.0, 3.0), gt=0.0, le=20.0)
    severity_mean: float = param(1.0, unit="severity units", meaning="mean latent severity among children with need (1 = what good SEN support meets)", source="assumption (scale definition)", plausible=(0.8, 1.3), gt=0.0, le=5.0)
    fsm_severity_multiplier: float = param(1.3, unit="multiplier", meaning="severity of FSM children's needs relative to others", source="assumption", plausible=(1.0, 1.3), ge=0.5, le=2.0)
    onset_rate_per_year: float = param(0.0265, unit="probability per year", meaning="new need emerging among non-FSM children without one, at onset_age_profile 1 (FSM children: times fsm_onset_hazard_ratio)", source="assumption derived with onset_age_profile (docs/DYNAMICS.md); T160-T161 cumulative incidence", plausible=(0.015, 0.04), ge=0.0, le=0.5)
    resolution_rate_per_year: float = param(0.206, unit="probability per year", meaning="mild need (severity < resolution_severity) resolving when met, at resolution_age_profile 1", source="assumption", plausible=(0.02, 0.3), ge=0.0, le=1.0)
    onset_age_profile: list[float] = param(
        [2.66, 2.01, 1.27, 1.56, 1.13, 1.15, 0.65, 0.19, 0.34, 0.15, 0.45, 0.45, 0.45, 0.45],
        unit="multiplier on onset_rate_per_year, Reception..Y13", meaning="how the onset of new need varies with year group", source="assumption derived so the start census's latent-need profile is a steady state of onset and resolution (docs/DYNAMICS.md)", )
    resolution_age_profile: list[float] = param(
        [0.44, 0.29, 0.34, 0.21, 0.45, 0.0, 2.28, 1.57, 1.41, 1.51, 1.75, 1.75, 1.75, 1.75],
        unit="multiplier on resolution_rate_per_year, Reception..Y13", meaning="how the resolution of mild need varies with year group", source="assumption derived so the start census's latent-need profile is a steady state of onset and resolution (docs/DYNAMICS.md)", )
    fsm_onset_hazard_ratio: float = param(2.0, unit="hazard ratio", meaning="onset of new need, FSM vs non-FSM children", source="assumption derived so the FSM share of pupils with latent need keeps its start value (docs/DYNAMICS.md)", plausible=(1.5, 2.5), ge=1.0, le=6.0)
    unmet_resolution_ratio: float = param(0.5, unit="multiplier", meaning="mild needs that are not met resolve at this fraction of the rate of met ones", source="assumption", plausible=(0.2, 1.0), ge=0.0, le=1.0)
    resolution_severity: float = param(0.5, unit="severity units", meaning="needs below this can resolve", source="assumption", plausible=(0.3, 0.8), ge=0.0, le=5.0)
    growth_when_unmet_per_year: float = param(0.12, unit="severity units per year", meaning="severity growth while need is unmet", source="assumption (need grows faster while unmet)", plausible=(0.04, 0.25), ge=0.0, le=2.0)
    growth_when_met_per_year: float = param(-0.05, unit="severity units per year", meaning="severity drift while need is met (negative = improves)", source="assumption", plausible=(-0.15, 0.02), ge=-2.0, le=2.0)
    severity_trend_per_year: float = param(0.025, unit="fraction per year", meaning="secular rise in the severity of new needs (growth in recorded complex need)", source="assumption (T009, T332: plans doubled 2016-2025)", plausible=(0.0, 0.06), ge=-0.2, le=0.2)
    pandemic_onset_multiplier: float = param(1.0, unit="multiplier", meaning="onset of new need during the pandemic window, relative to other months (1 = no shock)", source="assumption (speech, language and social-emotional needs rose after the 2020-21 school closures; magnitude to be fitted by the backtest)", plausible=(1.0, 2.0), ge=0.0, le=10.0)
    pandemic_from: str = param("2020-03", unit="YYYY-MM", meaning="first month of the pandemic shock to the onset of need", source="the first school closures (March 2020)")
    pandemic_to: str = param("2021-07", unit="YYYY-MM", meaning="last month of the pandemic shock to the onset of need", source="assumption (to the end of the 2020-21 school year)")
    preschool_plan_share_of_reception: float = param(0.0259, unit="fraction of Reception entrants", meaning="children entering Reception already holding a plan (complex needs identified before school)", source="T330 (2.4% of 5-year-olds hold a plan; T127: 26,500 plans held by under-5s), derived so each January's Reception EHCP share is the start census's (docs/DYNAMICS.md)", plausible=(0.012, 0.03), ge=0.0, le=0.1)

    @field_validator("type_mix", "type_severity")
    @classmethod
    def _per_type(cls, values: list[float]) -> list[float]:
        return _twelve(values, "per-need-type list")

    @field_validator("type_mix")
    @classmethod
    def _some_need_type(cls, values: list[float]) -> list[float]:
        return _positive_total(values, "needs.type_mix")

    @field_validator("pandemic_from", "pandemic_to")
    @classmethod
    def _pandemic_month(cls, value: str) -> str:
        if not _YM.match(value):
            raise ValueError(f"expected YYYY-MM (e.g. 2020-03), got {value!r}")
        return value

    @field_validator("onset_age_profile", "resolution_age_profile")
    @classmethod
    def _by_year_group(cls, values: list[float]) -> list[float]:
        if len(values) != 14 or any(not 0 <= v <= 20 for v in values):
            raise ValueError("needs 14 multipliers in [0, 20], Reception to Year 13")
        return values

    @field_validator("deprivation_type_tilt")
    @classmethod
    def _per_type_tilt(cls, values: list[float]) -> list[float]:
        if len(values) != len(NEED_TYPES):
            raise ValueError(f"needs {len(NEED_TYPES)} values, one per need type {NEED_TYPES}")
        return values


class IdentificationSection(Section):
    monthly_rate: float = param(0.0798, unit="probability per month at severity 1", meaning="school notices an unidentified need", source="assumption", plausible=(0.02, 0.1), ge=0.0, le=1.0)
    severity_elasticity: float = param(1.0, unit="exponent", meaning="how much faster severe needs are noticed", source="assumption", plausible=(0.5, 2.0), ge=0.0, le=5.0)
    late_types_multiplier: float = param(0.6, unit="multiplier", meaning="identification speed for ASD/SEMH relative to other types in primary (noticed later)", source="published [reported]", plausible=(0.4, 1.0), ge=0.0, le=2.0)
    school_inclusiveness_sd: float = param(0.5, unit="sd of log multiplier", meaning="school fixed effect on identification (school explains over half the variation)", source="published [reported]", plausible=(0.3, 0.8), ge=0.0, le=2.0)
    advocacy_effect: float = param(1.2, unit="log multiplier per unit advocacy", meaning="families who push get needs noticed sooner", source="assumption", plausible=(0.3, 1.5), ge=0.0, le=5.0)
    deprived_school_under_identification: float = param(1.5, unit="log multiplier per unit school FSM share", meaning="schools in deprived areas under-identify relative to need (rationing)", source="published [reported]", plausible=(0.0, 2.0), ge=0.0, le=5.0)
    expertise_floor: float = param(0.5, unit="multiplier", meaning="identification in a school with no SEN expertise, against 1.5 where expertise is 1 (the rate scales with this plus the school's expertise)", source="assumption", plausible=(0.25, 1.0), ge=0.0, le=5.0)
    removal_severity: float = param(0.25, unit="severity units", meaning="SEN support ends at review when severity falls below this", source="assumption", plausible=(0.1, 0.5), ge=0.0, le=3.0)
    age_profile: list[float] = param(
        [6.3, 1.82, 1.03, 0.89, 0.67, 0.62, 0.17, 0.13, 0.07, 0.05, 0.12, 0.12, 0.12, 0.12],
        unit="multiplier on monthly_rate, Reception..Y13", meaning="how fast schools notice an unidentified need, by year group", source="assumption derived so the start census's SEN support age profile is a steady state of identification and the end of support (docs/DYNAMICS.md)", )
    early_years_support_share: float = param(0.0465, unit="fraction of Reception entrants", meaning="children entering Reception already on SEN support (need identified in an early-years setting), chosen among entrants with need by severity and advocacy", source="assumption derived so each January's Reception SEN support share is the start census's (docs/DYNAMICS.md)", plausible=(0.02, 0.08), ge=0.0, le=0.5)

    @field_validator("age_profile")
    @classmethod
    def _identification_by_year_group(cls, values: list[float]) -> list[float]:
        return _year_group_multipliers(values)
    type_trend_per_year: list[float] = param(
        [0.08, 0.0, 0.06, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        unit="fraction per year, by need type (ASD..OTH)", meaning="rise in the identification rate of each need type up to identification.type_trend_until (autism and SEMH rose fastest)", source="assumption (pupils with autism as primary need and with SEMH needs roughly doubled 2015-2025 while other needs grew slowly: SEN in England; size to be fitted by the backtest)", )
    type_trend_until: str = param("2025-01", unit="YYYY-MM", meaning="identification reaches its calibrated rate at this month and is held there (earlier months identify less: identification.type_trend_per_year)", source="the January 2025 census the rates are calibrated to")

    @field_validator("type_trend_per_year")
    @classmethod
    def _per_type_trend(cls, values: list[float]) -> list[float]:
        if len(values) != len(NEED_TYPES) or any(not -0.5 <= v <= 0.5 for v in values):
            raise ValueError(f"needs {len(NEED_TYPES)} values in [-0.5, 0.5], one per need type {NEED_TYPES}")
        return values

    @field_validator("type_trend_until")
    @classmethod
    def _trend_month(cls, value: str) -> str:
        return _year_month_value(value, "identification.type_trend_until")


class SenSupportSection(Section):
    notional_sen_budget_per_pupil: float = param(520.0, unit="£ per pupil on roll per year", meaning="school's notional SEN budget (funds SEN support and the first £6k of EHCP costs)", source="assumption (notional SEN ~ 11% of school budgets)", plausible=(350.0, 700.0), ge=0.0, le=5000.0)
    cost_per_intensity_unit: float = param(2200.0, unit="£ per year per unit intensity", meaning="cost of SEN support delivering one unit of support intensity", source="assumption", plausible=(1500.0, 3500.0), gt=0.0, le=20000.0)
    max_intensity: float = param(1.3, unit="severity units", meaning="most support a mainstream school can give without a plan, at full expertise", source="assumption (the 'cliff edge')", plausible=(0.9, 1.8), ge=0.0, le=5.0)
    expertise_mean: float = param(0.7, unit="0-1", meaning="mean share of staff with SEN expertise (scales support quality)", source="assumption", plausible=(0.5, 0.85), ge=0.0, le=1.0)
    expertise_concentration: float = param(12.0, unit="beta concentration", meaning="higher = mainstream schools' SEN expertise spread less around its mean", source="assumption", plausible=(5.0, 25.0), gt=0.0, le=100.0)
    match_fraction: float = param(0.8, unit="fraction of need", meaning="support at or above this fraction of severity counts as matched to need", source="assumption", plausible=(0.7, 1.0), gt=0.0, le=1.5)
    plan_mainstream_max_intensity: float = param(2.0, unit="severity units", meaning="most support an EHCP delivers in a mainstream class", source="assumption", plausible=(1.6, 2.6), ge=0.0, le=10.0)
    inclusion_base_max_intensity: float = param(2.8, unit="severity units", meaning="most support an inclusion-base place delivers", source="assumption", plausible=(2.2, 3.5), ge=0.0, le=10.0)
    support_lost_at_transfer: float = param(0.5, unit="probability", meaning="without a portable plan (ISP), school-led support lapses when a child changes phase", source="assumption (the reform's digital passport)", plausible=(0.2, 0.8), ge=0.0, le=1.0)
    support_reestablish_months: int = param(4, unit="months", meaning="time to re-establish lapsed support at the new school", source="assumption", plausible=(2, 8), ge=0, le=24)
    mainstream_contribution: float = param(6000.0, unit="£ per high-needs pupil per year", meaning="first part of additional support paid by the mainstream school", source="T282 [data]", ge=0.0, le=20000.0)


class RequestsSection(Section):
    school_monthly_rate: float = param(0.0043, unit="probability per month", meaning="school requests an assessment for a child on SEN support at severity 1 with two review cycles done", source="calibrated to requests 2025 (sen2:requests_national)", plausible=(0.002, 0.01), ge=0.0, le=1.0)
    parent_monthly_rate: float = param(0.0019, unit="probability per month", meaning="parent requests an assessment at severity 1, average advocacy", source="calibrated to requests 2025 and the parent/school refusal split (T108-T109)", plausible=(0.001, 0.008), ge=0.0, le=1.0)
    severity_elasticity: float = param(2.2, unit="exponent", meaning="requests rise steeply with severity", source="assumption", plausible=(1.0, 3.5), ge=0.0, le=6.0)
    unmet_effect: float = param(0.8, unit="log multiplier", meaning="requests rise when support falls short of need", source="assumption", plausible=(0.3, 1.5), ge=0.0, le=5.0)
    review_cycles_before_school_request: int = param(2, unit="cycles", meaning="assess-plan-do-review cycles a school runs before requesting", source="published [reported]", ge=0, le=6)
    review_cycle_months: int = param(4, unit="months", meaning="length of one assess-plan-do-review cycle", source="assumption (termly)", plausible=(3, 6), ge=1, le=12)
    budget_pressure_effect: float = param(0.6, unit="log multiplier per unit pressure", meaning="schools whose SEN budget is overstretched request more", source="published [reported]", plausible=(0.0, 1.2), ge=0.0, le=5.0)
    advocacy_effect: float = param(2.2, unit="log multiplier per unit advocacy", meaning="parent requests rise with family advocacy", source="assumption", plausible=(1.0, 3.5), ge=0.0, le=8.0)
    private_report_effect: float = param(0.7, unit="log multiplier", meaning="a private EP report makes a parent request likelier", source="assumption", plausible=(0.2, 1.2), ge=0.0, le=5.0)
    trust_effect: float = param(1.0, unit="log multiplier per unit distrust", meaning="low trust in mainstream drives parent requests", source="assumption", plausible=(0.3, 2.0), ge=0.0, le=5.0)
    peer_effect: float = param(1.5, unit="log multiplier per share of ties with plans", meaning="families who know families with plans request more", source="assumption", plausible=(0.0, 3.0), ge=0.0, le=10.0)
    propensity_trend_per_year: float = param(0.04, unit="fraction per year", meaning="secular rise in request propensity (awareness, diagnoses)", source="assumption (T089-T094: requests +10%/yr)", plausible=(0.0, 0.1), ge=-0.5, le=0.5)
    propensity_trend_anchor: str | None = param(None, unit="YYYY-MM or none", meaning="month at which school_monthly_rate and parent_monthly_rate hold: the propensity trend scales them down before it and up after (none: the run's start). A backtest that sets it to the month its plausible ranges are declared for (2025) fits the rate of that month, so a fitted trend also dates the start's rates", source="the month the request rates' plausible ranges describe (requests 2025, sen2:requests_national)")
    cooldown_months: int = param(6, unit="months", meaning="months after a refusal before the same family or school requests again", source="assumption", plausible=(3, 12), ge=0, le=36)
    budget_pressure_cap: float = param(4.0, unit="demand / notional SEN budget - 1", meaning="overstretch of a school's SEN budget beyond which its requests rise no further (4 = demand five times the budget)", source="assumption", plausible=(2.0, 8.0), ge=0.0, le=50.0)
    closure_multiplier: float = param(0.45, unit="multiplier", meaning="school and parent request hazards while schools were closed to most pupils in the first pandemic lockdown (closure_from to closure_to); children not requested stay eligible, so the requests are deferred, not lost (1 = no closure effect)", source="derived from T094-T095 and T093 only (no later year): 2020 requests 75,951 against 93,600 had 2018-19's growth (+13.7%) continued, a deficit of 19% of a year, put into the four closure months: 1 - 0.19 x 12 / 4 = 0.43; an assumption beyond that", plausible=(0.2, 1.0), ge=0.0, le=1.0)
    closure_from: str = param("2020-04", unit="YYYY-MM", meaning="first month of the school-closure effect on requests", source="schools closed to most pupils from 23 March 2020 (first national lockdown)")
    closure_to: str = param("2020-07", unit="YYYY-MM", meaning="last month of the school-closure effect on requests", source="partial reopening from June 2020, full return in September 2020 (assumption: the effect lasts to the end of the summer term)")
    age_profile: list[float] = param(
        [1.0] * 14,
        unit="multiplier on school and parent request rates, Reception..Y13", meaning="how the propensity to request an assessment varies with year group at equal need (1 everywhere: 2025's requests, whose flows grow the stock of plans; configs/no_trends.yaml holds the profile that keeps the census's EHCP age profile)", source="assumption; the steady-state profile is derived in docs/DYNAMICS.md", )

    @field_validator("closure_from", "closure_to")
    @classmethod
    def _closure_month(cls, value: str, info) -> str:
        return _year_month_value(value, f"requests.{info.field_name}")

    @field_validator("propensity_trend_anchor")
    @classmethod
    def _anchor_month(cls, value: str | None) -> str | None:
        return None if value is None else _year_month_value(value, "requests.propensity_trend_anchor")

    @field_validator("age_profile")
    @classmethod
    def _requests_by_year_group(cls, values: list[float]) -> list[float]:
        return _year_group_multipliers(values)


class DecisionSection(Section):
    statutory_weeks: float = param(6.0, unit="weeks", meaning="decision on whether to assess due within", source="law (SEND Regulations 2014 reg. 5)", ge=1.0, le=52.0)
    decisions_per_month_per_1000_pupils: float = param(2.2, unit="decisions per month per 1,000 pupils", meaning="panel capacity; requests beyond it wait a month", source="assumption", plausible=(1.2, 4.0), gt=0.0, le=100.0)
    refusal_intercept: float = param(-1.4, unit="log-odds", meaning="refusal log-odds for a school request at severity 1, no gatekeeping", source="calibrated to T097-T100, T109 (~20% of school requests refused)", plausible=(-2.0, 0.0), ge=-10.0, le=10.0)
    severity_effect: float = param(-1.1, unit="log-odds per severity unit", meaning="stronger evidence of need lowers refusal", source="assumption", plausible=(-2.0, -0.3), ge=-10.0, le=0.0)
    parent_request_effect: float = param(1.85, unit="log-odds", meaning="parent requests are refused more often than school requests", source="T108-T109 (51% vs 20%, FOI)", plausible=(0.5, 2.0), ge=-5.0, le=5.0)
    private_report_effect: float = param(-0.8, unit="log-odds", meaning="a private EP report lowers refusal", source="assumption", plausible=(-1.5, 0.0), ge=-5.0, le=5.0)
    gatekeeping_effect: float = param(1.0, unit="log-odds per unit gatekeeping", meaning="council gatekeeping raises refusal", source="assumption", plausible=(0.3, 2.0), ge=0.0, le=10.0)
    private_report_issue_effect: float = param(0.5, unit="log-odds", meaning="after an assessment, a private EP or clinical report the family bought raises the chance the council issues a plan (evidence of need the council's own advice may not give)", source="assumption (reported by parents and advocates; no official data on decisions by evidence source)", plausible=(0.0, 1.0), ge=0.0, le=5.0)


class AssessmentSection(Section):
    final_weeks: float = param(20.0, unit="weeks", meaning="final plan due from request", source="law (reg. 13)", ge=1.0, le=104.0)
    ep_hours_per_assessment: float = param(20.0, unit="hours", meaning="educational psychologist time one assessment needs", source="assumption", plausible=(12.0, 30.0), gt=0.0, le=200.0)
    ep_hours_per_month_per_1000_pupils: float = param(15.0, unit="hours per month per 1,000 pupils", meaning="council EP time available for statutory assessments, before bought-in time: below the demand for it (about 20 hours), so the queue and timeliness respond to it", source="calibrated to 45% within 20 weeks (sen2 timeliness 2025, T112); EP workforce T300", plausible=(8.0, 30.0), gt=0.0, le=500.0)
    ep_backlog_tolerance_months: float = param(2.0, unit="months of own EP hours", meaning="EP backlog a council carries before it buys in locum time", source="assumption", plausible=(1.0, 4.0), ge=0.0, le=24.0)
    ep_locum_max_share: float = param(1.0, unit="fraction of own EP hours", meaning="most locum EP time a council can buy in a month (EP shortages limit it)", source="assumption", plausible=(0.2, 1.0), ge=0.0, le=5.0)
    ep_locum_cost_per_hour: float = param(100.0, unit="£ per hour", meaning="cost of bought-in (locum) EP time", source="assumption (locum EP day rates of about £600-£800)", plausible=(70.0, 130.0), ge=0.0, le=1000.0)
    ep_capacity_growth_per_year: float = param(0.03, unit="fraction per year", meaning="growth of EP capacity (trainees, locums)", source="T303 (trainees up from 160 to 200 a year)", plausible=(0.0, 0.08), ge=-0.5, le=0.5)
    minimum_months: int = param(3, unit="months", meaning="fastest a plan can be issued after the decision (advice, draft, consultation)", source="law (16-week draft, 15-day consultation)", ge=1, le=12)
    months_after_ep_advice: int = param(2, unit="months", meaning="drafting, the 15-day consultation on the draft plan and the final plan, after the EP advice is in", source="assumption (law: 15 days to comment on a draft; advice due 6 weeks after the decision, the final plan 20 weeks after the request)", plausible=(1, 3), ge=0, le=12)
    slow_advice_share: float = param(0.14, unit="fraction of assessments", meaning="assessments whose health or social care advice is slow (the long tail of waits)", source="assumption calibrated to sen2 timeliness 2025 (10.9% over a year)", plausible=(0.05, 0.3), ge=0.0, le=1.0)
    slow_advice_monthly_completion: float = param(0.07, unit="probability per month", meaning="completion of slow advice once EP advice is in", source="assumption", plausible=(0.05, 0.25), gt=0.0, le=1.0)
    other_advice_monthly_completion: float = param(0.6, unit="probability per month", meaning="health/social care advice and drafting complete once EP advice is in", source="calibrated to T121 and sen2 timeliness 2025 (over a year: 7-11%)", plausible=(0.15, 0.6), gt=0.0, le=1.0)
    council_advice_speed_elasticity: float = param(1.3, unit="exponent", meaning="how strongly a council's published timeliness (odds relative to England) speeds its advice and drafting, in table-driven runs", source="assumption calibrated to the spread of 20-week timeliness across councils (sen2 timeliness 2025)", plausible=(0.5, 2.0), ge=0.0, le=3.0)
    mild_need_plan_ratio: float = param(0.5, unit="multiplier", meaning="plans are issued less often after assessing a need below reviews.plan_needs_met_severity", source="assumption", plausible=(0.2, 0.9), ge=0.0, le=1.0)
    plan_issued_probability: float = param(0.945, unit="probability at severity 1", meaning="an assessed child gets a plan", source="T110-T111 (94-95%)", ge=0.0, le=1.0)
    priority: Literal["fifo", "severity"] = param("fifo", unit="rule", meaning="who gets EP time first", source="model design")


class PlacementSection(Section):
    special_places_per_1000_pupils: float = param(21.5, unit="places per 1,000 pupils", meaning="state special-school places the council commissions", source="T293, T295-T296 (155,619 EHCP pupils in state special schools incl. sixth forms / ~8.1m Reception-Y11 pupils = 19/1,000, plus overfill)", plausible=(12.0, 24.0), ge=0.0, le=200.0)
    special_places_growth_per_year: float = param(0.06, unit="fraction per year", meaning="growth in state special places", source="T291-T292 (+55% pupils 2016-2024: 5.6% a year), T338", plausible=(0.02, 0.08), ge=-0.5, le=0.5)
    special_preference_intercept: float = param(-1.7, unit="log-odds", meaning="parent prefers a special school at severity 2, average trust", source="calibrated to T065 (56% of EHCP pupils in mainstream)", plausible=(-3.5, -0.5), ge=-20.0, le=20.0)
    special_preference_severity: float = param(1.6, unit="log-odds per severity unit", meaning="more severe needs push toward special schools", source="assumption", plausible=(0.8, 2.5), ge=0.0, le=10.0)
    special_preference_trust: float = param(-2.0, unit="log-odds per unit trust", meaning="trust in mainstream keeps children in mainstream", source="assumption", plausible=(-3.0, -0.5), ge=-10.0, le=0.0)
    independent_if_full_base: float = param(0.2, unit="probability", meaning="when no state special place is free, the council itself commissions an independent place (on top of families who push: independent_if_full_advocacy)", source="assumption calibrated so independent placements grow as published (T268-T277: spending +17% a year 2020-21 to 2024-25 at +4% a year cost per pupil; T294: 7,000 pupils in 2010, 26,000 in 2024)", plausible=(0.0, 0.6), ge=0.0, le=1.0)
    special_places_build_fill_threshold: float = param(1.0, unit="fraction of places occupied", meaning="a council adds state special places in April (at special_places_growth_per_year) only when its special schools are at least this full (0 = every year whatever the demand)", source="assumption (councils plan places for forecast demand; two thirds of special schools at or over capacity in 2023-24, T297)", plausible=(0.0, 1.0), ge=0.0, le=2.0)
    mainstream_breakdown_per_year: float = param(0.2, unit="probability per year", meaning="a plan holder in mainstream whose support falls short of the need has the placement break down and a new setting named mid-phase", source="assumption calibrated so special and independent placements grow as published (T292: special-school pupils +55% 2016-2024; T298-T299: councils forecast specialist demand +4.5% a year to 2028-29)", plausible=(0.0, 0.5), ge=0.0, le=5.0)
    independent_when_places_free: float = param(0.3, unit="probability", meaning="a child who wants a special school finds no suitable state place although places are free (none meets the particular need or is within reach) and is treated as when state schools are full (independent_if_full_base, independent_if_full_advocacy)", source="assumption calibrated so independent placements grow as published (T294: 7,000 pupils in 2010, 26,000 in 2024, 14% of special-school plan holders; T291: special schools 1,495 in 2016, 1,830 in 2024, most new ones independent)", plausible=(0.0, 0.5), ge=0.0, le=1.0)
    secondary_transfer_preference_shift: float = param(1.25, unit="log-odds", meaning="added to the family's preference for a special school at the Year 6 to Year 7 phase-transfer review of a plan held in mainstream (the move to a large secondary school is when mainstream is most often judged unable to meet the need; 0 = the same preference as at any other placement)", source="calibrated to the published step in the special-school share of plan holders between ages 10 and 11 (sen2 caseload by age: 31.5% to 43.8% in January 2024, 29.8% to 42.2% in January 2025)", plausible=(0.0, 3.0), ge=-5.0, le=5.0)
    independent_if_full_advocacy: float = param(0.8, unit="probability at advocacy 1", meaning="when no state place, a family secures an independent place (else mainstream)", source="assumption", plausible=(0.4, 1.0), ge=0.0, le=1.0)
    inclusion_base_share_secondary: float = param(0.15, unit="fraction of secondaries", meaning="secondaries with an inclusion base (unit or resourced provision)", source="published [data]", ge=0.0, le=1.0)
    inclusion_base_share_primary: float = param(0.07, unit="fraction of primaries", meaning="primaries with an inclusion base", source="published [data]", ge=0.0, le=1.0)
    inclusion_base_min_severity: float = param(1.5, unit="severity units", meaning="plans in mainstream go to an inclusion base (if it has room) from this need upwards", source="assumption", plausible=(1.0, 2.2), ge=0.0, le=10.0)
    inclusion_base_places: int = param(15, unit="places", meaning="places in one inclusion base", source="assumption", plausible=(8, 25), ge=0, le=200)


class DisputesSection(Section):
    appeal_refusal_base: float = param(0.235, unit="probability at average advocacy", meaning="family appeals a refusal to assess", source="calibrated to T169/T172 (6% of appealable decisions; 24% of appeals are refusals) and sen2 2025 appeals (24 per 10,000 pupils)", plausible=(0.1, 0.4), ge=0.0, le=1.0)
    appeal_placement_base: float = param(0.36, unit="probability at average advocacy", meaning="family appeals a plan whose named placement is not their preference", source="calibrated to T168 (61% of appeals are about plan content)", plausible=(0.08, 0.4), ge=0.0, le=1.0)
    appeal_content_base: float = param(0.036, unit="probability at average advocacy", meaning="family appeals plan contents when the placement matched", source="assumption calibrated to T168, T171", plausible=(0.01, 0.06), ge=0.0, le=1.0)
    advocacy_effect: float = param(2.0, unit="log multiplier per unit advocacy", meaning="appeals rise with advocacy (lower in deprived areas)", source="published [reported]", plausible=(1.0, 3.5), ge=0.0, le=10.0)
    private_report_effect: float = param(0.7, unit="log multiplier", meaning="private reports make appeals likelier", source="assumption", plausible=(0.2, 1.2), ge=0.0, le=5.0)
    mediation_share: float = param(0.42, unit="probability", meaning="would-be appellants who go to mediation first", source="published [data]", ge=0.0, le=1.0)
    mediation_settles: float = param(0.74, unit="probability", meaning="mediations that settle (council agrees)", source="published [data]", ge=0.0, le=1.0)
    settled_before_hearing: float = param(0.25, unit="probability", meaning="appeals conceded by the council when first listed, at average representation (families also withdraw while waiting: family.withdrawal_monthly_rate)", source="assumption (tribunal statistics: about a third of appeals are conceded or withdrawn before a hearing; the model's withdrawals while waiting make up the rest)", plausible=(0.15, 0.4), ge=0.0, le=1.0)
    family_win_rate: float = param(0.99, unit="probability", meaning="decided appeals won by the family", source="T167, T178", ge=0.0, le=1.0)
    min_months_to_hearing: float = param(5.0, unit="months", meaning="earliest hearing after registration (paper hearings ~5 months)", source="published [reported]", plausible=(3.0, 8.0), ge=0.0, le=36.0)
    hearings_per_month_per_10000_pupils: float = param(2.6, unit="hearings per month per 10,000 pupils", meaning="the tribunal's capacity for this council's appeals (a share of national capacity; oral hearings wait 10-12 months when it binds)", source="assumption calibrated to T166 (open caseload ~15,000 on ~25,000 appeals a year: waits of ~7 months)", plausible=(1.8, 4.0), gt=0.0, le=100.0)
    appeal_probability_cap: float = param(0.95, unit="probability", meaning="highest chance a family appeals an appealable decision, however strong its advocacy, evidence and means (some families always accept the decision)", source="assumption", plausible=(0.8, 1.0), ge=0.0, le=1.0)
    appeal_trend_per_year: float = param(0.2, unit="fraction per year", meaning="rise in families' propensity to appeal an appealable decision up to disputes.appeal_trend_until (earlier years appeal less)", source="assumption calibrated to appeals quadrupling 2019-2025 (T182 5.8, T180, T177, T171, SEN2 2025 24 per 10,000 pupils) while refusals about doubled", plausible=(0.0, 0.3), ge=0.0, le=1.0)
    appeal_trend_until: str = param("2025-01", unit="YYYY-MM", meaning="appeal propensities reach their calibrated (2025) level at this month and are held there", source="the 2025 appeal rates the propensities are calibrated to")
    appeal_trend_anchor: str | None = param(None, unit="YYYY-MM or none", meaning="month at which the disputes.appeal_*_base propensities hold: the appeal trend scales them down before it and up after it, up to disputes.appeal_trend_until (none: they hold at appeal_trend_until). A backtest that anchors them at the month of its earliest appeals point keeps that level when a fit moves the trend", source="the month of the appeals point the propensities are dated to (backtest: T182, 2019)")

    @field_validator("appeal_trend_until")
    @classmethod
    def _trend_month(cls, value: str) -> str:
        return _year_month_value(value, "disputes.appeal_trend_until")

    @field_validator("appeal_trend_anchor")
    @classmethod
    def _anchor_month(cls, value: str | None) -> str | None:
        return None if value is None else _year_month_value(value, "disputes.appeal_trend_anchor")


class ReviewsSection(Section):
    completion_rate: float = param(0.57, unit="probability", meaning="an annual review due this month is completed (else the plan simply continues, undecided)", source="sen2:annual_reviews_national 2025 (339,027 completed of 596,987 due)", ge=0.0, le=1.0)
    cease_when_met_probability: float = param(0.1, unit="probability", meaning="plan ceases at annual review when severity is below the plan threshold (needs met)", source="calibrated to sen2:ceased_plans_national (needs met, school age: 0.049-0.055 per 1,000 pupils a year in 2023-2025, flat while plans grew) on a stock of plans the model issued: in the 2015 backtest, 0.8 ceased 0.2-0.5 per 1,000 a year as needs met from 2020, 0.1 ceases 0.03-0.16; the 2025 start stock is too severe for any value to matter in 2025 (docs/BACKTEST.md)", plausible=(0.05, 0.4), ge=0.0, le=1.0)
    plan_needs_met_severity: float = param(0.6, unit="severity units", meaning="below this, a plan's needs count as met", source="assumption", plausible=(0.4, 1.0), ge=0.0, le=5.0)
    other_cease_per_year: float = param(0.01, unit="probability per year", meaning="plans ceasing for other reasons (moves, transfers, disengagement)", source="sen2:ceased_plans_national (moved outside England, other; transfers between councils excluded: no plans move in either)", plausible=(0.0, 0.01), ge=0.0, le=1.0)
    post16_cease_probability: float = param(0.015, unit="probability", meaning="plan ceases at the Year 11 to post-16 transfer (employment, no engagement)", source="sen2:ceased_plans_national (age 16, excluding transfers: ~1.3%)", plausible=(0.005, 0.05), ge=0.0, le=1.0)
    transfer_to_special_severity: float = param(2.6, unit="severity units", meaning="at a phase-transfer review, needs above this prompt a special-school request", source="assumption", plausible=(2.0, 3.5), ge=0.0, le=10.0)


class OutcomesSection(Section):
    fsm_attainment_gap_sd: float = param(0.55, unit="sd", meaning="initial attainment gap, FSM vs others", source="T235 (43% vs 73% English and maths 4+)", plausible=(0.4, 0.7), ge=0.0, le=3.0)
    income_gradient_sd: float = param(0.08, unit="sd per quintile", meaning="attainment rises with income quintile beyond FSM", source="assumption", plausible=(0.0, 0.15), ge=0.0, le=1.0)
    severity_attainment_sd: float = param(1.9, unit="sd per unit of log(1 + severity)", meaning="lower attainment with greater need (concave: the gap between SEN support and EHCP is about half the gap to no SEN)", source="T190-T191, T214-T215 (EHCP 13%, SEN support 37% pass)", plausible=(1.2, 1.9), ge=0.0, le=5.0)
    school_effect_sd: float = param(0.1, unit="sd", meaning="school effect on attainment", source="assumption", plausible=(0.05, 0.2), ge=0.0, le=1.0)
    unmet_loss_sd_per_year: float = param(0.12, unit="sd per year per severity unit unmet", meaning="attainment lost while need is unmet", source="assumption", plausible=(0.05, 0.25), ge=0.0, le=2.0)
    matched_gain_sd_per_year: float = param(0.05, unit="sd per year", meaning="attainment gained while support matches need (EEF +4-6 months a year)", source="published [reported: EEF toolkit]", plausible=(0.05, 0.2), ge=0.0, le=2.0)
    test_noise_sd: float = param(0.45, unit="sd", meaning="noise between latent attainment and a test result", source="assumption", plausible=(0.3, 0.7), ge=0.0, le=3.0)
    ks2_threshold: float = param(-0.78, unit="sd", meaning="latent score needed for the KS2 expected standard", source="calibrated to KS2 2023/24 (61% reading, writing and maths)", ge=-5.0, le=5.0)
    ks4_threshold: float = param(-0.76, unit="sd", meaning="latent score needed for English and maths grade 4+", source="calibrated to T213-T215 (65%, 13%, 37%)", ge=-5.0, le=5.0)
    suspension_monthly_base: float = param(0.0036, unit="suspensions per pupil-month (no SEN)", meaning="base suspension rate", source="T240-T244 (7 per 100 pupils a year without SEN)", ge=0.0, le=1.0)
    suspension_need_effect: float = param(0.9, unit="log multiplier per severity unit (up to suspension_need_cap)", meaning="suspensions rise with need, then level off", source="T242-T244 (26 per 100 on SEN support)", plausible=(0.5, 1.5), ge=0.0, le=5.0)
    suspension_need_cap: float = param(1.0, unit="severity units", meaning="severity beyond which suspension risk rises no further (EHCP pupils are suspended no more than those on SEN support)", source="T242-T244 (26.7 vs 23.3 per 100)", plausible=(0.8, 2.0), ge=0.0, le=10.0)
    suspension_special_school_multiplier: float = param(0.5, unit="multiplier", meaning="special schools suspend less than mainstream", source="assumption calibrated to T244 (EHCP 23 per 100)", plausible=(0.3, 1.0), ge=0.0, le=5.0)
    suspension_unmet_effect: float = param(0.5, unit="log multiplier", meaning="unmet need raises suspension risk", source="assumption", plausible=(0.2, 1.0), ge=0.0, le=5.0)
    suspension_semh_effect: float = param(1.0, unit="log multiplier", meaning="SEMH needs raise suspension risk", source="assumption", plausible=(0.5, 1.5), ge=0.0, le=5.0)
    suspension_fsm_effect: float = param(0.7, unit="log multiplier", meaning="FSM pupils are suspended more", source="assumption", plausible=(0.3, 1.0), ge=0.0, le=5.0)
    suspension_secondary_multiplier: float = param(2.6, unit="multiplier", meaning="secondary pupils are suspended more than the average pupil", source="assumption (most suspensions are in secondary)", plausible=(1.8, 3.5), ge=0.0, le=20.0)
    suspension_primary_multiplier: float = param(0.25, unit="multiplier", meaning="primary pupils are suspended less than the average pupil", source="assumption", plausible=(0.1, 0.5), ge=0.0, le=20.0)
    exclusion_per_suspension: float = param(0.011, unit="probability", meaning="a suspension escalates to permanent exclusion", source="T240-T241 (10,900 exclusions per 955k suspensions)", ge=0.0, le=1.0)
    neet_base: float = param(0.04, unit="probability", meaning="NEET at 16-17 for a non-SEND, non-FSM pupil with English and maths 4+", source="T238 (5.2% without SEND)", ge=0.0, le=1.0)
    neet_need_effect: float = param(0.3, unit="log multiplier per unit of log(1 + severity)", meaning="NEET risk rises with the young person's need at 16 (not with the support label): better-met need that resolves lowers it", source="calibrated to T238 (9.2% with SEND vs 5.2% without)", plausible=(0.2, 0.9), ge=0.0, le=5.0)
    neet_unmet_effect: float = param(0.3, unit="log multiplier per share of need-months unmet", meaning="NEET risk rises with the share of the young person's months with need in which support fell short", source="assumption (unmet need in school predicts disengagement)", plausible=(0.0, 1.2), ge=0.0, le=5.0)
    neet_no_ks4_multiplier: float = param(1.8, unit="multiplier", meaning="NEET risk without English and maths 4+", source="assumption", plausible=(1.3, 2.5), ge=0.0, le=10.0)
    neet_fsm_multiplier: float = param(1.4, unit="multiplier", meaning="NEET risk for FSM pupils", source="assumption", plausible=(1.1, 2.0), ge=0.0, le=10.0)
    neet_probability_cap: float = param(0.9, unit="probability", meaning="highest chance a young person is NEET at 16-17, however many risk factors combine", source="assumption", plausible=(0.6, 1.0), ge=0.0, le=1.0)


class FinanceSection(Section):
    ehcp_mainstream_topup: float = param(8662.0, unit="£ per year", meaning="council top-up for an EHCP in mainstream (beyond the school's £6k)", source="T279 (Lincolnshire mean, one LA)", plausible=(6000.0, 12000.0), ge=0.0, le=100000.0)
    inclusion_base_cost: float = param(16000.0, unit="£ per year", meaning="place funding plus top-up for an inclusion-base place", source="T284 (£6k place) + assumption top-up", plausible=(12000.0, 22000.0), ge=0.0, le=100000.0)
    state_special_cost: float = param(26000.0, unit="£ per year", meaning="state special-school place with top-up", source="published [data]; T280, T283", plausible=(17000.0, 30000.0), ge=0.0, le=200000.0)
    independent_special_cost: float = param(63000.0, unit="£ per year", meaning="independent special-school place", source="T275", ge=0.0, le=300000.0)
    transport_cost: float = param(8300.0, unit="£ per transported child per year", meaning="home-to-school transport", source="published [reported]; T286-T287", ge=0.0, le=100000.0)
    transported_share: list[float] = param([0.05, 0.1, 0.6, 0.85], unit="fraction by placement", meaning="share transported: mainstream EHCP, inclusion base, state special, independent", source="assumption (T287: 180k transported)", )
    alternative_provision_cost: float = param(18000.0, unit="£ per pupil per year", meaning="a place in alternative provision (pupil referral unit) for an excluded pupil, with or without a plan, from the high-needs block", source="assumption (AP place funding of £10,000, as for special places (T283), plus a top-up)", plausible=(12000.0, 30000.0), ge=0.0, le=200000.0)
    assessment_cost: float = param(4500.0, unit="£ per assessment", meaning="cost of an EHC needs assessment (EP, admin, advice)", source="assumption", plausible=(2500.0, 7000.0), ge=0.0, le=50000.0)
    tribunal_cost: float = param(5200.0, unit="£ per appeal", meaning="council cost of defending an appeal", source="published [data: £4.3k-£6.1k]", plausible=(4300.0, 6100.0), ge=0.0, le=100000.0)
    mediation_cost: float = param(1200.0, unit="£ per mediation", meaning="council cost of a mediation", source="assumption", plausible=(600.0, 2000.0), ge=0.0, le=50000.0)
    high_needs_income_per_pupil: float = param(1200.0, unit="£ per pupil per year (2024-25: the April 2025 uplift, high_needs_income_growth, gives 2025-26)", meaning="council high-needs income for school-age provision", source="T248 (£11.9bn in 2025-26 x school-age share 0.85 / 8.1m Reception-Y11 pupils = £1,249) / 1.04", plausible=(1000.0, 1500.0), ge=0.0, le=20000.0)
    high_needs_income_growth: float = param(0.04, unit="fraction per year", meaning="annual uplift in high-needs income", source="T248-T251", plausible=(0.0, 0.08), ge=-0.5, le=0.5)
    cost_inflation: float = param(0.03, unit="fraction per year", meaning="annual rise in unit costs", source="assumption", plausible=(0.0, 0.06), ge=-0.5, le=0.5)
    opening_deficit_share: float = param(0.3, unit="fraction of annual high-needs income", meaning="cumulative deficit at the start", source="T257-T258 (£3.3-4.6bn on ~£11bn)", plausible=(0.0, 0.6), ge=0.0, le=5.0)
    gatekeeping_base: float = param(0.0, unit="gatekeeping units", meaning="council gatekeeping with no deficit", source="assumption", plausible=(-0.5, 0.5), ge=-5.0, le=5.0)
    gatekeeping_per_deficit: float = param(0.3, unit="gatekeeping units per unit deficit/income", meaning="gatekeeping tightens as the deficit grows", source="assumption (a design choice)", plausible=(0.0, 2.0), ge=0.0, le=10.0)
    gatekeeping_max: float = param(1.0, unit="gatekeeping units", meaning="gatekeeping cannot rise beyond this (statutory duties bind)", source="assumption", plausible=(0.5, 2.0), ge=0.0, le=10.0)
    gatekeeping_after_override_multiplier: float = param(1.5, unit="multiplier", meaning="gatekeeping response to deficits once they count against council reserves", source="assumption", plausible=(1.0, 2.5), ge=0.0, le=10.0)
    statutory_override_until: str = param("2028-03", unit="YYYY-MM", meaning="deficits kept off council books until", source="law (statutory override)")

    @field_validator("statutory_override_until")
    @classmethod
    def _override_month(cls, value: str) -> str:
        return _year_month_value(value, "finance.statutory_override_until")

    @field_validator("transported_share")
    @classmethod
    def _four(cls, values: list[float]) -> list[float]:
        if len(values) != 4 or any(not 0 <= v <= 1 for v in values):
            raise ValueError("needs 4 shares in [0, 1]: mainstream EHCP, inclusion base, state special, independent")
        return values


class ReformSection(Section):
    """The tiered route (docs/REFORM.md): used when run.route is "tiered"."""

    funding_start: str = param("2026-04", unit="YYYY-MM", meaning="reform funds (Inclusive Mainstream Fund, Experts at Hand, training) start", source="White Paper [proposal]")
    funding_per_pupil_imf: float = param(66.0, unit="£ per mainstream pupil per year (cash)", meaning="Inclusive Mainstream Fund to mainstream schools", source="T334 (£1.6bn over 3 years / ~8.1m pupils)", ge=0.0, le=5000.0)
    training_cost_per_pupil: float = param(8.2, unit="£ per pupil per year (cash)", meaning="SEND training for every teacher, during the training ramp", source="T336 (£200m over 3 years / ~8.1m pupils)", ge=0.0, le=1000.0)
    training_ramp_months: int = param(36, unit="months", meaning="time for training uptake to reach its maximum", source="assumption", plausible=(18, 60), ge=1, le=240)
    training_uptake: float = param(0.8, unit="fraction of staff", meaning="share of staff who complete the training", source="assumption", plausible=(0.5, 1.0), ge=0.0, le=1.0)
    training_expertise_gain: float = param(0.15, unit="expertise units at full uptake", meaning="rise in school SEN expertise from training (better identification, more need met without a plan)", source="assumption", plausible=(0.05, 0.3), ge=0.0, le=1.0)
    imf_intensity_gain: float = param(0.25, unit="severity units", meaning="extra support a mainstream school can give from the Inclusive Mainstream Fund (universal provision)", source="assumption", plausible=(0.1, 0.5), ge=0.0, le=3.0)
    targeted_plus_threshold: float = param(1.2, unit="severity units", meaning="assessed need at or above which a child is placed at Targeted Plus", source="assumption (thresholds unpublished)", plausible=(0.9, 1.6), ge=0.0, le=10.0)
    inclusion_base_package_threshold: float = param(1.3, unit="severity units", meaning="specialist package threshold: an EHCP with an inclusion-base package", source="assumption (thresholds unpublished; strict/generous scenarios). With the defaults about 2 in 5 legacy plans reviewed at a phase transfer move to ISPs, about 3 in 10 of the plans held at the switch by 2036 (the government expects about 1 in 8)", plausible=(0.9, 1.8), ge=0.0, le=10.0)
    special_school_package_threshold: float = param(2.6, unit="severity units", meaning="specialist package threshold: an EHCP with a special-school package", source="assumption (thresholds unpublished)", plausible=(2.2, 3.2), ge=0.0, le=10.0)
    assessment_noise_sd: float = param(0.2, unit="severity units", meaning="error of a specialist assessment against the thresholds", source="assumption", plausible=(0.05, 0.4), ge=0.0, le=3.0)
    school_referral_monthly_rate: float = param(0.03, unit="probability per month", meaning="school refers a child above the package threshold for specialist assessment", source="assumption", plausible=(0.01, 0.08), ge=0.0, le=1.0)
    family_pressure_strength: float = param(0.6, unit="multiplier on the EHCP route's advocacy effect", meaning="how much family resources still drive specialist assessment requests (never silently zero)", source="assumption (a key parameter)", plausible=(0.2, 1.0), gt=0.0, le=3.0)
    family_pressure_scale: float = param(0.6, unit="multiplier on parent request rates", meaning="families pressing for specialist assessment, relative to today's parent requests", source="assumption", plausible=(0.3, 1.0), ge=0.0, le=3.0)
    complaint_monthly_rate: float = param(0.01, unit="probability per month at average advocacy", meaning="a family complains that Targeted support falls short (no tribunal)", source="assumption", plausible=(0.0, 0.03), ge=0.0, le=1.0)
    complaint_upheld: float = param(0.5, unit="probability", meaning="a complaint moves the child up to Targeted Plus", source="assumption", plausible=(0.2, 0.8), ge=0.0, le=1.0)
    specialist_appeal_narrowing: float = param(0.5, unit="multiplier", meaning="appeals are narrower (no naming of a school), so fewer families appeal", source="assumption (White Paper [proposal])", plausible=(0.2, 1.0), ge=0.0, le=1.0)
    isp_review_months: int = param(12, unit="months", meaning="an ISP is reviewed yearly (escalation or de-escalation)", source="White Paper [proposal]", ge=1, le=36)
    experts_days_primary: float = param(40.0, unit="days per school per year", meaning="Experts at Hand target for a primary by April 2029", source="White Paper [proposal]", ge=0.0, le=1000.0)
    experts_days_secondary: float = param(160.0, unit="days per school per year", meaning="Experts at Hand target for a secondary by April 2029", source="White Paper [proposal]", ge=0.0, le=2000.0)
    experts_target_date: str = param("2029-04", unit="YYYY-MM", meaning="Experts at Hand reach target capacity", source="White Paper [proposal]")
    experts_hiring_lag_months: int = param(6, unit="months", meaning="delay between funding and staff in post", source="assumption", plausible=(0, 18), ge=0, le=60)
    experts_vacancy_rate: float = param(0.2, unit="fraction of posts", meaning="Experts at Hand posts unfilled (EP and SLT shortages)", source="assumption (T301, T304: 25% SLT vacancies)", plausible=(0.05, 0.4), ge=0.0, le=1.0)
    experts_capacity_multiplier: float = param(1.0, unit="multiplier", meaning="scales delivered Experts at Hand capacity (0.5 = workforce shortfall scenario)", source="assumption", plausible=(0.5, 1.2), ge=0.0, le=5.0)
    experts_days_per_child: float = param(3.0, unit="days per child per year", meaning="Experts at Hand time one Targeted Plus child needs", source="assumption", plausible=(2.0, 6.0), gt=0.0, le=100.0)
    experts_intensity_gain: float = param(0.7, unit="severity units", meaning="extra support a child gets from Experts at Hand input", source="assumption (EEF: +4-6 months a year for targeted interventions)", plausible=(0.3, 1.0), ge=0.0, le=5.0)
    experts_cost_per_day: float = param(490.0, unit="£ per day", meaning="cost of an Experts at Hand day (funded capacity)", source="T335 (£1.8bn over 3 years / ~1.2m target days a year)", ge=0.0, le=10000.0)
    school_group_size: int = param(10, unit="schools", meaning="schools per group sharing Experts at Hand and commissioning", source="published [reported: 8-14]", ge=1, le=100)
    inclusion_base_secondary_target: float = param(1.0, unit="fraction of secondaries", meaning="secondaries with an inclusion base once rolled out ('every secondary in time')", source="White Paper [proposal]", ge=0.0, le=1.0)
    inclusion_base_primary_target: float = param(0.2, unit="fraction of primaries", meaning="primaries with an inclusion base once rolled out", source="assumption", plausible=(0.07, 0.5), ge=0.0, le=1.0)
    inclusion_base_rollout_start: str = param("2026-09", unit="YYYY-MM", meaning="first September new inclusion bases open", source="assumption (capital from 2025-26, T337)")
    inclusion_base_rollout_years: int = param(5, unit="years", meaning="years to reach the inclusion-base targets (fast 3, slow 8)", source="assumption", plausible=(3, 8), ge=1, le=30)
    inclusion_base_capital_per_place: float = param(60000.0, unit="£ per place (2025 prices)", meaning="capital cost of a new inclusion-base place, booked when the base opens", source="T337-T338 (£3bn for 50,000 new SEND places)", plausible=(30000.0, 90000.0), ge=0.0, le=1000000.0)
    targeted_plus_base_cost: float = param(3000.0, unit="£ per child per year", meaning="inclusion-base time for a Targeted Plus child", source="assumption (a share of T284's £6k place funding)", plausible=(1500.0, 6000.0), ge=0.0, le=50000.0)
    targeted_plus_base_gain: float = param(0.3, unit="severity units", meaning="extra support from inclusion-base time for Targeted Plus children in a school with a base", source="assumption", plausible=(0.1, 0.6), ge=0.0, le=3.0)
    imf_ramp_months: int = param(12, unit="months", meaning="months from funding start for Inclusive Mainstream Fund provision to reach full strength", source="assumption", plausible=(6, 24), ge=0, le=60)


    @field_validator("funding_start", "experts_target_date", "inclusion_base_rollout_start")
    @classmethod
    def _reform_month(cls, value: str, info) -> str:
        return _year_month_value(value, f"reform.{info.field_name}")


class TransitionSection(Section):
    """Dual running and the switch (docs/REFORM.md), every date configurable."""

    legal_switch: str = param("2029-09", unit="YYYY-MM", meaning="the tiered route starts: no new requests under the old rules", source="White Paper [proposal]")
    legacy_review_from: str = param("2029-09", unit="YYYY-MM", meaning="legacy EHCPs reassessed at the next phase transfer from", source="White Paper [proposal]")
    no_change_before: str = param("2030-09", unit="YYYY-MM", meaning="nobody's existing support changes before", source="White Paper [proposal]")
    protect_special_school_pupils: bool = param(True, unit="switch", meaning="children in special schools keep their plans", source="White Paper [proposal]")
    protect_older_pupils: bool = param(True, unit="switch", meaning="pupils in secondary at the switch keep their plans to 16", source="White Paper [proposal]")
    anticipation_multiplier: float = param(1.0, unit="multiplier", meaning="surge in EHC requests between announcement and switch (1 = none; reform scenarios set it)", source="published [reported: up to a third more]", ge=0.0, le=5.0)
    anticipation_from: str = param("2026-03", unit="YYYY-MM", meaning="first month of the anticipation surge", source="assumption (after the White Paper)")
    anticipation_to: str = param("2029-08", unit="YYYY-MM", meaning="last month of the anticipation surge", source="assumption (before the switch)")


    @field_validator("legal_switch", "legacy_review_from", "no_change_before", "anticipation_from", "anticipation_to")
    @classmethod
    def _transition_month(cls, value: str, info) -> str:
        return _year_month_value(value, f"transition.{info.field_name}")


class MetricsSection(Section):
    small_cell_threshold: int = param(10, unit="children", meaning="cells with fewer children are suppressed in reports", source="convention (ONS-style disclosure control)", ge=0, le=1000)


class FamilySection(Section):
    """Family resources at every stage of the process: money to spend and the channels it buys.

    Each family has a budget it can put toward its child's special educational needs over the
    child's school life (private reports, representation at tribunal, tutoring or therapy); what
    it buys changes requests, decisions, appeals and attainment. Advocacy (knowledge, time,
    confidence) is drawn in `population`; these are the money channels and the advocacy channels
    beyond requests and appeals. Setting the budgets equal across quintiles and advocacy flat
    (configs/no_family_resources.yaml) removes the family-resource gradient.
    """

    budget_median_lowest_quintile: float = param(200.0, unit="£ per family over the child's school life", meaning="median money a family in income quintile 1 can spend on its child's SEND (reports, representation, tutoring)", source="assumption (few low-income families can pay for a private EP report, reported at £800-£2,000)", plausible=(0.0, 800.0), ge=0.0, le=100_000.0)
    budget_median_highest_quintile: float = param(4000.0, unit="£ per family over the child's school life", meaning="median money a family in income quintile 5 can spend on its child's SEND", source="assumption (a private report and some tutoring or representation)", plausible=(1500.0, 10_000.0), ge=0.0, le=100_000.0)
    budget_shape: float = param(1.5, unit="log-logistic shape", meaning="spread of family budgets within a quintile (higher = tighter around the median)", source="assumption", plausible=(1.0, 3.0), gt=0.0, le=20.0)
    private_report_cost: float = param(1400.0, unit="£ per report", meaning="price of a private educational psychologist or clinical report", source="assumption (reported: £800-£2,000 in parent surveys and practitioner fee lists; not official data)", plausible=(800.0, 2000.0), ge=0.0, le=20_000.0)
    report_purchase_at_full_advocacy: float = param(0.7, unit="probability at advocacy 1", meaning="a parent making a request buys a private report first, if the budget allows (scaled by advocacy)", source="assumption", plausible=(0.3, 1.0), ge=0.0, le=1.0)
    representation_cost: float = param(3000.0, unit="£ per appeal", meaning="cost of representation and expert evidence for a tribunal appeal", source="assumption (reported: a solicitor or advocate plus expert reports, about £1,000-£8,000; not official data; free advice services exist)", plausible=(1000.0, 8000.0), ge=0.0, le=100_000.0)
    representation_at_full_advocacy: float = param(0.8, unit="probability at advocacy 1", meaning="an appealing family pays for representation and expert evidence, if the budget allows (scaled by advocacy)", source="assumption", plausible=(0.4, 1.0), ge=0.0, le=1.0)
    representation_appeal_effect: float = param(0.5, unit="log multiplier", meaning="families who can afford representation appeal an appealable decision more often", source="assumption", plausible=(0.0, 1.0), ge=0.0, le=5.0)
    representation_concession_effect: float = param(0.8, unit="log-odds", meaning="councils concede appeals backed by representation and expert evidence more often before the hearing", source="assumption", plausible=(0.0, 1.5), ge=0.0, le=5.0)
    representation_win_effect: float = param(1.0, unit="log-odds", meaning="a represented family wins a decided appeal more often (unrepresented families lose some decided appeals)", source="assumption (T167: 99% of decided appeals at least partly upheld overall)", plausible=(0.0, 2.0), ge=0.0, le=5.0)
    withdrawal_monthly_rate: float = param(0.04, unit="probability per month at average advocacy, unrepresented", meaning="a family withdraws its appeal while waiting for the hearing (cannot afford to wait: time, money, the child's schooling meanwhile)", source="assumption (tribunal statistics count withdrawn and conceded appeals together)", plausible=(0.0, 0.08), ge=0.0, le=1.0)
    withdrawal_advocacy_effect: float = param(2.0, unit="log multiplier per unit advocacy", meaning="families with more advocacy withdraw less while waiting", source="assumption", plausible=(0.5, 3.0), ge=0.0, le=10.0)
    withdrawal_represented_multiplier: float = param(0.3, unit="multiplier", meaning="represented families withdraw less while waiting", source="assumption", plausible=(0.1, 1.0), ge=0.0, le=1.0)
    special_preference_advocacy: float = param(1.0, unit="log-odds per unit advocacy", meaning="families who know the system state a preference for a special school more often at the same need", source="assumption (reported: independent and special placements skew to better-off families)", plausible=(0.0, 2.0), ge=0.0, le=5.0)
    content_challenge_gain: float = param(0.3, unit="severity units", meaning="extra provision a plan delivers after the family successfully challenges its contents (appeal or amendment at review)", source="assumption", plausible=(0.1, 0.6), ge=0.0, le=3.0)
    tutoring_cost_per_month: float = param(120.0, unit="£ per month", meaning="private tutoring or therapy while the child's need is unmet (about an hour a week)", source="assumption (market rates £25-£40 an hour)", plausible=(80.0, 250.0), ge=0.0, le=5000.0)
    tutoring_at_full_advocacy: float = param(0.5, unit="probability per month at advocacy 1", meaning="a family whose child's need is unmet pays for tutoring or therapy this month, if the budget allows (scaled by advocacy)", source="assumption", plausible=(0.2, 0.9), ge=0.0, le=1.0)
    tutoring_gain_sd_per_year: float = param(0.1, unit="sd per year of tutoring", meaning="attainment gained from private tutoring or therapy beyond school support", source="assumption (EEF toolkit: one-to-one tuition +5 months a year, in a year of school ~0.3 sd; an hour a week is a fraction of that)", plausible=(0.03, 0.2), ge=0.0, le=2.0)
    suspension_challenge_effect: float = param(0.5, unit="log multiplier per unit advocacy", meaning="schools suspend children of families who challenge (more advocacy) less often at the same need", source="assumption", plausible=(0.0, 1.0), ge=0.0, le=5.0)
    council_transport_share: float = param(0.8, unit="probability", meaning="the council provides home-to-school transport to a named special or independent placement (children with plans beyond walking distance are usually eligible; eligibility disputes and unsuitable journeys leave the rest to their families)", source="assumption (law: free transport for eligible children; reported: refusals and long journeys; no official share)", plausible=(0.6, 0.95), ge=0.0, le=1.0)
    travel_decline_without_transport: float = param(0.4, unit="probability at advocacy 0", meaning="a family without council transport cannot get its child to a distant special or independent placement (no car, working hours, other children) and takes the mainstream place instead; scaled by (1 - advocacy), so families with time and means manage", source="assumption", plausible=(0.0, 0.8), ge=0.0, le=1.0)


class ReportSection(Section):
    """How reports present money and scale (no effect on the simulation itself)."""

    price_base: Literal["cash", "real_2025_26"] = param("cash", unit="name", meaning="money in reports: cash (the year's own prices) or real terms in 2025-26 prices, deflated by report.deflator_growth", source="convention")
    deflator_growth: float = param(0.02, unit="fraction per year", meaning="general inflation used to turn cash into 2025-26 prices (GDP deflator)", source="assumption (the 2% inflation target; official GDP deflator forecasts are close to 2% a year)", plausible=(0.015, 0.035), ge=-0.1, le=0.2)
    target_relative_precision: float = param(0.1, unit="fraction of the change", meaning="the 95% half-width wanted for a headline change (unmet need, the FSM gap), as a share of its size: reports recommend the replicates that reach it", source="convention", gt=0.0, le=1.0)
    relative_change_min_share: float = param(0.05, unit="fraction of the whole", meaning="relative changes are not shown for a row whose baseline is below this share of the whole (all children, or total spending): a percentage of a tiny base misleads", source="convention", ge=0.0, le=1.0)
    england_pupils: int = param(8_100_000, unit="pupils", meaning="pupils in Reception to Year 11 in England (the model's pupil count), to scale a sample run's money and counts to England", source="T334, T336 (the per-pupil reform funding divides by ~8.1m Reception-Year 11 pupils)", ge=1, le=20_000_000)


class ScenarioConfig(Section):
    """A whole scenario. Load with `sim.config.load_config` (handles `extends:`)."""

    name: str = param("baseline", unit="text", meaning="scenario name", source="convention")
    description: str = param("", unit="text", meaning="what this scenario represents", source="convention")
    run: RunSection = RunSection()
    population: PopulationSection = PopulationSection()
    census: CensusSection = CensusSection()
    needs: NeedsSection = NeedsSection()
    identification: IdentificationSection = IdentificationSection()
    sen_support: SenSupportSection = SenSupportSection()
    requests: RequestsSection = RequestsSection()
    decision: DecisionSection = DecisionSection()
    assessment: AssessmentSection = AssessmentSection()
    placement: PlacementSection = PlacementSection()
    disputes: DisputesSection = DisputesSection()
    reviews: ReviewsSection = ReviewsSection()
    outcomes: OutcomesSection = OutcomesSection()
    finance: FinanceSection = FinanceSection()
    reform: ReformSection = ReformSection()
    transition: TransitionSection = TransitionSection()
    metrics: MetricsSection = MetricsSection()
    family: FamilySection = FamilySection()
    report: ReportSection = ReportSection()
