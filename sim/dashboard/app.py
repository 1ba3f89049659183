"""The Solara page of `sendsim dashboard` (Solara is the web framework of Mesa's SolaraViz).

Why this shape: Mesa's SolaraViz components step one model and plot its live state; the
question here is a *paired comparison across replicates* (the same children under two routes),
whose answer only exists once both runs finish. So the page is a control panel — scenarios,
council, run size and the reform's levers, each widget described by its parameter metadata —
driving `sim.dashboard.engine.run_comparison` in a background thread (progress, cancel, cache),
and views drawn from the comparison's own tables: equity by income quintile with winners and
losers, the EHCP share over time, disadvantage gaps, costs by budget holder and, when a region or
England was simulated, the comparison's own hex maps of England (baseline and change). Every chart has
PNG and CSV downloads; the configs on screen download as YAML diffs.

Run with `sendsim dashboard` (or `solara run sim.dashboard.app`).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import solara
import solara.lab

from sim.config import ConfigError
from sim.dashboard import charts as chart_module
from sim.dashboard.engine import Cancelled, ComparisonResult, cache_key, default_cache_dir, run_comparison
from sim.dashboard.levers import LEVERS, Lever
from sim.dashboard.scenario import (
    Selection,
    baseline_yaml,
    council_choices,
    default_config_dir,
    lever_values,
    pupils_estimate,
    reform_yaml,
    resolve,
    scenario_files,
)
from sim.experiments.compare import PAIRED_METRICS

CONFIG_DIR_ENV = "SENDSIM_CONFIG_DIR"
DEFAULT_ENV = "SENDSIM_DASHBOARD_DEFAULTS"  # "scale=0.02,end=2030-08,replicates=2": quick runs (tests, screenshots)


def config_dir() -> Path:
    return Path(os.environ.get(CONFIG_DIR_ENV) or default_config_dir())


def initial_selection() -> Selection:
    """The selection a new page starts from (overridable for quick demonstrations and tests)."""
    settings = dict(part.split("=", 1) for part in os.environ.get(DEFAULT_ENV, "").split(",") if "=" in part)
    kinds = {"scale": float, "end": str, "replicates": int, "seed": int, "baseline": str, "reform": str, "council": str}
    return Selection(**{name: kinds[name](value) for name, value in settings.items() if name in kinds})


selection = solara.reactive(initial_selection())
metric = solara.reactive("unmet_need_months")
auto_run = solara.reactive(True)
status = solara.reactive("")  # the running comparison's progress message
cancelling = solara.reactive(False)  # Cancel was pressed and the running replicate is finishing
stopped = solara.reactive("")  # how far a cancelled comparison got
VIEWS = ("Equity", "Over time", "Gaps", "Costs")
MAP_VIEW = "Map"  # offered when the comparison covers several councils (a region or England)
map_measure = solara.reactive("")
view = solara.reactive(VIEWS[0])


@solara.lab.task(prefer_threaded=True)
def comparison(baseline, reform, replicates: int) -> ComparisonResult:
    """Runs in a background thread; a newer call or Cancel makes `is_current()` false."""
    def progress(fraction: float, message: str) -> None:
        comparison.progress = 100 * fraction
        status.value = message  # shown only while Cancel has not been pressed (see `cancelling`)

    stopped.value = ""
    try:
        return run_comparison(baseline, reform, replicates, cache_dir=default_cache_dir(), progress=progress,
                              should_stop=lambda: not comparison.is_current())
    except Cancelled as exc:
        stopped.value = str(exc)  # shown once the task reports cancelled, i.e. after this thread has returned
        raise


def cancel() -> None:
    """Ask the running comparison to stop; it stops after the replicate it is running (a replicate
    cannot be interrupted half-way without losing its pairing), so say so until it has."""
    cancelling.value = True  # its own flag: a progress message written by the worker at the same moment cannot hide it
    comparison.cancel()


def set_field(**changes) -> None:
    selection.value = replace(selection.value, **changes)


def set_lever(path: str, value) -> None:
    if value is None:
        return
    selection.value = selection.value.with_lever(path, value)


@solara.component
def LeverWidget(lever: Lever, value) -> None:
    classes = [lever.css_class]
    if lever.kind == "bool":
        with solara.Div(classes=classes):
            solara.Checkbox(label=lever.label(), value=bool(value), on_value=lambda v: set_lever(lever.path, v))
    elif lever.kind == "int":
        solara.InputInt(lever.label(), value=int(value), on_value=lambda v: set_lever(lever.path, v), classes=classes)
    elif lever.kind == "float":
        solara.InputFloat(lever.label(), value=float(value), on_value=lambda v: set_lever(lever.path, v), classes=classes)
    else:
        solara.InputText(lever.label(), value=str(value), on_value=lambda v: set_lever(lever.path, v), classes=classes)
    solara.Text(lever.hint(), style={"font-size": "0.75em", "color": "#555", "display": "block", "margin-bottom": "8px"})


@solara.component
def Controls(error: str | None) -> None:
    current = selection.value
    files = scenario_files(config_dir())
    solara.Markdown("### Scenarios")
    solara.Select("Baseline", values=files, value=current.baseline, on_value=lambda v: set_field(baseline=v),
                  classes=["choose-baseline"])
    solara.Select("Reform", values=files, value=current.reform, on_value=lambda v: set_field(reform=v, levers={}),
                  classes=["choose-reform"])
    solara.Select("Council", values=council_choices(), value=current.council, on_value=lambda v: set_field(council=v),
                  classes=["choose-council"])
    solara.Markdown("### Run size")
    solara.InputFloat("Scale (fraction of each council's pupils)", value=current.scale,
                      on_value=lambda v: v is not None and set_field(scale=v), classes=["setting-scale"])
    if not error:
        solara.Text(f"about {pupils_estimate(current):,} pupils per run", style={"font-size": "0.75em", "color": "#555"})
    solara.InputInt("Replicates", value=current.replicates, on_value=lambda v: v is not None and set_field(replicates=max(1, v)),
                    classes=["setting-replicates"])
    solara.InputText("Last month (YYYY-MM)", value=current.end, on_value=lambda v: set_field(end=v), classes=["setting-end"])
    solara.InputInt("Seed", value=current.seed, on_value=lambda v: v is not None and set_field(seed=v), classes=["setting-seed"])
    solara.Markdown("### Reform levers")
    try:
        values = lever_values(current, config_dir())
    except ConfigError:
        values = {}
    group = None
    for lever in LEVERS:
        if lever.path not in values:
            continue
        if lever.group != group:
            group = lever.group
            solara.Markdown(f"**{group}**")
        LeverWidget(lever, values[lever.path])
    solara.Button("Reset levers to the reform file", on_click=lambda: set_field(levers={}), text=True,
                  classes=["reset-levers"])


@solara.component
def Downloads(chart: chart_module.Chart) -> None:
    with solara.Row(classes=[f"downloads-{chart.name}"]):
        solara.FileDownload(lambda: chart.png(), filename=f"{chart.name}.png", label="PNG", mime_type="image/png")
        solara.FileDownload(lambda: chart.csv(), filename=f"{chart.name}.csv", label="CSV (data)", mime_type="text/csv")


@solara.component
def ChartView(chart: chart_module.Chart | chart_module.MapChart) -> None:
    png = solara.use_memo(chart.png, dependencies=[id(chart)])
    with solara.Div(classes=["chart", f"chart-{chart.name}"]):
        solara.Image(png, width="min(100%, 720px)")
    Downloads(chart)


@solara.component
def MapView(result: ComparisonResult) -> None:
    """The comparison's hex maps of England, baseline beside change, for one measure at a time."""
    maps = chart_module.council_map_charts(result.councils, result.maps)
    measures = list(dict.fromkeys(chart.measure for chart in maps))
    chosen = map_measure.value if map_measure.value in measures else measures[0]
    solara.Select("Council measure", values=measures, value=chosen, on_value=map_measure.set, classes=["choose-map"])
    simulated = len(result.councils)
    solara.Markdown(f"One hexagon per council; the {simulated} simulated councils are coloured (any council not "
                    "simulated, or with too few children, is grey). "
                    "Council values at a small scale rest on few children (`children_with_need` in the CSV).",
                    style="font-size: 0.85em")
    with solara.Columns([1, 1]):
        for chart in maps:
            if chart.measure == chosen:
                ChartView(chart)


def equity_table_html(result: ComparisonResult, name: str) -> str:
    rows = result.equity[(result.equity["metric"] == name) & result.equity["by"].isin(["all", "income_quintile", "fsm"])]
    lines = ["<style>.equity-table td, .equity-table th {padding: 2px 14px; text-align: right}"
             " .equity-table td:first-child, .equity-table th:first-child {text-align: left}</style>"
             "<table class='equity-table'><thead><tr><th>group</th><th>baseline</th><th>reform</th>"
             "<th>change [95% interval]</th><th>better / unchanged / worse off</th></tr></thead><tbody>"]
    for _, row in rows.iterrows():
        group = "all children" if row["by"] == "all" else (f"income quintile {row['group']}" if row["by"] == "income_quintile"
                                                            else row["group"].replace("_", "-").upper())
        if row["suppressed"]:
            lines.append(f"<tr><td>{group}</td><td colspan=4>suppressed (fewer than the small-cell threshold)</td></tr>")
            continue
        lines.append(
            f"<tr><td>{group}</td><td>{row['baseline']:.2f}</td><td>{row['reform']:.2f}</td>"
            f"<td>{row['change']:+.2f} [{row['change_lo']:+.2f}, {row['change_hi']:+.2f}]</td>"
            f"<td>{row['share_better_off']:.0%} / {row['share_unchanged']:.0%} / {row['share_worse_off']:.0%}</td></tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


@solara.component
def Results(result: ComparisonResult) -> None:
    labels = {m.label: m.name for m in PAIRED_METRICS}
    names = {m.name: m.label for m in PAIRED_METRICS}
    manifest = result.manifest
    reform_hash = manifest["reform"]["config_sha256"]
    how = "from the cache" if result.from_cache else f"computed in {result.seconds:.1f} s"
    solara.Markdown(
        f"**{manifest['baseline']['scenario']}** vs **{manifest['reform']['scenario']}** · "
        f"{manifest['replicates']} paired replicates, seed {manifest['seed']} · {how} · results in `{result.out_dir}`",
        style="font-size: 0.85em")
    solara.Text(reform_hash, classes=["reform-hash"], style={"font-size": "0.7em", "color": "#777"})
    stock = solara.use_memo(lambda: chart_module.ehcp_share_chart(result.stock, manifest["baseline"]["scenario"],
                                                                  manifest["reform"]["scenario"]), dependencies=[result.key])
    quintiles = solara.use_memo(lambda: chart_module.quintile_change_chart(result.equity, metric.value),
                                dependencies=[result.key, metric.value])
    winners = solara.use_memo(lambda: chart_module.winners_losers_chart(result.equity, metric.value),
                              dependencies=[result.key, metric.value])
    gaps = solara.use_memo(lambda: chart_module.gaps_chart(result.equity, result.standardised_gaps), dependencies=[result.key])
    costs = solara.use_memo(lambda: chart_module.costs_chart(result.costs), dependencies=[result.key])
    views = [*VIEWS, MAP_VIEW] if result.several_councils else list(VIEWS)
    shown_view = view.value if view.value in views else VIEWS[0]
    with solara.Div(classes=["choose-view"]):
        solara.ToggleButtonsSingle(value=shown_view, values=views, on_value=view.set)
    if shown_view == MAP_VIEW:
        MapView(result)
    elif shown_view == "Equity":
        solara.Select("Outcome", values=list(labels), value=names[metric.value],
                      on_value=lambda v: metric.set(labels[v]), classes=["choose-metric"])
        with solara.Columns([1, 1]):
            ChartView(quintiles)
            ChartView(winners)
        solara.HTML(tag="div", unsafe_innerHTML=equity_table_html(result, metric.value), classes=["equity"])
    elif shown_view == "Over time":
        ChartView(stock)
    elif shown_view == "Gaps":
        if result.standardised_gaps is None:
            solara.Info("This comparison's output has no need-standardised gaps; the raw gaps below also "
                        "reflect differences in need between groups.", dense=True)
        ChartView(gaps)
    else:
        ChartView(costs)


@solara.component
def Page() -> None:
    solara.Title("sendsim dashboard")
    current = selection.value
    try:
        baseline, reform = resolve(current, config_dir())
        error = None
    except ConfigError as exc:
        baseline = reform = None
        error = str(exc)
    key = cache_key(baseline, reform, current.replicates, baseline.metrics.small_cell_threshold) if baseline else None

    shown = comparison.value if comparison.finished else comparison.latest

    def start(force: bool = True) -> None:
        if key is None or (not force and shown is not None and shown.key == key and not comparison.pending):
            return  # already on screen (e.g. a bad value was corrected back): nothing to rerun
        status.value = "starting"
        cancelling.value = False
        comparison(baseline, reform, current.replicates)

    solara.use_effect(lambda: start(force=False) if auto_run.value else None, [key, auto_run.value])

    with solara.Sidebar():
        Controls(error)
    with solara.Column(style={"padding": "12px"}):
        solara.Markdown("## SEND reform: who gains, who loses, what it costs")
        solara.Markdown("Today's EHCP route against a reform, run as a **paired comparison**: the same children, "
                        "with the same luck, under both routes, so differences are the policy's. Change a lever "
                        "on the left; the comparison reruns (results already computed come from the cache).",
                        style={"font-size": "0.9em"})
        with solara.Row():
            solara.Button("Run", on_click=start, disabled=key is None or comparison.pending, color="primary",
                          classes=["run-button"])
            solara.Button("Cancel", on_click=cancel, disabled=not comparison.pending or cancelling.value,
                          classes=["cancel-button"])
            solara.Checkbox(label="rerun when a setting changes", value=auto_run)
            if error is None:
                solara.FileDownload(lambda: reform_yaml(current, config_dir()), filename="dashboard_reform.yaml",
                                    label="Reform YAML", mime_type="text/yaml")
                solara.FileDownload(lambda: baseline_yaml(current), filename="dashboard_baseline.yaml",
                                    label="Baseline YAML", mime_type="text/yaml")
        if error:
            solara.Error(error, classes=["config-error"], style="white-space: pre-wrap")
        if comparison.pending:
            solara.ProgressLinear(comparison.progress if comparison.progress is not None else True, classes=["run-progress"])
            message = "cancelling: stopping after the current replicate" if cancelling.value else status.value or "running"
            solara.Text(message, classes=["run-status"])
        elif comparison.cancelled and not (shown is not None and shown.key == key):
            how_far = f" ({stopped.value})" if stopped.value else ""
            solara.Warning(f"Cancelled{how_far}: nothing was written. Press Run to start again.", classes=["run-cancelled"])
        elif comparison.error:
            solara.Error(f"The comparison failed: {comparison.exception}", classes=["run-error"])
        if shown is not None:
            Results(shown)
        elif not comparison.pending and error is None:
            solara.Info("Press Run to start the comparison.")
