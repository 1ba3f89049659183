"""School groups: the reform runs Targeted Plus support through groups of 8-14 schools.

Groups are built with networkx from the links schools already have: a secondary and the
primaries that feed it form a natural cluster (connected components of the feeder graph);
neighbouring clusters in social mix are merged until each group reaches the target size.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from sim.population.institutions import PRIMARY, SECONDARY, SchoolTable


def feeder_graph(schools: SchoolTable) -> nx.Graph:
    """Mainstream schools as nodes; an edge from each primary to the secondary it feeds."""
    graph = nx.Graph()
    mainstream = np.flatnonzero((schools.phase == PRIMARY) | (schools.phase == SECONDARY))
    graph.add_nodes_from(int(s) for s in mainstream)
    for school in mainstream:
        if schools.phase[school] == PRIMARY and schools.feeder[school] >= 0:
            graph.add_edge(int(school), int(schools.feeder[school]))
    return graph


def assign_school_groups(schools: SchoolTable, target_size: int) -> np.ndarray:
    """Group index per school (-1 for special and independent schools), groups within councils."""
    graph = feeder_graph(schools)
    group = np.full(len(schools), -1, dtype=np.int32)
    next_group = 0
    nodes_by_council: dict[int, list[int]] = {}
    for node in graph.nodes:
        nodes_by_council.setdefault(int(schools.council[node]), []).append(node)
    for council in np.unique(schools.council):
        nodes = nodes_by_council.get(int(council), [])
        clusters = [sorted(c) for c in nx.connected_components(graph.subgraph(nodes))]
        clusters.sort(key=lambda c: (float(np.mean(schools.fsm_effect[c])), c[0]))
        current: list[int] = []
        for cluster in clusters:
            current.extend(cluster)
            if len(current) >= target_size:
                group[current] = next_group
                next_group += 1
                current = []
        if current:  # a small remainder joins the last group of the council, or stands alone
            previous = next_group - 1
            if previous >= 0 and schools.council[np.flatnonzero(group == previous)[0]] == council:
                group[current] = previous
            else:
                group[current] = next_group
                next_group += 1
    return group
