"""Disadvantage gaps at equal need: how much of a gap is different needs, how much different treatment.

Why: FSM children and children from the lowest-income families have more, and more severe,
needs. A raw gap (FSM mean minus non-FSM mean) in unmet-need months or EHCP receipt therefore
mixes two things: that disadvantaged children *have* different needs, and that children with
the *same* need are treated differently because of their family's resources. Only the second is
disadvantage the system produces; the first is inherited. Direct standardisation separates them.

How (per replicate, for each metric and contrast — FSM minus non-FSM, income quintile 1 minus
quintile 5):

- Need cells are severity band x primary need type of the child's **first need** during the run
  (`sim.metrics.compute.first_need`): the need the child brings before either policy acts, so
  it is the same for the same child under every route. Need at the end of the run, or the
  highest band reached, would be partly an outcome (unmet need grows), and standardising on an
  outcome hides exactly the disadvantage being measured.
- Reference distribution: the share of each cell among **all children with a need** in the
  replicate (every FSM status and income quintile pooled). One reference for every metric,
  contrast and route, so gaps are comparable across metrics and the paired change between
  routes is not moved by reweighting.
- `raw`: mean of the disadvantaged group minus mean of the comparison group, among the
  children with need for whom the metric is defined.
- `at_equal_need`: each group's cell means weighted by the reference distribution, differenced:
  the gap if both groups had the same need mix — different treatment at equal need.
- `different_needs` = raw - at_equal_need: the part of the raw gap due to the groups' different
  need mixes. The identity raw = at_equal_need + different_needs holds exactly by construction.
- Empty cells: a cell where either group has no child for whom the metric is defined has no
  within-cell gap, so it is left out and the reference weights are renormalised over the cells
  present in both groups. `cells_covered` reports the share (%) of children with need whose
  cell was kept; below 100 the standardised gap speaks for that share only.

Whole-run values: every per-child quantity is a whole-run total or status from
`children.parquet` (e.g. unmet-need months over the whole run, ever held an EHCP), dated at the
run's end. Yearly gaps (`fsm_gap.csv`, the yearly metrics by FSM) answer a different question:
they compare the children with need in one year, a population whose make-up shifts as cohorts
enter and leave.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.config.schema import NEED_TYPES
from sim.metrics.compute import SEVERITY_BANDS, SEVERITY_LABELS
from sim.metrics.intervals import t_half_width
from sim.metrics.registry import RUN_BY_NAME, RUN_METRICS

LEVEL = 0.95
COMPONENTS = ("raw", "at_equal_need", "different_needs")
COVERAGE = "cells_covered"
#: contrast -> (column, disadvantaged value, comparison value, `by` in metrics.parquet)
CONTRASTS = {
    "fsm_minus_non_fsm": ("fsm", 1, 0, "fsm_gap"),
    "q1_minus_q5": ("income_quintile", 1, 5, "income_q1_q5_gap"),
}
NEED_BANDS = [label for label in SEVERITY_LABELS if label != "none"]


#: every whole-run metric of the registry has a gap at equal need; `better` is the direction
#: better for children, `section` whether it measures access or an outcome
GAP_METRICS = RUN_METRICS
GAP_METRIC_BY_NAME = RUN_BY_NAME


def metric_values(children: pd.DataFrame, metric: str) -> pd.Series:
    """The metric's per-child value; NaN where it is not defined for the child.

    Shares are 0/100 per child so that group means are percentages. Unmet-need months grow with
    how long the child had need during the run (needs that start earlier or last longer — and
    needs persist while unmet); the matched share of need-months and matching within a year do
    not, so read the three together. Special-school placement
    and EHCP receipt count any month on roll during the run; "higher is better" for them means
    access to the support the need calls for, read together with the cells (a placement matters
    for the severe and complex bands, not the mild one).
    """
    def col(name: str) -> pd.Series:
        return children[name].astype(float)

    if metric == "unmet_need_months":
        return col("unmet_months")
    if metric == "matched_support_share":
        need = col("need_months")
        return 100 * col("matched_months") / need.where(need > 0)
    if metric == "matched_within_a_year":
        return 100 * col("matched_within_a_year")
    if metric == "months_to_matched_support":
        return col("months_to_matched_support")
    if metric == "ehcp_receipt":
        return 100 * col("ever_ehcp")
    if metric == "special_school_placement":
        return 100 * col("ever_special_school")
    if metric == "request_made":
        return 100 * col("ever_requested")
    if metric in ("ks2_expected_rate", "ks4_em4_rate", "neet_rate"):
        source = {"ks2_expected_rate": "ks2_expected", "ks4_em4_rate": "ks4_em4", "neet_rate": "neet"}[metric]
        value = col(source)
        return (100 * value).where(value >= 0)
    if metric == "suspensions":
        return col("suspensions")
    if metric == "excluded":
        return 100 * col("excluded")
    raise KeyError(f"unknown gap metric {metric!r}; known: {sorted(GAP_METRIC_BY_NAME)}")


def need_cells(children: pd.DataFrame) -> np.ndarray:
    """Integer cell of each child's first need: band index x number of need types + need type (-1: no need).

    The band's index is read from the severity itself and each distinct need-type label is looked
    up once (not every child's label: 17.5 million strings nationally); the cells are those of
    looking up `severity_band` and every child's `first_need_type` label."""
    severity = children["first_severity"].to_numpy(dtype=np.float64)
    # `severity_band`'s lookup wraps an index of -1 to the last label
    band = (np.searchsorted(SEVERITY_BANDS, severity, side="right") - 1) % len(SEVERITY_LABELS)
    codes, labels = pd.factorize(children["first_need_type"], use_na_sentinel=False)
    type_of_label = pd.Index(list(NEED_TYPES)).get_indexer(pd.Index(labels).astype(str)).astype(np.int64)
    need_type = type_of_label[codes]
    return np.where((severity > 0) & (need_type >= 0), band.astype(np.int64) * len(NEED_TYPES) + need_type, -1)


N_CELLS = len(SEVERITY_LABELS) * len(NEED_TYPES)
CELL_BAND = np.repeat(np.array(SEVERITY_LABELS, dtype=object), len(NEED_TYPES))  # band label of each cell code


def _cell_terms(value: np.ndarray, in_group: np.ndarray, in_comparison: np.ndarray, cell: np.ndarray,
                reference: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | None:
    """(raw gap, weighted within-cell gaps, weights kept) or None if a group has no defined value.

    A cell is kept where both groups have a child with a defined value and the reference weight
    is positive; its term is weight x (group mean - comparison mean) in the cell.
    """
    valid = ~np.isnan(value) & (cell >= 0)
    a = in_group & valid
    b = in_comparison & valid
    if not a.any() or not b.any():
        return None
    size = len(reference)
    # each group's cells and values gathered once (a gather per use was most of the gap tables' time)
    cell_a, value_a, cell_b, value_b = cell[a], value[a], cell[b], value[b]
    count_a = np.bincount(cell_a, minlength=size)
    count_b = np.bincount(cell_b, minlength=size)
    mean_a = np.bincount(cell_a, weights=value_a, minlength=size) / np.maximum(count_a, 1)
    mean_b = np.bincount(cell_b, weights=value_b, minlength=size) / np.maximum(count_b, 1)
    raw = float(value_a.mean() - value_b.mean())
    weights = np.where((count_a > 0) & (count_b > 0) & (reference > 0), reference, 0.0)
    return raw, weights * (mean_a - mean_b), weights


def _components(value, in_group, in_comparison, cell, reference) -> dict[str, float]:
    return _components_of(_cell_terms(value, in_group, in_comparison, cell, reference), reference)


def _components_of(terms, reference) -> dict[str, float]:
    """`_components` from the cell terms (`_cell_terms`), which the band table shares."""
    total = float(reference.sum())
    if terms is None or total <= 0:
        return {"raw": np.nan, "at_equal_need": np.nan, "different_needs": np.nan, COVERAGE: 0.0}
    raw, term, weights = terms
    if weights.sum() <= 0:
        return {"raw": raw, "at_equal_need": np.nan, "different_needs": np.nan, COVERAGE: 0.0}
    at_equal = float(term.sum() / weights.sum())
    different = raw - at_equal
    # raw is stored as the sum of its parts (a last-bit rounding at most) so the identity is exact in every table
    return {"raw": at_equal + different, "at_equal_need": at_equal, "different_needs": different,
            COVERAGE: 100 * float(weights.sum()) / total}


def standardise(value: pd.Series, in_group: pd.Series, in_comparison: pd.Series, cell: pd.Series,
                reference: pd.Series) -> dict[str, float]:
    """Raw and need-standardised gap (group minus comparison) of `value`, with its decomposition.

    `cell` labels each child's need cell; `reference` is the weight of each cell label (any
    scale; renormalised over the cells where both groups have a defined value; cells it does
    not list weigh nothing). Children with NaN `value` are not counted. Returns raw,
    at_equal_need, different_needs and cells_covered (% of the reference weight kept); NaN
    components where a group has no defined value at all.
    """
    labels = pd.Index(reference.index)
    codes = labels.get_indexer(pd.Index(cell))
    codes = np.where(codes >= 0, codes, len(labels))  # unlisted cells: a slot of weight 0
    weights = np.append(reference.to_numpy(dtype=np.float64), 0.0)
    return _components(value.to_numpy(dtype=np.float64), in_group.to_numpy(dtype=bool),
                       in_comparison.to_numpy(dtype=bool), codes, weights)


#: the children-table columns the gaps read (`need_cells`, `metric_values`, the contrasts)
GAP_INPUTS = ("first_severity", "first_need_type", "fsm", "income_quintile", "unmet_months", "need_months",
              "matched_months", "matched_within_a_year", "months_to_matched_support", "ever_ehcp",
              "ever_special_school", "ever_requested", "ks2_expected", "ks4_em4", "neet", "suspensions", "excluded")


def _replicates(children: pd.DataFrame):
    """Each replicate's rows, with only the columns the gaps read: splitting the whole table
    copied every column of every child (the national children table is 17.5 million rows)."""
    children = children[[c for c in children.columns if c in {"replicate", *GAP_INPUTS}]]
    if "replicate" in children.columns:
        yield from children.groupby("replicate", sort=True)
    else:
        yield 0, children


def _contrasts(frame: pd.DataFrame):
    """Per contrast and metric of one replicate: (contrast, metric, value, in_group, in_comparison, cell, reference).

    Only children with need count; the reference is the count of children with need per cell.
    """
    cell = need_cells(frame)
    with_need = cell >= 0
    children, cell = frame[with_need], cell[with_need]
    reference = np.bincount(cell, minlength=N_CELLS).astype(np.float64)
    values = {spec.name: metric_values(children, spec.name).to_numpy(dtype=np.float64) for spec in GAP_METRICS}
    for contrast, (column, high, low, _) in CONTRASTS.items():
        group = children[column].to_numpy().astype(np.int64)
        in_group, in_comparison = group == high, group == low  # once per contrast, not per metric
        for spec in GAP_METRICS:
            yield contrast, spec.name, values[spec.name], in_group, in_comparison, cell, reference


def need_standardised_gaps(children: pd.DataFrame) -> pd.DataFrame:
    """Per replicate, metric and contrast: raw, at_equal_need, different_needs and cells_covered (wide)."""
    return _gap_frames(children, bands=False)[0]


def severity_band_gaps(children: pd.DataFrame) -> pd.DataFrame:
    """Per replicate, metric, contrast and severity band: the band's gap at equal need and its contribution.

    `gap_within_band` standardises over the need types of the band only (the gap among children
    of that severity); `contribution` is the band's term of the headline `at_equal_need` gap, so
    the contributions of the bands add up to it exactly (and their paired changes add up to the
    change in the headline when the same cells are covered in both routes). `reference_share`
    is the band's share (%) of children with need.
    """
    return _gap_frames(children, headline=False)[1]


def _gap_frames(children: pd.DataFrame, headline: bool = True, bands: bool = True) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(`need_standardised_gaps`, `severity_band_gaps`) from one pass over the children: both
    tables are made of the same cell terms, which take most of the time to compute."""
    rows, band_rows = [], []
    for replicate, frame in _replicates(children):
        for contrast, metric, value, a, b, cell, reference in _contrasts(frame):
            terms = _cell_terms(value, a, b, cell, reference)
            if headline:
                rows.append({"replicate": replicate, "metric": metric, "contrast": contrast,
                             **_components_of(terms, reference)})
            if not bands:
                continue
            for band in NEED_BANDS:
                here = CELL_BAND == band
                row = {"replicate": replicate, "metric": metric, "contrast": contrast, "severity_band": band,
                       "reference_share": 100 * float(reference[here].sum()) / max(float(reference.sum()), 1.0),
                       "gap_within_band": np.nan, "contribution": np.nan}
                if terms is not None:
                    _, term, weights = terms
                    if weights[here].sum() > 0:
                        row["gap_within_band"] = float(term[here].sum() / weights[here].sum())
                    if weights.sum() > 0:
                        row["contribution"] = float(term[here].sum() / weights.sum())
                band_rows.append(row)
    return (pd.DataFrame(rows, columns=["replicate", "metric", "contrast", *COMPONENTS, COVERAGE]) if headline else None,
            pd.DataFrame(band_rows) if bands else None)


def gap_metric_rows(children: pd.DataFrame, date) -> pd.DataFrame:
    """Tidy metrics.parquet rows (date, metric, by, group, value) for one replicate's children table.

    `by` is fsm_gap or income_q1_q5_gap; `group` is raw, at_equal_need, different_needs or
    cells_covered; `date` is the run's end (whole-run values).
    """
    wide = need_standardised_gaps(children.drop(columns="replicate", errors="ignore"))
    tidy = wide.melt(id_vars=["metric", "contrast"], value_vars=[*COMPONENTS, COVERAGE], var_name="group")
    tidy["by"] = tidy["contrast"].map({name: spec[3] for name, spec in CONTRASTS.items()})
    tidy["date"] = pd.Timestamp(date)
    return tidy[["date", "metric", "by", "group", "value"]]


# ---- across replicates -----------------------------------------------------------------------
def t_interval(values, level: float = LEVEL) -> tuple[float, float, float, int]:
    """(mean, lo, hi, n) of per-replicate values: the Student t interval for the mean over
    replicates (`sim.metrics.intervals`, the project's one interval). NaN values are dropped;
    with fewer than two values lo and hi are NaN (no spread to measure)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return np.nan, np.nan, np.nan, 0
    mean = float(v.mean())
    half = t_half_width(v, level)
    return mean, mean - half, mean + half, len(v)


GAP_COLUMNS = ["metric", "contrast", "component", "unit", "better", "baseline", "baseline_lo", "baseline_hi",
               "reform", "reform_lo", "reform_hi", "change", "change_lo", "change_hi", "replicates"]
BAND_COLUMNS = ["metric", "contrast", "severity_band", "measure", "unit", "better", "reference_share",
                "baseline", "baseline_lo", "baseline_hi", "reform", "reform_lo", "reform_hi",
                "change", "change_lo", "change_hi", "replicates"]


def _paired_summary(b: pd.DataFrame, r: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Per key: baseline, reform and change = reform - baseline within a replicate, each with its t interval."""
    both = b.merge(r, on=["replicate", *keys], suffixes=("_b", "_r"), how="inner")
    both["change"] = both[f"{value}_r"] - both[f"{value}_b"]
    rows = []
    for key, part in both.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(keys, key))
        for name, column in (("baseline", f"{value}_b"), ("reform", f"{value}_r")):
            row[name], row[f"{name}_lo"], row[f"{name}_hi"], _ = t_interval(part[column])
        paired = part[[f"{value}_b", f"{value}_r"]].notna().all(axis=1)
        row["change"], row["change_lo"], row["change_hi"], row["replicates"] = t_interval(part.loc[paired, "change"])
        rows.append(row)
    return pd.DataFrame(rows)


def _describe(frame: pd.DataFrame) -> pd.DataFrame:
    """Add unit and direction; order rows by metric (as in GAP_METRICS), contrast, then component or band."""
    frame["unit"] = frame["metric"].map(lambda m: GAP_METRIC_BY_NAME[m].unit)
    frame["better"] = frame["metric"].map(lambda m: GAP_METRIC_BY_NAME[m].better)
    order = {**{m.name: i for i, m in enumerate(GAP_METRICS)}, **{c: i for i, c in enumerate(CONTRASTS)},
             **{c: i for i, c in enumerate(COMPONENTS)}, **{b: i for i, b in enumerate(NEED_BANDS)},
             "gap_within_band": 0, "contribution": 1}
    keys = [k for k in ("metric", "contrast", "component", "measure", "severity_band") if k in frame.columns]
    return frame.sort_values(keys, key=lambda column: column.map(order), kind="stable")


def check_same_children(baseline_children: pd.DataFrame, reform_children: pd.DataFrame) -> None:
    """Raise ValueError unless both tables hold the same children with the same first need.

    A paired change in a gap means something only if the two routes' gaps are taken over the
    same children and the same reference need distribution (same seeds, population and dates).
    """
    key = ["replicate", "child"] if "replicate" in baseline_children.columns else ["child"]
    columns = [*key, "fsm", "income_quintile", "first_severity", "first_need_type"]
    if set(columns) <= set(reform_children.columns) and len(baseline_children) == len(reform_children) \
            and baseline_children[columns].reset_index(drop=True).equals(reform_children[columns].reset_index(drop=True)):
        return  # the same rows in the same order (the two routes of one comparison): no sort needed
    b = baseline_children[columns].sort_values(key).reset_index(drop=True)
    r = reform_children[columns].sort_values(key).reset_index(drop=True) if set(columns) <= set(reform_children.columns) else None
    if r is None or len(b) != len(r) or not b.equals(r):
        raise ValueError("the two runs do not hold the same children with the same first need: run both scenarios "
                         "with the same root seed, population and dates")


def gap_comparison(baseline_children: pd.DataFrame, reform_children: pd.DataFrame) -> pd.DataFrame:
    """need_standardised_gaps.csv: each gap component under both routes and its paired change.

    Gaps are computed inside each replicate of each route; the change is reform minus baseline
    within the replicate (the same children, the same reference need distribution), then every
    column is summarised across replicates with `t_interval`.
    """
    check_same_children(baseline_children, reform_children)
    return _comparison_table([need_standardised_gaps(frame) for frame in (baseline_children, reform_children)])


def gap_change_by_severity(baseline_children: pd.DataFrame, reform_children: pd.DataFrame) -> pd.DataFrame:
    """gap_change_by_severity.csv: which severity bands move each need-standardised gap.

    Per metric, contrast and severity band of first need, two measures: `gap_within_band` (the
    gap at equal need among children of that band) and `contribution` (the band's share of the
    headline at_equal_need gap; the bands' contributions, and their changes, add up to the
    headline). `reference_share` is the band's share (%) of children with need.
    """
    check_same_children(baseline_children, reform_children)
    return _band_table([severity_band_gaps(frame) for frame in (baseline_children, reform_children)])


def route_gap_frames(children: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One route's per-replicate gaps (`need_standardised_gaps`, `severity_band_gaps`), which
    `gap_tables` summarises: a comparison computes each route's as soon as that route has run,
    while the other may still be running."""
    return _gap_frames(children)


def gap_tables(baseline_children: pd.DataFrame, reform_children: pd.DataFrame,
               frames: list[tuple[pd.DataFrame, pd.DataFrame]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(`gap_comparison`, `gap_change_by_severity`) with one check and one pass over each route's
    children: the same tables, in about half the time (a comparison writes both). `frames`: each
    route's `route_gap_frames` (baseline, reform), if already made."""
    check_same_children(baseline_children, reform_children)
    if frames is None:
        frames = [_gap_frames(frame) for frame in (baseline_children, reform_children)]
    return _comparison_table([f[0] for f in frames]), _band_table([f[1] for f in frames])


def _comparison_table(wide: list[pd.DataFrame]) -> pd.DataFrame:
    tidy = [frame.melt(id_vars=["replicate", "metric", "contrast"], value_vars=list(COMPONENTS),
                       var_name="component", value_name="value") for frame in wide]
    out = _describe(_paired_summary(tidy[0], tidy[1], ["metric", "contrast", "component"], "value"))
    return out[GAP_COLUMNS].reset_index(drop=True)


def _band_table(shares: list[pd.DataFrame]) -> pd.DataFrame:
    tidy = [frame.melt(id_vars=["replicate", "metric", "contrast", "severity_band"],
                       value_vars=["gap_within_band", "contribution"], var_name="measure", value_name="value")
            for frame in shares]
    out = _paired_summary(tidy[0], tidy[1], ["metric", "contrast", "severity_band", "measure"], "value")
    share = shares[0].groupby("severity_band")["reference_share"].mean()
    out["reference_share"] = out["severity_band"].map(share)
    return _describe(out)[BAND_COLUMNS].reset_index(drop=True)
