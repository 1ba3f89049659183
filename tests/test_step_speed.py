"""The faster monthly step's shortcuts give the same answers as the plain ways they replace.

Each shortcut (bounds on draws, counts by council runs, ranks in two sorts, schools picked for
every council at once) is compared here with the computation it replaced, on data where the two
could differ: ties, councils out of order, children who are not selected.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import SendModel
from sim.population.institutions import INDEPENDENT, SPECIAL
from sim.population.state import EHCP, INDEPENDENT_SPECIAL, NEVER, STATE_SPECIAL
from sim.processes import placement, requests, tiers
from sim.step_context import BOUND_MARGIN, RADIX_SORT_FROM, rank_within_groups

from conftest import SEED, small_config


def test_ranks_in_two_sorts_are_the_lexsort_ranks() -> None:
    """Many items with tied priorities (the lexsort keeps their order): the same order and ranks
    from the two stable sorts as from the lexsort, and groups outside 16 bits use the lexsort."""
    rng = np.random.default_rng(1)
    n = RADIX_SORT_FROM * 5
    priority = -rng.integers(0, 20, n).astype(np.float32).astype(np.float64)  # many ties
    for groups in (rng.integers(-5, 300, n).astype(np.int32), rng.integers(0, 70_000, n)):
        order, ranks = rank_within_groups(groups, priority)
        expected = np.lexsort((priority, groups))
        np.testing.assert_array_equal(order, expected)
        sorted_groups = groups[expected]
        expected_ranks = np.empty(n, dtype=np.int64)
        for g in np.unique(groups):
            members = expected[sorted_groups == g]
            expected_ranks[members] = np.arange(len(members))
        np.testing.assert_array_equal(ranks, expected_ranks)


def test_ranks_by_float32_priorities_are_the_lexsort_ranks() -> None:
    """Float32 priorities (a negated severity: many ties, zeros of both signs, negative and
    positive values) ranked through integer keys: the lexsort's order."""
    rng = np.random.default_rng(4)
    n = RADIX_SORT_FROM * 5
    priority = np.round(rng.normal(0.0, 2.0, n), 1).astype(np.float32)
    priority[:50] = -0.0
    priority[50:100] = 0.0
    groups = rng.integers(0, 40, n).astype(np.int32)
    order, _ = rank_within_groups(groups, priority)
    np.testing.assert_array_equal(order, np.lexsort((priority.astype(np.float64), groups)))


def test_counts_by_council_runs_are_the_bincounts() -> None:
    """Counts of a mask per council from runs of rows equal a bincount of the councils of its
    rows, whatever the order of the councils' rows (here scrambled) and however sparse the mask."""
    model = SendModel(small_config(councils=3), seed=SEED)
    ctx = model.context()
    c = ctx.c
    assert len(ctx.councils) > 1
    rng = np.random.default_rng(2)
    for density in (0.0, 0.01, 0.5, 1.0):
        mask = rng.random(len(c.council)) < density
        np.testing.assert_array_equal(ctx.count_by_council(mask), np.bincount(c.council[mask], minlength=len(ctx.councils)))
    scrambled = model.context()
    scrambled.c.council[:] = rng.permutation(scrambled.c.council)  # runs of one row or a few
    mask = rng.random(len(scrambled.c.council)) < 0.3
    np.testing.assert_array_equal(scrambled.count_by_council(mask),
                                  np.bincount(scrambled.c.council[mask], minlength=len(scrambled.councils)))


def _move_council_by_council(ctx, idx: np.ndarray, code: int, phase: int) -> None:
    """`placement.move_to` as it was: the schools picked one council at a time."""
    c = ctx.c
    c.placement[idx] = code
    options = np.flatnonzero(ctx.schools.phase == phase)
    council_of_option = ctx.schools.council[options]
    for council in np.unique(c.council[idx]):
        mine = idx[c.council[idx] == council]
        own = options[council_of_option == council]
        pick = (ctx.uniform("placement-school", mine) * len(own)).astype(np.int64)
        c.school[mine] = own[np.minimum(pick, len(own) - 1)]


def test_schools_picked_for_every_council_at_once_are_those_picked_council_by_council() -> None:
    model = SendModel(small_config(councils=3), seed=SEED)
    rows = np.random.default_rng(3).choice(model.context().hi - model.context().lo, 400, replace=False)
    for code, phase in ((STATE_SPECIAL, SPECIAL), (INDEPENDENT_SPECIAL, INDEPENDENT)):
        expected_ctx, ctx = model.context(), model.context()
        before = ctx.c.school.copy()
        _move_council_by_council(expected_ctx, rows, code, phase)
        expected = ctx.c.school.copy()
        ctx.c.school[:] = before
        placement.move_to(ctx, rows, code, phase)
        np.testing.assert_array_equal(ctx.c.school, expected)
        assert len(np.unique(ctx.c.council[rows])) == 3 and (ctx.c.school[rows] != before[rows]).any()


def _tiered_children(monkeypatch, exact_for_everyone: bool) -> dict[str, np.ndarray]:
    config = small_config(end="2027-06")
    config.run.route = "tiered"
    config.transition.legal_switch = "2025-06"  # the new rules, referrals and all, from the sixth month
    config.transition.anticipation_from, config.transition.anticipation_to = "2025-01", "2025-05"
    if exact_for_everyone:  # every eligible child's exact hazards and peer share, as before the bounds
        monkeypatch.setattr(tiers, "referral_bound", lambda ctx, idx: np.ones(len(idx)))
        monkeypatch.setattr(requests, "hazard_bound", lambda ctx, idx: np.ones(len(idx)))
        monkeypatch.setattr(requests, "peer_factor_most", lambda ctx: 1e300)
    model = SendModel(config, seed=SEED).run()
    return {name: np.asarray(getattr(model.children, name)).copy() for name in model.children.column_names()}


def test_bounded_requests_and_referrals_select_the_same_children(monkeypatch) -> None:
    """The tiered route with and without the request and referral bounds (and the peer-effect
    cut): every child's state is identical to the bit, with requests and referrals made."""
    bounded = _tiered_children(monkeypatch, exact_for_everyone=False)
    exact = _tiered_children(monkeypatch, exact_for_everyone=True)
    assert (bounded["request_month"] != NEVER).sum() > 50
    assert (bounded["request_month"] >= 5).sum() > 20  # referrals: requests under the new rules (month 5 on)
    for name, values in exact.items():
        np.testing.assert_array_equal(bounded[name], values, err_msg=name)


def test_referral_bound_is_above_every_eligible_childs_probability(fresh_model) -> None:
    """Children pushed to every extreme of the referral hazard (severe need above the package
    threshold, identified, unmet, the most advocacy and least trust, a private report, every
    tie's child holding a plan) stay under their bound, which is reached at the top."""
    ctx = fresh_model.context()
    c, r = ctx.c, ctx.config.reform
    idx = requests.eligible(ctx)
    extreme = idx[:50]
    c.severity[extreme] = 5.0
    c.identified[extreme] = True
    c.support_intensity[extreme] = 0.0
    c.advocacy[extreme] = c.advocacy.max()
    c.trust[extreme] = c.trust.min()
    c.private_report[extreme] = True
    c.year_group[extreme] = int(np.argmax(ctx.config.requests.age_profile))
    ties = ctx.children.ties[extreme + ctx.lo]
    on_roll = ties[(ties >= ctx.lo) & (ties < ctx.hi)]
    ctx.children.support_level[on_roll] = EHCP  # every peer on roll holds a plan
    idx = requests.eligible(ctx)
    _, family = requests.hazards(ctx, idx, parent_strength=r.family_pressure_strength)
    above = c.identified[idx] & (c.severity[idx] >= r.inclusion_base_package_threshold)
    total = np.where(above, r.school_referral_monthly_rate, 0.0) + family * r.family_pressure_scale
    probability = 1.0 - np.exp(-total)
    bound = tiers.referral_bound(ctx, idx)
    assert (probability <= bound * (1 + BOUND_MARGIN)).all()  # the margin draws are compared with
    top = np.isin(idx, extreme)
    assert probability[top].max() > 0.5 * bound[top].max()
    assert np.median(bound) < 0.1


@pytest.mark.parametrize("route", ["ehcp", "tiered"])
def test_plan_holders_kept_for_the_month_are_still_the_plan_holders(monkeypatch, route) -> None:
    """The plan holders are found once and kept until a plan is issued or ceased: at the end of
    every month (Septembers, the reform's switch and its legacy moves, two councils) they must be
    the children holding a plan, found afresh."""
    from sim.recorder import Recorder

    checked = []
    record_month = Recorder.record_month

    def checking(self, ctx) -> None:
        checked.append("plan holders" in ctx._memo)  # kept from the month's stages (costs, last)
        np.testing.assert_array_equal(ctx.plan_holders(), np.flatnonzero(ctx.c.support_level == EHCP))
        record_month(self, ctx)

    monkeypatch.setattr(Recorder, "record_month", checking)
    config = small_config(end="2030-12")
    config.run.route = route
    SendModel(config, seed=SEED).run()
    assert len(checked) > 60 and all(checked)
