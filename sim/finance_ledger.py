"""The ledger: every pound the model spends, by month, council, line and budget holder.

Why a ledger: "money booked equals money spent" is checkable only if each cost is booked once
in one place; deficits and cost tables are then sums over it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# (line, budget holder)
LINES = (
    ("sen_support", "school"),
    ("ehcp_school_contribution", "school"),
    ("ehcp_mainstream_topup", "council_high_needs"),
    ("inclusion_base", "council_high_needs"),
    ("state_special", "council_high_needs"),
    ("independent_special", "council_high_needs"),
    ("transport", "council_general_fund"),  # home-to-school transport: councils' own budgets, not the high-needs block
    ("alternative_provision", "council_high_needs"),
    ("assessment", "council_high_needs"),
    ("ep_locum", "council_high_needs"),
    ("mediation", "council_high_needs"),
    ("tribunal", "council_high_needs"),
    ("targeted_plus", "central_reform"),
    ("experts_at_hand", "central_reform"),
    ("inclusive_mainstream_fund", "central_reform"),
    ("teacher_training", "central_reform"),
    ("inclusion_base_capital", "central_reform"),
)
LINE_INDEX = {name: i for i, (name, _) in enumerate(LINES)}
HOLDER = np.array([holder for _, holder in LINES])
HIGH_NEEDS = np.array([holder == "council_high_needs" for _, holder in LINES])


class Ledger:
    def __init__(self, n_months: int, n_councils: int) -> None:
        self.amounts = np.zeros((n_months, n_councils, len(LINES)))

    def book(self, t: int, line: str, council: np.ndarray | int, amount: np.ndarray | float) -> None:
        """Add spending (£) to a line; `council` and `amount` may be per-child arrays."""
        column = self.amounts[t, :, LINE_INDEX[line]]
        if np.isscalar(council):
            column[int(council)] += float(np.sum(amount))
        else:
            # one amount for every child: filled (the same weights, summed in the same order), not
            # broadcast (its checks cost more than the fill for the few children of most bookings)
            weights = np.full(np.shape(council), amount, dtype=np.float64) if np.ndim(amount) == 0 else amount
            column += np.bincount(np.asarray(council), weights=weights, minlength=len(column))

    def high_needs_spend(self, t: int) -> np.ndarray:
        return self.amounts[t][:, HIGH_NEEDS].sum(axis=1)

    def frame(self, timeline) -> pd.DataFrame:
        months, councils, lines = np.nonzero(self.amounts >= 0)
        values = self.amounts[months, councils, lines]
        return pd.DataFrame({
            "month": months,
            "date": pd.DatetimeIndex([timeline.timestamp(m) for m in range(self.amounts.shape[0])])[months],
            "council": councils,
            "line": np.array([n for n, _ in LINES])[lines],
            "budget_holder": HOLDER[lines],
            "amount": values,
        })
