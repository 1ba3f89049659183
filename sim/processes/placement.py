"""Naming a setting in a plan (docs/MODEL.md).

Parents state a preference shaped by severity, trust in mainstream and advocacy (families who know
the system ask for special schools more often at the same need); the council names a
state special school if it has a place (most severe first), otherwise an independent school
for families who push hard enough, otherwise mainstream (appealable). A family offered a special
or independent place it cannot reach (no council transport, no means to make the journey) takes
the mainstream place. Mainstream plans use an inclusion base where the school has one with room.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from sim.population.institutions import INDEPENDENT, SPECIAL
from sim.population.state import (
    INCLUSION_BASE,
    INDEPENDENT_SPECIAL,
    MAINSTREAM,
    POST16,
    STATE_SPECIAL,
)
from sim.population.year_groups import YEAR_11, YEAR_12, YEAR_13
from sim.step_context import StepContext, rank_within_groups


def prefers_special(ctx: StepContext, idx: np.ndarray, draw: int = 0, shift: float = 0.0) -> np.ndarray:
    """Whether the family asks for a special school: a logistic rule in severity (centred at 2),
    trust in mainstream and advocacy (centred at 0.5), its intercept calibrated to the published
    share of EHCP pupils in mainstream (56%); the slopes are assumptions. `shift` adds log-odds
    where the setting ahead weighs on the choice (the move to secondary school:
    `placement.secondary_transfer_preference_shift`)."""
    c, p = ctx.c, ctx.config.placement
    logit = (p.special_preference_intercept + shift + p.special_preference_severity * (c.severity[idx] - 2.0)
             + p.special_preference_trust * (c.trust[idx] - 0.5) + ctx.config.family.special_preference_advocacy * (c.advocacy[idx] - 0.5))
    return ctx.uniform("placement-preference", idx, draw) < expit(logit)


def free_special_places(ctx: StepContext) -> np.ndarray:
    """State special-school places each council has free now (its places less the pupils in them)."""
    return np.floor(ctx.councils.special_places) - special_places_occupied(ctx)


def special_places_occupied(ctx: StepContext) -> np.ndarray:
    """Pupils on roll in each council's state special schools (one count per council).

    Asked several times a month (each time settings are named): the mask is counted council by
    council (`StepContext.count_by_council`), without finding its rows."""
    c = ctx.c
    return ctx.count_by_council((c.placement == STATE_SPECIAL) & (c.year_group <= YEAR_13))


def free_base_places(ctx: StepContext) -> np.ndarray:
    """Inclusion-base places each school has free now."""
    in_base = np.bincount(ctx.c.school[ctx.c.placement == INCLUSION_BASE], minlength=len(ctx.schools))
    return ctx.schools.base_places - in_base


def independent_if_full_probability(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """When no state special place is free, the council names an independent school: because the
    family pushes (rising with advocacy), or because the council itself commissions one for a
    child whose needs it cannot meet elsewhere (`placement.independent_if_full_base`, the
    sufficiency response that made independent placements grow about 12% a year in 2020-2025 while
    two thirds of state special schools were at or over capacity: T268-T277, T297)."""
    p = ctx.config.placement
    return np.minimum(p.independent_if_full_base + p.independent_if_full_advocacy * ctx.c.advocacy[idx], 1.0)


def commission_places(ctx: StepContext) -> None:
    """April: councils add state special places where their special schools are full.

    Places grow at `placement.special_places_growth_per_year` in councils whose special schools
    are at least `placement.special_places_build_fill_threshold` full (0 = every council, every
    year, whatever the demand). Councils plan places for forecast demand (school capacity
    returns: two thirds of special schools at or over capacity in 2023-24, T297), so places that
    grew on a fixed trend while demand fell would empty the independent sector, against the
    published rise."""
    p, councils = ctx.config.placement, ctx.councils
    occupied = special_places_occupied(ctx)
    full = occupied >= p.special_places_build_fill_threshold * np.floor(councils.special_places)
    councils.special_places[full] *= 1 + p.special_places_growth_per_year


def place(ctx: StepContext, idx: np.ndarray, on_disputed=None, allow_independent: bool = True,
          preference_shift: float = 0.0) -> None:
    """Name settings for plan holders at view indices `idx` (new plans or transfer reviews);
    `preference_shift` adds log-odds to the family's preference for a special school (see
    prefers_special)."""
    c, p = ctx.c, ctx.config.placement
    if len(idx) == 0:
        return
    want = prefers_special(ctx, idx, shift=preference_shift)
    c.preferred_special[idx] = want
    c.special_wanted[idx[want]] = True
    special = idx[want]
    mainstream = idx[~want]
    if len(special) == 0:  # nobody asks for a special school: only mainstream settings are named
        _mainstream(ctx, mainstream)
        ctx.log("placement", idx, placement=c.placement[idx], preferred_special=want)
        if on_disputed is not None:
            on_disputed(ctx, mainstream, "content")
        return
    # state special places, most severe first, within each council's free places
    free = free_special_places(ctx)
    order, rank = rank_within_groups(c.council[special], -c.severity[special].astype(np.float64))
    got_place = rank < np.maximum(free[c.council[special]], 0)
    if allow_independent:
        # for some, no free state place suits the need or is within reach: they are treated as
        # when state schools are full (`placement.independent_when_places_free`)
        got_place &= ctx.uniform("placement-independent-by-need", special) >= p.independent_when_places_free
    no_place = special[~got_place]
    stuck = cannot_travel(ctx, special)  # the journey, not the place, fails
    declined = special[got_place & stuck]
    got_place &= ~stuck
    move_to(ctx, special[got_place], STATE_SPECIAL, SPECIAL)
    if allow_independent:
        pushes = ctx.uniform("placement-independent", no_place) < independent_if_full_probability(ctx, no_place)
    else:
        pushes = np.zeros(len(no_place), dtype=bool)
    stuck_independent = pushes & np.isin(no_place, special[stuck])
    declined = np.concatenate([declined, no_place[stuck_independent]])
    pushes &= ~stuck_independent
    move_to(ctx, no_place[pushes], INDEPENDENT_SPECIAL, INDEPENDENT)
    c.special_secured[special[got_place]] = True
    c.special_secured[no_place[pushes]] = True
    refused = no_place[~pushes & ~stuck_independent]
    _mainstream(ctx, np.concatenate([mainstream, refused, declined]))
    ctx.log("travel_declined", declined)
    ctx.log("placement", idx, placement=c.placement[idx], preferred_special=want)
    if on_disputed is not None:
        on_disputed(ctx, refused, "placement")
        on_disputed(ctx, mainstream, "content")


def cannot_travel(ctx: StepContext, idx: np.ndarray) -> np.ndarray:
    """Which of these families, offered a special or independent place, cannot get their child there.

    Why: special and independent schools are few and often far from home. The council provides
    transport to most children it places there (`family.council_transport_share`); a family left
    without it must make the journey itself, and whether it can (a car, working hours, other
    children) follows its time and means (advocacy): families with fewer resources turn down a
    place they cannot reach and the child stays in mainstream. Draws are fixed per child and
    month, so asking twice gives the same answer.
    """
    c, f = ctx.c, ctx.config.family
    if len(idx) == 0:
        return np.zeros(0, dtype=bool)
    no_transport = ctx.uniform("placement-transport", idx) >= f.council_transport_share
    cannot = ctx.uniform("placement-travel", idx) < f.travel_decline_without_transport * (1.0 - c.advocacy[idx])
    return no_transport & cannot


def _mainstream(ctx: StepContext, idx: np.ndarray) -> None:
    c = ctx.c
    idx = idx[~c.excluded[idx]]  # permanently excluded pupils stay in alternative provision
    c.school[idx] = c.home_school[idx]
    post16 = idx[c.year_group[idx] >= YEAR_12]  # a plan made after Year 11 is delivered in post-16 education
    c.placement[post16] = POST16
    idx = idx[c.year_group[idx] <= YEAR_11]
    c.placement[idx] = MAINSTREAM
    severe = idx[c.severity[idx] >= ctx.config.placement.inclusion_base_min_severity]
    if len(severe) == 0:
        return
    free = free_base_places(ctx)
    order, rank = rank_within_groups(c.school[severe], -c.severity[severe].astype(np.float64))
    into_base = severe[rank < np.maximum(free[c.school[severe]], 0)]
    c.placement[into_base] = INCLUSION_BASE


def move_to(ctx: StepContext, idx: np.ndarray, placement: int, phase: int) -> None:
    """Place the children at view indices `idx` in a setting of `phase`, at one of their own
    council's schools of that phase chosen at random (independent: the council's out-of-area school)."""
    c = ctx.c
    c.placement[idx] = placement
    if len(idx) == 0:
        return
    options = np.flatnonzero(ctx.schools.phase == phase)
    if len(options) == 0:
        return
    # each council's own special schools (independent: the council's out-of-area pseudo-school):
    # the options grouped by council, and each child's pick among its council's, all at once
    # (draws are keyed per child: the same as drawing council by council)
    council_of_option = ctx.schools.council[options]
    by_council = options[np.argsort(council_of_option, kind="stable")]
    n_own = np.bincount(council_of_option, minlength=len(ctx.councils))
    first_own = np.cumsum(n_own) - n_own
    council = c.council[idx]
    n_mine = n_own[council]
    if not n_mine.all():
        raise ValueError(f"a council has no school of phase {phase} to place a child in")
    pick = (ctx.uniform("placement-school", idx) * n_mine).astype(np.int64)
    c.school[idx] = by_council[first_own[council] + np.minimum(pick, n_mine - 1)]


def name_special(ctx: StepContext, idx: np.ndarray) -> None:
    """A tribunal order or concession: the child goes to special school (independent if no place)."""
    c = ctx.c
    if len(idx) == 0:
        return
    free = free_special_places(ctx)
    order, rank = rank_within_groups(c.council[idx], -c.severity[idx].astype(np.float64))
    state = rank < np.maximum(free[c.council[idx]], 0)
    move_to(ctx, idx[state], STATE_SPECIAL, SPECIAL)
    move_to(ctx, idx[~state], INDEPENDENT_SPECIAL, INDEPENDENT)
    c.special_secured[idx] = True
