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
# # 3. What drives the result? Screening uncertain reform parameters
#
# **Learning goals.** By the end you can
#
# - say why a model with unpublished policy details needs a sensitivity analysis;
# - explain Morris screening: elementary effects, μ* (how much a parameter matters) and σ
#   (how much its effect depends on the others);
# - read which uncertain reform parameters move access gaps, attainment gaps and cost;
# - check whether you ran enough replicates, and extend the screening (exercise at the end).
#
# Many details of the reform are not yet published: how many Experts at Hand posts will be
# filled, where the Targeted Plus threshold will sit, how hard families will still push for
# specialist assessment. The model makes each an explicit parameter with a plausible range.
#
# **Morris screening** asks which of them matter. It moves one parameter at a time along several
# random paths through the ranges (*trajectories*) and records how much an outcome changes per
# step (an *elementary effect*). For each parameter:
#
# - **μ\*** (mu-star) — the average size of its effects: large means it matters;
# - **σ** (sigma) — how much its effect varies from path to path: large means it interacts with
#   the other parameters or acts non-linearly.
#
# Each design point runs the reform; the baseline (which does not use these parameters) is run
# once with the same seed, and each outcome is reform minus baseline for the same children
# (see notebook 2). If you already have an experiment store from `sendsim experiment`, set
# `STORE` to its folder and the notebook reads it instead of running the model.

# %% tags=["parameters"]
SCALE = 0.03          # share of a typical council's pupils
END = "2031-08"       # last simulated month
TRAJECTORIES = 4      # Morris paths; runs = TRAJECTORIES * (number of parameters + 1)
REPLICATES = 3        # seeds for the replicate check at the end
SEED = 20250101
STORE = None          # or the path of an experiment results store to analyse instead

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

import sim

REPO = Path(sim.__file__).resolve().parents[1]  # the sendsim checkout, wherever the notebook runs
sns.set_theme(style="whitegrid", palette="colorblind")
from SALib.sample import morris as morris_sample

from sim.experiments.analysis import HEADLINE_OUTCOMES, paired_outcomes, replicate_check, sensitivity

# %% [markdown]
# ## The uncertain parameters and their ranges
#
# Each name is a dotted path into the scenario config; the ranges are the *plausible* ranges
# documented with each parameter in `sim/config/schema.py`.

# %%
problem = {
    "num_vars": 4,
    "names": ["reform.experts_capacity_multiplier", "reform.experts_vacancy_rate",
              "reform.family_pressure_strength", "reform.targeted_plus_threshold"],
    "bounds": [[0.5, 1.2], [0.05, 0.4], [0.2, 1.0], [0.9, 1.6]],
}
pd.DataFrame(problem["bounds"], index=problem["names"], columns=["lowest", "highest"])

# %% [markdown]
# ## Run the design (or read a store)
#
# `morris_sample.sample` gives the parameter values to try, one row per run. We run the reform
# at every row and the baseline once, all with the same seed.

# %%
from sim.config import load_config
from sim.config.loader import deep_merge
from sim.metrics import compute_metrics
from sim.model import SendModel


def with_values(names, values):
    """A nested config override {"reform": {"experts_vacancy_rate": 0.2, ...}} from dotted names."""
    override = {}
    for name, value in zip(names, values):
        section, key = name.split(".")
        override = deep_merge(override, {section: {key: float(value)}})
    return override


def run(config_file, override, scenario, point_id):
    settings = deep_merge({"population": {"scale": SCALE}, "run": {"end": END, "seed": SEED}}, override)
    model = SendModel(load_config(REPO / "configs" / config_file, settings)).run()
    return compute_metrics(model).assign(scenario=scenario, point_id=point_id, replicate=0)


if STORE is None:
    x = morris_sample.sample(problem, TRAJECTORIES, num_levels=4, seed=1)
    design = pd.DataFrame(x, columns=problem["names"]).rename_axis("point_id").reset_index()
    runs = [run("baseline.yaml", {}, "baseline", 0)]
    for point_id, row in enumerate(x):
        runs.append(run("reform_white_paper.yaml", with_values(problem["names"], row), "reform", point_id))
    metrics = pd.concat(runs, ignore_index=True)
else:
    import json
    store = Path(STORE)
    problem = json.loads((store / "manifest.json").read_text())["design"]["problem"]
    design = pd.read_parquet(store / "design.parquet")
    metrics = pd.read_parquet(store / "runs")
print(f"{len(design)} design points, {metrics.groupby(['scenario', 'point_id', 'replicate']).ngroups} runs")
design.head()

# %% [markdown]
# ## The outcomes at each point
#
# `paired_outcomes` gives, for each design point, the reform's effect on three headline
# outcomes, each computed inside a replicate against the baseline with the same seed:
#
# - `change_access_gap`: change in the FSM minus non-FSM gap in unmet-need months (from 2030,
#   after the legal switch) — negative means the gap narrows;
# - `change_ks4_gap`: change in the FSM gap in KS4 English and maths grade 4+ (percentage
#   points) — positive means FSM pupils catch up;
# - `change_cost`: change in council high-needs plus central reform spending (£ per pupil per year).

# %%
outcomes = paired_outcomes(metrics, baseline="baseline")
outcomes.round(3).head(10)

# %% [markdown]
# ## Which parameters matter?
#
# `sensitivity` runs the Morris analysis (SALib) for each outcome and returns a tidy table.

# %%
indices = sensitivity(design, outcomes, problem, "morris")
mu_star = indices[indices["index"] == "mu_star"]
mu_star.pivot(index="parameter", columns="outcome", values="value").round(3)

# %%
import textwrap

fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True, constrained_layout=True)
for ax, outcome in zip(axes, HEADLINE_OUTCOMES):
    rows = mu_star[mu_star["outcome"] == outcome.name]
    names = rows["parameter"].str.removeprefix("reform.")
    ax.barh(names, rows["value"], xerr=rows["conf"], color="0.6", edgecolor="black", capsize=3)
    ax.set_title(textwrap.fill(outcome.label, 32), fontsize=10)
    ax.set_xlabel(f"μ*, mean absolute effect\n({outcome.unit})")
axes[0].invert_yaxis()
axes[0].set_ylabel("Uncertain reform parameter")
fig.suptitle("Morris screening of reform uncertainties", fontweight="bold")
plt.show()

# %% [markdown]
# **Reading this:** the longer a bar, the more that parameter moves the outcome across its
# plausible range; the whisker is a 95% bootstrap interval. With a handful of trajectories and
# one small council per point these are rough — a screening, not a verdict. Parameters with
# bars near zero for every outcome are candidates to fix at their defaults; the others deserve
# a full Sobol analysis and better evidence.
#
# ## Is one run per point enough?
#
# The model is random, so an outcome at one point also varies from seed to seed. Here we
# run the middle of every range with a few different seeds (each seed is a *replicate*; the
# baseline and reform of one replicate share it) and ask `replicate_check` how wide the 95%
# interval for each mean outcome is, and how many replicates a target precision would need.

# %%
from sim.experiments.runner import replicate_seed

if STORE is None:
    middle = [np.mean(bounds) for bounds in problem["bounds"]]
    runs = []
    for replicate in range(REPLICATES):
        seed = replicate_seed(SEED, replicate)
        for config_file, override, scenario in (("baseline.yaml", {}, "baseline"),
                                                ("reform_white_paper.yaml", with_values(problem["names"], middle), "reform")):
            settings = deep_merge({"population": {"scale": SCALE}, "run": {"end": END, "seed": seed}}, override)
            model = SendModel(load_config(REPO / "configs" / config_file, settings)).run()
            runs.append(compute_metrics(model).assign(scenario=scenario, point_id=0, replicate=replicate))
    at_middle = paired_outcomes(pd.concat(runs, ignore_index=True), baseline="baseline")
else:
    at_middle = outcomes  # the store's own replicates, point by point
check = replicate_check(at_middle)
check[["point_id", "outcome", "n", "mean", "sd", "half_width", "precision", "replicates_needed"]].round(3)

# %% [markdown]
# `half_width` is the ± of the 95% interval with the replicates we ran; `replicates_needed` is
# how many it would take to get it down to `precision` (a twentieth of a month, half a
# percentage point, £10 per pupil — change them with `replicate_check(..., precision={...})`).

# %% [markdown]
# ## Exercise: add a parameter to the screening
#
# **Predict:** add `reform.special_school_package_threshold` (plausible range 2.2 to 3.2
# severity units: the need above which a plan comes with a special-school package) to
# `problem`. For which of the three outcomes do you expect it to have the largest μ*, and why?
# Then edit the `problem` cell (add the name and its bounds, and set `num_vars` to 5), run the
# notebook again from there, and compare with your prediction.

# %% [markdown] tags=["solution"]
# <details><summary>Solution (open after you have run it)</summary>
#
# ```python
# problem = {
#     "num_vars": 5,
#     "names": ["reform.experts_capacity_multiplier", "reform.experts_vacancy_rate",
#               "reform.family_pressure_strength", "reform.targeted_plus_threshold",
#               "reform.special_school_package_threshold"],
#     "bounds": [[0.5, 1.2], [0.05, 0.4], [0.2, 1.0], [0.9, 1.6], [2.2, 3.2]],
# }
# ```
#
# Special-school places are the most expensive placements in the model (an independent place
# costs several times a mainstream top-up), so the threshold should matter most for **cost**:
# a higher threshold sends fewer children to special schools. It concerns few children, so its
# effect on the FSM gaps is likely smaller — unless FSM children are over-represented among the
# most severe needs, which they are in the model (`needs.fsm_severity_multiplier`). A large σ
# relative to μ* would say its effect depends on the other parameters (for example on how much
# support Targeted Plus gives below the threshold). Morris with few trajectories is a screening:
# rank parameters, do not quote the values.
# </details>
