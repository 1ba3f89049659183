"""Children and families as a structure of arrays: one row per child for the whole run.

Why arrays: the monthly step evaluates every rule for all children at once. A child's
row is its identity for its whole life. Rows are ordered by the year the child entered
Reception, so the children on roll in any month are one contiguous slice `[lo, hi)` and the
monthly step works on views of that slice only. Every column is documented once, here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

# support_level: the support a child receives (route-agnostic tiers)
NONE, SEN_SUPPORT, TARGETED_PLUS, EHCP = 0, 1, 2, 3
TARGETED = SEN_SUPPORT  # the tiered route's school-led layer occupies the same rung

# pipeline: where a child stands in the statutory process
IDLE, REQUESTED, ASSESSING, APPEAL_REFUSAL, APPEAL_PLACEMENT = 0, 1, 2, 3, 4

# placement
MAINSTREAM, INCLUSION_BASE, STATE_SPECIAL, INDEPENDENT_SPECIAL, ALTERNATIVE_PROVISION, POST16, NEET = range(7)
PLACEMENT_NAMES = ("mainstream", "inclusion_base", "state_special", "independent_special", "alternative_provision", "post16", "neet")

NEVER = np.int16(-32768)  # sentinel for "month not reached"


@dataclass
class ChildArrays:
    # identity and calendar
    council: np.ndarray  # int16: council index
    key: np.ndarray  # uint64: stable identity for random draws (council << 32 | local id)
    entry_year: np.ndarray  # int16: calendar year the child entered Reception (September)
    year_group: np.ndarray  # int8: 0 = Reception ... 13 = Year 13 (updated each September)
    school: np.ndarray  # int32: index in the school table (current setting)
    home_school: np.ndarray  # int32: the mainstream school the child attends or would attend
    # family resources (fixed for life)
    fsm: np.ndarray  # bool: eligible for free school meals
    income_quintile: np.ndarray  # int8: 1 (lowest) to 5
    advocacy: np.ndarray  # float32 0-1: knowledge, time, confidence, persistence
    private_report: np.ndarray  # bool: holds a private EP or clinical report the family bought
    family_budget: np.ndarray  # float32 £: money the family can put toward the child's SEND over its school life
    trust: np.ndarray  # float32 0-1: trust that mainstream can meet the child's needs
    ties: np.ndarray  # int32[n, k]: rows of families this family knows (-1 = none)
    # need (latent: agents see it only through identification and assessment)
    need_type: np.ndarray  # int8: index into NEED_TYPES (meaningful when severity > 0)
    severity: np.ndarray  # float32 >= 0: 0 = no need; 1 = what good SEN support meets
    onset_month: np.ndarray  # int16: month the need emerged (negative = before the start)
    onset_severity: np.ndarray  # float32: severity when the need emerged in the run, or at the start census
    #   if already present: need before support shaped it (the stratum for within-need comparisons)
    identified: np.ndarray  # bool: the school has recognised the need
    first_support_month: np.ndarray  # int16: first month with any support (NEVER if none)
    first_matched_month: np.ndarray  # int16: first month support matched need (NEVER if none)
    # support and statutory pipeline
    support_level: np.ndarray  # int8: NONE / SEN_SUPPORT(TARGETED) / TARGETED_PLUS / EHCP
    support_intensity: np.ndarray  # float32: support received this month, in severity units
    support_since: np.ndarray  # int16: month the current support level began
    support_resume_month: np.ndarray  # int16: lapsed school-led support resumes this month (NEVER = not lapsed)
    pipeline: np.ndarray  # int8: IDLE / REQUESTED / ASSESSING / APPEAL_*
    pipeline_since: np.ndarray  # int16: month the current pipeline stage began
    request_month: np.ndarray  # int16: month of the current (or last) request
    request_fraction: np.ndarray  # float32: when in that month the request arrived (0-1)
    request_by_parent: np.ndarray  # bool: the current request came from the parent
    ep_hours_received: np.ndarray  # float32: EP hours spent on the current assessment
    ep_done_month: np.ndarray  # int16: month EP advice was complete (NEVER if not)
    last_refusal_month: np.ndarray  # int16: month of the last refusal (NEVER if none)
    hearing_month: np.ndarray  # int16: month an appeal will be heard
    plan_start_month: np.ndarray  # int16: month the current plan began (NEVER if none)
    legacy_ehcp: np.ndarray  # bool: plan issued under the current (pre-reform) rules
    isp: np.ndarray  # bool: holds an Individual Support Plan (tiered route)
    legacy_move_month: np.ndarray  # int16: a legacy plan moves to an ISP this month (NEVER = not due)
    placement: np.ndarray  # int8: MAINSTREAM ... NEET
    preferred_special: np.ndarray  # bool: family prefers a special school
    # outcomes
    attainment: np.ndarray  # float32: latent attainment z-score before the penalty of current need (see outcomes.test_score)
    ks2_expected: np.ndarray  # int8: -1 not assessed, 0/1 KS2 expected standard
    ks4_em4: np.ndarray  # int8: -1 not assessed, 0/1 English and maths grade 4+
    suspensions: np.ndarray  # int16: suspensions so far
    excluded: np.ndarray  # bool: permanently excluded
    neet: np.ndarray  # int8: -1 not yet 16, 0/1 NEET at 16-17
    # accumulators (whole run, and the current calendar year)
    need_months: np.ndarray  # int16: months with need (severity > 0) while on roll
    unmet_months: np.ndarray  # int16: months with unmet need
    matched_months: np.ndarray  # int16: months with support matched to need
    year_need_months: np.ndarray  # int8: this calendar year
    year_unmet_months: np.ndarray  # int8: this calendar year
    year_matched_months: np.ndarray  # int8: this calendar year
    year_suspensions: np.ndarray  # int8: this calendar year
    # family spending (whole run, £): what the family bought from family_budget
    spent_reports: np.ndarray  # float32 £: private EP or clinical reports
    spent_representation: np.ndarray  # float32 £: representation and expert evidence at tribunal
    spent_tutoring: np.ndarray  # float32 £: private tutoring or therapy
    private_reports_bought: np.ndarray  # int8: private reports bought
    represented: np.ndarray  # bool: the current (or last) appeal is backed by representation
    special_wanted: np.ndarray  # bool: the family has stated a preference for a special school
    special_secured: np.ndarray  # bool: the child has been placed in a special school after that preference
    plan_uplift: np.ndarray  # float32 severity units: extra provision won by challenging the plan's contents

    def family_spending(self) -> np.ndarray:
        """£ the family has spent so far (reports + representation + tutoring)."""
        return self.spent_reports + self.spent_representation + self.spent_tutoring

    def budget_left(self) -> np.ndarray:
        return self.family_budget - self.family_spending()

    def __len__(self) -> int:
        return len(self.council)

    def view(self, lo: int, hi: int) -> "ChildArrays":
        """Views (not copies) of every column for rows [lo, hi): writes go to the real arrays."""
        return ChildArrays(**{f.name: getattr(self, f.name)[lo:hi] for f in fields(self)})

    def nbytes(self) -> int:
        return sum(getattr(self, f.name).nbytes for f in fields(self))

    @classmethod
    def column_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
