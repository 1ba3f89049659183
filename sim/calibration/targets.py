"""The calibration targets: each published figure, the model metric it is compared with, how the
published number is converted to the model's denominators, and a declared tolerance.

Conventions (see docs/VALIDATION.md for the long story of every row):

* The model's "pupils" are Reception-Year 11 pupils in the January census; flows are per 1,000
  such pupils per calendar year (`sim/metrics/compute.py`). National counts are converted with
  ``SCHOOL_AGE_PUPILS`` (8.1m Reception-Year 11 pupils in January 2025) and, for SEN2 flows
  published by age, with the school-age share of the count (``school_age_share``).
* Dates follow the metric tables: a January census is ``YYYY-01-01``; a calendar-year flow is
  ``YYYY-01-01``; KS4 results are ``YYYY-07-01``; NEET at the post-16 transfer ``YYYY-09-01``;
  high-needs spend for the financial year starting April ``YYYY-04-01``.
* ``published`` is the published figure already converted into the metric's unit
  (``raw * factor``); ``tolerance`` is absolute, in the same unit, and reflects uncertainty in
  the published number and in its conversion (definitions, denominators, timing) - not Monte
  Carlo noise, which is reported separately as the model's replicate interval.
* ``kind``: "stock" = a January-census share the model starts from (a consistency check of the
  initial population); "flow" = a process output the mechanisms must reproduce.

Sources: ``Txxx`` rows of ``sim/data/targets.csv`` (copy of the shared targets with URLs);
``sen2:<file>`` the DfE "Education, health and care plans" 2026 release extracts (calendar year
2025 flows), whose age breakdowns are transcribed below so that the arithmetic is visible.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pandas as pd

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
TARGETS_CSV = DATA_DIR / "targets.csv"

# ---- denominators ----------------------------------------------------------------------------
#: Reception-Year 11 pupils in all schools in England, January 2025 (assumption, documented):
#: ~9.03m pupils in all schools (T019; T018 9.09m in 2024 less 59,600) minus ~0.33m nursery-age
#: pupils and ~0.57m Year 12-13 pupils in school sixth forms = ~8.1m (range 7.95m-8.25m). The
#: same figure is used in sim/config/schema.py (placement.special_places_per_1000_pupils).
SCHOOL_AGE_PUPILS = 8_100_000
#: Relative uncertainty of SCHOOL_AGE_PUPILS (+-0.15m).
SCHOOL_AGE_PUPILS_REL_SD = 0.02

#: Weight of each single year of age in "Reception-Year 11": SEN2 ages are completed years on the
#: date of the event, so at a random date in the year about half of 4-year-olds are in Reception
#: (the rest pre-school) and about half of 16-year-olds are still in Year 11.
SCHOOL_AGE_WEIGHTS = {4: 0.5, **{a: 1.0 for a in range(5, 16)}, 16: 0.5}

# ---- SEN2 2026 release, calendar year 2025, national rows by single year of age ---------------
# sen2/requests_national.csv, breakdown_topic "Child or young persons age" (age when the request
# was received): requests_received_in_year, requests_decided_to_assess, requests_decided_not_to_assess
REQUESTS_2025_TOTAL = 162_702
REQUESTS_2025_BY_AGE = {
    4: (16835, 12600, 2909), 5: (11432, 8693, 1904), 6: (10973, 7778, 2264), 7: (10491, 7216, 2423),
    8: (11371, 7551, 2828), 9: (13224, 8454, 3670), 10: (15582, 9496, 4808), 11: (9342, 5142, 3465),
    12: (8835, 4850, 3290), 13: (10020, 5844, 3413), 14: (8967, 5278, 2992), 15: (7287, 4121, 2554),
    16: (3502, 1748, 1422),
}
# sen2/newplans_national.csv, "Age when plan started": new_ehc_plans (all ages: 110,708)
NEW_PLANS_2025_TOTAL = 110_708
NEW_PLANS_2025_BY_AGE = {
    4: 16521, 5: 10117, 6: 8508, 7: 7800, 8: 7468, 9: 8096, 10: 9880, 11: 8149, 12: 4810, 13: 5765,
    14: 6036, 15: 5020, 16: 3095,
}
# sen2/timeliness_20_week_national.csv, "Age at time of request": (plans_issued_den_ex,
# plans_issued_20_weeks_ex, plans_issued_den, plans_issued_gt_1_year)
TIMELINESS_2025_BY_AGE = {
    4: (12051, 6056, 12860, 1159), 5: (8089, 3704, 8703, 947), 6: (6960, 3238, 7489, 741),
    7: (6495, 2888, 6995, 818), 8: (6700, 3046, 7185, 740), 9: (7414, 3414, 7988, 814),
    10: (8301, 3907, 8856, 778), 11: (4370, 1943, 4707, 576), 12: (4380, 1715, 4700, 673),
    13: (4997, 2158, 5408, 692), 14: (4497, 1886, 4861, 618), 15: (3452, 1446, 3667, 386),
    16: (1320, 565, 1404, 160),
}
# sen2/ceased_plans_national.csv, "Age plan ceased": (total_ceased, transfer) (all ages: 50,346)
CEASED_2025_TOTAL = 50_346
CEASED_2025_BY_AGE = {
    4: (464, 402), 5: (945, 792), 6: (1165, 1007), 7: (1139, 969), 8: (1070, 909), 9: (1090, 915),
    10: (1378, 1167), 11: (1214, 1046), 12: (1103, 945), 13: (1320, 1144), 14: (1438, 1253),
    15: (1605, 1407), 16: (2107, 1530),
}
# sen2/caseload_national.csv, January 2025 (202425), "Age at start of academic year" 4..15 (=
# Reception..Year 11 exactly): used as the school-age share of tribunal appeals.
CASELOAD_2025_TOTAL = 638_745
CASELOAD_2025_RY11 = 468_828  # 22517+30847+31867+34082+36412+38381+41405+46775+47172+47359+47125+44886
# sen2/SEND_appealable_decisions_rate_2024-2025.csv, England total, calendar year 2025
APPEALS_2025 = 26_977
APPEALABLE_DECISIONS_2025 = 405_735
# High needs: share of the national high-needs block the model books (assumption; range 0.85-0.95).
# The model pays for plans from Reception to Year 13 (school sixth forms and colleges to 18), so
# only early years, 19-25 provision, hospital education and central services fall outside it.
HIGH_NEEDS_SCHOOL_AGE_SHARE = 0.9

NEED_COUNTS_2025 = {  # T309-T321 counts of plans (0-25) by primary need, January 2025
    "ASD": 201183, "SLCN": 135835, "SEMH": 132218, "MLD": 67861, "SLD": 25025, "PD": 24897,
    "SpLD": 15030, "HI": 8765, "PMLD": 8577, "OTH": 7512, "VI": 5280, "MSI": 1692,
}
NEED_UNKNOWN_2025 = 4870  # T321
NEED_IDS = {"ASD": "T309", "SLCN": "T310", "SEMH": "T311", "MLD": "T312", "SLD": "T313", "PD": "T314",
            "SpLD": "T315", "HI": "T316", "PMLD": "T317", "OTH": "T318", "VI": "T319", "MSI": "T320"}
NEED_TOLERANCE = {"ASD": 3.0, "SLCN": 3.0, "SEMH": 3.0, "MLD": 2.0, "SLD": 1.0, "PD": 1.0, "SpLD": 1.0,
                  "HI": 0.5, "PMLD": 0.6, "OTH": 0.8, "VI": 0.4, "MSI": 0.2}


def school_age_sum(by_age: dict[int, float | tuple], column: int | None = None) -> float:
    """Sum of a by-age table over Reception-Year 11 ages with SCHOOL_AGE_WEIGHTS."""
    total = 0.0
    for age, weight in SCHOOL_AGE_WEIGHTS.items():
        value = by_age[age] if column is None else by_age[age][column]
        total += weight * value
    return total


def per_1000_pupils(count: float) -> float:
    return 1000.0 * count / SCHOOL_AGE_PUPILS


Kind = Literal["stock", "flow"]


@dataclass(frozen=True)
class Target:
    id: str
    quantity: str
    raw: float            # the figure as published
    raw_unit: str
    factor: float         # published (model unit) = raw * factor + offset
    metric: str
    by: str
    group: str
    date: str             # YYYY-MM-DD, the metric row compared
    unit: str             # the metric's unit
    tolerance: float      # absolute, in `unit`
    kind: Kind
    source: str           # Txxx ids / sen2 files
    conversion: str       # how raw becomes published
    why_tolerance: str
    csv_value: bool = True  # raw is the `value` column of the Txxx row in sim/data/targets.csv
    offset: float = 0.0

    @property
    def published(self) -> float:
        return self.raw * self.factor + self.offset


def _build() -> tuple[Target, ...]:
    t: list[Target] = []
    add = t.append

    # ---- January 2025 census (the start state) ------------------------------------------------
    add(Target("T002", "Share of pupils with an EHCP, January 2025", 5.3, "%", 1.0,
               "ehcp_share_pupils", "all", "all", "2025-01-01", "% of pupils", 0.25, "stock", "T002",
               "none (published % of all pupils; model % of Reception-Y11 pupils)",
               "rounded to 0.1 (+-0.05); published denominator includes nursery (low prevalence) and sixth-form pupils (+-0.2)"))
    add(Target("T004", "Share of pupils on SEN support, January 2025", 14.2, "%", 1.0,
               "sen_support_share_pupils", "all", "all", "2025-01-01", "% of pupils", 0.4, "stock", "T004",
               "none", "rounded (+-0.05); nursery/sixth-form pupils in the published denominator (+-0.35)"))
    add(Target("T065", "EHCP pupils in special schools (state or independent), January 2025", 56.2, "% in mainstream",
               -1.0, "special_school_rate", "all", "all", "2025-01-01", "% of EHCP pupils", 3.0, "stock", "T065",
               "published 56.2% in mainstream; special = 100 - 56.2 - ~1.5 (AP, hospital, other) = 42.3",
               "the non-mainstream, non-special remainder (AP, elsewhere) is not published in the data folder (+-1.5); all-pupil vs R-Y11 base (+-1.5)",
               offset=100.0 - 1.5))
    for group, tid, value, tol in (("ehcp", "T133", 43.8, 2.5), ("sen_support", "T134", 39.3, 2.5), ("no_sen", "T135", 22.2, 2.0)):
        add(Target(tid, f"FSM eligibility among pupils ({group}), January 2025", value, "%", 1.0,
                   "fsm_share_pupils", "sen_status", group, "2025-01-01", "% of pupils in group", tol, "stock", tid,
                   "none", "exact census shares; R-Y11 vs all pupils (sixth-formers record FSM less often) +-2, more for small groups"))
    add(Target("T149", "FSM eligibility among all pupils, 2024/25", 26.0, "%", 1.0,
               "fsm_share_pupils", "all", "all", "2025-01-01", "% of pupils", 2.0, "stock", "T149",
               "none", "rounded to 1 (+-0.5); R-Y11 vs all pupils (+-1.5)"))
    known = sum(NEED_COUNTS_2025.values())  # 633,875 plans with a recorded primary need
    for need, count in NEED_COUNTS_2025.items():
        tid = NEED_IDS[need]
        add(Target(tid, f"Share of EHC plans with primary need {need}, January 2025", count, "plans (0-25)",
                   100.0 / known, "plan_need_type_share", "need_type", need, "2025-01-01", "% of EHCP pupils",
                   NEED_TOLERANCE[need], "stock", f"{tid}; T321 (unknown need 4,870 excluded)",
                   f"{count:,} / 633,875 plans with a known need (638,745 less 4,870 unknown) x 100",
                   "0-25 plan mix vs Reception-Y11 pupils: the school census puts ASD at 33.6% of EHCP pupils (T323) vs 31.5% of 0-25 plans; "
                   "about 2-3 pp for the big groups, ~25% of the share for the small ones", csv_value=False))

    # ---- EHCP route flows, calendar year 2025 (SEN2) -------------------------------------------
    req_sa = school_age_sum(REQUESTS_2025_BY_AGE, 0)
    add(Target("sen2:requests_2025", "Requests for an EHC needs assessment, school age, 2025", REQUESTS_2025_TOTAL,
               "requests (all ages)", (req_sa / REQUESTS_2025_TOTAL) * 1000.0 / SCHOOL_AGE_PUPILS,
               "request_rate", "all", "all", "2025-01-01", "per 1,000 pupils per year", 1.2, "flow",
               "sen2:requests_national.csv (T089 for 2024)",
               f"162,702 x school-age share {req_sa / REQUESTS_2025_TOTAL:.4f} (= {req_sa:,.1f}: half of age 4, ages 5-15, half of age 16) / 8.1m x 1,000",
               "denominator +-2%; age mapping +-3.5% (the age-4 half); request definitions +-2%: ~7.5% of the value", csv_value=False))
    dec_not = school_age_sum(REQUESTS_2025_BY_AGE, 2)
    dec_yes = school_age_sum(REQUESTS_2025_BY_AGE, 1)
    add(Target("sen2:refusal_2025", "Share of decisions that refuse an assessment, school age, 2025", dec_not,
               "decisions not to assess (school age)", 100.0 / (dec_yes + dec_not), "refusal_rate", "all", "all",
               "2025-01-01", "% of decisions", 3.0, "flow", "sen2:requests_national.csv (T097-T100 earlier years)",
               f"{dec_not:,.1f} not to assess / ({dec_yes:,.1f} + {dec_not:,.1f}) decisions, school-age weighted (all ages: 29.0%)",
               "age mapping +-0.5 pp; decisions outstanding at year end and withdrawn requests +-1 pp; national pooled rate vs a typical council +-1.5 pp",
               csv_value=False))
    new_sa = school_age_sum(NEW_PLANS_2025_BY_AGE)
    add(Target("sen2:newplans_2025", "New EHC plans, school age, 2025", NEW_PLANS_2025_TOTAL, "plans (all ages)",
               (new_sa / NEW_PLANS_2025_TOTAL) * 1000.0 / SCHOOL_AGE_PUPILS, "new_plan_rate", "all", "all", "2025-01-01",
               "per 1,000 pupils per year", 0.85, "flow", "sen2:newplans_national.csv (T081 for 2024)",
               f"110,708 x school-age share {new_sa / NEW_PLANS_2025_TOTAL:.4f} (= {new_sa:,.0f}) / 8.1m x 1,000",
               "as for requests: ~7.5% of the value", csv_value=False))
    den_ex = school_age_sum(TIMELINESS_2025_BY_AGE, 0)
    in20 = school_age_sum(TIMELINESS_2025_BY_AGE, 1)
    add(Target("sen2:timeliness_2025", "New plans issued within 20 weeks (excl. exceptions), school age, 2025", in20,
               "plans within 20 weeks", 100.0 / den_ex, "within_20_weeks_share", "all", "all", "2025-01-01",
               "% of new plans", 5.0, "flow", "sen2:timeliness_20_week_national.csv (T112 for 2024)",
               f"{in20:,.1f} / {den_ex:,.1f} plans excl. exceptions, school-age weighted (all ages 46.1%; incl. exceptions 45.5%)",
               "the model has no exceptions (+-0.6 pp); age mapping +-0.5; a typical council vs the national pooled rate (council rates span 0-100%) +-4",
               csv_value=False))
    den = school_age_sum(TIMELINESS_2025_BY_AGE, 2)
    over52 = school_age_sum(TIMELINESS_2025_BY_AGE, 3)
    add(Target("sen2:over_52_weeks_2025", "New plans taking more than a year, school age, 2025", over52,
               "plans over 52 weeks", 100.0 / den, "over_52_weeks_share", "all", "all", "2025-01-01", "% of new plans",
               3.0, "flow", "sen2:timeliness_20_week_national.csv (T121 for 2024)",
               f"{over52:,.1f} / {den:,.1f} plans (incl. exceptions), school-age weighted (all ages 10.1%)",
               "age mapping +-0.5 pp; a typical council vs the national pooled rate +-2.5 pp", csv_value=False))
    ceased_sa = school_age_sum(CEASED_2025_BY_AGE, 0)
    transfer_sa = school_age_sum(CEASED_2025_BY_AGE, 1)
    add(Target("sen2:ceased_2025", "EHC plans ceased (excluding transfers between councils), school age, 2025",
               ceased_sa - transfer_sa, "plans ceased (school age, excl. transfers)", 1000.0 / SCHOOL_AGE_PUPILS,
               "ceased_plan_rate", "all", "all", "2025-01-01", "per 1,000 pupils per year", 0.1, "flow",
               "sen2:ceased_plans_national.csv (T122 for 2024)",
               f"({ceased_sa:,.1f} school-age ceased - {transfer_sa:,.1f} transferred to another council) / 8.1m x 1,000; "
               f"incl. transfers it would be {1000 * ceased_sa / SCHOOL_AGE_PUPILS:.2f}",
               "small count: the age-16 half carries ~13% of it (post-16 exits), reasons 'other'/'moved outside England' ~+-10%; "
               "transfers excluded because a simulated council has no plans moving in", csv_value=False))

    # ---- disputes ------------------------------------------------------------------------------
    add(Target("sen2:appeal_rate_2025", "Appeals as a share of appealable decisions, 2025", APPEALS_2025,
               "appeals registered", 100.0 / APPEALABLE_DECISIONS_2025, "appeal_rate", "all", "all", "2025-01-01",
               "% of appealable decisions", 1.5, "flow",
               "sen2:SEND_appealable_decisions_rate_2024-2025.csv (T172: 6.1% in 2024)",
               "26,977 appeals / 405,735 appealable decisions (England, calendar year 2025)",
               "all ages vs school age, and the model's set of appealable decisions may omit some (e.g. amendments): +-1.5 pp",
               csv_value=False))
    add(Target("sen2:appeals_2025", "SEND tribunal appeals registered, school age, 2025", APPEALS_2025, "appeals (all ages)",
               (CASELOAD_2025_RY11 / CASELOAD_2025_TOTAL) * 10000.0 / SCHOOL_AGE_PUPILS, "appeal_registration_rate", "all", "all",
               "2025-01-01", "per 10,000 pupils per year", 5.0, "flow",
               "sen2:SEND_appealable_decisions_rate_2024-2025.csv; T164 (25,000 in 2024/25), T171 (22,276 in 2024)",
               f"26,977 x school-age share of plans {CASELOAD_2025_RY11 / CASELOAD_2025_TOTAL:.4f} (468,828 of 638,745 plans aged 4-15) / 8.1m x 10,000",
               "school-age share of appeals unknown (plans 0.73, requests 0.78: +-7%); denominator +-2%; appeals vs model 'appeal' events +-10%: ~20%",
               csv_value=False))
    add(Target("T167", "Decided tribunal appeals in favour of the family, 2024/25", 99.0, "%", 1.0,
               "tribunal_family_win_rate", "all", "all", "2025-01-01", "% of decided appeals", 2.0, "flow",
               "T167 (T178: 98.3% in 2022/23)", "none (academic year 2024/25 compared with calendar 2025)",
               "'in favour' includes partial wins; 98.3-99% across recent years"))

    # ---- outcomes ------------------------------------------------------------------------------
    for group, by, tid, value, tol, csv_value in (
        ("all", "all", "T213", 65.1, 2.5, True), ("ehcp", "sen_status", "T214", 13.0, 3.0, True),
        ("sen_support", "sen_status", "T215", 36.9, 3.0, True), ("fsm", "fsm", "T235", 43.1, 3.5, True),
        ("non_fsm", "fsm", "T235:non_disadvantaged", 72.6, 3.5, False)):
        label = {"all": "all pupils", "ehcp": "EHCP pupils", "sen_support": "SEN support pupils",
                 "fsm": "disadvantaged pupils (FSM proxy)", "non_fsm": "non-disadvantaged pupils (non-FSM proxy)"}[group]
        add(Target(tid, f"KS4 English and maths grade 4+, {label}, 2022/23", value, "%", 1.0,
                   "ks4_em4_rate", by, group, "2025-07-01", "% of KS4 pupils", tol, "flow", tid.split(":")[0],
                   "none (latest published year 2022/23 compared with the model's July 2025 results)",
                   "two years' drift +-1 pp; state-funded schools only +-0.5; small EHCP cohorts; disadvantage (Ever-6 FSM) vs current FSM +-1.5",
                   csv_value=csv_value))
    add(Target("T238", "NEET at 16-17, pupils with SEND, 2018", 9.2, "%", 1.0, "neet_rate", "sen_status", "send",
               "2025-09-01", "% of the cohort leaving Year 11", 2.0, "flow", "T238",
               "none (the model records NEET at the Year 11 to post-16 transfer)",
               "old year (2018); 16-17 average vs status at transfer; SEND definition +-2 pp"))
    add(Target("T238:no_send", "NEET at 16-17, pupils without SEND, 2018", 5.2, "%", 1.0, "neet_rate", "sen_status", "no_send",
               "2025-09-01", "% of the cohort leaving Year 11", 1.5, "flow", "T238 (notes)",
               "none", "old year (2018); timing of measurement +-1.5 pp", csv_value=False))
    add(Target("T240", "Suspensions per 100 pupils, 2023/24", 11.31, "suspensions per 100 pupils", 1.0,
               "suspension_rate", "all", "all", "2025-01-01", "per 100 pupils per year", 1.5, "flow", "T240 (rate in notes)",
               "none (state-funded schools incl. sixth forms; the model counts Reception-Y11)",
               "sixth-formers and nursery in the published denominator (+5%); trend to calendar 2025 (+-7%)", csv_value=False))
    add(Target("T241", "Permanent exclusions per 100 pupils, 2023/24", 0.13, "exclusions per 100 pupils", 1.0,
               "exclusion_rate", "all", "all", "2025-01-01", "per 100 pupils per year", 0.05, "flow", "T241 (rate in notes)",
               "none", "rounded to 0.01; trend and denominator as for suspensions: ~35% of a small rate", csv_value=False))
    add(Target("T242", "Suspensions per 100 pupils on SEN support, 2023/24", 330_908, "suspensions", 100.0 / 1_238_851,
               "suspension_rate", "sen_status", "sen_support", "2025-01-01", "per 100 pupils per year", 6.5, "flow",
               "T242 / T014", "330,908 suspensions / 1,238,851 SEN support pupils (all schools, January 2024) x 100",
               "denominator includes independent schools (not in exclusions data) and sixth forms (+-10%); trend (+-10%); ~25%"))
    add(Target("T244", "Suspensions per 100 pupils with an EHCP, 2023/24", 101_381, "suspensions", 100.0 / 434_354,
               "suspension_rate", "sen_status", "ehcp", "2025-01-01", "per 100 pupils per year", 6.0, "flow",
               "T244 / T012", "101,381 suspensions / 434,354 EHCP pupils (all schools, January 2024) x 100",
               "as for SEN support: ~25%"))

    # ---- finance -------------------------------------------------------------------------------
    add(Target("T248", "High-needs spending per pupil, 2025-26 (school-age share)", 11.9, "GBP billion",
               1e9 * HIGH_NEEDS_SCHOOL_AGE_SHARE / SCHOOL_AGE_PUPILS, "high_needs_spend_per_pupil", "all", "all",
               "2025-04-01", "GBP per pupil per year", 150.0, "flow", "T248; T255 (overspend)",
               f"GBP 11.9bn x school-age share {HIGH_NEEDS_SCHOOL_AGE_SHARE} / 8.1m Reception-Y11 pupils",
               "school-age share 0.78-0.92 (+-GBP 100); spending exceeds the allocation by GBP 0.2-0.8bn (T255, +2-7%)"))
    return tuple(t)


TARGETS: tuple[Target, ...] = _build()


def targets_frame() -> pd.DataFrame:
    """The target table (one row per target) with the converted `published` value."""
    rows = []
    for target in TARGETS:
        row = asdict(target)
        row["published"] = target.published
        rows.append(row)
    return pd.DataFrame(rows)


@lru_cache(maxsize=1)
def shared_rows() -> dict[str, dict[str, str]]:
    """The rows of sim/data/targets.csv by id (with source_url)."""
    with TARGETS_CSV.open(newline="", encoding="utf-8") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


def source_url(target: Target) -> str:
    """The URL of the first Txxx row the target cites ('' for sen2-only targets)."""
    rows = shared_rows()
    tid = target.id.split(":")[0]
    if tid in rows:
        return rows[tid]["source_url"]
    return ""
