"""The counter-based draws of `sim/random_streams.py`, one child at a time, in plain Python integers.

Why a second implementation: the oracle must give each child exactly the draw the vectorised
processes give it, and calling numpy once per child would make the oracle measure numpy's call
overhead rather than per-object code. The arithmetic is SplitMix64 on the child's key, offset by
a keyed hash of (seed, process, month, draw), as in `RandomStreams.uniform`; here the 64-bit
wrap-around is written out as `& MASK`. `tests/test_oracle.py` checks the two agree bit for bit.
"""

from __future__ import annotations

from sim.random_streams import RandomStreams

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
M1 = 0xBF58476D1CE4E5B9
M2 = 0x94D049BB133111EB
TO_UNIT = 1.0 / float(1 << 53)


class KeyedDraws:
    """U[0,1) for one child key at a time, identical to `RandomStreams.uniform` for that key."""

    def __init__(self, streams: RandomStreams) -> None:
        self.streams = streams
        self._stream_keys: dict[tuple[str, int, int], int] = {}

    def stream_key(self, process: str, month: int, draw: int = 0) -> int:
        """The keyed hash of (seed, process, month, draw), cached: it is the same for every child."""
        label = (process, month, draw)
        key = self._stream_keys.get(label)
        if key is None:
            key = self._stream_keys[label] = int(self.streams.stream_key(process, month, draw))
        return key

    def uniform(self, process: str, month: int, child_key: int, draw: int = 0) -> float:
        x = (child_key * GOLDEN + self.stream_key(process, month, draw)) & MASK
        x = ((x ^ (x >> 30)) * M1) & MASK
        x = ((x ^ (x >> 27)) * M2) & MASK
        x ^= x >> 31
        return (x >> 11) * TO_UNIT
