"""Counter-based random draws keyed on (seed, process, month, child): common random numbers.

Why: a baseline and a reform must give the same child the same luck. A draw here is a pure
function of the root seed, the process name, the month and the child's stable identity, so it
cannot depend on which other children were eligible, on the order of evaluation, on how many
councils share a process, or on which executor ran the job.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy.special import ndtri

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S1, _S2, _S3 = np.uint64(30), np.uint64(27), np.uint64(31)
_UNIT_SHIFT = np.uint64(11)
_TO_UNIT = 1.0 / float(1 << 53)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Finaliser of SplitMix64: a bijective avalanche mix of 64-bit integers (in place on `x`,
    which is returned: the monthly step calls this thousands of times, so no temporaries)."""
    shifted = np.empty_like(x)
    for shift, multiplier in ((_S1, _M1), (_S2, _M2)):
        np.right_shift(x, shift, out=shifted)
        np.bitwise_xor(x, shifted, out=x)
        np.multiply(x, multiplier, out=x)
    np.right_shift(x, _S3, out=shifted)
    np.bitwise_xor(x, shifted, out=x)
    return x


def child_key(council: np.ndarray, local_id: np.ndarray) -> np.ndarray:
    """Stable 64-bit identity of a child: council in the high bits, local id in the low bits."""
    return (council.astype(np.uint64) << np.uint64(32)) | local_id.astype(np.uint64)


class RandomStreams:
    """Named, independent streams derived from one root seed."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def stream_key(self, process: str, month: int, draw: int = 0) -> np.uint64:
        digest = hashlib.blake2b(f"{self.seed}|{process}|{month}|{draw}".encode(), digest_size=8).digest()
        return np.uint64(int.from_bytes(digest, "little"))

    def uniform(self, process: str, month: int, keys: np.ndarray, draw: int = 0) -> np.ndarray:
        """One U[0,1) per child key, for this process and month (float64)."""
        keys = np.asarray(keys).astype(np.uint64, copy=False)
        with np.errstate(over="ignore"):
            mixed = np.multiply(keys, _GOLDEN)
            mixed += self.stream_key(process, month, draw)
            _splitmix64(mixed)
        np.right_shift(mixed, _UNIT_SHIFT, out=mixed)
        unit = mixed.astype(np.float64)
        unit *= _TO_UNIT
        return unit

    def normal(self, process: str, month: int, keys: np.ndarray, draw: int = 0) -> np.ndarray:
        """Standard normal per child key (inverse-CDF of a keyed uniform)."""
        u = self.uniform(process, month, keys, draw)
        return ndtri(np.clip(u, 1e-12, 1 - 1e-12))

    def generator(self, *labels: object) -> np.random.Generator:
        """A classic numpy Generator for one-off structural draws (schools, population layout)."""
        words = [int.from_bytes(hashlib.blake2b(str(label).encode(), digest_size=4).digest(), "little") for label in labels]
        return np.random.default_rng(np.random.SeedSequence([self.seed & 0xFFFFFFFF, self.seed >> 32, *words]))
