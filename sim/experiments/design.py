"""The design of an experiment: which parameter points are run, and in which order the tasks go.

Why here and not in the engine: the design is data. It is written to `design.parquet`, read by
the sensitivity analysis, and must be the same every time it is built from the same file (it is
deterministic from the experiment seed), so a run can be resumed and a result traced back.

Points (`design_table`): one row per parameter point, `point_id` plus one column per lever and
uncertainty (dotted parameter paths as column names).
- grid: the levers crossed; uncertainties stay at each scenario's own values (no column).
- latin_hypercube / morris / sobol: SALib samples the uncertainties; every lever combination is
  crossed with every sampled point. `point_id = lever_combination * n_samples + sample_index`,
  so the rows of one lever combination sorted by `point_id` are exactly SALib's sample matrix
  (what `SALib.analyze.morris/sobol` expect).
Integer parameters are rounded after sampling (the design table holds the values actually run).

Tasks (`build_tasks`): one per (scenario, point, replicate, council block). Replicate r of every
scenario and point uses `replicate_seed(seed, r)`: common random numbers across scenarios and
points, so differences are policy and parameter effects, not luck.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from SALib.sample import latin, morris, sobol

from sim.experiments.runner import replicate_seed
from sim.experiments.spec import ExperimentSpec


def salib_problem(spec: ExperimentSpec) -> dict:
    """The SALib problem definition for the spec's uncertainties (same order as the design columns)."""
    return {
        "num_vars": len(spec.uncertainties),
        "names": [u.path for u in spec.uncertainties],
        "bounds": [[u.low, u.high] for u in spec.uncertainties],
    }


def sample_uncertainties(spec: ExperimentSpec) -> np.ndarray:
    """SALib's sample matrix (rows = samples, columns = uncertainties); empty for a grid."""
    settings = spec.design
    problem = salib_problem(spec)
    seed = spec.seed & 0xFFFFFFFF  # SALib seeds a numpy Generator; 32 bits of the root seed
    if settings.method == "grid":
        return np.empty((1, 0))
    if settings.method == "latin_hypercube":
        return latin.sample(problem, settings.samples, seed=seed)
    if settings.method == "morris":
        return morris.sample(problem, settings.samples, num_levels=settings.levels, seed=seed)
    if settings.method == "sobol":
        return sobol.sample(problem, settings.samples, calc_second_order=settings.calc_second_order, seed=seed)
    raise ValueError(f"unknown design method {settings.method!r}")


def expected_points(spec: ExperimentSpec) -> int:
    """Number of design points the method produces (checked by the tests against SALib)."""
    d, n = len(spec.uncertainties), spec.design.samples or 1
    per_levers = {
        "grid": 1,
        "latin_hypercube": n,
        "morris": n * (d + 1),
        "sobol": n * (2 * d + 2 if spec.design.calc_second_order else d + 2),
    }[spec.design.method]
    return per_levers * math.prod(len(v) for v in spec.levers.values())


def design_table(spec: ExperimentSpec) -> pd.DataFrame:
    """One row per parameter point: `point_id` and one column per lever / uncertainty path."""
    samples = sample_uncertainties(spec)
    lever_paths = list(spec.levers)
    combinations = list(itertools.product(*spec.levers.values())) if lever_paths else [()]
    rows = []
    for combo_index, combo in enumerate(combinations):
        for sample_index, sample in enumerate(samples):
            row = {"point_id": combo_index * len(samples) + sample_index}
            row.update(zip(lever_paths, combo))
            for uncertainty, value in zip(spec.uncertainties, sample):
                row[uncertainty.path] = int(round(value)) if uncertainty.integer else float(value)
            rows.append(row)
    columns = ["point_id", *lever_paths, *(u.path for u in spec.uncertainties)]
    table = pd.DataFrame(rows, columns=columns)
    table["point_id"] = table["point_id"].astype("int64")
    return table


def point_values(design: pd.DataFrame) -> dict[int, dict[str, object]]:
    """point_id -> {dotted path: plain Python value} (what a task applies to its scenario)."""
    paths = [c for c in design.columns if c != "point_id"]
    return {int(row["point_id"]): {p: _plain(row[p]) for p in paths} for _, row in design.iterrows()}


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class Task:
    """One model run: a scenario at a design point, one replicate, one block of councils."""

    task_id: str
    scenario: str
    point_id: int
    replicate: int
    block: int
    seed: int  # replicate_seed(spec.seed, replicate): shared by every scenario and point
    first_council: int
    councils: int


def task_id(identity: str, scenario: str, point_id: int, replicate: int, block: int) -> str:
    """Stable id: the same experiment, scenario, point, replicate and block always get the same id."""
    text = f"{identity}|{scenario}|{point_id}|{replicate}|{block}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def interleaved_order(n: int) -> list[int]:
    """0..n-1 in bit-reversed (van der Corput) order: any prefix spreads across the whole range.

    Why: a partly finished experiment should cover the design evenly (every region of a Latin
    hypercube, every lever combination), not the first few points densely.
    """
    if n <= 1:
        return list(range(n))
    bits = max(1, (n - 1).bit_length())
    order = [int(format(i, f"0{bits}b")[::-1], 2) for i in range(1 << bits)]
    return [i for i in order if i < n]


def council_blocks(councils: int, per_block: int | None) -> list[tuple[int, int]]:
    """(first council, number of councils) per block; one block when per_block covers them all."""
    per_block = councils if per_block is None else min(per_block, councils)
    return [(first, min(per_block, councils - first)) for first in range(0, councils, per_block)]


def build_tasks(spec: ExperimentSpec, design: pd.DataFrame, identity: str | None = None) -> list[Task]:
    """All tasks, replicate-major, points interleaved, blocks then scenarios innermost.

    Scenarios are innermost so that the paired baseline/reform runs of one point, replicate and
    block are submitted together and finish together.
    """
    identity = identity or spec.identity
    points = design["point_id"].to_numpy()
    tasks = []
    for replicate in range(spec.replicates):
        seed = replicate_seed(spec.seed, replicate)
        for index in interleaved_order(len(points)):
            point = int(points[index])
            max_blocks = max(len(council_blocks(spec.councils(s), spec.councils_per_block)) for s in spec.scenario_names)
            for block in range(max_blocks):
                for scenario in spec.scenario_names:
                    blocks = council_blocks(spec.councils(scenario), spec.councils_per_block)
                    if block >= len(blocks):
                        continue
                    first, count = blocks[block]
                    tasks.append(Task(task_id(identity, scenario, point, replicate, block), scenario, point,
                                      replicate, block, seed, first, count))
    return tasks
