"""Speed-ups that must not change a number: state size per child, and metrics summed by cells.

Timing itself is measured by `benchmarks/` (the machine is shared, so wall time is no test);
what is tested here is what the speed rests on and could silently regress.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

import sim.metrics.compute as compute
import sim.metrics.gaps  # noqa: F401  (imports scipy.stats before memory is traced: module memory, not the metrics')
from sim.metrics import compute_metrics
from sim.metrics.compute import SEVERITY_LABELS, MetricBuilder
from sim.model import SendModel
from sim.population.build import column_bytes_per_child, onset_rate_per_year
from sim.population.state import NEVER, SEN_SUPPORT
from sim.population.year_groups import YEAR_11
from sim.processes import needs, outcomes, requests

from conftest import SEED, small_config

STATE_BYTES_PER_CHILD_LIMIT = 200  # a whole-England run (about 17 million child rows) keeps its state under 3.5 GB


def test_state_of_a_child_fits_in_200_bytes(fresh_model) -> None:
    """Bytes of every per-child column (all rows, future Reception cohorts too), from the real arrays."""
    children = fresh_model.children
    per_child = column_bytes_per_child(children)
    assert per_child == sum(np.asarray(getattr(children, name)).nbytes for name in children.column_names()) / len(children)
    assert per_child <= STATE_BYTES_PER_CHILD_LIMIT, f"{per_child:.0f} bytes of state per child"


def _units(n: int, seed: int, pounds: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "date": pd.to_datetime(rng.choice(["2026-01-01", "2027-01-01", "2028-01-01"], n)),
        "fsm": pd.Categorical.from_codes(rng.integers(0, 2, n), ["non_fsm", "fsm"]),
        "income_quintile": pd.Categorical.from_codes(rng.integers(0, 5, n), ["1", "2", "3", "4", "5"]),
        "council": pd.Categorical.from_codes(rng.integers(0, 40, n), [f"E{i:08d}" for i in range(40)]),
        "severity_band": pd.Categorical.from_codes(rng.integers(0, 5, n), list(SEVERITY_LABELS)),
        "months": rng.integers(0, 13, n).astype(float),
        "flag": (rng.random(n) < 0.03).astype(float),
        "one": 1.0,
    })
    if pounds:
        frame["pounds"] = rng.gamma(0.5, 800.0, n)
    return frame


def _ratios(units: pd.DataFrame, numerator: str, denominator: str, min_rows: int, monkeypatch) -> pd.DataFrame:
    monkeypatch.setattr(compute, "COLLAPSE_MIN_ROWS", min_rows)
    builder = MetricBuilder.__new__(MetricBuilder)
    builder.rows, builder._grouping = [], None
    builder.add_ratio(units, "m", numerator, denominator, 100.0,
                      breakdowns=("all", "fsm", "income_quintile", "council", "severity_band"), min_denominator=0)
    return pd.concat(builder.rows, ignore_index=True)


@pytest.mark.parametrize("numerator, denominator", [("flag", "one"), ("months", "flag"), ("pounds", "one")])
def test_metrics_summed_by_cells_equal_row_by_row_sums_bit_for_bit(numerator, denominator, monkeypatch) -> None:
    """Collapsing units into (date, group) cells first gives the same values, to the last bit,
    including groups whose denominator is zero (absent) and pounds (never collapsed)."""
    units = _units(120_000, seed=3, pounds=True)
    by_cells = _ratios(units, numerator, denominator, 1, monkeypatch)
    by_rows = _ratios(units, numerator, denominator, len(units) + 1, monkeypatch)
    assert len(by_rows) > 3 * 40
    pd.testing.assert_frame_equal(by_cells, by_rows, check_exact=True)


def test_cells_are_used_only_for_whole_numbers(monkeypatch) -> None:
    units = _units(60_000, seed=4, pounds=True)
    builder = MetricBuilder.__new__(MetricBuilder)
    builder._grouping = None
    monkeypatch.setattr(compute, "COLLAPSE_MIN_ROWS", 1)
    _, _, _, cells = builder.grouping(units, ("all", "fsm", "council"))
    assert cells is not None and len(cells[1]) <= 3 * 2 * 40 < len(units)
    assert compute.exact_in_any_order(units["months"].to_numpy())
    assert not compute.exact_in_any_order(units["pounds"].to_numpy())
    assert not compute.exact_in_any_order(np.array([0.5, 1.0]))
    assert not compute.exact_in_any_order(np.array([np.nan, 1.0]))


METRICS_PEAK_BYTES_PER_CHILD_LIMIT = 600  # one row per pupil and census year took about 1,000 at this horizon


def test_metrics_do_not_keep_a_row_per_pupil_and_year() -> None:
    """Peak memory allocated while computing a replicate's metrics, per child row, over the national
    horizon (January 2025 to August 2036, twelve censuses): about 350 bytes with each census and
    year summed into (date, group) cells as it is read (the children table behind the
    need-standardised gaps is what is left), about 1,000 when every census and year was kept as a
    frame of one row per pupil, a cost that grew with every simulated year."""
    model = SendModel(small_config(end="2036-08"), seed=SEED).run()
    tracemalloc.start()
    try:
        compute_metrics(model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    per_child = peak / len(model.children)
    assert per_child <= METRICS_PEAK_BYTES_PER_CHILD_LIMIT, f"{per_child:.0f} bytes per child row at the metrics' peak"


def test_suspension_bound_is_above_every_pupils_probability(fresh_model) -> None:
    """`suspensions` works out exact probabilities only for pupils whose draw is below the bound:
    a bound below any pupil's probability would silently drop suspensions. Pupils pushed to every
    extreme of the hazard (severe unmet SEMH need, FSM, secondary, least advocacy) stay under it,
    and the bound is tight (it is reached by them)."""
    ctx = fresh_model.context()
    c = ctx.c
    idx = np.flatnonzero(c.year_group <= YEAR_11)
    extreme = idx[:50]
    c.severity[extreme] = 5.0
    c.support_intensity[extreme] = 0.0
    c.need_type[extreme] = outcomes.SEMH
    c.fsm[extreme] = True
    c.year_group[extreme] = YEAR_11
    c.advocacy[extreme] = c.advocacy.min()
    probability = outcomes.suspension_probability(ctx, idx)
    bound = outcomes.suspension_probability_bound(ctx)
    assert probability.max() <= bound < 0.5
    assert probability.max() >= bound * (1 - 1e-6)  # float32 columns: equal to a few parts in 10 million
    # pupils without need are held to their own, lower bound: it too is above every one of them
    # (FSM, secondary and the least advocacy pushed to their extremes) and reached
    without = idx[50:100]
    c.severity[without] = 0.0
    c.fsm[without] = True
    c.year_group[without] = YEAR_11
    c.advocacy[without] = c.advocacy.min()
    no_need = idx[c.severity[idx] == 0]
    lower = outcomes.suspension_probability_bound(ctx, with_need=False)
    assert outcomes.suspension_probability(ctx, no_need).max() <= lower < bound / 2
    assert outcomes.suspension_probability(ctx, without).max() >= lower * (1 - 1e-6)


def test_onset_bound_is_the_highest_hazard_on_roll(fresh_model) -> None:
    ctx = fresh_model.context()
    c = ctx.c
    rates = onset_rate_per_year(ctx.config.needs, c.year_group, c.fsm) / 12 * needs.pandemic_multiplier(ctx)
    bound = needs.onset_probability_bound(ctx)
    assert rates.max() <= bound <= rates.max() * (1 + 1e-12)  # every year group and FSM status is on roll


def test_request_bound_is_above_every_eligible_childs_probability(fresh_model) -> None:
    """`requests` works out exact hazards only for children whose draw is below their own bound
    (`requests.hazard_bound`): a bound below a child's probability would silently drop requests.
    Children pushed to every extreme of the hazard (severe unmet need on SEN support long enough
    for a school request, the most advocacy and least trust on roll, a private report, the council
    and year group with the highest multipliers, a budget under the most pressure) stay under it;
    for most eligible children the bound is well below 1, so few exact hazards are needed."""
    ctx = fresh_model.context()
    c = ctx.c
    idx = requests.eligible(ctx)
    extreme = idx[:50]
    c.severity[extreme] = 5.0
    c.support_intensity[extreme] = 0.0
    c.support_level[extreme] = SEN_SUPPORT
    c.support_since[extreme] = ctx.t - 120
    c.advocacy[extreme] = c.advocacy.max()
    c.trust[extreme] = c.trust.min()
    c.private_report[extreme] = True
    c.year_group[extreme] = int(np.argmax(ctx.config.requests.age_profile))
    ctx.schools.budget_pressure[c.school[extreme]] = 10.0
    idx = requests.eligible(ctx)
    school, parent = requests.hazards(ctx, idx)
    probability = 1.0 - np.exp(-(school + parent))
    bound = requests.hazard_bound(ctx, idx)
    assert (probability <= bound).all()
    assert probability[np.isin(idx, extreme)].max() > 0.5 * bound[np.isin(idx, extreme)].max()  # not loose at the top
    assert np.median(bound) < 0.1


def _run_children(monkeypatch, exact_for_everyone: bool) -> dict[str, np.ndarray]:
    if exact_for_everyone:  # every child's exact probability is computed, as before the bounds
        monkeypatch.setattr(outcomes, "suspension_probability_bound", lambda ctx, with_need=True: 1.0)
        monkeypatch.setattr(needs, "onset_probability_bound", lambda ctx: 1.0)
        monkeypatch.setattr(requests, "hazard_bound", lambda ctx, idx: 1.0)
    model = SendModel(small_config(end="2026-12"), seed=SEED).run()
    return {name: np.asarray(getattr(model.children, name)).copy() for name in model.children.column_names()}


def test_drawing_below_a_bound_selects_the_same_children(monkeypatch) -> None:
    """Same seed, with and without the bounds: every child's state is identical to the bit."""
    bounded = _run_children(monkeypatch, exact_for_everyone=False)
    exact = _run_children(monkeypatch, exact_for_everyone=True)
    assert bounded["suspensions"].sum() > 0 and (bounded["onset_month"] > 0).sum() > 0
    assert (bounded["request_month"] != NEVER).sum() > 0
    for name, values in exact.items():
        np.testing.assert_array_equal(bounded[name], values, err_msg=name)


@pytest.mark.parametrize("route", ["ehcp", "tiered"])
def test_the_months_shared_masks_are_still_true_when_the_month_ends(monkeypatch, route) -> None:
    """School age, need, its rows and matched support are derived once a month and shared by the
    stages (`StepContext.need`, `need_rows`, `support.matched_on_roll`); the stages that change
    need or support forget them. At the end of every month (across Septembers, the reform's
    switch, and two councils) each one kept must equal the same thing derived afresh: a stage
    that changed need or support without forgetting would show here."""
    from sim.processes import support
    from sim.recorder import Recorder

    checked = []
    record_month = Recorder.record_month

    def checking(self, ctx) -> None:
        c = ctx.c
        fresh_need = (c.year_group <= YEAR_11) & (c.severity > 0)
        np.testing.assert_array_equal(ctx.school_age(), c.year_group <= YEAR_11)
        np.testing.assert_array_equal(ctx.need(), fresh_need)
        np.testing.assert_array_equal(ctx.need_rows(), np.flatnonzero(fresh_need))
        np.testing.assert_array_equal(support.matched_on_roll(ctx), support.is_matched(ctx))
        checked.append(ctx.t)
        record_month(self, ctx)

    monkeypatch.setattr(Recorder, "record_month", checking)
    config = small_config(end="2030-12")
    config.run.route = route
    config.population.councils = 2
    SendModel(config, seed=SEED).run()
    assert len(checked) > 60
