"""Write the teaching notebooks in this folder from the cell texts below (outputs cleared).

Run `python notebooks/build_notebooks.py` after editing a cell here; never edit the .ipynb files
by hand, so the notebooks stay reproducible and diff-able. Each notebook starts with a cell
tagged `parameters` (`SCALE = 0.05`, ...): `tests/test_notebooks.py` runs every notebook top to
bottom with smaller settings injected after that cell.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''\
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

import sim

REPO = Path(sim.__file__).resolve().parents[1]  # the sendsim checkout, wherever the notebook runs
sns.set_theme(style="whitegrid", palette="colorblind")'''


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str, parameters: bool = False):
    cell = new_code_cell(text.strip("\n"))
    if parameters:
        cell.metadata["tags"] = ["parameters"]
    return cell


# ---- 01: a council, month by month -------------------------------------------------------------
QUICKSTART = [
    md("""
# 1. Quickstart: one council's SEND system, month by month

`sendsim` simulates England's system for children with special educational needs and
disabilities (SEND). Every child is simulated: some develop a need, their school may notice
it and give **SEN support**, a family or school may ask the council for an **EHC needs
assessment**, and the council may issue an **education, health and care plan (EHCP)**.

In this notebook we build one small council, run it forward, and look at:

1. the pipeline: how many children are being assessed, hold a plan, or are on SEN support;
2. the January census shares of pupils with an EHCP and on SEN support;
3. the gap in **unmet need** between children on free school meals (FSM) and the rest.

The next cell holds the settings. `SCALE` shrinks the council (1.0 is a typical council of
about 60,000 pupils) so the notebook runs in seconds; `END` is the last simulated month.
"""),
    code('''
SCALE = 0.05      # share of a typical council's pupils (0.05 = about 3,000 pupils)
END = "2030-08"   # last simulated month (YYYY-MM); the run starts in January 2025
SEED = 20250101   # the root random seed: the same seed gives exactly the same run
''', parameters=True),
    code(SETUP),
    md("""
## Build and run the model

A scenario is a YAML file of parameters. `configs/baseline.yaml` is today's system (the EHCP
route). `load_config` reads it and lets us override a few settings; `SendModel` is the model
itself. `run()` steps it one month at a time to `END`.
"""),
    code('''
from sim.config import load_config
from sim.model import SendModel

config = load_config(REPO / "configs" / "baseline.yaml",
                     {"population": {"scale": SCALE}, "run": {"end": END, "seed": SEED}})
model = SendModel(config).run()
print(f"Simulated {model.n_months} months, {config.run.start} to {config.run.end}")
'''),
    md("""
## The pipeline over time

`system_table(model)` has one row per month (and council) with counts of children in each
state. We add up the councils and plot the main stocks. A child *requested* is waiting for the
council to decide whether to assess; *assessing* is being assessed.
"""),
    code('''
from sim.metrics import system_table

system = system_table(model)
monthly = system.groupby("date")[["pupils", "ehcp", "sen_support", "requested", "assessing"]].sum()
monthly.tail()
'''),
    code('''
pipeline = (monthly[["requested", "assessing", "ehcp"]]
            .rename(columns={"requested": "Waiting for a decision", "assessing": "Being assessed",
                             "ehcp": "Holding an EHCP"})
            .reset_index().melt("date", var_name="stage", value_name="children"))
ax = sns.lineplot(data=pipeline, x="date", y="children", hue="stage", style="stage", markers=False)
ax.set(title="The EHCP pipeline, month by month", xlabel="Month", ylabel="Children (count)")
plt.show()
'''),
    md("""
## EHCP and SEN support as a share of pupils

The January school census reports the share of pupils with an EHCP (5.3% in England in
2025) and on SEN support (14.2%). The model starts at those shares; watch how they move.
"""),
    code('''
january = monthly[monthly.index.month == 1]
shares = pd.DataFrame({
    "EHCP": 100 * january["ehcp"] / january["pupils"],
    "SEN support": 100 * january["sen_support"] / january["pupils"],
})
shares.index = shares.index.year
shares.round(2)
'''),
    code('''
ax = shares.plot(style=["o-", "s--"], title="Pupils with an EHCP and on SEN support (January census)")
ax.set(xlabel="January census (year)", ylabel="Share of pupils (%)", ylim=(0, None))
plt.show()
'''),
    md("""
## Who waits longer? The FSM gap in unmet need

`compute_metrics(model)` returns every metric in one tidy table with columns `date`, `metric`,
`by` (the breakdown), `group` and `value` (see `docs/METRICS.md`). `unmet_need_months` is the
number of months in a year that a child with a need spent without support matching it.
We compare children on free school meals (`fsm`) with the rest (`non_fsm`).
"""),
    code('''
from sim.metrics import compute_metrics

metrics = compute_metrics(model)
unmet = metrics[(metrics["metric"] == "unmet_need_months") & (metrics["by"] == "fsm")].copy()
unmet["year"] = unmet["date"].dt.year
unmet = unmet[unmet["year"] < int(END[:4])]   # the final year is cut short by the end of the run
unmet.pivot(index="year", columns="group", values="value").round(2)
'''),
    code('''
labels = {"fsm": "Free school meals", "non_fsm": "Not FSM"}
ax = sns.barplot(data=unmet.assign(group=unmet["group"].map(labels)), x="year", y="value", hue="group",
                 palette="Greys", edgecolor="black")
ax.set(title="Unmet-need months per child with need, by FSM", xlabel="Calendar year",
       ylabel="Months per child with need (per year)")
sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1), title=None)
plt.show()
'''),
    code('''
by_group = unmet.pivot(index="year", columns="group", values="value")
(by_group["fsm"] - by_group["non_fsm"]).round(2).rename("FSM minus not FSM (months)")
'''),
    md("""
**Reading this:** a positive gap means children on free school meals spent more months that
year with their need unmet. The model has mechanisms that push that way — families with fewer
resources press less for assessments and appeals, schools in deprived areas notice and support
needs less often — and one that pushes the other way: more severe needs are noticed sooner.
Which wins, and by how much, is a result of the model, not an input.

This is one run of one small council, so the numbers jump about from year to year. To say how
sure we are we need **replicates** (the same scenario with other seeds) and a comparison that
holds the children fixed — notebook 2 does both.
"""),
]


# ---- 02: baseline vs the White Paper -------------------------------------------------------------
OLD_VS_NEW = [
    md("""
# 2. Old system vs new: the Schools White Paper reform

The 2026 Schools White Paper proposes a **tiered route**: universal support, *Targeted*,
*Targeted Plus* and *Specialist* tiers, Experts at Hand for schools, inclusion bases, and
EHCPs only for the most complex needs, with a legal switch in September 2029.
`configs/reform_white_paper.yaml` describes it as a diff against the baseline.

`compare_scenarios` runs the baseline and the reform on **the same simulated children with the
same luck** and writes a comparison folder with tables, figures and a report.

### Why "the same luck"? Common random numbers
Every random draw in the model (does this child develop a need this month? does this family
appeal?) is tied to the child and the seed, not to the order in which things happen. So child
number 1234 in the baseline and child 1234 under the reform are the same child, facing the
same chances. The difference in their outcomes is the effect of the policy on that child, not
noise. That lets us count **winners and losers** child by child, and it makes differences
between the two runs far more precise than comparing two independent runs would.
"""),
    code('''
SCALE = 0.05       # share of a typical council's pupils
END = "2031-08"    # last simulated month: the legal switch is September 2029
REPLICATES = 2     # runs with different seeds (more replicates, narrower intervals)
SEED = 20250101
''', parameters=True),
    code(SETUP + '''
import tempfile

from sim.config import load_config
from sim.experiments.compare import compare_scenarios'''),
    code('''
settings = {"population": {"scale": SCALE}, "run": {"end": END, "seed": SEED}}
baseline = load_config(REPO / "configs" / "baseline.yaml", settings)
reform = load_config(REPO / "configs" / "reform_white_paper.yaml", settings)

out_dir = Path(tempfile.mkdtemp(prefix="sendsim_compare_")) / "white_paper"
result = compare_scenarios(baseline, reform, replicates=REPLICATES, out_dir=out_dir, workers=1)
print("Comparison written to", out_dir)
print("Report:", result["report"][0])
'''),
    md("""
## The equity table by income quintile

`result["equity"]` has one row per outcome and group. `baseline` and `reform` are group
averages, `change` is reform minus baseline (computed inside each replicate, then averaged),
and `change_lo`/`change_hi` is the 95% interval across replicates. Quintile 1 is the lowest
family income. Cells with too few children are *suppressed* (shown as empty).
"""),
    code('''
equity = result["equity"]
columns = ["group", "baseline", "reform", "change", "change_lo", "change_hi", "n_children"]
unmet_by_income = equity[(equity["metric"] == "unmet_need_months") & (equity["by"] == "income_quintile")]
unmet_by_income[columns].round(2)
'''),
    code('''
gaps = equity[equity["by"].isin(["fsm_gap", "income_gap"])]
gaps[["metric", "by", "baseline", "reform", "change", "change_lo", "change_hi"]].round(2)
'''),
    md("""
## Winners and losers

For each child with a need we compare their own unmet-need months under the two routes:
**better off** (fewer months unmet), **worse off**, or **unchanged**. A reform can help on
average while making some children worse off; this table shows both.
"""),
    code('''
shares = unmet_by_income.set_index("group")[["share_better_off", "share_unchanged", "share_worse_off"]] * 100
shares.index = [f"Q{g}" for g in shares.index]
shares.round(1)
'''),
    code('''
ax = shares.plot.bar(stacked=True, color=["0.3", "0.85", "0.6"], edgecolor="black", rot=0)
for bar in ax.containers[2]:
    bar.set_hatch("//")
ax.set(title="Winners and losers in unmet-need months, by income quintile",
       xlabel="Family income quintile (Q1 lowest)", ylabel="Children with need (%)", ylim=(0, 100))
ax.legend(["Better off", "Unchanged", "Worse off"], loc="lower right")
plt.show()
'''),
    md("""
## Where to look next

- `result["costs"]`: spending by budget holder (schools, council high-needs block, central
  government) and financial year, with the paired change.
- `result["stock"]`: the EHCP share of pupils at each January under each route.
- The folder printed above holds `report.md`/`report.html` with all of this and the figures.

With only a couple of replicates and a small council the intervals are wide; the command
line (`sendsim compare`) runs full-size councils and more replicates on all cores.
"""),
]


# ---- 03: sensitivity ---------------------------------------------------------------------------
DRIVERS = [
    md("""
# 3. What drives the result? Screening uncertain reform parameters

Many details of the reform are not yet published: how many Experts at Hand posts will be
filled, where the Targeted Plus threshold will sit, how hard families will still push for
specialist assessment. The model makes each an explicit parameter with a plausible range.

**Morris screening** asks which of them matter. It moves one parameter at a time along several
random paths through the ranges (*trajectories*) and records how much an outcome changes per
step (an *elementary effect*). For each parameter:

- **μ\\*** (mu-star) — the average size of its effects: large means it matters;
- **σ** (sigma) — how much its effect varies from path to path: large means it interacts with
  the other parameters or acts non-linearly.

Each design point runs the reform; the baseline (which does not use these parameters) is run
once with the same seed, and each outcome is reform minus baseline for the same children
(see notebook 2). If you already have an experiment store from `sendsim experiment`, set
`STORE` to its folder and the notebook reads it instead of running the model.
"""),
    code('''
SCALE = 0.03          # share of a typical council's pupils
END = "2031-08"       # last simulated month
TRAJECTORIES = 4      # Morris paths; runs = TRAJECTORIES * (number of parameters + 1)
REPLICATES = 3        # seeds for the replicate check at the end
SEED = 20250101
STORE = None          # or the path of an experiment results store to analyse instead
''', parameters=True),
    code(SETUP + '''
from SALib.sample import morris as morris_sample

from sim.experiments.analysis import HEADLINE_OUTCOMES, paired_outcomes, replicate_check, sensitivity'''),
    md("""
## The uncertain parameters and their ranges

Each name is a dotted path into the scenario config; the ranges are the *plausible* ranges
documented with each parameter in `sim/config/schema.py`.
"""),
    code('''
problem = {
    "num_vars": 4,
    "names": ["reform.experts_capacity_multiplier", "reform.experts_vacancy_rate",
              "reform.family_pressure_strength", "reform.targeted_plus_threshold"],
    "bounds": [[0.5, 1.2], [0.05, 0.4], [0.2, 1.0], [0.9, 1.6]],
}
pd.DataFrame(problem["bounds"], index=problem["names"], columns=["lowest", "highest"])
'''),
    md("""
## Run the design (or read a store)

`morris_sample.sample` gives the parameter values to try, one row per run. We run the reform
at every row and the baseline once, all with the same seed.
"""),
    code('''
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
'''),
    md("""
## The outcomes at each point

`paired_outcomes` gives, for each design point, the reform's effect on three headline
outcomes, each computed inside a replicate against the baseline with the same seed:

- `change_access_gap`: change in the FSM minus non-FSM gap in unmet-need months (from 2030,
  after the legal switch) — negative means the gap narrows;
- `change_ks4_gap`: change in the FSM gap in KS4 English and maths grade 4+ (percentage
  points) — positive means FSM pupils catch up;
- `change_cost`: change in council high-needs plus central reform spending (£ per pupil per year).
"""),
    code('''
outcomes = paired_outcomes(metrics, baseline="baseline")
outcomes.round(3).head(10)
'''),
    md("""
## Which parameters matter?

`sensitivity` runs the Morris analysis (SALib) for each outcome and returns a tidy table.
"""),
    code('''
indices = sensitivity(design, outcomes, problem, "morris")
mu_star = indices[indices["index"] == "mu_star"]
mu_star.pivot(index="parameter", columns="outcome", values="value").round(3)
'''),
    code('''
import textwrap

fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True, constrained_layout=True)
for ax, outcome in zip(axes, HEADLINE_OUTCOMES):
    rows = mu_star[mu_star["outcome"] == outcome.name]
    names = rows["parameter"].str.removeprefix("reform.")
    ax.barh(names, rows["value"], xerr=rows["conf"], color="0.6", edgecolor="black", capsize=3)
    ax.set_title(textwrap.fill(outcome.label, 32), fontsize=10)
    ax.set_xlabel(f"μ*, mean absolute effect\\n({outcome.unit})")
axes[0].invert_yaxis()
axes[0].set_ylabel("Uncertain reform parameter")
fig.suptitle("Morris screening of reform uncertainties", fontweight="bold")
plt.show()
'''),
    md("""
**Reading this:** the longer a bar, the more that parameter moves the outcome across its
plausible range; the whisker is a 95% bootstrap interval. With a handful of trajectories and
one small council per point these are rough — a screening, not a verdict. Parameters with
bars near zero for every outcome are candidates to fix at their defaults; the others deserve
a full Sobol analysis and better evidence.

## Is one run per point enough?

The model is random, so an outcome at one point also varies from seed to seed. Here we
run the middle of every range with a few different seeds (each seed is a *replicate*; the
baseline and reform of one replicate share it) and ask `replicate_check` how wide the 95%
interval for each mean outcome is, and how many replicates a target precision would need.
"""),
    code('''
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
'''),
    md("""
`half_width` is the ± of the 95% interval with the replicates we ran; `replicates_needed` is
how many it would take to get it down to `precision` (a twentieth of a month, half a
percentage point, £10 per pupil — change them with `replicate_check(..., precision={...})`).
"""),
]


NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_old_vs_new.ipynb": OLD_VS_NEW,
    "03_what_drives_the_result.ipynb": DRIVERS,
}


def build(directory: Path = HERE) -> list[Path]:
    paths = []
    for name, cells in NOTEBOOKS.items():
        notebook = new_notebook(cells=cells)
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        notebook.metadata["language_info"] = {"name": "python"}
        for i, cell in enumerate(notebook.cells):  # stable ids: rebuilding an unchanged notebook changes nothing
            cell["id"] = f"{Path(name).stem.split('_')[0]}-{i:02d}"
        nbformat.validate(notebook)
        path = directory / name
        nbformat.write(notebook, path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for path in build():
        print("wrote", path)
