"""Reproducibility and common random numbers.

The same config and seed must give byte-identical results; a different seed must not. A policy
change must not change who the children are or the luck they draw (counter-based streams keyed
on seed, process, month and child), so that a baseline and a variant can be compared child by
child, and a change that only touches rare events leaves most children's lives untouched.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import SendModel
from sim.population.state import NEVER, ChildArrays
from sim.recorder import SYSTEM_COLUMNS

from conftest import SEED, build_model

# family and need columns fixed when the population is built (policy cannot change them)
POPULATION_COLUMNS = (
    "council", "key", "entry_year", "year_group", "school", "home_school", "fsm", "income_quintile", "advocacy",
    "family_budget", "trust", "ties", "need_type", "severity", "onset_month", "attainment",
)


def _same_arrays(a, b) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b) and a.tobytes() == b.tobytes()


def _children_differences(m1, m2) -> list[str]:
    return [name for name in ChildArrays.column_names()
            if not _same_arrays(getattr(m1.children, name), getattr(m2.children, name))]


@pytest.fixture(scope="module")
def twin_run(finished_model):
    """A second run of the session's scenario with the same seed."""
    return build_model(seed=finished_model.seed).run()


def test_same_config_and_seed_give_identical_runs(finished_model, twin_run) -> None:
    a, b = finished_model, twin_run
    for name in SYSTEM_COLUMNS:
        assert _same_arrays(a.recorder.system[name], b.recorder.system[name]), f"recorder.system[{name!r}] differs"
    assert _same_arrays(a.ledger.amounts, b.ledger.amounts)
    assert _children_differences(a, b) == []
    for table in ("schools", "councils"):
        ta, tb = getattr(a, table), getattr(b, table)
        for name in vars(ta):
            assert _same_arrays(getattr(ta, name), getattr(tb, name)), f"{table}.{name} differs"
    assert a.events.names() == b.events.names()
    for name in a.events.names():
        fa, fb = a.events.frame(name), b.events.frame(name)
        assert fa.equals(fb), f"event log {name} differs"
    for cells in ("census_cells", "year_cells"):
        ca, cb = getattr(a.recorder, cells)(a.children), getattr(b.recorder, cells)(b.children)
        assert len(ca) == len(cb) > 0
        for sa, sb in zip(ca, cb):
            assert sa.t == sb.t and np.array_equal(np.array(sa.concentration, dtype=float), np.array(sb.concentration, dtype=float), equal_nan=True)
            assert all(_same_arrays(sa.keys[k][0], sb.keys[k][0]) for k in sa.keys)
            assert all(_same_arrays(sa.counts[k], sb.counts[k]) for k in sa.counts)


def test_stepping_month_by_month_equals_run(finished_model) -> None:
    model = build_model(seed=finished_model.seed)
    while not model.finished:
        model.step()
    assert _children_differences(model, finished_model) == []
    assert _same_arrays(model.ledger.amounts, finished_model.ledger.amounts)


def test_a_finished_model_refuses_to_step_again(finished_model) -> None:
    with pytest.raises(RuntimeError):
        finished_model.step()


def test_different_seeds_give_different_runs(finished_model) -> None:
    other = build_model(seed=finished_model.seed + 1).run()
    differing = _children_differences(finished_model, other)
    assert {"severity", "fsm", "advocacy", "attainment"} <= set(differing)
    assert not np.array_equal(finished_model.ledger.amounts, other.ledger.amounts)
    assert not np.array_equal(finished_model.recorder.system["ehcp"], other.recorder.system["ehcp"])
    # but the structure of the population does not depend on the seed
    assert np.array_equal(finished_model.children.key, other.children.key)
    assert np.array_equal(finished_model.children.entry_year, other.children.entry_year)


def test_the_config_seed_is_used_when_none_is_given(config) -> None:
    a = build_model(seed=config.run.seed)
    b = SendModel(config)
    assert b.seed == config.run.seed
    assert all(_same_arrays(getattr(a.children, n), getattr(b.children, n)) for n in POPULATION_COLUMNS)


def test_keyed_draws_do_not_depend_on_who_else_is_drawn() -> None:
    model = build_model(councils=1)
    keys = model.children.key
    everyone = model.streams.uniform("request", 7, keys)
    some = np.arange(0, len(keys), 7)
    assert np.array_equal(model.streams.uniform("request", 7, keys[some]), everyone[some])
    assert np.array_equal(model.streams.uniform("request", 7, keys[some[::-1]]), everyone[some[::-1]])
    # different processes, months and draw numbers are different streams
    for other in (model.streams.uniform("decision", 7, keys), model.streams.uniform("request", 8, keys),
                  model.streams.uniform("request", 7, keys, draw=1)):
        assert abs(np.corrcoef(other, everyone)[0, 1]) < 0.05
        assert np.mean(other == everyone) < 0.001
    assert np.all((everyone >= 0) & (everyone < 1))
    assert abs(everyone.mean() - 0.5) < 4 * np.sqrt(1 / 12 / len(everyone))


def test_a_policy_change_keeps_the_same_children_and_the_same_luck() -> None:
    """Common random numbers: refusal policy differs, population and draws do not."""
    baseline = build_model(seed=SEED)
    variant = build_model({"decision": {"refusal_intercept": 0.5}}, seed=SEED)
    assert baseline.config.decision.refusal_intercept != variant.config.decision.refusal_intercept
    # month 0: identical children, families, needs, support and placements
    assert _children_differences(baseline, variant) == []
    for name in POPULATION_COLUMNS:
        assert _same_arrays(getattr(baseline.children, name), getattr(variant.children, name))
    for name in vars(baseline.schools):
        assert _same_arrays(getattr(baseline.schools, name), getattr(variant.schools, name))
    keys = baseline.children.key
    for process in ("decision", "request", "need-onset", "placement-preference"):
        for month in (0, 5, 20):
            assert _same_arrays(baseline.streams.uniform(process, month, keys), variant.streams.uniform(process, month, keys))
            assert _same_arrays(baseline.streams.normal(process, month, keys), variant.streams.normal(process, month, keys))
    # after running, need onsets (which policy does not touch) are the same draws
    baseline.run()
    variant.run()
    assert variant.events.count("decision") > 0
    refused = lambda m: m.events.frame("decision")["refused"].mean()  # noqa: E731
    assert refused(variant) > refused(baseline)
    onset_b, onset_v = baseline.events.frame("need_onset"), variant.events.frame("need_onset")
    shared = np.intersect1d(onset_b["row"], onset_v["row"])
    assert len(shared) > 0.9 * min(len(onset_b), len(onset_v))


def _unchanged_children(m1, m2) -> np.ndarray:
    """Per row: every column identical at the end of the two runs."""
    same = np.ones(len(m1.children), dtype=bool)
    for name in ChildArrays.column_names():
        a, b = getattr(m1.children, name), getattr(m2.children, name)
        same &= (a == b) if a.ndim == 1 else np.all(a == b, axis=1)
    return same


def _ever_on_roll(model) -> slice:
    return slice(model.on_roll(0)[0], model.on_roll(model.n_months - 1)[1])


def test_refusal_policy_leaves_children_without_need_untouched(finished_model) -> None:
    """A child who never has a special educational need never meets the refusal rule, so with
    common random numbers their whole trajectory (attainment, suspensions, NEET) is identical."""
    variant = build_model({"decision": {"refusal_intercept": 0.5}}, seed=finished_model.seed).run()
    rows = _ever_on_roll(finished_model)
    same = _unchanged_children(finished_model, variant)[rows]
    # no need-months at school age and no need at all (a young person past Year 11 at the start
    # can hold a plan without counting need-months)
    never_need = ((finished_model.children.need_months[rows] == 0) & (variant.children.need_months[rows] == 0)
                  & (finished_model.children.onset_month[rows] == NEVER) & (variant.children.onset_month[rows] == NEVER)
                  & (finished_model.children.first_support_month[rows] == NEVER) & (variant.children.first_support_month[rows] == NEVER))
    assert never_need.sum() > 0.5 * len(never_need)
    assert same[never_need].all()
    assert not same.all(), "a refusal policy change should change someone's trajectory"


def test_a_rare_event_parameter_leaves_most_children_unchanged(finished_model) -> None:
    """Tripling how often a suspension escalates to exclusion (a rare event) changes few lives."""
    base_rate = finished_model.config.outcomes.exclusion_per_suspension
    variant = build_model({"outcomes": {"exclusion_per_suspension": base_rate * 3}}, seed=finished_model.seed).run()
    rows = _ever_on_roll(finished_model)
    same = _unchanged_children(finished_model, variant)[rows]
    assert variant.events.count("exclusion") > finished_model.events.count("exclusion")
    assert not same.all(), "the change should matter to someone"
    assert same.mean() > 0.9, f"only {same.mean():.1%} of children unchanged"
    # a child who never has a need and is never suspended cannot meet the changed rule, directly or
    # through system-wide feedback (deficit, capacity), so with common random numbers nothing changes
    never_suspended = (finished_model.children.suspensions[rows] == 0) & (variant.children.suspensions[rows] == 0)
    # no need-months at school age and no need at all (a young person past Year 11 at the start
    # can hold a plan without counting need-months)
    never_need = ((finished_model.children.need_months[rows] == 0) & (variant.children.need_months[rows] == 0)
                  & (finished_model.children.onset_month[rows] == NEVER) & (variant.children.onset_month[rows] == NEVER))
    assert (never_suspended & never_need).sum() > 0.3 * len(same)
    assert same[never_suspended & never_need].all()


@pytest.mark.slow
def test_a_long_run_is_reproducible() -> None:
    a = build_model(end="2036-08", pupils=20000).run()
    b = build_model(end="2036-08", pupils=20000).run()
    assert _children_differences(a, b) == []
    assert _same_arrays(a.ledger.amounts, b.ledger.amounts)
