"""Keyed random draws: a child's luck is a pure function of (seed, process, month, child key).

That is what makes a baseline and a reform comparable child by child (STYLE.md, Randomness):
the draw a child gets cannot depend on who else was eligible, on their order, or on how many
other draws were taken. The statistical checks use fixed seeds and tolerances of a few standard
errors, so they are deterministic and fail only if the generator is wrong.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim.random_streams import RandomStreams, child_key

N = 100_000
Z = 5.0  # standard errors allowed in the moment checks (deterministic draws, so no flakiness)


def keys_for(council: int, local_ids: np.ndarray) -> np.ndarray:
    return child_key(np.full(len(local_ids), council, dtype=np.int16), np.asarray(local_ids, dtype=np.int64))


@pytest.fixture(scope="module")
def many_keys() -> np.ndarray:
    return keys_for(3, np.arange(N))


def test_the_same_inputs_give_identical_draws_from_separate_instances(many_keys: np.ndarray) -> None:
    first = RandomStreams(42).uniform("identification", 17, many_keys)
    second = RandomStreams(42).uniform("identification", 17, many_keys.copy())
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(RandomStreams(42).normal("ks2", 5, many_keys), RandomStreams(42).normal("ks2", 5, many_keys))


def test_a_childs_draw_does_not_depend_on_who_else_is_drawn() -> None:
    streams = RandomStreams(7)
    everyone = keys_for(0, np.arange(1000))
    alone = streams.uniform("request", 12, everyone[[5]])[0]
    shuffled = np.random.default_rng(0).permutation(everyone)
    in_crowd = streams.uniform("request", 12, shuffled)
    assert in_crowd[np.flatnonzero(shuffled == everyone[5])[0]] == alone
    # and for every child at once: drawing a random subset, in any order, gives the same values
    full = dict(zip(everyone.tolist(), streams.uniform("request", 12, everyone).tolist()))
    subset = np.random.default_rng(1).choice(everyone, size=137, replace=False)
    for key, value in zip(subset.tolist(), streams.uniform("request", 12, subset).tolist()):
        assert full[key] == value


def test_a_draw_does_not_depend_on_earlier_draws_from_the_same_object() -> None:
    keys = keys_for(1, np.arange(50))
    fresh = RandomStreams(11).uniform("decision", 30, keys)
    used = RandomStreams(11)
    for month in range(30):
        used.uniform("decision", month, keys)
        used.normal("ks4", month, keys)
    np.testing.assert_array_equal(used.uniform("decision", 30, keys), fresh)


def test_repeated_keys_get_repeated_draws() -> None:
    keys = keys_for(0, np.array([4, 9, 4, 4, 9]))
    u = RandomStreams(5).uniform("placement-school", 2, keys)
    assert u[0] == u[2] == u[3] and u[1] == u[4] and u[0] != u[1]


@pytest.mark.parametrize(
    "changed",
    [
        {"seed": 2},
        {"process": "decision"},
        {"month": 1},
        {"month": -1},
        {"draw": 1},
    ],
    ids=["seed", "process", "month", "earlier-month", "draw-index"],
)
def test_changing_seed_process_month_or_draw_gives_unrelated_draws(changed: dict, many_keys: np.ndarray) -> None:
    base = {"seed": 1, "process": "request", "month": 0, "draw": 0}
    other = {**base, **changed}
    u = RandomStreams(base["seed"]).uniform(base["process"], base["month"], many_keys, base["draw"])
    v = RandomStreams(other["seed"]).uniform(other["process"], other["month"], many_keys, other["draw"])
    assert np.mean(u == v) < 1e-3
    assert abs(np.corrcoef(u, v)[0, 1]) < Z / np.sqrt(N)


def test_process_names_that_share_a_prefix_are_independent(many_keys: np.ndarray) -> None:
    streams = RandomStreams(1)
    u = streams.uniform("appeal-refusal", 4, many_keys)
    v = streams.uniform("appeal-refusal2", 4, many_keys)
    assert abs(np.corrcoef(u, v)[0, 1]) < Z / np.sqrt(N)


def test_uniform_draws_lie_in_the_unit_interval_with_the_right_mean_and_variance(many_keys: np.ndarray) -> None:
    u = RandomStreams(20250101).uniform("need-onset", 0, many_keys)
    assert u.dtype == np.float64 and u.shape == many_keys.shape
    assert u.min() >= 0.0 and u.max() < 1.0
    # standard errors: sd(U) = sqrt(1/12); sd((U - 1/2)^2) = sqrt(1/80 - 1/144) = sqrt(1/180)
    assert abs(u.mean() - 0.5) < Z * np.sqrt(1 / 12 / N)
    assert abs(np.mean((u - 0.5) ** 2) - 1 / 12) < Z * np.sqrt(1 / 180 / N)
    assert stats.kstest(u, "uniform").pvalue > 1e-4


def test_uniform_draws_fill_the_interval_evenly(many_keys: np.ndarray) -> None:
    u = RandomStreams(3).uniform("suspension", 8, many_keys)
    counts = np.bincount((u * 20).astype(int), minlength=20)
    assert stats.chisquare(counts).pvalue > 1e-4


def test_normal_draws_have_mean_zero_and_variance_one(many_keys: np.ndarray) -> None:
    z = RandomStreams(20250101).normal("ks2", 6, many_keys)
    assert np.isfinite(z).all()
    assert abs(z.mean()) < Z / np.sqrt(N)
    assert abs(z.var() - 1.0) < Z * np.sqrt(2 / N)
    assert stats.kstest(z, "norm").pvalue > 1e-4


def test_normal_draws_are_the_inverse_cdf_of_the_same_uniform_draws(many_keys: np.ndarray) -> None:
    streams = RandomStreams(9)
    u = streams.uniform("ks4", 3, many_keys[:1000])
    z = streams.normal("ks4", 3, many_keys[:1000])
    np.testing.assert_allclose(stats.norm.cdf(z), u, atol=1e-9)


def test_consecutive_children_get_uncorrelated_draws(many_keys: np.ndarray) -> None:
    u = RandomStreams(1).uniform("identification", 0, many_keys)
    for lag in (1, 2, 7):
        assert abs(np.corrcoef(u[:-lag], u[lag:])[0, 1]) < Z / np.sqrt(N - lag), f"lag {lag}"
    # the low bit pattern of neighbouring keys must not leak into the draw
    assert abs(np.corrcoef(u[0::2], u[1::2])[0, 1]) < Z / np.sqrt(N // 2)


def test_the_same_local_id_in_neighbouring_councils_gets_uncorrelated_draws() -> None:
    ids = np.arange(N)
    streams = RandomStreams(1)
    u = streams.uniform("request", 0, keys_for(0, ids))
    v = streams.uniform("request", 0, keys_for(1, ids))
    assert abs(np.corrcoef(u, v)[0, 1]) < Z / np.sqrt(N)


def test_a_childs_draws_in_successive_months_are_uncorrelated(many_keys: np.ndarray) -> None:
    streams = RandomStreams(1)
    months = np.stack([streams.uniform("need-resolution", t, many_keys[:20_000]) for t in range(6)])
    corr = np.corrcoef(months)
    off_diagonal = corr[~np.eye(6, dtype=bool)]
    assert np.abs(off_diagonal).max() < Z / np.sqrt(20_000)


def test_child_keys_are_unique_and_keep_council_and_local_id() -> None:
    council = np.array([0, 0, 1, 1, 151], dtype=np.int16)
    local = np.array([0, 1, 0, 1, 2**31], dtype=np.int64)
    keys = child_key(council, local)
    assert keys.dtype == np.uint64
    assert len(set(keys.tolist())) == len(keys)
    np.testing.assert_array_equal(keys >> np.uint64(32), council.astype(np.uint64))
    np.testing.assert_array_equal(keys & np.uint64(0xFFFFFFFF), local.astype(np.uint64))


def test_structural_generators_are_reproducible_per_label_and_differ_between_labels() -> None:
    a = RandomStreams(5).generator("population", 0).random(100)
    b = RandomStreams(5).generator("population", 0).random(100)
    c = RandomStreams(5).generator("population", 1).random(100)
    d = RandomStreams(6).generator("population", 0).random(100)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_seeds_above_32_bits_give_distinct_generators() -> None:
    a = RandomStreams(2**40).generator("family-network").random(10)
    b = RandomStreams(2**41).generator("family-network").random(10)
    assert not np.array_equal(a, b)


def test_keys_given_as_signed_integers_draw_the_same_as_unsigned() -> None:
    streams = RandomStreams(1)
    np.testing.assert_array_equal(streams.uniform("x", 0, np.arange(10)), streams.uniform("x", 0, np.arange(10, dtype=np.uint64)))


def test_a_few_keys_draw_the_same_bits_as_many(many_keys: np.ndarray) -> None:
    """Draws for up to FEW_KEYS keys are mixed in Python integers, the others with numpy blocks
    of MIX_BLOCK: every path gives every key the same value (including keys at the 64-bit edges
    and arrays longer than one block)."""
    from sim.random_streams import FEW_KEYS, MIX_BLOCK

    streams = RandomStreams(9)
    keys = np.concatenate([many_keys[: 3 * MIX_BLOCK + 17], np.array([0, 1, 2**63, 2**64 - 1], dtype=np.uint64)])
    whole = streams.uniform("placement-preference", 31, keys, draw=2)
    one_by_one = np.concatenate([streams.uniform("placement-preference", 31, keys[i : i + FEW_KEYS], draw=2)
                                 for i in range(0, len(keys), FEW_KEYS)])
    np.testing.assert_array_equal(whole, one_by_one)
    np.testing.assert_array_equal(whole[-4:], [streams.uniform("placement-preference", 31, keys[i : i + 1], draw=2)[0]
                                               for i in range(len(keys) - 4, len(keys))])


def test_draws_below_a_bound_select_exactly_the_float_comparison(many_keys: np.ndarray) -> None:
    """`draws_below` compares the draws with the bound as 64-bit integers, block by block: it must
    select exactly the keys whose float draw is below the bound, with those draws, for bounds
    that fall on a draw itself, between draws, at 0, at 1 and above, and NaN, with and without a
    mask, and with a higher bound for some keys."""
    from sim.random_streams import MIX_BLOCK

    streams = RandomStreams(4)
    keys = many_keys[: 2 * MIX_BLOCK + 5]
    u = streams.uniform("suspension", 17, keys)
    among = np.random.default_rng(3).random(len(keys)) < 0.8
    higher_mask = np.random.default_rng(4).random(len(keys)) < 0.3
    bounds = [float(np.sort(u)[40]), float(np.nextafter(np.sort(u)[40], 0)), float(np.nextafter(np.sort(u)[40], 1)),
              0.013, 0.0, -1.0, 1.0, 1.5, float("nan"), 2.0**-60]
    for bound in bounds:
        for mask in (None, among):
            positions, draws = streams.draws_below("suspension", 17, keys, bound, among=mask)
            expected = (u < bound) & (True if mask is None else mask)
            np.testing.assert_array_equal(positions, np.flatnonzero(expected), err_msg=str(bound))
            np.testing.assert_array_equal(draws, u[expected])
        positions, draws = streams.draws_below("suspension", 17, keys, bound, among=among, higher=(higher_mask, 0.2))
        expected = among & ((u < bound) | (higher_mask & (u < 0.2)))
        np.testing.assert_array_equal(positions, np.flatnonzero(expected), err_msg=str(bound))
        np.testing.assert_array_equal(draws, u[expected])
