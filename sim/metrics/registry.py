"""The metric registry: what every reported metric is called, measured in, and which way is better.

Why one registry: a metric's label, unit and "better" direction used to be written separately for
the run summary, the paired comparison tables, the disadvantage-gap tables and the documentation,
and copies drift (a unit changed in one table but not another). Every table, report and the
generated metric tables in `docs/METRICS.md` (`scripts/metrics_doc.py`) read them from here.

Two scopes share some names, because they measure the same thing over different spans:

- `YEARLY_METRICS`: the tidy metrics table (`metrics.parquet`), one value per period (a January
  census, a calendar year, a financial year or a results month) and breakdown group.
- `RUN_METRICS`: one value per child over the whole run, the unit of the disadvantage gaps at
  equal need (rows `by` = `fsm_gap` / `income_q1_q5_gap` in `metrics.parquet`) and of the paired
  comparisons of `sendsim compare`.

`better` is the direction that is better for children ("lower" or "higher"); it is empty where
the metric describes the system's volume or money and has no direction by itself (more plans, more
requests or more spending can each be good or bad; read them beside the access and outcome metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

#: breakdowns of a census or per-pupil metric: the child's state at the snapshot
CENSUS_BREAKDOWNS = ("all", "fsm", "income_quintile", "need_type", "council", "sen_status", "severity_band")
#: breakdowns of a flow: the child's need when the event happened
FLOW_BREAKDOWNS = ("all", "fsm", "income_quintile", "need_type", "severity_band", "council")
#: breakdowns of the family-resource metrics
FAMILY_BREAKDOWNS = ("all", "fsm", "income_quintile")
#: breakdowns of the whole-run gaps at equal need in the metrics table
GAP_BREAKDOWNS = ("fsm_gap", "income_q1_q5_gap")
#: the sections of the yearly metrics, in the order the documentation gives them
SECTIONS = ("census", "flows", "access", "outcomes", "family", "money")
BETTER = ("lower", "higher", "")


@dataclass(frozen=True)
class Metric:
    """One metric: its name in the tables, how reports name it and what it counts.

    `population` is who the value is computed over (its denominator, or the children for whom a
    per-child value is defined); `paired_population` (whole-run metrics) is who a paired comparison
    of two runs counts, and is empty for metrics `sendsim compare` does not pair.
    """

    name: str
    label: str
    unit: str
    better: str  # "lower", "higher" or "" (no direction by itself)
    population: str
    breakdowns: tuple[str, ...]
    section: str  # a SECTIONS entry (yearly), or "access" / "outcome" (whole run)
    definition: str
    paired_population: str = ""

    def __post_init__(self) -> None:
        if self.better not in BETTER:
            raise ValueError(f"metric {self.name!r}: better must be one of {BETTER}, not {self.better!r}")


def _yearly(
    name: str,
    label: str,
    unit: str,
    better: str,
    section: str,
    definition: str,
    population: str,
    breakdowns: tuple[str, ...] = CENSUS_BREAKDOWNS,
) -> Metric:
    return Metric(name, label, unit, better, population, breakdowns, section, definition)


YEARLY_METRICS: tuple[Metric, ...] = (
    # ---- census (January snapshots)
    _yearly(
        "ehcp_share_pupils",
        "Pupils with an EHCP",
        "% of pupils",
        "",
        "census",
        "pupils with an EHCP / pupils",
        "pupils (Reception to Year 11) at the January census",
    ),
    _yearly(
        "sen_support_share_pupils",
        "Pupils on SEN support",
        "% of pupils",
        "",
        "census",
        "pupils on SEN support (tiered: Targeted) / pupils",
        "pupils at the January census",
    ),
    _yearly(
        "targeted_plus_share_pupils",
        "Pupils at Targeted Plus",
        "% of pupils",
        "",
        "census",
        "pupils at Targeted Plus / pupils (tiered route)",
        "pupils at the January census",
    ),
    _yearly(
        "isp_share_pupils",
        "Pupils holding an Individual Support Plan",
        "% of pupils",
        "",
        "census",
        "pupils holding an Individual Support Plan / pupils (tiered route)",
        "pupils at the January census",
    ),
    _yearly(
        "fsm_share_pupils",
        "Pupils eligible for free school meals",
        "% of pupils",
        "",
        "census",
        "FSM-eligible pupils / pupils",
        "pupils at the January census",
        ("all", "sen_status", "council"),
    ),
    _yearly(
        "special_school_rate",
        "EHCP pupils placed in special schools",
        "% of EHCP pupils",
        "",
        "census",
        "EHCP pupils in state or independent special schools / EHCP pupils",
        "pupils with an EHCP at the January census",
    ),
    _yearly(
        "plan_need_type_share",
        "EHCP pupils with this primary need",
        "% of EHCP pupils",
        "",
        "census",
        "EHCP pupils with this primary need / EHCP pupils",
        "pupils with an EHCP at the January census",
        ("need_type",),
    ),
    # ---- flows (calendar year)
    _yearly(
        "request_rate",
        "Requests for an EHC needs assessment",
        "per 1,000 pupils",
        "",
        "flows",
        "requests for an EHC needs assessment / pupils at the January census",
        "pupils at the January census",
        FLOW_BREAKDOWNS,
    ),
    _yearly(
        "refusal_rate",
        "Requests refused (decision not to assess)",
        "% of decisions",
        "",
        "flows",
        "decisions not to assess / decisions made",
        "decisions whether to assess made in the year",
        FLOW_BREAKDOWNS,
    ),
    _yearly(
        "request_success_rate",
        "Requests that end in a plan",
        "% of requests",
        "",
        "flows",
        "requests made in the year that end in a plan (by the end of the run) / requests made",
        "requests made in the year",
        FLOW_BREAKDOWNS,
    ),
    _yearly(
        "new_plan_rate",
        "New plans issued",
        "per 1,000 pupils",
        "",
        "flows",
        "plans issued / pupils",
        "pupils at the January census",
        FLOW_BREAKDOWNS,
    ),
    _yearly(
        "decision_within_6_weeks_share",
        "Decisions whether to assess made within 6 weeks",
        "% of decisions",
        "higher",
        "flows",
        "decisions whether to assess made within the statutory 6 weeks of the request (`decision.statutory_weeks`) / decisions",
        "decisions made in the year",
        FLOW_BREAKDOWNS,
    ),
    _yearly(
        "within_20_weeks_share",
        "New plans issued within 20 weeks",
        "% of new plans",
        "higher",
        "flows",
        "plans issued within 20 weeks of the request / plans issued",
        "plans issued in the year",
        FLOW_BREAKDOWNS,
    ),
    _yearly(
        "over_52_weeks_share",
        "New plans issued after more than 52 weeks",
        "% of new plans",
        "lower",
        "flows",
        "plans issued more than 52 weeks after the request / plans issued",
        "plans issued in the year",
        FLOW_BREAKDOWNS,
    ),
    _yearly(
        "ceased_plan_rate",
        "Plans ceased",
        "per 1,000 pupils",
        "",
        "flows",
        "plans ceased / pupils",
        "pupils at the January census",
        FLOW_BREAKDOWNS,
    ),
    _yearly(
        "appeal_rate",
        "Appealable decisions taken to tribunal",
        "% of appealable decisions",
        "",
        "flows",
        "appeals registered with the tribunal / appealable decisions (refusals to assess or to issue, placements and contents named)",
        "appealable decisions made in the year",
        FLOW_BREAKDOWNS,
    ),
    _yearly(
        "appeal_registration_rate",
        "Appeals registered",
        "per 10,000 pupils",
        "",
        "flows",
        "appeals registered / pupils",
        "pupils at the January census",
        FLOW_BREAKDOWNS,
    ),
    _yearly(
        "tribunal_success_after_refusal",
        "Tribunal appeals against refusal won by the family",
        "% of outcomes",
        "",
        "flows",
        "appeals against a refusal resolved in the family's favour (conceded or won) / such appeals "
        "resolved (conceded, decided or withdrawn by the family while waiting)",
        "appeals against a refusal resolved in the year",
        FAMILY_BREAKDOWNS,
    ),
    _yearly(
        "tribunal_family_win_rate",
        "Decided appeals won by the family",
        "% of decided appeals",
        "",
        "flows",
        "decided appeals won by the family / decided appeals",
        "appeals decided in the year",
        ("all",),
    ),
    _yearly(
        "exclusion_rate",
        "Permanent exclusions",
        "per 100 pupils",
        "lower",
        "flows",
        "permanent exclusions / pupils",
        "pupils at the January census",
        FLOW_BREAKDOWNS,
    ),
    # ---- access (calendar year)
    _yearly(
        "unmet_need_months",
        "Unmet-need months",
        "months per child with need",
        "lower",
        "access",
        "months in the year with need not matched by support, per pupil with any need that year",
        "pupils with need in the year",
    ),
    _yearly(
        "matched_support_share",
        "Need-months with support matched to need",
        "% of need-months",
        "higher",
        "access",
        "months with support ≥ `sen_support.match_fraction` × severity / months with need",
        "need-months of pupils in the year",
    ),
    _yearly(
        "months_to_support",
        "Time from need onset to first support",
        "months (children first supported in the period)",
        "lower",
        "access",
        "months from need onset to first support, for children first supported that year (onsets during the run "
        "only — so the first years of a run can only record short waits: compare years late in the run, or routes "
        "in the same year)",
        "children first supported in the year",
        FLOW_BREAKDOWNS,
    ),
    _yearly(
        "months_to_matched_support",
        "Time from need onset to matched support",
        "months",
        "lower",
        "access",
        "months from need onset to support first matching need",
        "children whose support first matched their need in the year",
        FLOW_BREAKDOWNS,
    ),
    _yearly(
        "support_concentration_index",
        "Concentration of matched support by income",
        "index (-1 to 1)",
        "",
        "access",
        "need-adjusted concentration index of matched support by income rank: among pupils with need, the share "
        "of need-months with matched support, standardised for severity band, against the fractional income rank "
        "(quintiles at their mid-rank); 2 cov(y, rank) / mean(y). Positive = support matched to need is "
        "concentrated among better-off families, 0 = evenly spread",
        "pupils with need in the year",
        ("all",),
    ),
    _yearly("suspension_rate", "Suspensions", "per 100 pupils", "lower", "access", "suspensions / pupils", "pupils at the January census"),
    # ---- outcomes
    _yearly(
        "ks2_expected_rate",
        "KS2 expected standard",
        "% of pupils",
        "higher",
        "outcomes",
        "Year 6 pupils reaching the KS2 expected standard (July)",
        "Year 6 pupils tested",
    ),
    _yearly(
        "ks4_em4_rate",
        "KS4 English and maths grade 4+",
        "% of pupils",
        "higher",
        "outcomes",
        "Year 11 pupils with English and maths grade 4+ (July)",
        "Year 11 pupils tested",
    ),
    _yearly(
        "ks4_em4_rate_ehcp",
        "KS4 English and maths grade 4+, pupils with an EHCP",
        "% of EHCP pupils",
        "higher",
        "outcomes",
        "the same among pupils holding an EHCP when tested",
        "Year 11 pupils with an EHCP tested",
        ("all", "fsm", "income_quintile", "council"),
    ),
    _yearly(
        "neet_rate",
        "Not in education, employment or training at 16-17",
        "% of young people",
        "lower",
        "outcomes",
        "pupils entering Year 12 who are NEET (September); `sen_status` is `send` / `no_send`",
        "young people entering Year 12",
        ("all", "fsm", "income_quintile", "council", "sen_status"),
    ),
    # ---- family resources
    _yearly(
        "family_spending",
        "Family spending on the child's SEND",
        "£ per family",
        "",
        "family",
        "money the family spent over the run on its child's SEND (reports + representation + tutoring) / children (whole run)",
        "children on roll at some point in the run",
        FAMILY_BREAKDOWNS,
    ),
    _yearly(
        "family_spending_reports",
        "Family spending on private reports",
        "£ per family",
        "",
        "family",
        "the part spent on private educational psychologist or clinical reports (whole run)",
        "children on roll at some point in the run",
        FAMILY_BREAKDOWNS,
    ),
    _yearly(
        "family_spending_representation",
        "Family spending on representation",
        "£ per family",
        "",
        "family",
        "the part spent on representation and expert evidence at tribunal (whole run)",
        "children on roll at some point in the run",
        FAMILY_BREAKDOWNS,
    ),
    _yearly(
        "family_spending_tutoring",
        "Family spending on tutoring or therapy",
        "£ per family",
        "",
        "family",
        "the part spent on private tutoring or therapy while need was unmet (whole run)",
        "children on roll at some point in the run",
        FAMILY_BREAKDOWNS,
    ),
    _yearly(
        "private_reports_bought",
        "Private reports bought",
        "per 100 families",
        "",
        "family",
        "private reports bought / children (whole run)",
        "children on roll at some point in the run",
        FAMILY_BREAKDOWNS,
    ),
    _yearly(
        "special_place_secured_share",
        "Special-school preferences secured",
        "% of families",
        "",
        "family",
        "families who stated a preference for a special school during the run and whose child was placed in one "
        "(state or independent, by the council, after an appeal, or named in a specialist package) / families "
        "who stated that preference (whole run)",
        "families who stated a preference for a special school",
        FAMILY_BREAKDOWNS,
    ),
    _yearly(
        "parent_request_share",
        "Requests made by parents",
        "% of requests",
        "",
        "family",
        "requests for assessment made by the parent / all requests (the rest by the school)",
        "requests made in the year",
        FAMILY_BREAKDOWNS,
    ),
    _yearly(
        "tribunal_withdrawn_after_refusal",
        "Appeals against refusal withdrawn by the family",
        "% of outcomes",
        "",
        "family",
        "appeals against a refusal withdrawn by the family while waiting for the hearing / such appeals resolved",
        "appeals against a refusal resolved in the year",
        FAMILY_BREAKDOWNS,
    ),
    _yearly(
        "tribunal_represented_after_refusal",
        "Appeals against refusal with representation",
        "% of outcomes",
        "",
        "family",
        "appeals against a refusal resolved in the year in which the family had paid for representation "
        "and expert evidence / such appeals resolved",
        "appeals against a refusal resolved in the year",
        FAMILY_BREAKDOWNS,
    ),
    # ---- money
    _yearly(
        "high_needs_spend_per_pupil",
        "Council high-needs spend per pupil",
        "£ per pupil",
        "",
        "money",
        "council high-needs spending in the financial year / mean pupils",
        "mean pupils over the financial year",
        ("all", "council"),
    ),
    _yearly(
        "spend_per_pupil_by_holder",
        "Spending per pupil by budget holder",
        "£ per pupil",
        "",
        "money",
        "spending by budget holder (`school`, `council_high_needs`, `central_reform`) / mean pupils",
        "mean pupils over the financial year",
        ("budget_holder",),
    ),
    _yearly(
        "deficit_share_of_income",
        "Cumulative high-needs deficit",
        "% of annual high-needs income",
        "",
        "money",
        "cumulative high-needs deficit at March / annual high-needs income",
        "the simulated councils",
        ("all",),
    ),
)


def _run(
    name: str, label: str, unit: str, better: str, section: str, definition: str, population: str, paired_population: str = ""
) -> Metric:
    return Metric(name, label, unit, better, population, GAP_BREAKDOWNS, section, definition, paired_population)


RUN_METRICS: tuple[Metric, ...] = (
    _run(
        "unmet_need_months",
        "Unmet-need months",
        "months per child with need over the run",
        "lower",
        "access",
        "months with need not matched by support during the run",
        "children with need",
        "children with need in either run",
    ),
    _run(
        "matched_support_share",
        "Need-months with support matched to need",
        "% of the child's need-months",
        "higher",
        "access",
        "100 × need-months with support matched to need / need-months during the run",
        "children with need on roll during the run",
        "children with need in both runs",
    ),
    _run(
        "matched_within_a_year",
        "Support matched to need within a year of onset",
        "% of children",
        "higher",
        "access",
        "100 if support first matched the need within 12 months of onset, else 0",
        "onsets during the run at least 12 months before its end",
        "children whose need began during the run, at least a year before its end (the same children in both runs)",
    ),
    _run(
        "months_to_matched_support",
        "Months from need onset to matched support",
        "months",
        "lower",
        "access",
        "months from onset to support first matching need",
        "children who reached matched support (onset during the run) — selected by the policy, so read with `matched_within_a_year`",
        "children reaching matched support in both runs (onset during the run)",
    ),
    _run(
        "ehcp_receipt",
        "Held an EHCP during the run",
        "% of children with need",
        "higher",
        "access",
        "100 if the child held an EHCP in any month on roll during the run",
        "children with need",
    ),
    _run(
        "special_school_placement",
        "Placed in a special school during the run",
        "% of children with need",
        "higher",
        "access",
        "100 if placed in a state or independent special school during the run",
        "children with need",
    ),
    _run(
        "request_made",
        "An EHC needs assessment was requested during the run",
        "% of children with need",
        "higher",
        "access",
        "100 if an EHC needs assessment was requested during the run",
        "children with need",
    ),
    _run(
        "ks2_expected_rate",
        "KS2 expected standard",
        "% of pupils tested",
        "higher",
        "outcome",
        "100 if the KS2 expected standard was reached",
        "children with need who sat KS2 in the run",
    ),
    _run(
        "ks4_em4_rate",
        "KS4 English and maths grade 4+",
        "% of pupils tested",
        "higher",
        "outcome",
        "100 if English and maths grade 4+",
        "children with need who sat KS4 in the run",
        "children who sat KS4 in both runs",
    ),
    _run(
        "suspensions",
        "Suspensions",
        "suspensions per child over the run",
        "lower",
        "outcome",
        "suspensions during the run",
        "children with need",
        "all children on roll",
    ),
    _run(
        "excluded",
        "Permanently excluded",
        "% of children",
        "lower",
        "outcome",
        "100 if permanently excluded",
        "children with need",
        "all children on roll",
    ),
    _run(
        "neet_rate",
        "NEET at 16-17",
        "% of young people",
        "lower",
        "outcome",
        "100 if NEET at 16–17",
        "children with need who reached 16",
        "children who reached 16 in both runs",
    ),
)


def _change(name: str, label: str, unit: str, better: str, section: str, definition: str, population: str) -> Metric:
    return Metric(name, label, unit, better, population, ("all",), section, definition)


#: changes a reform makes, reform minus baseline inside each replicate (same seed, same children):
#: the outcomes experiments screen and sample (`experiment`) and those a reform's decomposition
#: attributes to its components (`decomposition`, also in `headline_by_replicate.csv`)
CHANGE_METRICS: tuple[Metric, ...] = (
    _change(
        "change_access_gap",
        "Change in the FSM gap in unmet-need months",
        "months per child with need per year",
        "lower",
        "experiment",
        "change in the FSM minus not-FSM gap in yearly `unmet_need_months`, averaged over the calendar "
        "years after the legal switch present in the run (all years if the run ends before it)",
        "pupils with need in each calendar year",
    ),
    _change(
        "change_access_gap_at_equal_need",
        "Change in the FSM gap in unmet-need months at equal need (whole run)",
        "months per child with need over the run",
        "lower",
        "experiment",
        "change in the whole-run FSM gap in unmet-need months among children with the same first need (the "
        "need-standardised gap: different treatment at equal need)",
        "children with need",
    ),
    _change(
        "change_ks4_gap",
        "Change in the FSM gap in KS4 English and maths grade 4+",
        "percentage points",
        "higher",
        "experiment",
        "change in the FSM minus not-FSM gap in `ks4_em4_rate`, averaged over the exam years after the legal switch present in the run",
        "pupils sitting KS4",
    ),
    _change(
        "change_cost",
        "Change in high-needs plus central reform spending",
        "£ per pupil per year",
        "lower",
        "experiment",
        "change in `high_needs_spend_per_pupil` plus the central reform funds' spending per pupil, "
        "averaged over every complete financial year of the run",
        "mean pupils over each financial year",
    ),
    _change(
        "unmet_need_months",
        "Unmet-need months per child with need",
        "months per child over the run",
        "lower",
        "decomposition",
        "mean per-child change in unmet-need months over the run",
        "children with need in either run",
    ),
    _change(
        "fsm_gap_unmet_need_months",
        "FSM minus not-FSM gap in unmet-need months",
        "months per child",
        "lower",
        "decomposition",
        "change in the FSM minus not-FSM difference in mean unmet-need months over the run",
        "children with need in either run",
    ),
    _change(
        "share_worse_off",
        "Children with need worse off (more unmet-need months)",
        "% of children with need",
        "lower",
        "decomposition",
        "children with more unmet-need months under the reform than in the baseline",
        "children with need in either run",
    ),
    _change(
        "share_better_off",
        "Children with need better off (fewer unmet-need months)",
        "% of children with need",
        "higher",
        "decomposition",
        "children with fewer unmet-need months under the reform than in the baseline",
        "children with need in either run",
    ),
    _change(
        "spend",
        "Total spending over the run's complete financial years",
        "£ (simulated councils)",
        "lower",
        "decomposition",
        "change in spending by every budget holder over the run's complete financial years",
        "the simulated councils",
    ),
)
EXPERIMENT_OUTCOMES: tuple[Metric, ...] = tuple(m for m in CHANGE_METRICS if m.section == "experiment")
DECOMPOSITION_OUTCOMES: tuple[Metric, ...] = tuple(m for m in CHANGE_METRICS if m.section == "decomposition")

#: the yearly metrics the run summary and `sendsim run` show first, in this order
HEADLINE_METRICS: tuple[str, ...] = (
    "ehcp_share_pupils",
    "sen_support_share_pupils",
    "request_rate",
    "refusal_rate",
    "request_success_rate",
    "appeal_rate",
    "tribunal_success_after_refusal",
    "within_20_weeks_share",
    "special_school_rate",
    "months_to_support",
    "unmet_need_months",
    "ks2_expected_rate",
    "ks4_em4_rate",
    "ks4_em4_rate_ehcp",
    "suspension_rate",
    "exclusion_rate",
    "neet_rate",
    "high_needs_spend_per_pupil",
)
YEARLY_BY_NAME: dict[str, Metric] = {m.name: m for m in YEARLY_METRICS}
RUN_BY_NAME: dict[str, Metric] = {m.name: m for m in RUN_METRICS}
#: the whole-run metrics `sendsim compare` pairs child by child, in the order its tables show them
PAIRED_METRICS: tuple[Metric, ...] = tuple(
    RUN_BY_NAME[name]
    for name in (
        "unmet_need_months",
        "matched_support_share",
        "months_to_matched_support",
        "matched_within_a_year",
        "ks4_em4_rate",
        "suspensions",
        "excluded",
        "neet_rate",
    )
)


def yearly(name: str) -> Metric:
    """The yearly metric `name`; a KeyError naming the known metrics if there is none."""
    try:
        return YEARLY_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {sorted(YEARLY_BY_NAME)}") from None


def whole_run(name: str) -> Metric:
    """The whole-run (per-child) metric `name`; a KeyError naming the known metrics if there is none."""
    try:
        return RUN_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown whole-run metric {name!r}; known: {sorted(RUN_BY_NAME)}") from None


def label_and_unit(name: str, default_unit: str = "model units") -> tuple[str, str]:
    """(label, unit) of a yearly metric; the name itself and `default_unit` for anything else
    (e.g. an experiment's test function), so a report never fails on a metric it does not know."""
    metric = YEARLY_BY_NAME.get(name)
    return (metric.label, metric.unit) if metric else (name, default_unit)
