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
# # 1. Quickstart: one council's SEND system, month by month
#
# **Learning goals.** By the end you can
#
# - build and run a simulated council from a scenario file, with settings of your own;
# - describe the route from a child's need to an EHCP, and where children queue on it;
# - read the census shares and the gap in unmet need between children on free school meals
#   and the rest, and say why one run is not enough to trust a gap;
# - change a lever, predict what it does, run it and explain the result (exercises at the end).
#
# `sendsim` simulates England's system for children with special educational needs and
# disabilities (SEND). Every child is simulated: some develop a need, their school may notice
# it and give **SEN support**, a family or school may ask the council for an **EHC needs
# assessment**, and the council may issue an **education, health and care plan (EHCP)**.
#
# In this notebook we build one small council, run it forward, and look at:
#
# 1. the pipeline: how many children are being assessed, hold a plan, or are on SEN support;
# 2. the January census shares of pupils with an EHCP and on SEN support;
# 3. the gap in **unmet need** between children on free school meals (FSM) and the rest.
#
# The next cell holds the settings. `SCALE` shrinks the council (1.0 is a typical council of
# about 60,000 pupils) so the notebook runs in seconds; `END` is the last simulated month.

# %% tags=["parameters"]
SCALE = 0.05      # share of a typical council's pupils (0.05 = about 3,000 pupils)
END = "2030-08"   # last simulated month (YYYY-MM); the run starts in January 2025
SEED = 20250101   # the root random seed: the same seed gives exactly the same run

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

import sim

REPO = Path(sim.__file__).resolve().parents[1]  # the sendsim checkout, wherever the notebook runs
sns.set_theme(style="whitegrid", palette="colorblind")

# %% [markdown]
# ## Build and run the model
#
# A scenario is a YAML file of parameters. `configs/baseline.yaml` is today's system (the EHCP
# route). `load_config` reads it and lets us override a few settings; `SendModel` is the model
# itself. `run()` steps it one month at a time to `END`.

# %%
from sim.config import load_config
from sim.model import SendModel

config = load_config(REPO / "configs" / "baseline.yaml",
                     {"population": {"scale": SCALE}, "run": {"end": END, "seed": SEED}})
model = SendModel(config).run()
print(f"Simulated {model.n_months} months, {config.run.start} to {config.run.end}")

# %% [markdown]
# ### How a need becomes a plan (the mechanism in plain words)
#
# Each month, for every child:
#
# 1. **Need.** Some children start school with a special educational need; others develop one
#    later (usually milder). Needs are more common and more severe, on average, among children
#    on free school meals. A need left unmet tends to grow; a need that is met tends to ease.
# 2. **Noticing.** The school may notice the need and give **SEN support**. Schools with more
#    SEN expertise notice more, sooner.
# 3. **Asking.** A family or the school may ask the council for an **EHC needs assessment**.
#    Families press harder when they have more *advocacy* (time, confidence, know-how), which
#    rises with income, and richer families can more often pay for a private psychologist's report.
# 4. **Deciding.** The council decides whether to assess. Refusal is likelier for milder needs,
#    for requests from parents rather than schools, and when the council's high-needs deficit
#    makes it *gatekeep*. Refused families may appeal to the tribunal — again, more often when
#    they have more resources.
# 5. **Assessing.** Assessments need educational psychologist (EP) time; when the council's
#    EP hours run out, children wait. Then a plan may be issued and a placement found.
#
# So the same need can meet very different journeys depending on the family and the council:
# that is what the disadvantage gaps below measure.

# %% [markdown]
# ## The pipeline over time
#
# `system_table(model)` has one row per month (and council) with counts of children in each
# state. We add up the councils and plot the main stocks. A child *requested* is waiting for the
# council to decide whether to assess; *assessing* is being assessed.

# %%
from sim.metrics import system_table

system = system_table(model)
monthly = system.groupby("date")[["pupils", "ehcp", "sen_support", "requested", "assessing"]].sum()
monthly.tail()

# %%
pipeline = (monthly[["requested", "assessing", "ehcp"]]
            .rename(columns={"requested": "Waiting for a decision", "assessing": "Being assessed",
                             "ehcp": "Holding an EHCP"})
            .reset_index().melt("date", var_name="stage", value_name="children"))
ax = sns.lineplot(data=pipeline, x="date", y="children", hue="stage", style="stage", markers=False)
ax.set(title="The EHCP pipeline, month by month", xlabel="Month", ylabel="Children (count)")
plt.show()

# %% [markdown]
# ## EHCP and SEN support as a share of pupils
#
# The January school census reports the share of pupils with an EHCP (5.3% in England in
# 2025) and on SEN support (14.2%). The model starts at those shares; watch how they move.

# %%
january = monthly[monthly.index.month == 1]
shares = pd.DataFrame({
    "EHCP": 100 * january["ehcp"] / january["pupils"],
    "SEN support": 100 * january["sen_support"] / january["pupils"],
})
shares.index = shares.index.year
shares.round(2)

# %%
ax = shares.plot(style=["o-", "s--"], title="Pupils with an EHCP and on SEN support (January census)")
ax.set(xlabel="January census (year)", ylabel="Share of pupils (%)", ylim=(0, None))
plt.show()

# %% [markdown]
# ## Who waits longer? The FSM gap in unmet need
#
# `compute_metrics(model)` returns every metric in one tidy table with columns `date`, `metric`,
# `by` (the breakdown), `group` and `value` (see `docs/METRICS.md`). `unmet_need_months` is the
# number of months in a year that a child with a need spent without support matching it.
# We compare children on free school meals (`fsm`) with the rest (`non_fsm`).

# %%
from sim.metrics import compute_metrics

metrics = compute_metrics(model)
unmet = metrics[(metrics["metric"] == "unmet_need_months") & (metrics["by"] == "fsm")].copy()
unmet["year"] = unmet["date"].dt.year
unmet = unmet[unmet["year"] < int(END[:4])]   # the final year is cut short by the end of the run
unmet.pivot(index="year", columns="group", values="value").round(2)

# %%
labels = {"fsm": "Free school meals", "non_fsm": "Not FSM"}
ax = sns.barplot(data=unmet.assign(group=unmet["group"].map(labels)), x="year", y="value", hue="group",
                 palette="Greys", edgecolor="black")
ax.set(title="Unmet-need months per child with need, by FSM", xlabel="Calendar year",
       ylabel="Months per child with need (per year)")
sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1), title=None)
plt.show()

# %%
by_group = unmet.pivot(index="year", columns="group", values="value")
(by_group["fsm"] - by_group["non_fsm"]).round(2).rename("FSM minus not FSM (months)")

# %% [markdown]
# **Reading this:** a positive gap means children on free school meals spent more months that
# year with their need unmet. The model has mechanisms that push that way — families with fewer
# resources press less for assessments and appeals, schools in deprived areas notice and support
# needs less often — and one that pushes the other way: more severe needs are noticed sooner.
# Which wins, and by how much, is a result of the model, not an input.
#
# This is one run of one small council, so the numbers jump about from year to year. To say how
# sure we are we need **replicates** (the same scenario with other seeds) and a comparison that
# holds the children fixed — notebook 2 does both.

# %% [markdown]
# ## Exercises
#
# Each exercise: **change a lever, predict, run, explain.** Write your prediction down before
# you run the cell. The solutions are folded under *Solution* — open them only afterwards.
#
# ### Exercise 1: fewer educational psychologists
#
# Councils' EP time for statutory assessments is
# `assessment.ep_hours_per_month_per_1000_pupils` (23 hours a month per 1,000 pupils by
# default; `sendsim params` lists its source and plausible range). **Predict:** if it were
# halved, what happens by the end of the run to (a) the number of children being assessed,
# and (b) the share of pupils holding an EHCP?

# %% tags=["exercise"]
EP_HOURS = 11.5   # change me: hours per month per 1,000 pupils (default 23)

fewer_eps = SendModel(load_config(REPO / "configs" / "baseline.yaml", {
    "population": {"scale": SCALE}, "run": {"end": END, "seed": SEED},
    "assessment": {"ep_hours_per_month_per_1000_pupils": EP_HOURS}})).run()
last = system_table(fewer_eps).groupby("date")[["pupils", "ehcp", "assessing"]].sum().iloc[-1]
pd.DataFrame({
    "default EP time": [monthly["assessing"].iloc[-1], 100 * monthly["ehcp"].iloc[-1] / monthly["pupils"].iloc[-1]],
    f"{EP_HOURS} hours": [last["assessing"], 100 * last["ehcp"] / last["pupils"]],
}, index=["children being assessed (last month)", "EHCP share of pupils (%)"]).round(2)

# %% [markdown] tags=["solution"]
# <details><summary>Solution (open after you have run it)</summary>
#
# EP time is the binding constraint on statutory assessments in the model: each assessment needs
# a fixed number of EP hours, and a council can only start as many as its monthly hours allow.
# With half the hours, assessments start more slowly, so **more children sit in the assessment
# queue** and **fewer plans are issued**, and the EHCP share grows more slowly than under the
# default. Nothing else about need changes — the children are the same, with the same luck —
# so the extra waiting is felt as extra months of unmet need, mostly by children whose
# need is severe enough to reach assessment. With a small council the difference in a single
# month can be noisy; raise `SCALE` if it is hard to see.
# </details>

# %% [markdown]
# ### Exercise 2: what if every family pressed as hard as the best-resourced?
#
# `population.advocacy_mean_lowest_quintile` is the average advocacy of families in the lowest
# income quintile (0.30 by default; 0.70 in the highest quintile). **Predict:** if the lowest
# quintile's advocacy were raised to 0.70, would the FSM gap in unmet-need months vanish,
# shrink, or stay the same? Why?

# %% tags=["exercise"]
ADVOCACY_LOWEST = 0.70   # change me: mean advocacy of the lowest-income families (default 0.30)

equal_voice = SendModel(load_config(REPO / "configs" / "baseline.yaml", {
    "population": {"scale": SCALE, "advocacy_mean_lowest_quintile": ADVOCACY_LOWEST},
    "run": {"end": END, "seed": SEED}})).run()
equal = compute_metrics(equal_voice)
equal = equal[(equal["metric"] == "unmet_need_months") & (equal["by"] == "fsm")].assign(year=lambda d: d["date"].dt.year)
equal = equal[equal["year"] < int(END[:4])].pivot(index="year", columns="group", values="value")
pd.DataFrame({"default advocacy": by_group["fsm"] - by_group["non_fsm"],
              f"lowest quintile at {ADVOCACY_LOWEST}": equal["fsm"] - equal["non_fsm"]}).round(2)

# %% [markdown] tags=["solution"]
# <details><summary>Solution (open after you have run it)</summary>
#
# Advocacy drives how often a family asks for an assessment and appeals a refusal, so lifting it
# for the lowest-income families should make the gap **smaller, but not make it vanish**. Other
# sources of the gap are untouched: FSM children are more likely to have a need and their needs
# are more severe on average (`needs.fsm_need_odds_ratio`, `needs.fsm_severity_multiplier`);
# richer families can still more often pay for a private report; and FSM pupils are
# concentrated in some schools. In one small run, year-to-year noise can be as large as the
# change — which is why the next notebook uses replicates and a paired comparison.
# </details>
