"""Counter-based random draws keyed on (seed, process, month, child): common random numbers.

Why: a baseline and a reform must give the same child the same luck. A draw here is a pure
function of the root seed, the process name, the month and the child's stable identity, so it
cannot depend on which other children were eligible, on the order of evaluation, on how many
councils share a process, or on which executor ran the job.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from scipy.special import ndtri

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S1, _S2, _S3 = np.uint64(30), np.uint64(27), np.uint64(31)
_UNIT_SHIFT = np.uint64(11)
_UNIT_BITS = 53
_TO_UNIT = 1.0 / float(1 << _UNIT_BITS)


#: Elements mixed at a time by `_splitmix64`. Not a model parameter (it changes no draw): the mix
#: is eight passes over its array, and over a whole roll (80,000 children, 640 KB per array with
#: its scratch) each pass would go out to memory; blocks of 16,384 (128 KB, with the scratch
#: 256 KB) stay in the core's cache through all eight. Measured at 80,000 keys: 550 us mixed
#: whole, 220 us in blocks of 16,384 or 32,768, 330 us in blocks of 4,096.
MIX_BLOCK = 16_384


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Finaliser of SplitMix64: a bijective avalanche mix of 64-bit integers (in place on `x`,
    which is returned: the monthly step calls this thousands of times, so no temporaries), a
    block of `MIX_BLOCK` elements at a time."""
    if x.size <= MIX_BLOCK:  # most calls: a few children (no reshaping, no loop)
        _mix_block(x, np.empty_like(x))
        return x
    flat = x.reshape(-1)  # a view (x is a new array of its own): any shape
    scratch = np.empty(min(len(flat), MIX_BLOCK), dtype=x.dtype)
    for start in range(0, len(flat), MIX_BLOCK):
        block = flat[start:start + MIX_BLOCK]
        _mix_block(block, scratch[:len(block)])
    return x


def _mix_block(block: np.ndarray, scratch: np.ndarray) -> None:
    """The SplitMix64 finaliser on one block, in place (`scratch`: an array of the same length)."""
    for shift, multiplier in ((_S1, _M1), (_S2, _M2)):
        np.right_shift(block, shift, out=scratch)
        np.bitwise_xor(block, scratch, out=block)
        np.multiply(block, multiplier, out=block)
    np.right_shift(block, _S3, out=scratch)
    np.bitwise_xor(block, scratch, out=block)


def mix_keys(keys: np.ndarray) -> np.ndarray:
    """`keys` times the golden-ratio constant (wrapping), as a new array: the half of a draw's input
    that depends on the child alone."""
    return np.multiply(np.asarray(keys).astype(np.uint64, copy=False), _GOLDEN)


def _to_unit(mixed: np.ndarray) -> np.ndarray:
    """The top 53 bits of each mixed value as a float in [0, 1) (in place on `mixed` for the shift)."""
    np.right_shift(mixed, _UNIT_SHIFT, out=mixed)
    unit = mixed.astype(np.float64)
    unit *= _TO_UNIT
    return unit


def _draw_limit(bound: float) -> int | None:
    """The whole number `limit` with "draw < bound" exactly when the mixed value is below `limit`
    (None: every draw is below the bound).

    A draw is k * 2**-53 with k = x >> 11 (x the mixed 64-bit value); k * 2**-53 < bound exactly
    when k < ceil(bound * 2**53) (scaling by a power of two is exact), which is x < that << 11.
    A bound that is not above 0 (or NaN) selects nobody, as the float comparison would."""
    bound = float(bound)
    if not bound > 0.0:
        return 0
    if bound >= 1.0:
        return None
    steps = math.ceil(bound * float(1 << _UNIT_BITS))
    return steps << int(_UNIT_SHIFT)


#: Draws for at most this many keys are mixed with Python integers, key by key, not with numpy.
#: Not a model parameter (the values are the same bits either way: `_uniform_few`). Why: about
#: half of a month's draws are for one to eight children (a decision, an appeal, a placement),
#: and a dozen numpy calls on a tiny array cost more than the arithmetic itself.
FEW_KEYS = 8
_MASK64 = (1 << 64) - 1
_GOLDEN_INT, _M1_INT, _M2_INT = int(_GOLDEN), int(_M1), int(_M2)


def _uniform_few(keys: np.ndarray, stream: int) -> np.ndarray:
    """`RandomStreams.uniform` for a few keys (uint64), in Python integers modulo 2**64: the same
    SplitMix64 steps on the same 64-bit values, and the same exact conversion of the top 53
    bits to a float (`tests/test_random_streams.py` compares the two paths)."""
    out = np.empty(len(keys), dtype=np.float64)
    for i, key in enumerate(keys.tolist()):
        x = (key * _GOLDEN_INT + stream) & _MASK64
        x = ((x ^ (x >> 30)) * _M1_INT) & _MASK64
        x = ((x ^ (x >> 27)) * _M2_INT) & _MASK64
        x ^= x >> 31
        out[i] = (x >> 11) * _TO_UNIT
    return out


def _below(mixed: np.ndarray, limit: int | None, out: np.ndarray) -> None:
    """out = whether each mixed value's draw is below the bound whose `_draw_limit` is `limit`."""
    if limit is None:
        out[:] = True
    else:
        np.less(mixed, np.uint64(limit), out=out)


def child_key(council: np.ndarray, local_id: np.ndarray) -> np.ndarray:
    """Stable 64-bit identity of a child: council in the high bits, local id in the low bits."""
    return (council.astype(np.uint64) << np.uint64(32)) | local_id.astype(np.uint64)


class RandomStreams:
    """Named, independent streams derived from one root seed."""

    #: stream keys remembered at most (then forgotten all at once; a month asks for about 80)
    STREAM_KEYS_KEPT = 4096

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._stream_keys: dict[tuple[str, int, int], np.uint64] = {}

    def stream_key(self, process: str, month: int, draw: int = 0) -> np.uint64:
        """The hash of (seed, process, month, draw) that starts every draw of that stream.

        Remembered once made: a month draws about 80 times, most for a few children, and the
        hash cost more than mixing their keys."""
        label = (process, month, draw)
        key = self._stream_keys.get(label)
        if key is None:
            if len(self._stream_keys) >= self.STREAM_KEYS_KEPT:
                self._stream_keys.clear()
            digest = hashlib.blake2b(f"{self.seed}|{process}|{month}|{draw}".encode(), digest_size=8).digest()
            key = self._stream_keys[label] = np.uint64(int.from_bytes(digest, "little"))
        return key

    def uniform(self, process: str, month: int, keys: np.ndarray, draw: int = 0) -> np.ndarray:
        """One U[0,1) per child key, for this process and month (float64)."""
        if len(keys) == 0:  # many of a month's draws are for nobody (no appeal, no mediation...)
            return np.zeros(np.shape(keys), dtype=np.float64)
        if np.ndim(keys) == 1 and len(keys) <= FEW_KEYS:
            return _uniform_few(np.asarray(keys).astype(np.uint64, copy=False), int(self.stream_key(process, month, draw)))
        mixed = mix_keys(keys)
        mixed += self.stream_key(process, month, draw)  # integer arrays wrap silently (no errstate needed)
        return _to_unit(_splitmix64(mixed))

    def draws_below(self, process: str, month: int, keys: np.ndarray, bound: float,
                    among: np.ndarray | None = None, draw: int = 0,
                    higher: tuple[np.ndarray, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(positions, draws): the positions in `keys` (child keys, uint64) whose draw is below
        `bound`, and only where `among` (a boolean mask of the same length) is set, with those draws
        (the same values `uniform` gives those keys). `higher = (mask, higher_bound)`: the
        positions in `mask` are held to `higher_bound` instead (a group whose hazards can be
        higher, e.g. pupils with need, while everyone else keeps a much lower bound).

        Why: a monthly hazard over the whole roll (need onset, suspensions) selects a few children
        in a thousand. Here the draws are compared with the bound as 64-bit integers, before they
        are turned into floats (a draw is `(x >> 11) * 2**-53`, so "draw < bound" is "x < limit"
        for one whole number, `_draw_limit`), and only the few below it are converted; the whole
        contiguous roll is mixed a block at a time (each block's keys multiplied, added to, mixed,
        compared and its few selected positions taken while it is in cache; no index array of
        most children, no gathered keys, no array of the whole roll's draws), and the mask of who may be selected
        is applied to the comparison. The draws are the same keyed draws, so the same children
        are selected as by `uniform` and a float comparison.
        """
        stream = np.uint64(self.stream_key(process, month, draw))
        limit = _draw_limit(bound)
        high_mask, high_limit = (None, None) if higher is None else (higher[0], _draw_limit(higher[1]))
        n = len(keys)
        buffer = np.empty(min(n, MIX_BLOCK), dtype=np.uint64)
        scratch = np.empty_like(buffer)
        keep = np.empty(len(buffer), dtype=bool)
        high = np.empty(len(buffer), dtype=bool)
        positions, draws = [np.zeros(0, dtype=np.intp)], [np.zeros(0)]
        for start in range(0, n, MIX_BLOCK):
            stop = min(start + MIX_BLOCK, n)
            block, keep_block = buffer[:stop - start], keep[:stop - start]
            np.multiply(keys[start:stop], _GOLDEN, out=block)
            block += stream
            _mix_block(block, scratch[:len(block)])
            _below(block, limit, keep_block)
            if high_mask is not None:
                high_block = high[:len(block)]
                _below(block, high_limit, high_block)
                high_block &= high_mask[start:stop]
                keep_block |= high_block
            if among is not None:
                keep_block &= among[start:stop]
            selected = np.flatnonzero(keep_block)
            positions.append(selected + start)
            draws.append(_to_unit(block[selected]))
        return np.concatenate(positions), np.concatenate(draws)

    def normal(self, process: str, month: int, keys: np.ndarray, draw: int = 0) -> np.ndarray:
        """Standard normal per child key (inverse-CDF of a keyed uniform)."""
        u = self.uniform(process, month, keys, draw)
        return ndtri(np.clip(u, 1e-12, 1 - 1e-12))

    def generator(self, *labels: object) -> np.random.Generator:
        """A classic numpy Generator for one-off structural draws (schools, population layout)."""
        words = [int.from_bytes(hashlib.blake2b(str(label).encode(), digest_size=4).digest(), "little") for label in labels]
        return np.random.default_rng(np.random.SeedSequence([self.seed & 0xFFFFFFFF, self.seed >> 32, *words]))
