# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Old system vs new: the Schools White Paper reform
#
# **Learning goals.** By the end you can
#
# - explain what a *paired* comparison with common random numbers is, and why it lets us
#   count winners and losers child by child;
# - describe how the tiered route decides what support a child gets, and which of its
#   details are assumptions;
# - read the equity table (change with a 95% interval across replicates, by income quintile)
#   and the shares of children better off, worse off and unchanged;
# - change a reform lever, predict, run and explain the change (exercises at the end).
#
# The 2026 Schools White Paper proposes a **tiered route**: universal support, *Targeted*,
# *Targeted Plus* and *Specialist* tiers, Experts at Hand for schools, inclusion bases, and
# EHCPs only for the most complex needs, with a legal switch in September 2029.
# `configs/reform_white_paper.yaml` describes it as a diff against the baseline.
#
# `compare_with_reports` runs the baseline and the reform on **the same simulated children with the
# same luck** and writes a comparison folder with tables, figures and a report.
#
# ### Why "the same luck"? Common random numbers
# Every random draw in the model (does this child develop a need this month? does this family
# appeal?) is tied to the child and the seed, not to the order in which things happen. So child
# number 1234 in the baseline and child 1234 under the reform are the same child, facing the
# same chances. The difference in their outcomes is the effect of the policy on that child, not
# noise. That lets us count **winners and losers** child by child, and it makes differences
# between the two runs far more precise than comparing two independent runs would.
#
# ### How the tiered route works in the model
#
# Under the reform, schools get extra money and expertise for everyone (the Inclusive Mainstream
# Fund, teacher training). A child whose assessed need is above the **Targeted Plus threshold**
# gets Targeted Plus support, helped by **Experts at Hand** — specialists shared across a group
# of schools, whose capacity depends on how many posts are filled. Only needs above the
# **specialist package thresholds** lead to an EHCP with an inclusion-base or special-school
# package. Families can still push for specialist assessment, with a strength set by
# `reform.family_pressure_strength` (1 = as strongly as today). During the transition,
# children in special schools and older pupils can keep their plans (*protections*). Where the
# thresholds sit and how well Experts at Hand are staffed are not published: they are
# assumptions, each with a plausible range — the levers the exercises turn.

# %% tags=["parameters"]
SCALE = 0.05       # share of a typical council's pupils
END = "2031-08"    # last simulated month: the legal switch is September 2029
REPLICATES = 2     # runs with different seeds (more replicates, narrower intervals)
SEED = 20250101

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

import sim

REPO = Path(sim.__file__).resolve().parents[1]  # the sendsim checkout, wherever the notebook runs
sns.set_theme(style="whitegrid", palette="colorblind")
import tempfile

from sim.config import load_config
from sim.report.comparison import compare_with_reports

# %%
settings = {"population": {"scale": SCALE}, "run": {"end": END, "seed": SEED}}
baseline = load_config(REPO / "configs" / "baseline.yaml", settings)
reform = load_config(REPO / "configs" / "reform_white_paper.yaml", settings)

out_dir = Path(tempfile.mkdtemp(prefix="sendsim_compare_")) / "white_paper"
result = compare_with_reports(baseline, reform, replicates=REPLICATES, out_dir=out_dir, workers=1)
print("Comparison written to", out_dir)
print("Report:", result["report"][0])

# %% [markdown]
# ## The equity table by income quintile
#
# `result["equity"]` has one row per outcome and group. `baseline` and `reform` are group
# averages, `change` is reform minus baseline (computed inside each replicate, then averaged),
# and `change_lo`/`change_hi` is the 95% interval across replicates. Quintile 1 is the lowest
# family income. Cells with too few children are *suppressed* (shown as empty).

# %%
equity = result["equity"]
columns = ["group", "baseline", "reform", "change", "change_lo", "change_hi", "n_children"]
unmet_by_income = equity[(equity["metric"] == "unmet_need_months") & (equity["by"] == "income_quintile")]
unmet_by_income[columns].round(2)

# %%
gaps = equity[equity["by"].isin(["fsm_gap", "income_gap"])]
gaps[["metric", "by", "baseline", "reform", "change", "change_lo", "change_hi"]].round(2)

# %% [markdown]
# ## Winners and losers
#
# For each child with a need we compare their own unmet-need months under the two routes:
# **better off** (fewer months unmet), **worse off**, or **unchanged**. A reform can help on
# average while making some children worse off; this table shows both.

# %%
shares = unmet_by_income.set_index("group")[["share_better_off", "share_unchanged", "share_worse_off"]] * 100
shares.index = [f"Q{g}" for g in shares.index]
shares.round(1)

# %%
ax = shares.plot.bar(stacked=True, color=["0.3", "0.85", "0.6"], edgecolor="black", rot=0)
for bar in ax.containers[2]:
    bar.set_hatch("//")
ax.set(title="Winners and losers in unmet-need months, by income quintile",
       xlabel="Family income quintile (Q1 lowest)", ylabel="Children with need (%)", ylim=(0, 100))
ax.legend(["Better off", "Unchanged", "Worse off"], loc="lower right")
plt.show()

# %% [markdown]
# ## Where to look next
#
# - `result["costs"]`: spending by budget holder (schools, council high-needs block, central
#   government) and financial year, with the paired change.
# - `result["stock"]`: the EHCP share of pupils at each January under each route.
# - The folder printed above holds `report.md`/`report.html` with all of this and the figures.
#
# With only a couple of replicates and a small council the intervals are wide; the command
# line (`sendsim compare`) runs full-size councils and more replicates on all cores.

# %% [markdown]
# ## Exercises
#
# **Change a lever, predict, run, explain.** Write your prediction first; solutions are folded.
#
# ### Exercise 1: Experts at Hand at half strength
#
# `reform.experts_capacity_multiplier` scales the Experts at Hand time actually delivered
# (1 = as planned; `configs/reform_workforce_shortfall.yaml` sets 0.5). **Predict:** compared
# with the White Paper as planned, how does a workforce shortfall change the average unmet-need
# months of children in the lowest and highest income quintiles?

# %% tags=["exercise"]
EXPERTS_CAPACITY = 0.5   # change me: share of planned Experts at Hand capacity delivered

shortfall = load_config(REPO / "configs" / "reform_white_paper.yaml",
                        {**settings, "reform": {"experts_capacity_multiplier": EXPERTS_CAPACITY}})
shortfall_result = compare_with_reports(baseline, shortfall, replicates=REPLICATES,
                                     out_dir=out_dir.parent / "shortfall", workers=1)
shortfall_equity = shortfall_result["equity"]
pick = (shortfall_equity["metric"] == "unmet_need_months") & (shortfall_equity["by"] == "income_quintile")
pd.DataFrame({
    "as planned: change": unmet_by_income.set_index("group")["change"],
    f"capacity {EXPERTS_CAPACITY}: change": shortfall_equity[pick].set_index("group")["change"],
}).round(2)

# %% [markdown] tags=["solution"]
# <details><summary>Solution (open after you have run it)</summary>
#
# Experts at Hand add support for Targeted Plus children. With less of their time, children
# who rely on it get less support for their need, so the reform's **reduction in unmet-need
# months should be smaller** (or an increase larger) in every quintile. Whether the lowest
# quintile loses more than the highest depends on who relies on Targeted Plus rather than on a
# plan: lower-income families press less for plans, so more of their children depend on the
# support a school can get without one. Check the intervals in `shortfall_equity` before
# concluding that quintiles differ: with two replicates and a small council they are wide.
# Both comparisons use the same seed, so the two columns describe the same children.
# </details>

# %% [markdown]
# ### Exercise 2: do family resources still matter?
#
# **Predict:** if `reform.family_pressure_strength` were lowered from 0.6 to 0.2 (families'
# resources matter much less for who gets specialist assessment), what happens to the income
# gap (quintile 1 minus quintile 5) in unmet-need months under the reform? Copy the cell of
# exercise 1, change the lever, run, and compare the `income_gap` rows of the equity table.

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# ```python
# weaker = load_config(REPO / "configs" / "reform_white_paper.yaml",
#                      {**settings, "reform": {"family_pressure_strength": 0.2}})
# weaker_result = compare_with_reports(baseline, weaker, replicates=REPLICATES,
#                                   out_dir=out_dir.parent / "weaker_pressure", workers=1)
# eq = weaker_result["equity"]
# eq[(eq["metric"] == "unmet_need_months") & (eq["by"] == "income_gap")]
# ```
#
# With less weight on family pressure, access to specialist assessment depends more on need
# and on schools' referrals, so the **income gap should narrow relative to the White Paper as
# planned** — by how much is what the run tells you. It cannot close entirely: lower-income
# children still have more and more severe needs on average, and schools differ.
# </details>
