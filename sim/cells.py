"""Census and year snapshots summed into (breakdown group) cells: one definition for the recorder,
which sums each census and each calendar year as it is taken, and for the metrics, which read the
cells and label their codes (sim/metrics/compute.py).

Why its own module: the metrics and the command line import it without the monthly step (the
recorder imports the step's processes, and with them scipy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config.schema import NEED_TYPES
from sim.population.state import EHCP, INDEPENDENT_SPECIAL, SEN_SUPPORT, STATE_SPECIAL, TARGETED_PLUS

#: Lower edges of the severity bands (none, mild, moderate, severe, complex) the metrics break
#: need down by: 0 exactly is no need; the mild band starts just above it.
SEVERITY_BANDS = np.array([0.0, 1e-6, 1.0, 2.0, 3.0])
SEN_STATUSES = 4  # support levels: no SEN, SEN support, targeted plus, EHCP (sim.population.state)
COLLAPSE_MAX_CELLS = 2.0**62  # joint cell codes are int64


@dataclass
class Cells:
    """A census or a calendar year summed into cells: one entry per combination of breakdown codes
    that has any pupil, with each count summed over the cell's pupils.

    `keys` maps each breakdown to (code of each cell, number of codes); `counts` maps each count to
    its sum per cell, a whole number (`count` reads it as float64); `concentration` is the year's concentration index of matched support
    (`concentration_index`; year snapshots only, None when no pupil had need).
    """

    t: int
    keys: dict[str, tuple[np.ndarray, int]]
    counts: dict[str, np.ndarray]
    concentration: float | None = None

    def count(self, name: str) -> np.ndarray:
        """A count of every cell as float64, as the metrics sum it."""
        return self.counts[name].astype(np.float64)


def compact_cells(t: int, keys: dict[str, tuple[np.ndarray, int]], counts: dict[str, np.ndarray],
                  concentration: float | None = None) -> Cells:
    """Cells kept in the smallest integer types that hold them exactly: codes in one or two bytes,
    counts (whole numbers) in int32 unless one exceeds it. Read back as float64 they are the
    same sums (`Cells.count`); a national run keeps two dozen snapshots of up to about a hundred
    thousand cells each, a third of the memory of float64 and int64 columns."""
    small = {name: (codes.astype(np.min_scalar_type(max(size - 1, 0))), size)
             for name, (codes, size) in keys.items()}
    whole = {}
    for name, values in counts.items():
        as_int = values.astype(np.int64)
        fits = len(as_int) == 0 or (as_int.min() >= np.iinfo(np.int32).min and as_int.max() <= np.iinfo(np.int32).max)
        whole[name] = as_int.astype(np.int32) if fits else as_int
    return Cells(t, small, whole, concentration)


def breakdown_codes(fsm: np.ndarray, income_quintile: np.ndarray, council: np.ndarray, n_councils: int,
                    support_level: np.ndarray | None = None, severity: np.ndarray | None = None,
                    need_type: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, int]]:
    """The breakdown groups of a set of children as integer codes: {breakdown: (codes, number of codes)}.

    One definition for every metric: the metrics label these codes (sim.metrics.compute), and the
    recorder sums census and year snapshots into cells by them. FSM 0/1; income quintile 1-5 as
    0-4; council as its local index; SEN status as the support level; severity band by
    SEVERITY_BANDS; need type as its index, or one past the last for children without need
    (severity 0), whatever type they last had.
    """
    codes = {
        "fsm": (np.asarray(fsm).astype(np.int8), 2),
        "income_quintile": (np.asarray(income_quintile).astype(np.int8) - 1, 5),
        "council": (np.asarray(council).astype(np.int32), n_councils),
    }
    if support_level is not None:
        codes["sen_status"] = (np.asarray(support_level, dtype=np.int8), SEN_STATUSES)
    if severity is not None:
        sev = np.asarray(severity, dtype=np.float64)
        band = np.searchsorted(SEVERITY_BANDS, sev, side="right") - 1
        codes["severity_band"] = (band.astype(np.int8), len(SEVERITY_BANDS))
        codes["need_type"] = (np.where(sev > 0, np.asarray(need_type).astype(np.int8), len(NEED_TYPES)).astype(np.int8),
                              len(NEED_TYPES) + 1)
    return codes


EXACT_SUM_LIMIT = 2.0**53  # integers up to here are exact in float64, so their sums do not depend on order


def exact_in_any_order(values: np.ndarray) -> bool:
    """Whole numbers whose total stays below 2**53: every partial sum is exact, in any order."""
    return bool(np.array_equal(values, np.trunc(values)) and np.abs(values).sum() < EXACT_SUM_LIMIT)


def sum_into_cells(keys: dict[str, tuple[np.ndarray, int]], counts: dict[str, np.ndarray | None]) -> tuple[dict, dict]:
    """Units summed into cells: (keys of the cells, counts of the cells). A cell is a combination of
    the breakdown codes in `keys` that has any unit; each count in `counts` is summed over the
    cell's units (None counts the units themselves). Cells come in the order of their joint code.

    Why: a census or a year's access measures have one unit per pupil (about eight million a year
    nationally); every breakdown of a ratio over them is a sum over cells, and a year is a few
    tens of thousands of cells. Counts must be whole numbers (flags, months, events): their
    float64 sums are exact in any order while totals stay below 2**53, so every metric is the same
    bit for bit as summing unit by unit; other values (money) must not be collapsed, and a
    ValueError says so. A cell exists only if some unit is in it, so a group is present in a
    breakdown exactly when it was with one row per unit.
    """
    names = list(keys)
    sizes = [keys[name][1] for name in names]
    n = len(keys[names[0]][0]) if names else 0
    cardinality = float(np.prod(sizes, dtype=np.float64))
    if cardinality >= COLLAPSE_MAX_CELLS:
        raise ValueError("too many breakdown combinations to collapse into cells")
    joint = np.zeros(n, dtype=np.int64)
    for name, size in zip(names, sizes):
        joint *= size
        joint += keys[name][0]
    if cardinality <= max(4 * n, 1 << 22):  # dense cells: counting beats sorting
        present = np.bincount(joint, minlength=int(cardinality))
        cells = np.flatnonzero(present)
        size = int(cardinality)

        def total(weights):
            return (present if weights is None else np.bincount(joint, weights=weights, minlength=size))[cells].astype(np.float64)
    else:
        cells, cell = np.unique(joint, return_inverse=True)

        def total(weights):
            return np.bincount(cell, weights=weights, minlength=len(cells)).astype(np.float64)
    cell_keys = {}
    rest = cells
    for name, size in reversed(list(zip(names, sizes))):
        cell_keys[name] = (rest % size, size)
        rest = rest // size
    cell_keys = {name: cell_keys[name] for name in names}
    cell_counts = {}
    for name, weights in counts.items():
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if not exact_in_any_order(weights):
                raise ValueError(f"{name}: only whole-number counts can be summed into cells")
        cell_counts[name] = total(weights)
    return cell_keys, cell_counts


def concentration_index(matched_months: np.ndarray, need_months: np.ndarray, band: np.ndarray, quintile: np.ndarray) -> float:
    """Need-adjusted concentration index of matched support by income rank, over one year's pupils with need.

    y = share of need-months with matched support, indirectly standardised for need
    (y - mean(y | severity band) + mean(y)); rank = fractional income rank (quintile codes 0-4,
    ties at their mid-rank). CI = 2 cov(y, rank) / mean(y): positive means support matched to
    need is concentrated among better-off families, 0 means none (docs/MODEL.md). NaN when no
    support was matched. Needs one value per child, so it is computed year by year, as each
    year closes.
    """
    y = np.asarray(matched_months, dtype=np.float64) / np.asarray(need_months, dtype=np.float64)
    band_mean = np.bincount(band, weights=y) / np.maximum(np.bincount(band), 1)
    adjusted = y - band_mean[band] + y.mean()
    counts = np.bincount(quintile, minlength=5)
    mid_rank = (np.cumsum(counts) - counts / 2) / len(quintile)
    rank = mid_rank[quintile]
    return 2 * np.cov(adjusted, rank, bias=True)[0, 1] / adjusted.mean() if adjusted.mean() > 0 else np.nan


def reduce_census(t: int, columns: dict[str, np.ndarray], fsm: np.ndarray, income_quintile: np.ndarray,
                 council: np.ndarray, n_councils: int) -> Cells:
    """A January census of the pupils (Reception-Year 11) in `columns` (their year group, support
    level, placement, need type, severity as float16, ISP and FSM at the census) summed into cells
    by every census breakdown, with the counts the census shares need: pupils ("one"), EHCP, SEN
    support, targeted plus, ISP, FSM at the census ("is_fsm") and plan holders in special schools.
    `fsm`, `income_quintile`, `council`: the breakdown attributes of the same pupils."""
    level = columns["support_level"]
    placement = columns["placement"]
    keys = breakdown_codes(fsm, income_quintile, council, n_councils, support_level=level,
                           severity=columns["severity"], need_type=columns["need_type"])
    cell_keys, cell_counts = sum_into_cells(keys, {
        "one": None,
        "ehcp": level == EHCP,
        "sen_support": level == SEN_SUPPORT,
        "targeted_plus": level == TARGETED_PLUS,
        "isp": columns["isp"],
        "is_fsm": columns["fsm"],
        "special": (level == EHCP) & ((placement == STATE_SPECIAL) | (placement == INDEPENDENT_SPECIAL)),
    })
    return compact_cells(t, cell_keys, cell_counts)


def reduce_year(t: int, columns: dict[str, np.ndarray], fsm: np.ndarray, income_quintile: np.ndarray,
               council: np.ndarray, n_councils: int) -> Cells:
    """A calendar year's access accumulators of the pupils in `columns` (support level, need type
    and float16 severity in December; months with need, unmet and matched; suspensions) summed into
    cells by every breakdown, with the year's concentration index worked out while each pupil's
    values are at hand."""
    need_months = columns["need_months"]
    matched_months = columns["matched_months"]
    keys = breakdown_codes(fsm, income_quintile, council, n_councils, support_level=columns["support_level"],
                           severity=columns["severity"], need_type=columns["need_type"])
    with_need = need_months > 0
    index = None
    if with_need.any():
        index = concentration_index(matched_months[with_need], need_months[with_need],
                                    keys["severity_band"][0][with_need], keys["income_quintile"][0][with_need])
    cell_keys, cell_counts = sum_into_cells(keys, {
        "with_need": with_need,
        "need_months": need_months,
        "unmet_months": columns["unmet_months"],
        "matched_months": matched_months,
        "suspensions": columns["suspensions"],
        "one": None,
    })
    return compact_cells(t, cell_keys, cell_counts, index)
