"""The family network: a Watts-Strogatz small world within schools, rewired within councils.

`small_world_ties` gives every family `degree` ties of its own (directed: the families it knows).
When a tie is rewired the other family still counts this one among its ties, so the undirected
`to_networkx` export keeps the reverse edge: its mean degree is k(1 - p^2) + 2kp rather than
networkx's k, and its clustering is a little lower than `nx.watts_strogatz_graph(n, k, p)`.
The tolerances below come from the spread over a few seeds (computed in the tests).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from sim.population.network import peer_plan_share, small_world_ties, to_networkx

SEEDS = range(5)
N = 2000


def ring(n: int, degree: int, rewiring: float, seed: int, groups: np.ndarray | None = None, councils: np.ndarray | None = None) -> np.ndarray:
    group = np.zeros(n, dtype=np.int64) if groups is None else groups
    council = np.zeros(n, dtype=np.int16) if councils is None else councils
    return small_world_ties(group, council, degree, rewiring, np.random.default_rng(seed))


def mean_degree(graph: nx.Graph) -> float:
    return 2 * graph.number_of_edges() / graph.number_of_nodes()


def test_every_family_has_exactly_degree_ties_when_its_school_community_is_large_enough() -> None:
    ties = ring(N, 4, 0.1, seed=0)
    assert ties.shape == (N, 4) and ties.dtype == np.int32
    assert (ties >= 0).all() and (ties < N).all()


def test_without_rewiring_the_export_is_a_ring_lattice_like_networkx() -> None:
    for degree in (2, 4, 6):
        graph = to_networkx(ring(N, degree, 0.0, seed=1))
        lattice = nx.watts_strogatz_graph(N, degree, 0.0, seed=1)
        assert mean_degree(graph) == degree
        assert sorted(d for _, d in graph.degree()) == [degree] * N
        expected_clustering = 3 * (degree - 2) / (4 * (degree - 1))  # ring lattice
        assert nx.average_clustering(graph) == pytest.approx(expected_clustering)
        assert nx.average_clustering(graph) == pytest.approx(nx.average_clustering(lattice))
        assert graph.number_of_edges() == lattice.number_of_edges()


@pytest.mark.parametrize("degree, rewiring", [(4, 0.1), (6, 0.1), (4, 0.3)])
def test_mean_degree_of_the_export_matches_rewiring_that_keeps_the_reverse_tie(degree: int, rewiring: float) -> None:
    degrees = np.array([mean_degree(to_networkx(ring(N, degree, rewiring, seed))) for seed in SEEDS])
    expected = degree * (1 - rewiring**2) + 2 * degree * rewiring
    tolerance = 4 * max(degrees.std(ddof=1), 1e-3)
    assert abs(degrees.mean() - expected) < tolerance, (degrees, expected, tolerance)
    # and the families' own (directed) ties are exactly `degree` each, as in Watts-Strogatz
    assert all((ring(N, degree, rewiring, seed) >= 0).sum(axis=1).min() == degree for seed in SEEDS)


@pytest.mark.parametrize("degree, rewiring", [(4, 0.05), (4, 0.1), (6, 0.1), (4, 0.3)])
def test_clustering_is_comparable_to_networkx_watts_strogatz(degree: int, rewiring: float) -> None:
    ours = np.array([nx.average_clustering(to_networkx(ring(N, degree, rewiring, seed))) for seed in SEEDS])
    theirs = np.array([nx.average_clustering(nx.watts_strogatz_graph(N, degree, rewiring, seed=seed)) for seed in SEEDS])
    replicate_sd = np.sqrt(ours.var(ddof=1) + theirs.var(ddof=1))
    # the kept reverse edges add ~2kp extra neighbours with few triangles: allow 10% of C plus noise
    tolerance = 0.10 * theirs.mean() + 4 * replicate_sd
    assert abs(ours.mean() - theirs.mean()) < tolerance, (ours.mean(), theirs.mean(), tolerance)
    assert ours.mean() <= theirs.mean() + 4 * replicate_sd  # extra edges can only dilute triangles


def test_the_network_is_a_small_world_high_clustering_and_short_paths() -> None:
    n, degree = 1000, 4
    lattice = to_networkx(ring(n, degree, 0.0, seed=2))
    small_world = to_networkx(ring(n, degree, 0.1, seed=2))
    assert nx.is_connected(small_world)
    random_graph_clustering = mean_degree(small_world) / n
    assert nx.average_clustering(small_world) > 20 * random_graph_clustering
    assert nx.average_shortest_path_length(small_world) < 0.2 * nx.average_shortest_path_length(lattice)


def test_ties_stay_within_the_council_and_unrewired_ties_within_the_school() -> None:
    rng = np.random.default_rng(3)
    councils = np.repeat(np.arange(4, dtype=np.int16), 1500)
    schools = councils.astype(np.int64) * 100 + rng.integers(0, 12, len(councils))
    ties = ring(len(councils), 4, 0.2, seed=3, groups=schools, councils=councils)
    rows, cols = np.nonzero(ties >= 0)
    assert (councils[ties[rows, cols]] == councils[rows]).all()
    lattice = ring(len(councils), 4, 0.0, seed=3, groups=schools, councils=councils)
    rows, cols = np.nonzero(lattice >= 0)
    assert (schools[lattice[rows, cols]] == schools[rows]).all()


@pytest.mark.parametrize("rewiring", [0.05, 0.1, 0.3])
def test_the_share_of_ties_leaving_the_school_is_the_rewiring_probability(rewiring: float) -> None:
    """A rewired tie lands on a uniformly random family in the council: outside the school with
    probability 1 - school size / council size, so the share leaving is p times that."""
    n_schools, school_size, degree = 100, 60, 4
    n = n_schools * school_size
    schools = np.repeat(np.arange(n_schools, dtype=np.int64), school_size)
    leaving = []
    for seed in SEEDS:
        ties = ring(n, degree, rewiring, seed, groups=schools)
        leaving.append(np.mean(schools[ties] != schools[:, None]))
    expected = rewiring * (1 - school_size / n)
    standard_error = np.sqrt(expected * (1 - expected) / (n * degree * len(SEEDS)))
    assert abs(np.mean(leaving) - expected) < 4 * standard_error


def test_rewiring_moves_a_share_p_of_ties_away_from_the_lattice() -> None:
    lattice, rewired = ring(N, 4, 0.0, seed=4), ring(N, 4, 0.2, seed=4)
    changed = np.mean(lattice != rewired)
    # a rewired tie can land back on its old target (1/N): negligible here
    assert abs(changed - 0.2) < 4 * np.sqrt(0.2 * 0.8 / lattice.size)


def test_small_school_communities_get_fewer_ties_marked_minus_one() -> None:
    groups = np.array([0, 1, 1, 2, 2, 2], dtype=np.int64)
    ties = ring(6, 4, 0.0, seed=0, groups=groups)
    assert (ties[0] == -1).all()  # a family alone at its school knows nobody there
    for row, other in ((1, 2), (2, 1)):  # a pair: offsets +1 and -1 both reach the other family
        assert sorted(ties[row][ties[row] >= 0].tolist()) == [other, other]
        assert (ties[row] == -1).sum() == 2
    for row in (3, 4, 5):  # three families: everyone knows the other two
        assert set(ties[row].tolist()) == {3, 4, 5} - {row}


def test_degree_zero_and_empty_populations_give_empty_tie_tables() -> None:
    assert ring(10, 0, 0.5, seed=0).shape == (10, 0)
    assert ring(0, 4, 0.5, seed=0).shape == (0, 4)


def test_the_same_generator_seed_gives_the_same_network() -> None:
    np.testing.assert_array_equal(ring(N, 4, 0.1, seed=9), ring(N, 4, 0.1, seed=9))
    assert not np.array_equal(ring(N, 4, 0.1, seed=9), ring(N, 4, 0.1, seed=10))


def test_peer_plan_share_on_a_hand_made_example() -> None:
    # rows 0-4; rows 1 and 3 hold plans; -1 means "no tie"
    has_plan = np.array([False, True, False, True, False])
    ties = np.array(
        [
            [1, 2, 3, 4],  # 2 of 4 known families hold plans
            [0, 2, -1, -1],  # 0 of 2 (missing ties do not count in the denominator)
            [1, 3, -1, -1],  # 2 of 2
            [-1, -1, -1, -1],  # knows nobody: share 0, not a division by zero
            [3, 3, 0, 2],  # a repeated tie counts twice: 2 of 4
        ],
        dtype=np.int32,
    )
    np.testing.assert_allclose(peer_plan_share(ties, has_plan), [0.5, 0.0, 1.0, 0.0, 0.5])


def test_peer_plan_share_counts_rows_masked_out_as_no_plan() -> None:
    has_plan_all_rows = np.array([True, True, True, True])
    on_roll = np.array([True, False, True, False])
    ties = np.array([[1, 2], [0, 3], [1, 3], [0, 2]], dtype=np.int32)
    np.testing.assert_allclose(peer_plan_share(ties, has_plan_all_rows & on_roll), [0.5, 0.5, 0.0, 1.0])


def test_to_networkx_keeps_isolated_families_and_drops_missing_ties() -> None:
    ties = np.array([[1, -1], [0, -1], [-1, -1]], dtype=np.int32)
    graph = to_networkx(ties)
    assert graph.number_of_nodes() == 3
    assert list(graph.edges()) == [(0, 1)]


def test_no_family_is_tied_to_itself() -> None:
    ties = ring(10, 4, 1.0, seed=0)  # small council, every tie rewired: self-ties are certain today
    assert not (ties == np.arange(10)[:, None]).any()


def test_in_a_built_population_families_mostly_know_families_on_roll_at_the_same_time() -> None:
    from sim.config.schema import ScenarioConfig
    from sim.model import SendModel

    config = ScenarioConfig()
    config.population.scale = 0.05
    model = SendModel(config)
    lo, hi = model.on_roll(0)
    ties = model.children.ties[lo:hi]
    valid = ties >= 0
    on_roll = (ties >= lo) & (ties < hi)
    assert on_roll[valid].mean() > 0.9
