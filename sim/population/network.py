"""The family network: who knows whom, for the peer effect on requests.

Families mostly know families at the same school, with a few ties further afield: a
Watts-Strogatz small world (ring lattice within each school community, a share of ties rewired
to random families in the same council). It is generated with numpy so a national run does not
build millions of Python objects; `to_networkx` exports it for analysis, and the tests check it
against networkx's own generator.
"""

from __future__ import annotations

import networkx as nx
import numpy as np


def small_world_ties(group: np.ndarray, council: np.ndarray, degree: int, rewiring: float, rng: np.random.Generator) -> np.ndarray:
    """int32[n, degree] of tied rows (-1 where a community is too small).

    `council` groups rewiring: a rewired tie goes to another family with the same value.
    """
    n = len(group)
    if degree == 0 or n == 0:
        return np.full((n, degree), -1, dtype=np.int32)
    order = _by_group_in_random_order(group, rng.random(n))
    ties = _ring_lattice(order, group[order], degree)
    if rewiring > 0:
        rewire = (rng.random((n, degree)) < rewiring) & (ties >= 0)
        rows, cols = np.nonzero(rewire)
        by_council = _stable_argsort(council)
        c_sorted = council[by_council]
        c_start = np.searchsorted(c_sorted, council[rows], side="left")
        c_end = np.searchsorted(c_sorted, council[rows], side="right")
        rank = np.empty(n, dtype=np.int64)
        rank[by_council] = np.arange(n)
        span = c_end - c_start
        # draw among the other families of the council (never oneself)
        pick = c_start + (rng.random(len(rows)) * np.maximum(span - 1, 1)).astype(np.int64)
        pick += (pick >= rank[rows]) & (span > 1)
        ties[rows, cols] = by_council[pick]
    return ties


def cohort_small_world_ties(group: np.ndarray, cohort_size: int, degree: int, rewiring: float,
                            rngs: list[np.random.Generator]) -> np.ndarray:
    """`small_world_ties` of each cohort (consecutive blocks of `cohort_size` rows, cohort i
    drawing from `rngs[i]`, rewiring within the cohort), as rows of the cohort (0 = its first).

    Why together: the ties are the same as one `small_world_ties` call a cohort (the same draws
    from each cohort's stream, in the same order), but the sorting and the ring lattice are done
    once for all of a council's cohorts rather than once a cohort.
    """
    n = len(group)
    if degree == 0 or n == 0:
        return np.full((n, degree), -1, dtype=np.int32)
    cohort = np.arange(n) // cohort_size
    draw = np.concatenate([rng.random(cohort_size) for rng in rngs])
    # the community of a family is its school within its cohort
    community = cohort * (int(group.max()) - int(group.min()) + 1) + (group - group.min())
    order = _by_group_in_random_order(community, draw)
    ties = _ring_lattice(order, community[order], degree)
    first_row = cohort * cohort_size
    ties -= np.where(ties >= 0, first_row[:, None], 0).astype(np.int32)
    if rewiring > 0:
        rewire = np.concatenate([rng.random((cohort_size, degree)) for rng in rngs]) < rewiring
        rewire &= ties >= 0
        rows, cols = np.nonzero(rewire)
        per_cohort = np.bincount(cohort[rows], minlength=len(rngs))
        # draw among the other families of the cohort (never oneself)
        draw = np.concatenate([rng.random(int(count)) for rng, count in zip(rngs, per_cohort)])
        pick = (draw * max(cohort_size - 1, 1)).astype(np.int64)
        pick += (pick >= rows - first_row[rows]) & (cohort_size > 1)
        ties[rows, cols] = pick
    return ties


def _ring_lattice(order: np.ndarray, sorted_group: np.ndarray, degree: int) -> np.ndarray:
    """int32[n, degree]: each family's ties to its neighbours on the ring of its community (-1
    where the community is too small); `order` is the rows by community, in the ring's order,
    and `sorted_group` their communities."""
    n = len(order)
    ties = np.full((n, degree), -1, dtype=np.int32)
    # each community a block of the order: its start and size, and each family's position in it
    first = np.r_[True, sorted_group[1:] != sorted_group[:-1]]
    start = np.flatnonzero(first)
    size = np.diff(np.r_[start, n])
    block = np.cumsum(first) - 1
    pos = np.arange(n) - start[block]
    block_start, block_size = start[block], size[block]
    half = degree // 2
    offsets = [d for d in range(1, half + 1)] + [-d for d in range(1, half + 1)]
    if degree % 2:
        offsets.append(half + 1)
    for column, offset in enumerate(offsets):
        neighbour_pos = (pos + offset) % block_size + block_start
        valid = block_size > abs(offset)
        ties[order, column] = np.where(valid, order[neighbour_pos], -1)
    return ties


def _by_group_in_random_order(group: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """The rows by group, and within a group by `draw`: `np.lexsort((draw, group))`, the same
    permutation in about a tenth of the time (a whole population's build sorts every cohort).

    Why it is the same: sorting by the draws, then stably by group, is what lexsort does. With
    no two draws equal (uniform doubles all but never are, and that is checked) the sort by the
    draws has one answer, so the fast unstable sort finds it.
    """
    order = np.argsort(draw)
    ranked = draw[order]
    if len(ranked) > 1 and not (ranked[1:] > ranked[:-1]).all():
        order = np.argsort(draw, kind="stable")  # equal draws: keep them in row order, as lexsort does
    return order[_stable_argsort(group[order])]


def _stable_argsort(keys: np.ndarray) -> np.ndarray:
    """`np.argsort(keys, kind="stable")`; keys spanning fewer than 2**15 values (schools or councils
    of a run) are sorted as 16-bit numbers, which numpy sorts by radix (several times faster)."""
    if len(keys) and int(keys.max()) - int(keys.min()) < 2**15:
        keys = (keys - keys.min()).astype(np.int16)
    return np.argsort(keys, kind="stable")


def peer_plan_share(ties: np.ndarray, has_plan_all_rows: np.ndarray) -> np.ndarray:
    """Share of a family's ties whose child holds a plan (ties into rows off roll count as no plan)."""
    valid = ties >= 0
    return share_of_ties(ties, np.where(valid, has_plan_all_rows[np.maximum(ties, 0)], False))


def share_of_ties(ties: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Share of each family's ties (rows of `ties`, -1 = none) for which `held` (same shape) is set.

    Why apart from `peer_plan_share`: a caller that knows who holds a plan among the tied rows
    only (requests: a few children a month) need not mark every row of the population."""
    valid = ties >= 0
    return (held & valid).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)


def to_networkx(ties: np.ndarray) -> nx.Graph:
    """Undirected networkx graph of the ties, for analysis (degree, clustering, components)."""
    graph = nx.Graph()
    graph.add_nodes_from(range(len(ties)))
    rows, cols = np.nonzero(ties >= 0)
    graph.add_edges_from(zip(rows.tolist(), ties[rows, cols].tolist()))
    graph.remove_edges_from(nx.selfloop_edges(graph))
    return graph
