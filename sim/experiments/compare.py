"""Baseline against reform, child by child: who wins, who loses, what it costs (docs/MODEL.md).

Why paired: replicate r of every scenario run with the same root seed uses the same seed
(`sim.experiments.runner.replicate_seed`), and every random draw is keyed on the child, so a
child with the same `child` key in the two runs is the same child with the same luck under a
different policy (common random numbers). The difference in that child's outcomes is the effect
of the policy on that child, not noise. A reform identical to the baseline therefore shows
exactly zero change for every child — `tests/test_compare.py` checks this.

Every comparison is made **inside a replicate** (group means in each run, the per-child change
and the shares of children better off, worse off or unchanged) and only then summarised across
replicates: the mean, and a 95% t-interval for the mean over the per-replicate values
(`sim.metrics.intervals`; never combine summaries).

Outputs of `compare_scenarios` (one directory, written atomically):
    baseline/, reform/   run directories, as `sendsim run` writes them
    equity.parquet/.csv  `paired_equity`: change per metric and group, winners and losers
    costs.parquet/.csv   `cost_table`: spending by budget holder and financial year, deficits
    ehcp_stock.csv       `stock_table`: EHCP share of pupils at each January, both routes
    fsm_gap.csv          `fsm_gap_table`: FSM minus non-FSM unmet-need months per calendar year
    need_standardised_gaps.csv/.parquet  `sim.metrics.gaps.gap_comparison`: FSM and income gaps,
                         raw, at equal need and from different needs, both routes, paired change
    gap_change_by_severity.csv  `sim.metrics.gaps.gap_change_by_severity`: each gap within each
                         severity band and its contribution to the headline, both routes, change
    headline_by_replicate.csv  `sim.experiments.headline.paired_outcomes`: one row per replicate
    cost_effectiveness.csv     net cost, child-months avoided, ratios where meaningful
    transition_cohort.csv      `sim.experiments.transition`: plan holders at the switch, by FSM/income
    decomposition.csv    with `components`: `sim.experiments.decompose` (the reform taken apart)
    council_impact*.csv  `sim.experiments.council_impact`: per council, deprivation decile and region
                         (runs from a council table), with councils.md and hex maps in figures/council_map_*.png
    report.md/.html      `sim.report.compare_report`, with figures/
    manifest.json        both config hashes, the shared seed, replicates, versions, commit
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from sim import __version__
from sim.config import ScenarioConfig, config_hash, validate_config
from sim.config.params import parameter_table
from sim.config.schema import NEED_TYPES
from sim.errors import UserError
from sim.experiments.executors import capped_workers
from sim.experiments.output_dir import check_destination
from sim.experiments.provenance import command_line, git_state, now_iso, package_versions, run_manifest
from sim.experiments.resources import estimate_bytes, workers_that_fit
from sim.experiments.results import atomic_directory, write_manifest
from sim.experiments.runner import combine, run_routes
from sim.finance_ledger import LINES
from sim.metrics.compute import SEVERITY_BANDS, SEVERITY_LABELS
from sim.metrics.gaps import gap_tables, route_gap_frames
from sim.metrics.intervals import t_hi, t_lo
from sim.metrics.registry import PAIRED_METRICS

LEVEL = 0.95
TAIL = (1 - LEVEL) / 2
SMALL_CELL = 10  # children per replicate below which a cell is suppressed (disclosure and noise)
HOLDERS = ("school", "council_high_needs", "council_general_fund", "central_reform")
PAIRING_ERROR = "runs are not paired: different populations"


class UnpairedRunsError(UserError, ValueError):
    """The two runs do not hold the same children (different seeds, population or cohorts)."""


# ---- metric definitions ----------------------------------------------------------------------
# the per-child outcomes compared between runs (label, unit, better direction and the children
# counted: `paired_population`) are the registry's whole-run metrics
METRIC_BY_NAME = {m.name: m for m in PAIRED_METRICS}

# Breakdowns: groups come from the baseline run (need type and severity band at its end), so a
# child sits in the same group for both runs and the change is a within-child change.
BREAKDOWNS = ("all", "fsm", "income_quintile", "need_type", "severity_band")
GAPS = {  # by -> (breakdown, disadvantaged group, comparison group, label)
    "fsm_gap": ("fsm", "fsm", "non_fsm", "fsm_minus_non_fsm"),
    "income_gap": ("income_quintile", "1", "5", "q1_minus_q5"),
}
GROUP_ORDER = {
    "all": ["all"],
    "fsm": ["fsm", "non_fsm"],
    "income_quintile": ["1", "2", "3", "4", "5"],
    "need_type": [*NEED_TYPES, "none"],
    "severity_band": list(SEVERITY_LABELS),
    "fsm_gap": ["fsm_minus_non_fsm"],
    "income_gap": ["q1_minus_q5"],
}
EQUITY_COLUMNS = [
    "metric", "by", "group", "baseline", "reform", "change", "change_lo", "change_hi", "relative_change",
    "share_better_off", "share_worse_off", "share_unchanged", "n_children", "replicates", "suppressed",
    "better", "label", "unit",
]
VALUE_COLUMNS = ["baseline", "reform", "change", "change_lo", "change_hi", "relative_change",
                 "share_better_off", "share_worse_off", "share_unchanged"]


# ---- pairing ---------------------------------------------------------------------------------
#: Columns compared to prove two runs hold the same children (beside the key, when both tables have them).
PAIRING_CHECKS = ("fsm", "income_quintile", "council", "entry_year")
#: Per-child columns the paired analysis reads (`paired_equity`, `sim.experiments.headline.paired_outcomes`,
#: `sim.experiments.transition.transition_cohort`, `sim.experiments.council_impact.council_results`):
#: pairing only these, once, instead of every column of both tables in each of them, keeps the
#: national comparison's two children tables of 17.5 million rows from being copied four times.
ANALYSIS_COLUMNS = (
    "fsm", "income_quintile", "need_type", "severity", "la_code", "need_months", "unmet_months", "matched_months",
    "months_to_support", "months_to_matched_support", "matched_within_a_year", "ks4_em4", "suspensions", "excluded",
    "neet", "ehcp_at_switch", "plan_after_switch",
)


def pair_children(baseline_children: pd.DataFrame, reform_children: pd.DataFrame,
                  columns: tuple[str, ...] | list[str] | None = None) -> pd.DataFrame:
    """Join the two children tables on (replicate, child); raise if they are not the same children.

    The same child must have the same family resources in both runs: if `fsm` or
    `income_quintile` differ, the runs were not made with the same seed and population.
    `columns`: pair only these columns (those present; the key is always taken, the checked columns
    are compared but not returned unless asked for), not every column of both tables: the rows and
    values are the same, the copies smaller.
    Rows are in (replicate, child) order.
    """
    key = ["replicate", "child"]
    frames, orders = {}, {}
    for name, frame in (("baseline", baseline_children), ("reform", reform_children)):
        missing = {*key, "fsm", "income_quintile"} - set(frame.columns)
        if missing:
            raise ValueError(f"{name} children table lacks columns {sorted(missing)}")
        if columns is not None:
            wanted = {*key, *PAIRING_CHECKS, *columns}
            frame = frame[[c for c in frame.columns if c in wanted]]
        # (replicate, child) order by one sort of the two key columns, not by indexing and merging
        # whole tables; each key is then unique if no two neighbours are equal
        replicate, child = frame["replicate"].to_numpy(), frame["child"].to_numpy()
        order = np.lexsort((child, replicate))
        replicate, child = replicate[order], child[order]
        if len(order) > 1 and ((replicate[1:] == replicate[:-1]) & (child[1:] == child[:-1])).any():
            raise UnpairedRunsError(f"{PAIRING_ERROR}: the {name} children table repeats (replicate, child) keys")
        frames[name], orders[name] = frame, (order, replicate, child)
    (b_order, b_rep, b_child), (r_order, r_rep, r_child) = orders["baseline"], orders["reform"]
    if not (len(b_order) == len(r_order) and np.array_equal(b_rep, r_rep) and np.array_equal(b_child, r_child)):
        b_index = pd.MultiIndex.from_arrays([b_rep, b_child])
        r_index = pd.MultiIndex.from_arrays([r_rep, r_child])
        only_b = len(b_index.difference(r_index))
        only_r = len(r_index.difference(b_index))
        raise UnpairedRunsError(
            f"{PAIRING_ERROR}: {only_b} children only in the baseline and {only_r} only in the reform "
            "(run both scenarios with the same root seed, population and dates)")
    b, r = frames.pop("baseline"), frames.pop("reform")
    for column in PAIRING_CHECKS:
        if column in b.columns and column in r.columns:
            differ = int((b[column].to_numpy()[b_order] != r[column].to_numpy()[r_order]).sum())
            if differ:
                raise UnpairedRunsError(
                    f"{PAIRING_ERROR}: {differ} children have a different {column} in the two runs "
                    "(run both scenarios with the same root seed and population settings)")
    # as a merge on the key would name them: a column in both tables takes the route's suffix; the
    # columns only checked (not asked for) are not carried (two copies of each, 17.5 million rows)
    b_columns = [c for c in b.columns if c not in key and (columns is None or c in columns)]
    r_columns = [c for c in r.columns if c not in key and (columns is None or c in columns)]
    parts = [pd.DataFrame({"replicate": b_rep, "child": b_child})]
    for frame, own, other, order, suffix in ((b, b_columns, r_columns, b_order, "_b"), (r, r_columns, b_columns, r_order, "_r")):
        part = frame[own].take(order).reset_index(drop=True)
        parts.append(part.rename(columns={c: c + suffix for c in own if c in other}))
    return pd.concat(parts, axis=1)


def text_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(code of each row, text label of each code), codes in the order of the labels as text.

    Grouping on the codes gives the groups, and the rows in each, of grouping on the values as text
    (missing values read "nan"), without making 17.5 million strings (the national comparison):
    a categorical column's own codes are renumbered in text order."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, labels = values.cat.codes.to_numpy(), values.cat.categories.astype(str).to_numpy(dtype=object)
    else:
        codes, labels = pd.factorize(values.astype(str), use_na_sentinel=False)
        labels = np.asarray(labels, dtype=object).astype(str).astype(object)  # a missing value's label reads "nan"
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels = np.append(labels, "nan")
    order = np.argsort(labels.astype(str), kind="stable")
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels))
    return rank[codes], labels[order]


def _small_integer_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code of each value, the distinct values in order): `pd.factorize(values, sort=True)` and
    `np.unique(values, return_inverse=True)` for integers of a small range (income quintiles,
    replicates), by a lookup instead of a hash or a sort of every row."""
    values = values.astype(np.int64)
    if not len(values):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low = int(values.min())
    if int(values.max()) - low > len(values):  # a wide range: a sort is cheaper than the lookup
        distinct, codes = np.unique(values, return_inverse=True)
        return codes.astype(np.int64), distinct
    present = np.flatnonzero(np.bincount(values - low))
    lookup = np.zeros(int(present[-1]) + 1, dtype=np.int64)
    lookup[present] = np.arange(len(present))
    return lookup[values - low], present + low


def _group_codes(paired: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Breakdown groups, all taken from the baseline run: per breakdown, (integer code of each
    child, label of each code). Codes, not labels, are grouped on: grouping 17.5 million strings
    (the national comparison) took most of the equity table's time and memory."""
    fsm = paired["fsm_b"].to_numpy(dtype=bool)
    quintile, quintiles = _small_integer_codes(paired["income_quintile_b"].to_numpy())
    need, needs = text_codes(paired["need_type_b"])
    # as `sim.metrics.compute.severity_band`, whose label lookup wraps an index of -1 to the last band
    bands = (np.searchsorted(SEVERITY_BANDS, paired["severity_b"].to_numpy(dtype=np.float64), side="right") - 1) % len(SEVERITY_LABELS)
    return {
        "all": (np.zeros(len(paired), dtype=np.int64), np.array(["all"], dtype=object)),
        "fsm": (fsm.astype(np.int64), np.array(["non_fsm", "fsm"], dtype=object)),
        "income_quintile": (quintile, np.array([str(int(q)) for q in quintiles], dtype=object)),
        "need_type": (need, needs),
        "severity_band": (bands.astype(np.int64), SEVERITY_LABELS.astype(object)),
    }


def per_child_values(paired: pd.DataFrame, metric: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(baseline value, reform value, counts-for-this-metric mask) for every paired child."""
    b, r, mask = child_values(paired, metric)
    return pd.Series(b, index=paired.index), pd.Series(r, index=paired.index), pd.Series(mask, index=paired.index)


def child_values(paired: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`per_child_values` as arrays (the same numbers): the equity table reads eight metrics of
    every paired child, and indexed series cost a copy and an index at each step."""
    def col(name: str, run: str) -> np.ndarray:
        return paired[f"{name}_{run}"].to_numpy(dtype=np.float64)

    if metric == "unmet_need_months":
        mask = (col("need_months", "b") > 0) | (col("need_months", "r") > 0)
        return col("unmet_months", "b"), col("unmet_months", "r"), mask
    if metric == "matched_support_share":
        mask = (col("need_months", "b") > 0) & (col("need_months", "r") > 0)
        share = {run: 100 * col("matched_months", run) / np.where(mask, col("need_months", run), np.nan) for run in "br"}
        return share["b"], share["r"], mask
    if metric == "months_to_matched_support":
        b, r = col("months_to_matched_support", "b"), col("months_to_matched_support", "r")
        return b, r, ~np.isnan(b) & ~np.isnan(r)
    if metric == "matched_within_a_year":
        b, r = col("matched_within_a_year", "b"), col("matched_within_a_year", "r")
        return 100 * b, 100 * r, ~np.isnan(b) & ~np.isnan(r)
    if metric == "ks4_em4_rate":
        b, r = col("ks4_em4", "b"), col("ks4_em4", "r")
        return 100 * b, 100 * r, (b >= 0) & (r >= 0)
    if metric == "suspensions":
        b, r = col("suspensions", "b"), col("suspensions", "r")
        return b, r, np.ones(len(paired), dtype=bool)
    if metric == "excluded":
        b, r = col("excluded", "b"), col("excluded", "r")
        return 100 * b, 100 * r, np.ones(len(paired), dtype=bool)
    if metric == "neet_rate":
        b, r = col("neet", "b"), col("neet", "r")
        return 100 * b, 100 * r, (b >= 0) & (r >= 0)
    raise KeyError(f"unknown paired metric {metric!r}; known: {sorted(METRIC_BY_NAME)}")


# ---- the equity table ------------------------------------------------------------------------
def _across_replicates(per_rep: pd.DataFrame, replicates: list, keys: list[str]) -> pd.DataFrame:
    """Summarise per-replicate cell values (one row per replicate and cell) across replicates."""
    def lo(v):
        return t_lo(v, LEVEL) if len(v) else np.nan

    def hi(v):
        return t_hi(v, LEVEL) if len(v) else np.nan

    grouped = per_rep.groupby(keys, observed=True, sort=False)
    out = grouped.agg(
        baseline=("baseline", "mean"), reform=("reform", "mean"), change=("change", "mean"),
        change_lo=("change", lo), change_hi=("change", hi),
        share_better_off=("better", "mean"), share_worse_off=("worse", "mean"), share_unchanged=("unchanged", "mean"),
        n_total=("n", "sum"), replicates=("n", "size"),
    ).reset_index()
    # a cell missing from a replicate has no children there: it counts as zero in the mean n
    out["n_children"] = out.pop("n_total") / max(len(replicates), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["relative_change"] = np.where(out["baseline"] != 0, out["change"] / out["baseline"], np.nan)
    return out


def paired_equity(baseline_children: pd.DataFrame, reform_children: pd.DataFrame,
                  baseline_metrics: pd.DataFrame | None = None, reform_metrics: pd.DataFrame | None = None,
                  small_cell: int = SMALL_CELL, *, paired: pd.DataFrame | None = None) -> pd.DataFrame:
    """The distributional impact table: per metric and group, baseline, reform, paired change, winners/losers.

    Per replicate: the group mean of each run among the metric's children, the mean per-child
    change (equal to the difference of the means, since the children are the same), and the
    shares of children better off, worse off and exactly unchanged. Across replicates: means,
    and the 95% t-interval of the per-replicate mean change (lo = hi = change with one
    replicate). Relative change is left empty for gap rows (a percentage of a near-zero gap
    misleads). Gap rows (`by` = fsm_gap, income_gap) difference the groups inside each
    replicate first; they have no winners/losers shares. Cells with fewer than `small_cell`
    children per replicate (mean) are suppressed: values NaN, `suppressed` True.

    `baseline_metrics`/`reform_metrics` are accepted for symmetry with the rest of the comparison
    (and checked to come from the same replicates); the per-child tables carry everything used here.
    `paired`: the two tables already paired by `pair_children` (with at least `ANALYSIS_COLUMNS`),
    so a comparison pairs its children once for every table it makes.
    """
    if paired is None:
        paired = pair_children(baseline_children, reform_children, columns=ANALYSIS_COLUMNS)
    if baseline_metrics is not None and reform_metrics is not None and "replicate" in baseline_metrics.columns \
            and "replicate" in reform_metrics.columns:
        if set(baseline_metrics["replicate"].unique()) != set(reform_metrics["replicate"].unique()):
            raise UnpairedRunsError(f"{PAIRING_ERROR}: the metrics tables hold different replicates")
    groups = _group_codes(paired)
    replicate_codes, replicate_values = _small_integer_codes(paired["replicate"].to_numpy())
    replicates = sorted(replicate_values)
    fine = _fine_cells(replicate_codes, len(replicate_values), groups)
    frames = []
    for spec in PAIRED_METRICS:
        b, r, keep = child_values(paired, spec.name)
        baseline, reform = b[keep], r[keep]
        per_rep_all = (_cells_by_sums(baseline, reform, spec.better, fine, keep, replicate_values, groups)
                       if _whole_numbers(baseline) and _whole_numbers(reform) else
                       _cells_by_groupby(baseline, reform, spec.better, replicate_codes[keep], keep, replicate_values, groups))
        per_rep = pd.concat(per_rep_all, ignore_index=True)
        gaps = [_gap_cells(per_rep, by, *definition) for by, definition in GAPS.items()]
        cells = pd.concat([per_rep, *[g for g in gaps if len(g)]], ignore_index=True)
        cells.insert(0, "metric", spec.name)
        frames.append(cells)
    # every metric's cells summarised in one grouping (each cell alone, as if one at a time): a
    # grouping per metric and gap cost 40-60 ms each, 1 s of every comparison at any scale
    equity = _across_replicates(pd.concat(frames, ignore_index=True), replicates, ["metric", "by", "group"])
    equity.loc[equity["by"].isin(list(GAPS)), "relative_change"] = np.nan  # never a % of a gap
    spec_of = {spec.name: spec for spec in PAIRED_METRICS}
    for column in ("better", "label", "unit"):
        equity[column] = [getattr(spec_of[name], column) for name in equity["metric"]]
    equity["suppressed"] = ~(equity["n_children"] >= small_cell)
    equity.loc[equity["suppressed"], VALUE_COLUMNS] = np.nan
    equity["group"] = equity["group"].astype(str)
    order = {(by, g): i for by, groups_ in GROUP_ORDER.items() for i, g in enumerate(groups_)}
    metric_order = {m.name: i for i, m in enumerate(PAIRED_METRICS)}
    equity["_sort"] = [(metric_order[m], list(GROUP_ORDER).index(by), order.get((by, g), 99), g)
                       for m, by, g in zip(equity["metric"], equity["by"], equity["group"])]
    equity = equity.sort_values("_sort", kind="stable").drop(columns="_sort").reset_index(drop=True)
    return equity[EQUITY_COLUMNS]


def _whole_numbers(values: np.ndarray) -> bool:
    """Whether every value is a finite whole number: then any order of summing gives the exact sum."""
    return bool(np.isfinite(values).all() and (values == np.trunc(values)).all())


def _fine_cells(replicate_codes: np.ndarray, n_replicates: int,
                groups: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, dict]:
    """(cell of each child crossing replicate and every breakdown, {breakdown: (replicate, group) key of each cell}).

    Why: every breakdown's group sums are sums of these cells' sums, so one pass over the children
    per column serves all five breakdowns (a pass per breakdown was most of the equity table's time)."""
    sizes = {by: len(groups[by][1]) for by in BREAKDOWNS}
    cell = replicate_codes.astype(np.int64)
    for by in BREAKDOWNS:
        cell = cell * sizes[by] + groups[by][0]
    n_cells = n_replicates * int(np.prod(list(sizes.values())))
    # each cell's replicate and group codes, undone in reverse order of the crossing
    index, codes = np.arange(n_cells, dtype=np.int64), {}
    for by in reversed(BREAKDOWNS):
        codes[by] = index % sizes[by]
        index = index // sizes[by]
    return cell, {by: index * sizes[by] + codes[by] for by in BREAKDOWNS}


def _per_replicate_frame(sums: dict[str, np.ndarray], count: np.ndarray, width: int, labels: np.ndarray,
                         replicate_values: np.ndarray, by: str) -> pd.DataFrame:
    """Per (replicate, group) key with children: the means of `sums` and the count, as grouping gives them."""
    found = np.flatnonzero(count)
    n = count[found]
    per_rep = pd.DataFrame({"replicate": replicate_values[found // width], "group": labels[found % width],
                            **{name: total[found] / n for name, total in sums.items()}, "n": n})
    per_rep["by"] = by
    return per_rep


def _cells_by_sums(baseline: np.ndarray, reform: np.ndarray, better: str, fine: tuple[np.ndarray, dict],
                   keep: np.ndarray, replicate_values: np.ndarray, groups: dict) -> list[pd.DataFrame]:
    """Per breakdown, the per-replicate cell means of whole-number values from sums over the fine cells.

    The sums of whole numbers are exact in any order, so each mean (sum / children) is the very
    number the grouped mean gives (its compensated sum is exact too)."""
    cell, cell_keys = fine
    cell = cell[keep]
    n_cells = len(cell_keys["all"])
    diff = reform - baseline
    improved = diff < 0 if better == "lower" else diff > 0
    unchanged = diff == 0
    count = np.bincount(cell, minlength=n_cells)
    fine_sums = {
        "baseline": np.bincount(cell, weights=baseline, minlength=n_cells),
        "reform": np.bincount(cell, weights=reform, minlength=n_cells),
        "change": np.bincount(cell, weights=diff, minlength=n_cells),
        "better": np.bincount(cell[improved], minlength=n_cells).astype(np.float64),
        "unchanged": np.bincount(cell[unchanged], minlength=n_cells).astype(np.float64),
    }
    fine_sums["worse"] = count - fine_sums["better"] - fine_sums["unchanged"]
    frames = []
    for by in BREAKDOWNS:
        labels = groups[by][1]
        width = len(labels)
        n_keys = len(replicate_values) * width
        key = cell_keys[by]
        sums = {name: np.bincount(key, weights=fine_sums[name], minlength=n_keys)
                for name in ("baseline", "reform", "change", "better", "worse", "unchanged")}
        frames.append(_per_replicate_frame(sums, np.bincount(key, weights=count, minlength=n_keys).astype(np.int64),
                                           width, labels, replicate_values, by))
    return frames


def _cells_by_groupby(baseline: np.ndarray, reform: np.ndarray, better: str, rep: np.ndarray, keep: np.ndarray,
                      replicate_values: np.ndarray, groups: dict) -> list[pd.DataFrame]:
    """Per breakdown, the per-replicate cell means by grouping (values that are not all whole numbers,
    whose sums depend on the order of adding: the grouped mean's compensated sum is kept)."""
    cells = pd.DataFrame({"baseline": baseline, "reform": reform})
    diff = cells["reform"] - cells["baseline"]
    cells["change"] = diff
    improved = diff < 0 if better == "lower" else diff > 0
    cells["better"] = improved.astype(float)
    cells["unchanged"] = (diff == 0).astype(float)
    cells["worse"] = 1.0 - cells["better"] - cells["unchanged"]
    frames = []
    for by in BREAKDOWNS:
        codes, labels = groups[by]
        # one integer key per (replicate, group), ordered as (replicate, group): each cell's
        # rows are the same rows, in the same order, as grouping on the labels themselves
        width = len(labels)
        cell_key = rep.astype(np.int64) * width + codes[keep]
        grouped = cells.groupby(cell_key)
        per_rep = grouped[["baseline", "reform", "change", "better", "worse", "unchanged"]].mean()  # one pass for all
        per_rep["n"] = grouped.size()
        found = per_rep.index.to_numpy()
        per_rep.insert(0, "group", labels[found % width])
        per_rep.insert(0, "replicate", replicate_values[found // width])
        per_rep = per_rep.reset_index(drop=True)
        per_rep["by"] = by
        frames.append(per_rep)
    return frames


def _gap_cells(per_rep: pd.DataFrame, by: str, source: str, high: str, low: str, label: str) -> pd.DataFrame:
    """Disadvantaged minus comparison group, differenced inside each replicate: one cell per
    replicate (`by`, `label`), to be summarised across replicates like any other cell."""
    rows = per_rep[(per_rep["by"] == source) & per_rep["group"].isin([high, low])]
    if rows.empty:
        return pd.DataFrame()
    wide = rows.pivot(index="replicate", columns="group", values=["baseline", "reform", "n"])
    if high not in wide["baseline"].columns or low not in wide["baseline"].columns:
        return pd.DataFrame()
    wide = wide.dropna()
    gap = pd.DataFrame({
        "by": by, "group": label,
        "baseline": wide["baseline"][high] - wide["baseline"][low],
        "reform": wide["reform"][high] - wide["reform"][low],
        # the smaller of the two groups decides whether the gap is too noisy to show
        "n": np.minimum(wide["n"][high], wide["n"][low]),
        "better": np.nan, "worse": np.nan, "unchanged": np.nan,
    }).reset_index()
    gap["change"] = gap["reform"] - gap["baseline"]
    return gap


# ---- costs -----------------------------------------------------------------------------------
def _financial_year(dates: pd.Series) -> pd.Series:
    dates = pd.to_datetime(dates)
    return dates.dt.year - (dates.dt.month < 4).astype(int)


def fy_label(year: int) -> str:
    return f"{int(year)}-{(int(year) + 1) % 100:02d}"


def _route_costs(system: pd.DataFrame, deflator=None) -> pd.DataFrame:
    """Per replicate: spend by holder and FY, cost per child supported, deficit at each March (tidy).

    `deflator` (financial year start -> price factor, `sim.experiments.headline.deflator_for`)
    turns cash into constant prices; None keeps cash."""
    system = system.copy()
    if "replicate" not in system.columns:
        system["replicate"] = 0
    system["date"] = pd.to_datetime(system["date"])
    system["fy"] = _financial_year(system["date"])
    months_in_fy = system.groupby("fy")["date"].nunique()
    complete = months_in_fy[months_in_fy == 12].index
    spend_cols = {holder: [f"spend_{line}" for line, h in LINES if h == holder and f"spend_{line}" in system.columns]
                  for holder in HOLDERS}
    for holder, cols in spend_cols.items():
        system[f"holder_{holder}"] = system[cols].sum(axis=1) if cols else 0.0
    system["holder_total"] = system[[f"holder_{h}" for h in HOLDERS]].sum(axis=1)
    supported_cols = [c for c in ("ehcp", "sen_support", "targeted_plus") if c in system.columns]
    system["supported"] = system[supported_cols].sum(axis=1)
    rows = []
    in_fy = system[system["fy"].isin(complete)]
    if len(in_fy):
        holder_cols = [f"holder_{h}" for h in (*HOLDERS, "total")]
        yearly = in_fy.groupby(["replicate", "fy"])[holder_cols].sum()
        for col in holder_cols:
            part = yearly[col].rename("value").reset_index()
            part["measure"] = "spend"
            part["holder"] = col.removeprefix("holder_")
            rows.append(part)
        # mean over the year's months of the pupils supported, summed over councils
        monthly = in_fy.groupby(["replicate", "fy", "date"])["supported"].sum()
        supported = monthly.groupby(["replicate", "fy"]).mean()
        part = supported.rename("value").reset_index()
        part["measure"] = "children_supported"
        part["holder"] = "all"
        rows.append(part)
        per_child = (yearly["holder_total"] / supported.where(supported > 0)).rename("value").reset_index()
        per_child["measure"] = "cost_per_child_supported"
        per_child["holder"] = "total"
        rows.append(per_child)
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["replicate", "fy", "value", "measure", "holder"])
    frame["date"] = pd.to_datetime(frame["fy"].astype(int).astype(str) + "-04-01") if len(frame) else pd.Series(dtype="datetime64[ns]")
    frame["period"] = [fy_label(y) for y in frame["fy"]]
    if "deficit" in system.columns:
        march = system[system["date"].dt.month == 3]
        deficit = march.groupby(["replicate", "date"])["deficit"].sum().rename("value").reset_index()
        deficit["measure"] = "cumulative_deficit"
        deficit["holder"] = "council_high_needs"
        deficit["fy"] = deficit["date"].dt.year - 1
        deficit["period"] = [f"March {d.year}" for d in deficit["date"]]
        frame = pd.concat([frame, deficit], ignore_index=True)
    if deflator is not None and len(frame):
        money = frame["measure"] != "children_supported"
        frame.loc[money, "value"] = frame.loc[money, "value"] * frame.loc[money, "fy"].map(deflator).astype(float)
    return frame[["replicate", "measure", "holder", "fy", "period", "date", "value"]]


COST_UNITS = {"spend": "£", "children_supported": "pupils (monthly mean)", "cost_per_child_supported": "£ per child supported",
              "cumulative_deficit": "£ (cumulative, at March)"}
COST_COLUMNS = ["measure", "holder", "period", "date", "unit", "baseline", "baseline_lo", "baseline_hi", "reform",
                "reform_lo", "reform_hi", "change", "change_lo", "change_hi", "relative_change", "replicates"]


def cost_table(baseline_system: pd.DataFrame, reform_system: pd.DataFrame, deflator=None) -> pd.DataFrame:
    """Spending by budget holder and complete financial year (April-March), deficits, cost per child supported.

    Per replicate: spend summed over councils and the year's months for each holder (school:
    SEN support and the EHCP school contribution; council_high_needs: top-ups, bases, special
    schools, alternative provision, assessment, bought-in EP time, mediation, tribunal;
    council_general_fund: home-to-school transport; central_reform: Targeted Plus, Experts
    at Hand, Inclusive Mainstream Fund, teacher training — `sim.finance_ledger.LINES`) and in
    total; the councils' cumulative high-needs deficit at each March; and total spend divided
    by the year's mean number of pupils with any support (EHCP + SEN support + Targeted Plus).
    Change is reform minus baseline within a replicate; every column is then the mean across
    replicates with a 95% t-interval.
    """
    b = _route_costs(baseline_system, deflator)
    r = _route_costs(reform_system, deflator)
    keys = ["replicate", "measure", "holder", "fy", "period", "date"]
    if set(b["replicate"]) != set(r["replicate"]):
        raise UnpairedRunsError(f"{PAIRING_ERROR}: the system tables hold different replicates")
    both = b.merge(r, on=keys, suffixes=("_b", "_r"), how="inner")
    both["change"] = both["value_r"] - both["value_b"]
    summary_keys = ["measure", "holder", "fy", "period", "date"]
    grouped = both.groupby(summary_keys, observed=True, sort=True)
    out = grouped.agg(
        baseline=("value_b", "mean"), baseline_lo=("value_b", t_lo), baseline_hi=("value_b", t_hi),
        reform=("value_r", "mean"), reform_lo=("value_r", t_lo), reform_hi=("value_r", t_hi),
        change=("change", "mean"), change_lo=("change", t_lo), change_hi=("change", t_hi),
        replicates=("change", "size"),
    ).reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["relative_change"] = np.where(out["baseline"] != 0, out["change"] / out["baseline"], np.nan)
    out["unit"] = out["measure"].map(COST_UNITS)
    measure_order = {m: i for i, m in enumerate(COST_UNITS)}
    holder_order = {h: i for i, h in enumerate((*HOLDERS, "total", "all"))}
    out = out.sort_values(["measure", "holder", "date"], key=lambda s: s.map(measure_order) if s.name == "measure"
                          else s.map(holder_order) if s.name == "holder" else s, kind="stable")
    return out[COST_COLUMNS].reset_index(drop=True)


# ---- stocks and gaps over time ---------------------------------------------------------------
def _summarise_routes(b: pd.DataFrame, r: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Tidy (keys, route, mean, lo, hi, replicates) for baseline, reform and their paired change."""
    both = b.merge(r, on=["replicate", *keys], suffixes=("_b", "_r"), how="inner")
    both["value_change"] = both["value_r"] - both["value_b"]
    frames = []
    for route, column in (("baseline", "value_b"), ("reform", "value_r"), ("change", "value_change")):
        g = both.groupby(keys, observed=True, sort=True)[column]
        part = g.agg(mean="mean", lo=t_lo, hi=t_hi,
                     replicates="count").reset_index()
        part.insert(len(keys), "route", route)
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def _metric_rows(metrics: pd.DataFrame, metric: str, by: str = "all") -> pd.DataFrame:
    rows = metrics[(metrics["metric"] == metric) & (metrics["by"] == by)].copy()
    if "replicate" not in rows.columns:
        rows["replicate"] = 0
    rows["date"] = pd.to_datetime(rows["date"])
    return rows


def stock_table(baseline_metrics: pd.DataFrame, reform_metrics: pd.DataFrame,
                metric: str = "ehcp_share_pupils") -> pd.DataFrame:
    """EHCP share of pupils at each January census, both routes and their paired change (tidy)."""
    out = []
    for frame in (baseline_metrics, reform_metrics):
        rows = _metric_rows(frame, metric)
        out.append(rows[["replicate", "date", "value"]])
    table = _summarise_routes(out[0], out[1], ["date"])
    table.insert(1, "metric", metric)
    return table


def fsm_gap_table(baseline_metrics: pd.DataFrame, reform_metrics: pd.DataFrame,
                  metric: str = "unmet_need_months") -> pd.DataFrame:
    """FSM minus non-FSM value of a metric per date: gap taken inside each replicate, then summarised."""
    gaps = []
    for frame in (baseline_metrics, reform_metrics):
        rows = _metric_rows(frame, metric, "fsm")
        wide = rows.pivot_table(index=["replicate", "date"], columns="group", values="value", aggfunc="first")
        if not {"fsm", "non_fsm"} <= set(wide.columns):
            return pd.DataFrame(columns=["date", "metric", "route", "mean", "lo", "hi", "replicates"])
        gaps.append((wide["fsm"] - wide["non_fsm"]).dropna().rename("value").reset_index())
    table = _summarise_routes(gaps[0], gaps[1], ["date"])
    table.insert(1, "metric", f"{metric}_fsm_gap")
    return table


# ---- the whole comparison --------------------------------------------------------------------
def _as_config(config: ScenarioConfig | dict) -> ScenarioConfig:
    return validate_config(config) if isinstance(config, dict) else config


def _with_seed(config: ScenarioConfig, seed: int) -> ScenarioConfig:
    data = config.model_dump(mode="json")
    data["run"]["seed"] = seed
    return validate_config(data)


def compare_scenarios(baseline_cfg: ScenarioConfig | dict, reform_cfg: ScenarioConfig | dict, replicates: int,
                      out_dir: Path | str, workers: int | None = None,
                      progress: Callable[[str, int, int], None] | None = None, *, small_cell: int = SMALL_CELL,
                      baseline_path: Path | str | None = None, reform_path: Path | str | None = None,
                      command: str | None = None, run_summaries: bool = True,
                      write_reports: Callable[[Path, dict], dict] | None = None,
                      write_route_report: Callable[[Path, dict], object] | None = None,
                      components: list | None = None, hold: tuple[str, ...] = ("run.route",),
                      shapley: bool | None = None, price_base: str | None = None,
                      family_channels: list | None = None) -> dict:
    """Run baseline and reform with the same root seed and write the comparison directory atomically.

    The root seed is the baseline's `run.seed`; the reform is run with its `run.seed` set to it
    (so `reform/manifest.json` holds the config that actually ran and `sendsim run` on it
    reproduces it; the hash of the reform config as given is kept in the top manifest).
    `progress(route, done, total)` is called after each replicate of each route.
    `write_reports(directory, result)` writes the human-readable pages into the directory before it
    is committed (the report layer's `sim.report.comparison.compare_with_reports` passes it; this
    layer writes tables only, so it never imports the report layer); `write_route_report(directory,
    run)` writes a route's own page (summary.md) as soon as that route has run (`run`: its metrics,
    system and manifest), if `run_summaries`.
    `components` (from `sim.experiments.decompose.load_components`) also takes the reform apart
    (`decomposition.csv`; the two runs made here are reused). `price_base` ("cash" or
    "real_2025_26") overrides the baseline's `report.price_base` for every money table.
    `family_channels` (from `sim.experiments.family_channels.channels_at`) also measures which
    family-resource channels carry the reform's change in the gaps at equal need
    (`family_channels.csv`; the two runs made here are reused as "every channel on").
    Returns the tables, the top-level manifest and the paths written.
    """
    baseline = _as_config(baseline_cfg)
    reform_given = _as_config(reform_cfg)
    root_seed = baseline.run.seed
    reform = reform_given if reform_given.run.seed == root_seed else _with_seed(reform_given, root_seed)
    if (baseline.run.start, baseline.run.end) != (reform.run.start, reform.run.end):
        raise UnpairedRunsError(f"{PAIRING_ERROR}: the scenarios cover different dates "
                                f"({baseline.run.start}..{baseline.run.end} vs {reform.run.start}..{reform.run.end})")
    out_dir = check_destination(Path(out_dir))  # before the simulation, not after it
    # both routes before either runs: checked between them, the second would count the memory the
    # first route's finished run still held as taken, and be refused after the first had run; the
    # routes' replicates share one pool, so up to `workers` of them run at once whatever the route
    # (fewer when that many would not fit in memory: the same tables, later)
    workers_used = min(capped_workers(workers), 2 * replicates)
    larger = max((baseline, reform), key=lambda config: estimate_bytes(config, replicates, workers_used, runs=2))
    workers_used = workers_that_fit(larger, replicates, workers_used,
                                    label=f"the comparison ({replicates} replicates of each route)", runs=2)
    command = command or command_line()
    started = now_iso()
    from sim.experiments.headline import cost_effectiveness, deflator_for, paired_outcomes  # cycle: headline.py imports this module

    prices = price_base or baseline.report.price_base
    deflator = deflator_for(prices, baseline.report.deflator_growth)
    routes = {"baseline": (baseline, baseline_path), "reform": (reform, reform_path)}
    received: dict[str, list] = {route: [] for route in routes}
    runs, route_gaps, writes = {}, {}, []

    # The directory is staged before the runs, so that a route's files are written as soon as it has
    # run: in a background thread (writing parquet is mostly compression, outside the interpreter
    # lock), while the other route still runs and then while the tables below are computed.
    with atomic_directory(out_dir) as tmp, ThreadPoolExecutor(max_workers=1) as writer:
        def on_done(route, out):
            received[route].append(out)
            if len(received[route]) == replicates:  # the route has run: its files and its share of the gaps now
                outputs = sorted(received[route], key=lambda o: o.replicate)
                metrics, system, children = combine(outputs)
                config, path = routes[route]
                manifest = run_manifest(config, path, outputs, started, command)
                manifest["paired_comparison"] = {"role": route, "root_seed": root_seed}
                runs[route] = (metrics, system, children, manifest, outputs)
                (tmp / route).mkdir()
                writes.append(writer.submit(_write_route, tmp / route, metrics, system, children, manifest))
                route_gaps[route] = route_gap_frames(children)
                if run_summaries and write_route_report is not None:
                    write_route_report(tmp / route, {"metrics": metrics, "system": system, "manifest": manifest})
            if progress:
                progress(route, len(received[route]), replicates)

        run_routes({"baseline": baseline, "reform": reform}, replicates, root_seed=root_seed,
                   workers=workers_used, on_done=on_done)

        (bm, bs, bc, bman, bout), (rm, rs, rc, rman, rout) = runs["baseline"], runs["reform"]
        if [o.seed for o in bout] != [o.seed for o in rout]:
            raise UnpairedRunsError(f"{PAIRING_ERROR}: replicate seeds differ")
        paired = pair_children(bc, rc, columns=ANALYSIS_COLUMNS)  # once, for every per-child table below
        equity = paired_equity(bc, rc, bm, rm, small_cell=small_cell, paired=paired)
        costs = cost_table(bs, rs, deflator)
        headline = paired_outcomes(bc, bs, rc, rs, deflator, paired=paired)
        value_for_money = cost_effectiveness(headline)
        from sim.experiments.transition import TRANSITION_CSV, transition_cohort  # cycle: transition.py imports this module

        transition = transition_cohort(bc, rc, paired=paired)
        councils = None
        if baseline.population.council_table is not None:
            from sim.experiments.council_impact import council_results  # cycle: council_impact.py imports this module

            councils = council_results(bc, rc, bs, rs, bm, rm, baseline.population.council_table, small_cell=small_cell,
                                       paired=paired)
        del paired
        decomposition = None
        if components:
            from sim.experiments.decompose import decompose  # cycle: decompose.py imports this module (via headline.py)

            decomposition = decompose(baseline, reform, components, replicates, hold=hold, shapley=shapley,
                                      workers=workers, known_runs={"baseline": (bc, bs), "reform": (rc, rs)},
                                      progress=(lambda label, done, total: progress("decomposition", done, total))
                                      if progress else None, deflator=deflator)
        channel_result = None
        if family_channels:
            # cycle: family_channels.py imports decompose.py, which imports this module
            from sim.experiments.family_channels import decompose_by_channel

            channel_result = decompose_by_channel(
                baseline, reform, family_channels, replicates, workers=workers, known_children=(bc, rc),
                progress=(lambda label, done, total: progress("family channels", done, total)) if progress else None)
        stock = stock_table(bm, rm)
        gaps = fsm_gap_table(bm, rm)
        standardised_gaps, gaps_by_severity = gap_tables(bc, rc, frames=[route_gaps.pop("baseline"), route_gaps.pop("reform")])
        top_manifest = {
            "kind": "paired_comparison",
            "sendsim_version": __version__,
            "seed": root_seed,
            "replicates": replicates,
            "replicate_seeds": {str(o.replicate): o.seed for o in bout},
            "small_cell": small_cell,
            "baseline": {"scenario": baseline.name, "config_file": str(baseline_path) if baseline_path else None,
                         "config_sha256": config_hash(baseline)},
            "reform": {"scenario": reform.name, "config_file": str(reform_path) if reform_path else None,
                       "config_sha256": config_hash(reform), "config_sha256_as_given": config_hash(reform_given),
                       "seed_as_given": reform_given.run.seed},
            "run": {"start": baseline.run.start, "end": baseline.run.end},
            "simulated": _simulated_scale(baseline, bs, bc),
            "report": {**baseline.report.model_dump(mode="json"), "price_base": prices},
            "assumption_parameters": _assumption_count(),
            "packages": package_versions(),
            "git": git_state(),
            "started": started,
            "finished": None,
            "command": command,
            "files": ["baseline/", "reform/", "equity.parquet", "equity.csv", "costs.parquet", "costs.csv",
                      "ehcp_stock.csv", "fsm_gap.csv", "need_standardised_gaps.parquet", "need_standardised_gaps.csv",
                      "gap_change_by_severity.csv", "headline_by_replicate.csv", "cost_effectiveness.csv",
                      TRANSITION_CSV,
                      *(["decomposition.csv"] if decomposition else []),
                      *(["family_channels.csv"] if channel_result else [])],
        }
        equity.to_parquet(tmp / "equity.parquet", index=False)
        equity.to_csv(tmp / "equity.csv", index=False)
        costs.to_parquet(tmp / "costs.parquet", index=False)
        costs.to_csv(tmp / "costs.csv", index=False)
        stock.to_csv(tmp / "ehcp_stock.csv", index=False)
        gaps.to_csv(tmp / "fsm_gap.csv", index=False)
        standardised_gaps.to_parquet(tmp / "need_standardised_gaps.parquet", index=False)
        standardised_gaps.to_csv(tmp / "need_standardised_gaps.csv", index=False)
        gaps_by_severity.to_csv(tmp / "gap_change_by_severity.csv", index=False)
        headline.reset_index().to_csv(tmp / "headline_by_replicate.csv", index=False)
        value_for_money.to_csv(tmp / "cost_effectiveness.csv", index=False)
        transition.to_csv(tmp / TRANSITION_CSV, index=False)
        if decomposition:
            from sim.experiments.decompose import write_decomposition  # cycle: decompose.py imports this module (via headline.py)

            write_decomposition(tmp, decomposition, manifest=False)
            top_manifest["decomposition"] = decomposition["manifest"]
        if channel_result:
            channel_result["table"].to_csv(tmp / "family_channels.csv", index=False)
            top_manifest["family_channels"] = channel_result["manifest"]
        if councils is not None:
            for name, frame in councils.items():
                frame.to_csv(tmp / f"{name}.csv", index=False)
            top_manifest["files"] += [f"{name}.csv" for name in councils]
        for write in writes:  # each route's directory is complete before the pages go beside it
            write.result()
        result = {
            "equity": equity,
            "costs": costs,
            "stock": stock,
            "gaps": gaps,
            "need_standardised_gaps": standardised_gaps,
            "gap_change_by_severity": gaps_by_severity,
            "headline": headline,
            "cost_effectiveness": value_for_money,
            "transition": transition,
            "decomposition": decomposition["table"] if decomposition else None,
            "family_channels": channel_result["table"] if channel_result else None,
            "councils": councils,
            "manifest": top_manifest,
            "config": baseline,
            "run_summaries": run_summaries,
            "baseline": {"metrics": bm, "system": bs, "children": bc, "manifest": bman},
            "reform": {"metrics": rm, "system": rs, "children": rc, "manifest": rman},
        }
        top_manifest["finished"] = now_iso()
        written = write_reports(tmp, result) if write_reports is not None else {}
        top_manifest["files"] += written.get("files", [])
        write_manifest(tmp, top_manifest)
    out_dir = tmp.destination  # a sibling directory if the user's own files were in the way
    pages = written.get("report")
    result["out_dir"] = out_dir
    result["report"] = tuple(out_dir / Path(page).name for page in pages) if pages else None
    return result


def _write_route(directory: Path, metrics: pd.DataFrame, system: pd.DataFrame, children: pd.DataFrame,
                 manifest: dict) -> None:
    """One route's run directory, as `sendsim run` writes it (tables and manifest; its summary page
    is the report layer's)."""
    metrics.to_parquet(directory / "metrics.parquet", index=False)
    system.to_parquet(directory / "system.parquet", index=False)
    children.to_parquet(directory / "children.parquet", index=False)
    write_manifest(directory, manifest)


def _simulated_scale(config: ScenarioConfig, system: pd.DataFrame, children: pd.DataFrame) -> dict:
    """What was simulated, for the report's first box: councils, pupils at the first census, years."""
    first = system[pd.to_datetime(system["date"]) == pd.to_datetime(system["date"]).min()]
    pupils = float(first.groupby("replicate")["pupils"].sum().mean()) if "pupils" in first.columns and len(first) else None
    children_per_replicate = float(children.groupby("replicate").size().mean()) if len(children) else None
    return {"councils": int(system["council"].nunique()) if "council" in system.columns else config.population.councils,
            "pupils": pupils, "children_ever_on_roll": children_per_replicate,
            "council_table": config.population.council_table, "scale": config.population.scale,
            "england_pupils": config.report.england_pupils}


def _assumption_count() -> dict:
    """How many parameters are our own assumptions (source 'assumption'), against the total."""
    table = parameter_table(ScenarioConfig)
    assumed = [row["path"] for row in table if str(row["source"]).startswith("assumption")]
    return {"assumption": len(assumed), "total": len(table)}
