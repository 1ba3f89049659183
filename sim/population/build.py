"""Build synthetic councils: schools, families and children initialised to the start census.

Every child who will ever be on roll during the run is created here (future Reception cohorts
included), because a child's family and latent need do not depend on policy: building them up
front makes a baseline and a reform share exactly the same children. Rows are ordered by the
year the child entered Reception so the children on roll form one contiguous slice.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.special import expit

from sim.config.council_table import council_profiles, simulated_councils
from sim.config.schema import NEED_TYPES, ScenarioConfig
from sim.population.institutions import INDEPENDENT, PRIMARY, SECONDARY, SPECIAL, CouncilTable, SchoolTable
from sim.population.need_draw import need_type_from_uniform, relative_type_severity
from sim.population.network import cohort_small_world_ties
from sim.population.school_groups import assign_school_groups
from sim.population.state import (
    ASSESSING,
    EHCP,
    INCLUSION_BASE,
    INDEPENDENT_SPECIAL,
    MAINSTREAM,
    NEVER,
    NONE,
    SEN_SUPPORT,
    STATE_SPECIAL,
    ChildArrays,
)
from sim.population.year_groups import (
    CENSUS_YEAR_GROUPS,
    PRIMARY_YEAR_GROUPS,
    RECEPTION,
    SECONDARY_YEAR_GROUPS,
    YEAR_7,
    YEAR_11,
    YEAR_13,
    YEAR_GROUPS,
)
from sim.random_streams import RandomStreams, child_key
from sim.timeline import Timeline

SPECIAL_SCHOOL_PLACES = 120  # places per state special school (layout only; capacity is per council)
LATE_TYPES = (NEED_TYPES.index("ASD"), NEED_TYPES.index("SEMH"))
ONSET_MONTHS_BEFORE_CENSUS = 4  # September entry to the January census


@dataclass
class Population:
    children: ChildArrays
    schools: SchoolTable
    councils: CouncilTable


def _logit(p: np.ndarray | float) -> np.ndarray | float:
    return np.log(p / (1 - p))


def build_population(config: ScenarioConfig, streams: RandomStreams, timeline: Timeline) -> Population:
    """All councils' schools and children, assembled in entry-year order.

    Every council has the same entry cohorts, each of its own fixed size, so the state in
    entry-year order (then council, then the council's own order) is a matrix of entry years by
    the councils' cohorts side by side: each council's column of the matrix is one strided copy of
    its part, with no sort and no gather. A council's part is let go as soon as it is copied, so
    the state is held about once (plus one council) at the build's peak.
    """
    pop = config.population
    profiles = None if pop.council_table is None else council_profiles(pop.council_table)
    # each council's id across runs (its table row): its random streams and child keys follow it
    global_ids = simulated_councils(pop)["row"].to_numpy()
    council_profile = [None if profiles is None else profiles.iloc[int(g)].to_dict() for g in global_ids]
    n_years = len(_entry_years(timeline))
    # where each council's cohorts sit in a row of the matrix
    bounds = np.cumsum([0, *(_census_pupils(pop, profile) // CENSUS_YEAR_GROUPS for profile in council_profile)])
    width = int(bounds[-1])
    row_of_cohort = np.arange(n_years, dtype=np.int64)[:, None, None] * width
    columns: dict[str, np.ndarray] = {}
    school_parts, council_parts = [], []
    school_offset = 0
    for council in range(pop.councils):
        kids, schools, table = _build_council(config, streams, timeline, council, council_profile[council], int(global_ids[council]))
        lo, hi = int(bounds[council]), int(bounds[council + 1])
        for name in ("school", "home_school"):
            kids[name] += school_offset
        # a tie is to a row of the child's own cohort (its position there): to the state's row
        local = kids["ties"].reshape(n_years, hi - lo, pop.family_ties)
        kids["ties"] = np.where(local >= 0, local + (row_of_cohort + lo), -1).astype(np.int32).reshape(kids["ties"].shape)
        schools.feeder[schools.feeder >= 0] += school_offset
        school_offset += len(schools)
        for name in list(kids):
            part = kids.pop(name)
            if name not in columns:
                columns[name] = np.empty((n_years * width, *part.shape[1:]), dtype=part.dtype)
            matrix = columns[name].reshape(n_years, width, *part.shape[1:])
            matrix[:, lo:hi] = part.reshape(n_years, hi - lo, *part.shape[1:])
        school_parts.append(schools)
        council_parts.append(table)
    schools = SchoolTable.concat(school_parts)
    children = ChildArrays(**columns)
    # school groups exist from the start (the tiered route runs Targeted Plus through them)
    schools.group[:] = assign_school_groups(schools, config.reform.school_group_size)
    return Population(children, schools, CouncilTable.concat(council_parts))


def _entry_years(timeline: Timeline) -> list[int]:
    """Years of Reception entry of every cohort the run holds: those on roll at the start census
    (Reception in September start_year-1 back to Year 13), then one a year to the run's end."""
    start_year = timeline.start_year
    end_year = timeline.calendar(timeline.n_months - 1)[0]
    return list(range(start_year - YEAR_GROUPS, start_year)) + list(range(start_year, end_year + 1))


def _census_pupils(pop, profile: dict | None) -> int:
    """A council's Reception-Year 11 pupils at the start: its own (council table) or a typical
    council's, times population.scale, and never fewer than four a year group."""
    pupils = pop.pupils_per_council if profile is None else profile["pupils"]
    return max(CENSUS_YEAR_GROUPS * 4, int(round(pupils * pop.scale)))


def _build_council(config: ScenarioConfig, streams: RandomStreams, timeline: Timeline, council: int, profile: dict | None = None,
                   global_council: int | None = None):
    """One council; `profile` (from the council table) sets its size and its differences from England.

    Each entry cohort draws from its own stream (council, entry year), so a child's family and
    need do not depend on how many later cohorts the run's horizon includes: runs with different
    end dates share every child they have in common (common random numbers across horizons).
    Its children's `ties` are to rows of their own cohort (0 = the cohort's first child).
    """
    pop = config.population
    global_council = pop.first_council + council if global_council is None else global_council
    start_year = timeline.start_year
    n_pupils = _census_pupils(pop, profile)
    cohort_size = n_pupils // CENSUS_YEAR_GROUPS
    schools = _build_schools(config, streams.generator("schools", global_council), council, n_pupils)
    entry_years = _entry_years(timeline)
    # deprivation: the council's FSM log-odds differ from England's by its deprivation index
    deprivation = 0.0 if profile is None else float(profile["deprivation_index"])
    fsm_share = float(expit(_logit(pop.fsm_share) + deprivation)) if 0.0 < pop.fsm_share < 1.0 else pop.fsm_share
    columns = _draw_cohorts(config, [streams.generator("cohort", global_council, year) for year in entry_years], schools,
                            cohort_size, entry_years, start_year, fsm_share)
    n = len(columns["entry_year"])
    columns["council"] = np.full(n, council, dtype=np.int16)
    columns["key"] = child_key(np.full(n, global_council, dtype=np.int64), np.arange(n, dtype=np.int64))
    # families know families in their child's class: same primary school and entry year, each
    # cohort with its own stream, so blocks of councils and runs with other horizons contain
    # exactly the same ties for the children they share
    primary = columns.pop("primary")
    columns["ties"] = cohort_small_world_ties(primary, cohort_size, pop.family_ties, pop.family_tie_rewiring,
                                              [streams.generator("family-network", global_council, year) for year in entry_years])
    initial = columns["entry_year"] < start_year
    columns.update(_empty_support_columns(n))
    ehcp_scale = 1.0 if profile is None else float(profile["ehcp_index"])
    special_scale = 1.0 if profile is None else float(profile.get("special_places_index", 1.0))
    _initialise_census(config, streams.generator("census", global_council), columns, schools, initial, cohort_size,
                       ehcp_scale, special_scale)
    _initialise_preschool_plans(config, streams, global_council, columns, schools, initial, cohort_size, start_year)
    _initialise_early_years_support(config, streams, global_council, columns, initial, cohort_size, start_year)
    _initialise_in_flight_assessments(config, streams.generator("in-flight", global_council), columns, initial)
    table = _build_council_table(config, n_pupils, profile, global_council)
    return columns, schools, table


def _draw_cohorts(config: ScenarioConfig, rngs: list[np.random.Generator], schools: SchoolTable, size: int, entries: list[int],
                  start_year: int, fsm_share: float) -> dict:
    """Families, latent need and attainment of a council's entry cohorts (`entries`, `size`
    children each), each cohort drawing from its own stream (`rngs`, one an entry year).

    `fsm_share` is the council's; income quintiles, need prevalence by FSM status and the attainment
    scale stay England's, so a more deprived council has more quintile-1 families, more need and
    lower attainment rather than a rescaled version of England.

    Why the cohorts together: a cohort takes its draws from its stream in one fixed order, but
    what lies between them (the FSM calibration to the schools drawn, the income quintile that
    sets advocacy, every transform of the draws) is the same arithmetic for every child, so it
    is done once for the council's children, between passes over the cohorts' streams, rather
    than once a cohort (England has 153 councils of 26 or so cohorts each).
    """
    pop, out = config.population, config.outcomes
    entry_year = np.repeat(np.asarray(entries, dtype=np.int16), size)
    initial = entry_year < start_year
    year_group = np.where(initial, (start_year - 1) - entry_year, -1).astype(np.int8)
    primaries = np.flatnonzero(schools.phase == PRIMARY)
    weights = schools.roll_weight[primaries] / schools.roll_weight[primaries].sum()
    # each cohort's stream: its families' schools, then the FSM draw
    first = [(rng.choice(len(primaries), size=size, p=weights), rng.random(size)) for rng in rngs]
    chosen = np.concatenate([school for school, _ in first])
    primary = primaries[chosen]
    secondary = schools.feeder[primary]
    # family resources
    logits = _calibrated_logits(fsm_share, schools.fsm_effect[primaries], chosen.reshape(len(rngs), size))
    fsm = np.concatenate([draw for _, draw in first]) < expit(logits)
    # then the income quintile's draws
    quintile = np.where(fsm, *_income_quintile_draws(rngs, size, pop.fsm_share, pop.fsm_in_lowest_quintile))
    step = (quintile - 1) / 4
    advocacy_mean = pop.advocacy_mean_lowest_quintile + step * (pop.advocacy_mean_highest_quintile - pop.advocacy_mean_lowest_quintile)
    k = pop.advocacy_concentration
    # then advocacy, the budget's draw, trust, the need's draws and attainment's
    advocacy = _beta_by_mean(rngs, advocacy_mean, k, size).astype(np.float32)
    budget = _family_budget(config, quintile, np.concatenate([rng.random(size) for rng in rngs]))
    trust = _beta_by_mean(rngs, pop.trust_in_mainstream_mean, pop.trust_concentration, size).astype(np.float32)
    rest = [(_need_draws(config, rng, size), rng.standard_normal(size)) for rng in rngs]
    need_draws = {name: np.concatenate([draws[0][name] for draws in rest]) for name in rest[0][0]}
    need_type, severity, onset_month = _needs_from_draws(config, need_draws, fsm, entry_year, start_year, initial, year_group)
    attainment = (
        np.concatenate([draws[1] for draws in rest])
        - out.fsm_attainment_gap_sd * fsm
        + out.income_gradient_sd * (quintile - 3)
        + schools.attainment_effect[primary]
        + out.fsm_attainment_gap_sd * pop.fsm_share  # centre the population near 0
    )
    home = np.where(year_group >= YEAR_7, secondary, primary).astype(np.int32)
    return {
        "entry_year": entry_year,
        "year_group": year_group,
        "school": home.copy(),
        "home_school": home,
        "fsm": fsm,
        "income_quintile": quintile.astype(np.int8),
        "advocacy": advocacy,
        "private_report": np.zeros(len(fsm), dtype=bool),
        "family_budget": budget.astype(np.float32),
        "trust": trust,
        "need_type": need_type.astype(np.int8),
        "severity": severity.astype(np.float32),
        "onset_month": onset_month.astype(np.int16),
        "onset_severity": severity.astype(np.float32),
        "attainment": attainment.astype(np.float32),
        "primary": primary.astype(np.int64),  # the school community of its family ties (not a state column)
    }


def _beta_by_mean(rngs: list[np.random.Generator], mean, concentration: float, size: int) -> np.ndarray:
    """Beta draws parametrised by their mean and concentration: `size` from each of `rngs` in
    turn (`mean`: one value, or one a draw).

    Why: a mean of exactly 0 or 1 is an allowed value of the schema (nobody, or everybody) but
    leaves the beta distribution undefined; it is the point mass at that mean. Those values still
    take one draw each, so every other random draw is the same as for any interior mean.
    """
    mean = np.asarray(mean, dtype=float)
    degenerate = (mean <= 0.0) | (mean >= 1.0)
    interior = np.where(degenerate, 0.5, mean)
    a, b = interior * concentration, (1 - interior) * concentration
    if mean.ndim:
        draws = np.concatenate([rng.beta(a[i * size:(i + 1) * size], b[i * size:(i + 1) * size]) for i, rng in enumerate(rngs)])
    else:
        draws = np.concatenate([rng.beta(a, b, size) for rng in rngs])
    return np.where(degenerate, np.clip(mean, 0.0, 1.0), draws)


def _build_schools(config: ScenarioConfig, rng: np.random.Generator, council: int, n_pupils: int) -> SchoolTable:
    pop = config.population
    plc = config.placement
    n_primary = max(1, int(round(n_pupils * PRIMARY_YEAR_GROUPS / CENSUS_YEAR_GROUPS / pop.primary_school_size)))
    n_secondary = max(1, int(round(n_pupils * SECONDARY_YEAR_GROUPS / CENSUS_YEAR_GROUPS / pop.secondary_school_size)))
    places = n_pupils / 1000 * plc.special_places_per_1000_pupils
    n_special = max(1, int(round(places / SPECIAL_SCHOOL_PLACES)))
    phase = np.concatenate([
        np.full(n_primary, PRIMARY), np.full(n_secondary, SECONDARY), np.full(n_special, SPECIAL), [INDEPENDENT]
    ]).astype(np.int8)
    m = len(phase)
    sigma = np.sqrt(np.log(1 + pop.school_size_spread**2))
    roll_weight = rng.lognormal(-sigma**2 / 2, sigma, m)
    fsm_effect = rng.normal(0.0, pop.fsm_segregation, m)
    inclusiveness = rng.lognormal(0.0, config.identification.school_inclusiveness_sd, m)
    e = config.sen_support.expertise_mean
    expertise = _beta_by_mean([rng], e, config.sen_support.expertise_concentration, m)
    expertise[phase >= SPECIAL] = 1.0
    attainment_effect = rng.normal(0.0, config.outcomes.school_effect_sd, m)
    base_places = np.zeros(m, dtype=np.int32)
    for ph, share in ((PRIMARY, plc.inclusion_base_share_primary), (SECONDARY, plc.inclusion_base_share_secondary)):
        idx = np.flatnonzero(phase == ph)
        chosen = idx[rng.random(len(idx)) < share]
        base_places[chosen] = plc.inclusion_base_places
    # each primary feeds the secondary closest in social mix (with noise): keeps FSM clustering
    secondaries = np.flatnonzero(phase == SECONDARY)
    feeder = np.full(m, -1, dtype=np.int32)
    primaries = np.flatnonzero(phase == PRIMARY)
    order_p = primaries[np.argsort(fsm_effect[primaries] + rng.normal(0, pop.feeder_mix_noise_sd, len(primaries)))]
    order_s = secondaries[np.argsort(fsm_effect[secondaries])]
    feeder[order_p] = order_s[np.minimum(np.arange(len(order_p)) * len(order_s) // len(order_p), len(order_s) - 1)]
    for s in secondaries:  # a secondary's social mix is its feeders'
        fed = feeder == s
        if fed.any():
            fsm_effect[s] = fsm_effect[fed].mean()
    return SchoolTable(
        council=np.full(m, council, dtype=np.int16),
        phase=phase,
        roll_weight=roll_weight,
        fsm_effect=fsm_effect,
        inclusiveness=inclusiveness,
        expertise=expertise,
        attainment_effect=attainment_effect,
        base_places=base_places,
        feeder=feeder,
        group=np.full(m, -1, dtype=np.int32),
        sen_budget=np.zeros(m),
        sen_spend=np.zeros(m),
        central_sen_funding=np.zeros(m),
        budget_pressure=np.zeros(m),
        fsm_share=np.zeros(m),
    )


def _calibrated_logits(share: float, effects: np.ndarray, school: np.ndarray) -> np.ndarray:
    """Logits, one per child of each cohort (a row of `school`: each child's index into the
    schools' `effects`), whose mean probability over the cohort's children equals `share` once
    each child's school effect is added: for each cohort, 50 halvings of a bisection, each asking
    whether the cohort's mean probability is above `share`. Rows of the result follow the cohorts.

    Why two means: a halving is decided by the cohort's mean, taken over every child. Most are
    decided far from `share`, and there the mean of a few dozen schools' probabilities weighted
    by their children (one term a school) answers the same: the two means differ by rounding
    alone, at most (terms summed) x machine epsilon, as no probability exceeds 1. Only a halving
    closer to `share` than that bound takes the mean over every child, so the logits are
    exactly the ones the mean over every child gives. The cohorts' bisections run side by side.
    """
    cohorts, size = school.shape
    slots = school + np.arange(cohorts)[:, None] * len(effects)
    weight = np.bincount(slots.ravel(), minlength=cohorts * len(effects)).reshape(cohorts, len(effects)) / size
    rounding = (len(effects) + size) * np.finfo(np.float64).eps
    lo, hi = np.full(cohorts, -10.0), np.full(cohorts, 10.0)
    for _ in range(50):
        mid = (lo + hi) / 2
        p = expit(mid[:, None] + effects)
        mean = (weight * p).sum(axis=1)
        near = np.abs(mean - share) <= rounding
        if near.any():
            mean[near] = np.take_along_axis(p[near], school[near], axis=1).mean(axis=1)
        above = mean > share
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return (((lo + hi) / 2)[:, None] + effects[school]).ravel()


def _family_budget(config: ScenarioConfig, quintile: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Money a family can spend on its child's SEND: log-logistic (an income-like distribution with
    a closed-form quantile) around a median that rises geometrically from quintile 1 to 5."""
    fam = config.family
    step = (quintile - 1) / 4
    low, high = max(fam.budget_median_lowest_quintile, 1.0), max(fam.budget_median_highest_quintile, 1.0)
    median = low * (high / low) ** step
    if fam.budget_median_lowest_quintile == 0 and fam.budget_median_highest_quintile == 0:
        return np.zeros(len(u))
    u = np.clip(u, 1e-9, 1 - 1e-9)
    return median * (u / (1 - u)) ** (1 / fam.budget_shape)


def _income_quintile_draws(rngs: list[np.random.Generator], size: int, share: float, fsm_in_q1: float) -> tuple[np.ndarray, np.ndarray]:
    """Each family's income quintile if it is eligible for FSM, and if it is not (the caller keeps
    the one that applies), `size` families from each of `rngs` in turn: FSM families sit in
    quintiles 1-2; others fill the quintiles so each holds ~20% of England (`share` is England's
    FSM share: quintiles are national, so a deprived council has more in quintile 1)."""
    target = np.full(5, 0.2)
    target[0] -= share * fsm_in_q1
    target[1] -= share * (1 - fsm_in_q1)
    target = np.clip(target, 0.005, None)
    p = target / target.sum()
    draws = [(np.where(rng.random(size) < fsm_in_q1, 1, 2), rng.choice(5, size=size, p=p) + 1) for rng in rngs]
    return np.concatenate([fsm_q for fsm_q, _ in draws]), np.concatenate([other_q for _, other_q in draws])


def _need_draws(config, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """A cohort's draws for its latent need (`_needs_from_draws`), in its stream's order."""
    shape = config.needs.severity_shape
    return {
        "has_need": rng.random(n),
        "type": rng.random(n),
        "raw_severity": rng.gamma(shape, config.needs.severity_mean / shape, n),
        "later": rng.random(n),
        "onset": rng.random(n),
    }


def _needs_from_draws(config, draws: dict[str, np.ndarray], fsm, entry_year, start_year, initial, year_group):
    """Latent need: more common and more severe among FSM children; type mix tilts by deprivation."""
    needs = config.needs
    census = config.census
    n = len(fsm)
    # prevalence: odds ratio between FSM and others, overall share = latent_need_share
    p_fsm_share = config.population.fsm_share
    base = census.latent_need_share
    odds_other = _solve_other_odds(base, p_fsm_share, needs.fsm_need_odds_ratio)
    p_other = odds_other / (1 + odds_other)
    p_fsm = odds_other * needs.fsm_need_odds_ratio / (1 + odds_other * needs.fsm_need_odds_ratio)
    profile = np.array(census.ehcp_age_profile) * census.ehcp_share + np.array(census.sen_support_age_profile) * census.sen_support_share
    mean_profile = profile[:CENSUS_YEAR_GROUPS].mean()
    # with no recorded SEN at the census there is no age gradient to borrow: need is flat by age
    profile = profile / mean_profile if mean_profile > 0 else np.ones_like(profile)
    age_factor = np.where(initial, profile[np.clip(year_group, RECEPTION, YEAR_13)], profile[0])
    p_need = np.clip(np.where(fsm, p_fsm, p_other) * age_factor, 0, census.latent_need_probability_cap)
    # future entrants: need at entry in September, so that onset over the autumn term brings
    # Reception to the start census's January share (the start is then a steady state)
    autumn = ONSET_MONTHS_BEFORE_CENSUS / 12 * onset_rate_per_year(needs, np.zeros(n, dtype=np.int64), fsm)
    p_need = np.where(initial, p_need, np.clip((p_need - autumn) / np.maximum(1 - autumn, 1e-9), 0, census.latent_need_probability_cap))
    has_need = draws["has_need"] < p_need

    need_type = need_type_from_uniform(needs, fsm, draws["type"])
    type_sev = relative_type_severity(needs)
    raw = draws["raw_severity"]
    years_ahead = np.maximum(entry_year - (start_year - 1), 0)
    trend = (1 + needs.severity_trend_per_year) ** years_ahead
    # a start pupil's need is either present since Reception entry (the Reception share of the
    # profile) or emerged later. Later needs start milder (needs.later_onset_severity_ratio), but
    # by the census the mild ones have resolved and unmet ones have grown: under the dynamics the
    # survivors' severity is close to that of needs present at entry (docs/DYNAMICS.md), so both
    # draw from the same distribution here
    from_entry = profile[0] / profile[np.clip(year_group, RECEPTION, YEAR_13)]
    later = initial & (draws["later"] >= from_entry)
    severity = np.where(has_need, raw * type_sev[need_type] * np.where(fsm, needs.fsm_severity_multiplier, 1.0) * trend, 0.0)
    # onset: at Reception entry, or within the child's school life since (negative months = before the start census)
    months_on_roll = np.where(initial, (year_group.astype(np.int64) + 1) * 12 - 8, 0)
    onset_month = np.where(has_need, -np.where(later, draws["onset"] * months_on_roll, months_on_roll).astype(np.int64), NEVER)
    # future entrants' needs present at Reception entry
    future = ~initial
    entry_month = (entry_year.astype(np.int64) - start_year) * 12 + 8  # September of the entry year
    onset_month = np.where(future & has_need, entry_month, onset_month)
    return need_type, severity, onset_month


def onset_rate_per_year(needs, year_group: np.ndarray, fsm: np.ndarray) -> np.ndarray:
    """Yearly hazard of new need for children without one, by year group and FSM status.

    FSM children's hazard is higher by `needs.fsm_onset_hazard_ratio`, derived so that the FSM
    share of pupils with need stays where the start census put it (docs/DYNAMICS.md).
    """
    profile = np.asarray(needs.onset_age_profile)
    return needs.onset_rate_per_year * profile[np.clip(year_group, 0, len(profile) - 1)] * np.where(fsm, needs.fsm_onset_hazard_ratio, 1.0)


def _solve_other_odds(overall: float, fsm_share: float, odds_ratio: float) -> float:
    """Odds of need for non-FSM children so that the population share equals `overall`."""
    lo, hi = 1e-6, 50.0
    for _ in range(60):
        mid = (lo + hi) / 2
        p_o = mid / (1 + mid)
        p_f = mid * odds_ratio / (1 + mid * odds_ratio)
        if fsm_share * p_f + (1 - fsm_share) * p_o > overall:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def _empty_support_columns(n: int) -> dict[str, np.ndarray]:
    never = np.full(n, NEVER, dtype=np.int16)
    return {
        "identified": np.zeros(n, dtype=bool),
        "first_support_month": never.copy(),
        "first_matched_month": never.copy(),
        "support_level": np.zeros(n, dtype=np.int8),
        "support_intensity": np.zeros(n, dtype=np.float32),
        "support_since": never.copy(),
        "support_resume_month": never.copy(),
        "pipeline": np.zeros(n, dtype=np.int8),
        "pipeline_since": never.copy(),
        "request_month": never.copy(),
        "request_fraction": np.zeros(n, dtype=np.float32),
        "request_by_parent": np.zeros(n, dtype=bool),
        "ep_hours_received": np.zeros(n, dtype=np.float32),
        "ep_done_month": never.copy(),
        "last_refusal_month": never.copy(),
        "hearing_month": never.copy(),
        "plan_start_month": never.copy(),
        "legacy_ehcp": np.zeros(n, dtype=bool),
        "isp": np.zeros(n, dtype=bool),
        "legacy_move_month": never.copy(),
        "placement": np.zeros(n, dtype=np.int8),
        "preferred_special": np.zeros(n, dtype=bool),
        "ks2_expected": np.full(n, -1, dtype=np.int8),
        "ks4_em4": np.full(n, -1, dtype=np.int8),
        "suspensions": np.zeros(n, dtype=np.int16),
        "excluded": np.zeros(n, dtype=bool),
        "neet": np.full(n, -1, dtype=np.int8),
        "need_months": np.zeros(n, dtype=np.int16),
        "unmet_months": np.zeros(n, dtype=np.int16),
        "matched_months": np.zeros(n, dtype=np.int16),
        "year_need_months": np.zeros(n, dtype=np.int8),
        "year_unmet_months": np.zeros(n, dtype=np.int8),
        "year_matched_months": np.zeros(n, dtype=np.int8),
        "year_suspensions": np.zeros(n, dtype=np.int8),
        "spent_reports": np.zeros(n, dtype=np.float32),
        "spent_representation": np.zeros(n, dtype=np.float32),
        "spent_tutoring": np.zeros(n, dtype=np.float32),
        "private_reports_bought": np.zeros(n, dtype=np.int8),
        "represented": np.zeros(n, dtype=bool),
        "special_wanted": np.zeros(n, dtype=bool),
        "special_secured": np.zeros(n, dtype=bool),
        "plan_uplift": np.zeros(n, dtype=np.float32),
    }


def _support_propensity(config, noise: np.ndarray, c) -> np.ndarray:
    """Who holds support at the census: severity first, then advocacy (which buys access), with
    chance (`noise`: a standard normal draw per child)."""
    census = config.census
    sev = c["severity"].astype(np.float64)
    score = np.log(np.maximum(sev, 1e-6)) + census.support_noise_sd * noise + census.advocacy_weight * (c["advocacy"] - 0.5)
    return np.where(sev > 0, score, -np.inf)


def _cohort_blocks(rows: np.ndarray, size: int) -> np.ndarray:
    """`rows` (whole cohorts of `size` rows each, in row order) as one row of the result a cohort."""
    return rows.reshape(len(rows) // size, size)


def _ranked_within_cohorts(blocks: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Each cohort's rows (a row of `blocks`) from the highest score (`score` of the same shape)
    down, ties in row order: `np.argsort(-score, kind="stable")` a cohort, all cohorts at once."""
    return np.take_along_axis(blocks, np.argsort(-score, axis=1, kind="stable"), axis=1)


def _initialise_census(config, rng, c, schools, initial, cohort_size: int, ehcp_scale: float = 1.0, special_scale: float = 1.0) -> None:
    """Give the start cohorts the census's EHCP and SEN support shares by year group, and place plans.

    The start cohorts (`initial`) are blocks of `cohort_size` rows, one a year group."""
    census = config.census
    start_rows = np.flatnonzero(initial)
    score = _support_propensity(config, rng.standard_normal(len(start_rows)), {k: c[k][start_rows] for k in ("severity", "advocacy")})
    ehcp_prof = np.array(census.ehcp_age_profile) / np.mean(census.ehcp_age_profile[:CENSUS_YEAR_GROUPS]) * census.ehcp_share * ehcp_scale
    sen_prof = np.array(census.sen_support_age_profile) / np.mean(census.sen_support_age_profile[:CENSUS_YEAR_GROUPS]) * census.sen_support_share
    blocks = _cohort_blocks(start_rows, cohort_size)
    ranked_blocks = _ranked_within_cohorts(blocks, score.reshape(blocks.shape))
    with_need_blocks = np.isfinite(score.reshape(blocks.shape)).sum(axis=1)
    cohort_of_year_group = {int(c["year_group"][block[0]]): i for i, block in enumerate(blocks)}
    for yg in range(YEAR_GROUPS):
        if yg not in cohort_of_year_group:
            continue
        ranked, with_need = ranked_blocks[cohort_of_year_group[yg]], int(with_need_blocks[cohort_of_year_group[yg]])
        n_ehcp = min(int(round(ehcp_prof[yg] * len(ranked))), with_need)
        n_sen = min(int(round(sen_prof[yg] * len(ranked))), with_need - n_ehcp)
        ehcp_rows, sen_rows = ranked[:n_ehcp], ranked[n_ehcp : n_ehcp + n_sen]
        c["support_level"][ehcp_rows] = EHCP
        c["support_level"][sen_rows] = SEN_SUPPORT
        months_on_roll = (yg + 1) * 12 - 8
        c["plan_start_month"][ehcp_rows] = -(rng.random(len(ehcp_rows)) * months_on_roll).astype(np.int16)
        c["support_since"][ehcp_rows] = c["plan_start_month"][ehcp_rows]
        c["support_since"][sen_rows] = -(rng.random(len(sen_rows)) * months_on_roll).astype(np.int16)
    supported = initial & (c["support_level"] > NONE)
    c["identified"][supported] = True
    c["first_support_month"][supported] = c["support_since"][supported]
    c["legacy_ehcp"][c["support_level"] == EHCP] = True
    _place_initial_plans(config, rng, c, schools, np.flatnonzero(initial & (c["support_level"] == EHCP)), special_scale)


def _place_initial_plans(config, rng, c, schools, rows, special_scale: float = 1.0) -> None:
    """Special-school places go to the most severe plans (with noise for trust); independents to advocates."""
    census = config.census
    if len(rows) == 0:
        return
    noise = census.initial_placement_noise_sd
    score = np.log(c["severity"][rows].astype(np.float64) + 1e-6) - census.initial_special_trust_weight * c["trust"][rows] + noise * rng.standard_normal(len(rows))
    order = rows[np.argsort(-score)]
    n_special = int(round(min(0.9, census.special_school_share_of_ehcp * special_scale) * len(rows)))
    special = order[:n_special]
    indep_score = c["advocacy"][special] + noise * rng.standard_normal(len(special))
    n_indep = int(round(census.independent_share_of_special * len(special)))
    indep = special[np.argsort(-indep_score)[:n_indep]]
    c["placement"][special] = STATE_SPECIAL
    c["placement"][indep] = INDEPENDENT_SPECIAL
    c["preferred_special"][special] = True
    _assign_special_schools(rng, c, schools, special[c["placement"][special] == STATE_SPECIAL], SPECIAL)
    _assign_special_schools(rng, c, schools, indep, INDEPENDENT)
    mainstream = order[n_special:]
    c["placement"][mainstream] = MAINSTREAM
    with_base = mainstream[schools.base_places[c["school"][mainstream]] > 0]
    c["placement"][with_base[: int(len(with_base) * 0.5)]] = INCLUSION_BASE


def _assign_special_schools(rng, c, schools, rows, phase) -> None:
    options = np.flatnonzero(schools.phase == phase)
    if len(rows) and len(options):
        c["school"][rows] = options[rng.integers(0, len(options), len(rows))]


def _initialise_preschool_plans(config, streams, council, c, schools, initial, cohort_size: int, start_year: int) -> None:
    """Future Reception entrants with complex needs arrive holding a plan (T127, T330).

    Who holds one is chosen as the start census chooses its plan holders (severity first, then
    advocacy, with chance), so that each Reception class's plan holders are like the start's
    (by severity alone, FSM children's more severe needs gave them a larger share of entrants'
    plans than of the census's, and the FSM share of pupils with plans drifted up). Each entry
    cohort (a block of `cohort_size` rows) draws from its own streams; the choices are made for
    all cohorts at once.
    """
    future = np.flatnonzero(~initial)
    if len(future) == 0:
        return
    blocks = _cohort_blocks(future, cohort_size)
    years = [int(year) for year in c["entry_year"][blocks[:, 0]]]
    noise = np.concatenate([streams.generator("preschool-plan-holders", council, year).standard_normal(cohort_size) for year in years])
    score = _support_propensity(config, noise, {k: c[k][future] for k in ("severity", "advocacy")})
    n_plan = int(round(config.needs.preschool_plan_share_of_reception * cohort_size))
    top = _ranked_within_cohorts(blocks, score.reshape(blocks.shape))[:, :n_plan].ravel()
    top = top[c["severity"][top] > 0]
    entry_month = ((c["entry_year"][top].astype(np.int64) - start_year) * 12 + 8).astype(np.int16)
    c["support_level"][top] = EHCP
    c["identified"][top] = True
    c["plan_start_month"][top] = entry_month
    c["support_since"][top] = entry_month
    c["first_support_month"][top] = entry_month
    c["legacy_ehcp"][top] = True
    severe = top[c["severity"][top] > config.reviews.transfer_to_special_severity]
    c["placement"][severe] = STATE_SPECIAL
    c["preferred_special"][severe] = True
    cohort_of_severe = (severe - future[0]) // cohort_size
    for i, year in enumerate(years):
        _assign_special_schools(streams.generator("preschool-plans", council, year), c, schools, severe[cohort_of_severe == i], SPECIAL)


def _initialise_early_years_support(config, streams, council, c, initial, cohort_size: int, start_year: int) -> None:
    """Future Reception entrants whose need an early-years setting identified arrive on SEN support.

    Why: a January census finds a Reception class with a large share on SEN support after one
    term in school, more than schools identify in that term; without support at entry each new
    Reception class would hold a fraction of the start's. Who arrives on support is chosen as the
    start census chooses who holds it (severity first, then advocacy, with chance). Each entry
    cohort (a block of `cohort_size` rows) draws from its own stream; the choices are made for
    all cohorts at once.
    """
    future = np.flatnonzero(~initial)
    share = config.identification.early_years_support_share
    if len(future) == 0 or share <= 0:
        return
    blocks = _cohort_blocks(future, cohort_size)
    years = [int(year) for year in c["entry_year"][blocks[:, 0]]]
    noise = np.concatenate([streams.generator("early-years-support", council, year).standard_normal(cohort_size) for year in years])
    score = _support_propensity(config, noise, {k: c[k][future] for k in ("severity", "advocacy")})
    score[c["support_level"][future] != NONE] = -np.inf  # plan holders already have support
    score = score.reshape(blocks.shape)
    n_support = np.minimum(int(round(share * cohort_size)), np.isfinite(score).sum(axis=1))
    chosen = _ranked_within_cohorts(blocks, score)[np.arange(cohort_size) < n_support[:, None]]
    entry_month = ((c["entry_year"][chosen].astype(np.int64) - start_year) * 12 + 8).astype(np.int16)
    c["support_level"][chosen] = SEN_SUPPORT
    c["identified"][chosen] = True
    c["support_since"][chosen] = entry_month
    c["first_support_month"][chosen] = entry_month


def _initialise_in_flight_assessments(config, rng, c, initial) -> None:
    """Children already in the statutory process at the start census (so 2025 is not a cold start)."""
    per_1000 = config.census.assessments_in_progress_per_1000
    on_roll = np.flatnonzero(initial & (c["year_group"] <= YEAR_11))
    n = int(round(per_1000 * len(on_roll) / 1000))
    candidates = on_roll[(c["support_level"][on_roll] == SEN_SUPPORT)]
    if n == 0 or len(candidates) == 0:
        return
    chosen = candidates[np.argsort(-c["severity"][candidates])[: min(n, len(candidates))]]
    c["pipeline"][chosen] = ASSESSING
    census = config.census
    months_ago = np.minimum(rng.geometric(census.in_flight_wait_monthly_hazard, len(chosen)),
                            census.in_flight_max_wait_months).astype(np.int16)  # most recent, a long tail of waits
    c["request_month"][chosen] = -months_ago
    c["pipeline_since"][chosen] = -months_ago + 1
    c["request_fraction"][chosen] = rng.random(len(chosen))
    c["request_by_parent"][chosen] = rng.random(len(chosen)) < census.in_flight_parent_request_share
    # EP work already done grows with time waited (FIFO: only the last few months' requests still
    # wait for EP advice, as in the model's own queue, whose backlog is about
    # assessment.ep_backlog_tolerance_months of EP time)
    done = np.clip(months_ago / (1 + config.assessment.ep_backlog_tolerance_months) + census.in_flight_ep_progress_noise * rng.random(len(chosen)), 0, 1)
    c["ep_hours_received"][chosen] = (done * config.assessment.ep_hours_per_assessment).astype(np.float32)


def _build_council_table(config: ScenarioConfig, n_pupils: int, profile: dict | None = None, global_council: int = 0) -> CouncilTable:
    per_1000 = n_pupils / 1000  # census pupils, Reception-Year 11
    income = config.finance.high_needs_income_per_pupil * n_pupils
    profile = profile or {"ep_capacity_index": 1.0, "gatekeeping_index": 0.0, "demand_index": 1.0, "appeal_index": 1.0, "ehcp_index": 1.0,
                          "timeliness_odds_ratio": 1.0}
    return CouncilTable(
        global_id=np.array([global_council], dtype=np.int64),
        pupils=np.array([n_pupils], dtype=np.int64),
        # EP capacity scales with the council's workload (plans) and its timeliness index
        ep_hours_per_month=np.array([config.assessment.ep_hours_per_month_per_1000_pupils * per_1000
                                     * profile["ep_capacity_index"] * profile["ehcp_index"] * profile["demand_index"]]),
        ep_locum_hours=np.zeros(1),
        decisions_per_month=np.array([config.decision.decisions_per_month_per_1000_pupils * per_1000]),
        # special places follow the council's plans and its use of special schools
        special_places=np.array([config.placement.special_places_per_1000_pupils * per_1000
                                 * profile["ehcp_index"] * profile.get("special_places_index", 1.0)]),
        high_needs_income=np.array([income]),
        deficit=np.array([config.finance.opening_deficit_share * income]),
        gatekeeping=np.array([config.finance.gatekeeping_base]),
        gatekeeping_base=np.array([config.finance.gatekeeping_base + profile["gatekeeping_index"] / max(config.decision.gatekeeping_effect, 1e-9)]),
        request_multiplier=np.array([profile["demand_index"]]),
        appeal_multiplier=np.array([profile["appeal_index"]]),
        advice_speed=np.array([profile.get("timeliness_odds_ratio", 1.0) ** config.assessment.council_advice_speed_elasticity]),
        tribunal_hearings_per_month=np.array([config.disputes.hearings_per_month_per_10000_pupils * n_pupils / 10000]),
        spend_this_year=np.zeros(1),
        experts_days_capacity=np.zeros(1),
        experts_days_used=np.zeros(1),
    )


def column_bytes_per_child(children: ChildArrays) -> float:
    return sum(getattr(children, f.name).nbytes for f in fields(children)) / max(len(children), 1)
