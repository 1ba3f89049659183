"""One definition of what a new need looks like: its type and the severity its type carries.

Why one module: a need present at the start census (`build._draw_needs`) and a need that emerges
later (`processes.needs`) must come from the same distribution of types (the published mix of
primary needs, tilted towards SEMH, SLCN and MLD among FSM children) and the same relative
severity by type, or the start would not be a steady state of the dynamics. The two callers
differ only in where their uniforms and severity draws come from (a seeded generator at build,
the counter-based streams each month) and in the severity's level (later onsets start milder).
"""

from __future__ import annotations

import numpy as np

from sim.config.schema import NEED_TYPES


def need_type_from_uniform(needs, fsm: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Primary need type (index into NEED_TYPES) for each child, from one uniform draw each:
    `needs.type_mix` tilted by `needs.deprivation_type_tilt` for FSM children (`fsm`: bool).

    The type is the number of cumulative type shares below the child's uniform. There are only
    two rows of shares (FSM or not), so each is found by a binary search in its row rather than
    by a row of shares per child (which a whole population's build would spend most time on)."""
    weights = np.array(needs.type_mix)[None, :] * np.exp(np.outer([False, True], needs.deprivation_type_tilt))
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    need_type = np.searchsorted(cumulative[0], uniform)
    need_type[fsm] = np.searchsorted(cumulative[1], uniform[fsm])
    return need_type.clip(0, len(NEED_TYPES) - 1)


def relative_type_severity(needs) -> np.ndarray:
    """Severity multiplier of each need type, normalised so the mix-weighted mean is 1 (the
    severity level is set by `needs.severity_mean`, the spread between types by `needs.type_severity`)."""
    type_severity = np.array(needs.type_severity)
    mix = np.array(needs.type_mix) / np.sum(needs.type_mix)
    return type_severity / (mix * type_severity).sum()
