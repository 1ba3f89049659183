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
        if len(rows) == 0:
            return
        chunk = {"month": np.full(len(rows), t, dtype=np.int16), "row": rows.astype(np.int64)}
        for key, values in columns.items():
            chunk[key] = np.broadcast_to(values, len(rows)).copy()
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
