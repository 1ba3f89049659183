"""Events (requests, refusals, plans, appeals...) as columnar logs, turned into metrics later.

Why a log: flows are counted once, where they happen, and every breakdown (FSM, income
quintile, need type, council) is a join on the child's row afterwards, not extra bookkeeping in
the hot loop. Logs are small: a council has about a thousand requests a year.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd


class EventLog:
    def __init__(self) -> None:
        self._chunks: dict[str, list[dict[str, np.ndarray]]] = defaultdict(list)

    def log(self, name: str, t: int, rows: np.ndarray, **columns: np.ndarray) -> None:
        """Keep one chunk: the month, the rows and each column, as copies (a column given as one
        value is repeated for every row, in that value's dtype).

        Why not `np.broadcast_to(values, n).copy()` for every column: the month logs about fifty
        chunks, most of a few rows, and broadcasting's Python-level checks cost more than the
        copy; a column that already has one value per row is copied, a single value filled."""
        n = len(rows)
        if n == 0:
            return
        chunk = {"month": np.full(n, t, dtype=np.int16), "row": rows.astype(np.int64)}
        for key, values in columns.items():
            values = np.asarray(values)
            if values.shape == (n,):
                chunk[key] = values.copy()
            elif values.ndim == 0:
                chunk[key] = np.full(n, values, dtype=values.dtype)
            else:
                chunk[key] = np.broadcast_to(values, n).copy()
        self._chunks[name].append(chunk)

    def frame(self, name: str) -> pd.DataFrame:
        chunks = self._chunks.get(name, [])
        if not chunks:
            return pd.DataFrame({"month": np.array([], dtype=np.int16), "row": np.array([], dtype=np.int64)})
        keys = chunks[0].keys()
        return pd.DataFrame({k: np.concatenate([c[k] for c in chunks]) for k in keys})

    def count(self, name: str) -> int:
        return sum(len(c["row"]) for c in self._chunks.get(name, []))

    def names(self) -> list[str]:
        return sorted(self._chunks)
