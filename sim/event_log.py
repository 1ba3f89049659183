"""Events (requests, refusals, plans, appeals...) as columnar logs, turned into metrics later.

Why a log: flows are counted once, where they happen, and every breakdown (FSM, income
quintile, need type, council) is a join on the child's row afterwards, not extra bookkeeping in
the hot loop. A council has about a thousand requests a year, but the whole-England run logs
some 65 million events (suspensions, key stage results, appealable decisions...) that live until
its metrics are done, so each is kept compactly (see `EventLog.log`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

ROW_DTYPE = np.int64  # the dtype `frame` gives the rows in (they are kept narrower while the run lasts)


@dataclass
class _Chunk:
    """One call's events: all in month `t`; each text column as codes into its own labels."""

    t: int
    rows: np.ndarray
    columns: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]

    def column(self, key: str) -> np.ndarray:
        return self.labels[key][self.columns[key]] if key in self.labels else self.columns[key]


class EventLog:
    def __init__(self, kinds=None) -> None:
        """`kinds`: keep events of these kinds alone, and drop the rest as they are logged (None:
        keep every kind). Asking for a kind the log does not keep is an error, not an empty
        frame, so a metric cannot silently read nothing.

        Why drop kinds at once: the children table and the metrics read a dozen kinds, and
        nothing reads the log while a model runs, so a replicate that is only measured need not
        keep the rest (Experts at Hand served, suspensions, reviews, placements...) until its
        run ends: measured nationally, the tiered route's worker peaked 0.39 GiB lower (its log
        held 51 bytes per child row, 21 of them read) and the EHCP route's 0.16 GiB lower."""
        self._chunks: dict[str, list[_Chunk]] = defaultdict(list)
        self._kept: frozenset[str] | None = None if kinds is None else frozenset(kinds)

    def keeps(self, name: str) -> bool:
        return self._kept is None or name in self._kept

    def only(self, names) -> "EventLog":
        """A log of these kinds of event alone (the same chunks, not copies), as `EventLog(names)`.

        Why: a finished replicate keeps the kinds the children table and the metrics read and
        lets the rest go (about 15 bytes per child row nationally, for a log that kept them)."""
        names = frozenset(names)
        if self._kept is not None and not names <= self._kept:
            raise KeyError(f"events {sorted(names - self._kept)} were not kept in this log (it keeps {sorted(self._kept)})")
        log = EventLog(names)
        log._chunks.update({name: chunks for name, chunks in self._chunks.items() if name in names})
        return log

    def _chunks_of(self, name: str) -> list[_Chunk]:
        if not self.keeps(name):
            raise KeyError(f"events {name!r} were not kept in this log (it keeps {sorted(self._kept)})")
        return self._chunks.get(name, [])

    def log(self, name: str, t: int, rows: np.ndarray, **columns: np.ndarray) -> None:
        """Keep one chunk: the month, the rows and each column, as copies (a column given as one
        value is repeated for every row, in that value's dtype).

        Kept compactly, and given back by `frame` exactly as logged: the month once per chunk
        (every event of a call is in the same month), the rows as 32-bit integers (a national
        run has 17.5 million child rows), and a text column (an appeal's kind, a review's phase:
        a few distinct values, 28-36 bytes each as fixed-width text) as one-byte codes into its
        distinct values. Nationally this takes the log from about 75 to about 40 bytes per
        child row, which a worker holds from the end of the run until its metrics are done.

        Why not `np.broadcast_to(values, n).copy()` for every column: the month logs about fifty
        chunks, most of a few rows, and broadcasting's Python-level checks cost more than the
        copy; a column that already has one value per row is copied, a single value filled."""
        n = len(rows)
        if n == 0 or not self.keeps(name):
            return
        kept: dict[str, np.ndarray] = {}
        labels: dict[str, np.ndarray] = {}
        for key, values in columns.items():
            values = np.asarray(values)
            if values.dtype.kind == "U":
                labels[key], codes = np.unique(np.broadcast_to(values, n), return_inverse=True)
                kept[key] = codes.astype(np.uint8) if len(labels[key]) <= 256 else codes
            elif values.shape == (n,):
                kept[key] = values.copy()
            elif values.ndim == 0:
                kept[key] = np.full(n, values, dtype=values.dtype)
            else:
                kept[key] = np.broadcast_to(values, n).copy()
        kept_rows = rows.astype(np.int32 if rows.max() <= np.iinfo(np.int32).max else ROW_DTYPE)  # rows are never negative
        self._chunks[name].append(_Chunk(int(t), kept_rows, kept, labels))

    def frame(self, name: str, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Every event of one kind, in the order logged: month (int16), row (int64) and each
        column in the dtype it was logged in (`columns`: only these, of those logged).

        Why choose columns: a national run has some 20 million appealable decisions; each
        column not read costs a frame of them (the kind alone, as text, 28 bytes each)."""
        chunks = self._chunks_of(name)
        if not chunks:
            return pd.DataFrame({"month": np.array([], dtype=np.int16), "row": np.array([], dtype=ROW_DTYPE)})
        months = np.repeat(np.array([c.t for c in chunks], dtype=np.int16), [len(c.rows) for c in chunks])
        rows = np.concatenate([c.rows.astype(ROW_DTYPE, copy=False) for c in chunks])
        names = [k for k in chunks[0].columns if columns is None or k in columns]
        columns = {k: np.concatenate([c.column(k) for c in chunks]) for k in names}
        return pd.DataFrame({"month": months, "row": rows, **columns})

    def count(self, name: str) -> int:
        return sum(len(c.rows) for c in self._chunks_of(name))

    def names(self) -> list[str]:
        return sorted(self._chunks)

    def nbytes(self) -> int:
        """Bytes the kept events take (their arrays)."""
        return sum(c.rows.nbytes + sum(v.nbytes for v in c.columns.values()) + sum(v.nbytes for v in c.labels.values())
                   for chunks in self._chunks.values() for c in chunks)
