"""`sendsim`: run scenarios, check calibration. (typer + rich)"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sim import __version__
from sim.calibration.ensemble import EnsembleError, from_calibration, load_ensemble, save_ensemble
from sim.calibration.validate import check_targets, render_table, to_json_records
from sim.config import ConfigError, ScenarioConfig, load_config
from sim.config.overrides import find_config, overrides_from
from sim.config.params import parameter_table
from sim.dashboard import serve
from sim.errors import guarded, require_extra, set_debug, stop_on_sigterm
from sim.experiments.output_dir import check_destination, default_name, output_lock
from sim.experiments.provenance import command_line, now_iso, run_manifest
from sim.experiments.results import atomic_directory, write_manifest
from sim.metrics import summarise
from sim.metrics.registry import HEADLINE_METRICS, yearly

console = Console(stderr=True)


def _print_error(message: str) -> None:
    """One plain message on stderr (no markup: file names may contain brackets)."""
    console.print("Error: ", style="bold red", end="")
    console.print(message, markup=False, highlight=False, soft_wrap=True)


class GuardedTyper(typer.Typer):
    """A Typer app whose every command (also those added later) goes through `sim.errors.guarded`:
    one message and exit code 2 for anything the user can cause, never a traceback (see --debug)."""

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)

        def decorator(function):
            register(guarded(function, echo=_print_error))
            return function

        return decorator


app = GuardedTyper(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                   help="sendsim: England's SEND system, EHCP route vs tiered route.")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"sendsim {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = typer.Option(False, "--debug", help="show the full traceback of an error (for developers)"),
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True, help="print the version and exit"),
) -> None:
    """sendsim: England's SEND system, EHCP route vs tiered route."""
    set_debug(debug)
    stop_on_sigterm()


def _load(path: Path, seed: int | None = None, end: str | None = None, sets: list[str] | None = None,
          scale: float | None = None) -> ScenarioConfig:
    """Load and validate a scenario with the command line's changes (checked like the same values
    in the file); a ConfigError reaches the user as one message (nothing is written)."""
    overrides = overrides_from(sets, **{"run.seed": seed, "run.end": end, "population.scale": scale})
    return load_config(find_config(path), overrides or None)


SET_HELP = "change a parameter, e.g. --set population.scale=0.1 (repeatable; checked like the YAML)"
SCALE_HELP = "population.scale for this run (0.01 = a quick sample)"
END_HELP = "run.end for this run (YYYY-MM)"


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("replicates"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
    )


def run_scenario(config: ScenarioConfig, replicates: int, workers: int | None, label: str):
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.experiments.runner import combine, run_replicates

    with _progress() as progress:
        task = progress.add_task(label, total=replicates)
        outputs = run_replicates(config, replicates, workers=workers, on_done=lambda _: progress.advance(task))
    return outputs, combine(outputs)


@app.command()
def run(
    config: Path = typer.Argument(..., help="scenario YAML (may `extends:` another)"),
    seed: Optional[int] = typer.Option(None, help="root seed (default: run.seed in the config)"),
    replicates: int = typer.Option(4, min=1, max=10_000, help="independent replicates"),
    out: Optional[Path] = typer.Option(None, help="output directory (default results/<scenario name>)"),
    workers: Optional[int] = typer.Option(None, min=1, help="processes (default: all cores)"),
    ensemble: Optional[Path] = typer.Option(None, help="ensemble file (sendsim calibrate --ensemble-out): run every member, report parameter + stochastic intervals"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    scale: Optional[float] = typer.Option(None, help=SCALE_HELP),
    end: Optional[str] = typer.Option(None, help=END_HELP),
) -> None:
    """Run a scenario and write manifest, metrics, system and children tables, figures and summary."""
    cfg = _load(config, seed, end=end, sets=set_, scale=scale)
    out = out or Path("results") / default_name(cfg.name)
    if ensemble is not None:
        _run_with_ensemble(cfg, config, ensemble, replicates, out, workers)
        return
    with output_lock(check_destination(out)):  # refused before simulating; no second run can interleave
        started = now_iso()
        outputs, (metrics, system, children) = run_scenario(cfg, replicates, workers, cfg.name)
        manifest = run_manifest(cfg, config, outputs, started, command_line())
        with atomic_directory(out) as tmp:
            metrics.to_parquet(tmp / "metrics.parquet", index=False)
            system.to_parquet(tmp / "system.parquet", index=False)
            children.to_parquet(tmp / "children.parquet", index=False)
            write_manifest(tmp, manifest)
            _write_report(tmp, metrics, system, manifest)
        out = tmp.destination
    _print_headline(summarise(metrics[metrics["by"] == "all"]))
    console.print(f"[green]wrote[/] {out}/ (manifest.json, metrics.parquet, system.parquet, children.parquet, summary.md)")


def _load_ensemble(path: Path):
    """Load and validate an ensemble file, or exit with the validator's message (nothing is written)."""
    try:
        return load_ensemble(path)
    except EnsembleError as exc:
        console.print(f"[bold red]Ensemble error[/]\n{exc}", highlight=False)
        raise typer.Exit(code=2) from None


def _run_with_ensemble(cfg: ScenarioConfig, config_path: Path, ensemble_path: Path, replicates: int, out: Path,
                       workers: int | None) -> None:
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.calibration.ensemble_runs import run_ensemble

    ens = _load_ensemble(ensemble_path)
    with _progress() as progress:
        task = progress.add_task(f"{cfg.name} x {len(ens.members)} members", total=replicates * len(ens.members))
        result = run_ensemble(cfg, ens, replicates, out, workers, on_done=lambda _name: progress.advance(task),
                              manifest_extra={"config_file": str(config_path), "ensemble_file": str(ensemble_path),
                                              "command": command_line(), "sendsim_version": __version__})
    summary = result["summary"]
    table = Table(title=f"Headline metrics over {len(ens.members)} plausible parameter sets (latest full period)")
    for column in ("metric", "date", "mean", "chance [95%]", "chance + parameters [95%]"):
        table.add_column(column)
    for metric in HEADLINE_METRICS:
        rows = summary[(summary["metric"] == metric) & (summary["by"] == "all")]
        if rows.empty:
            continue
        last = rows.sort_values("date").iloc[-1]
        table.add_row(metric, str(last["date"].date()), f"{last['mean']:.2f}", f"[{last['lo']:.2f}, {last['hi']:.2f}]",
                      f"[{last['lo_combined']:.2f}, {last['hi_combined']:.2f}]")
    Console().print(table)
    console.print(f"[green]wrote[/] {out}/ (manifest.json, metrics.parquet, system.parquet, summary_ensemble.csv, ensemble.yaml)")


def _write_report(directory: Path, metrics, system, manifest) -> None:
    try:
        # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
        from sim.report.summary import write_summary
    except ImportError:  # report module optional while the package grows
        return
    write_summary(directory, metrics, system, manifest)


def _print_headline(summary) -> None:
    table = Table(title="Headline metrics (latest full period, mean and 95% replicate interval)")
    for column in ("metric", "unit", "date", "mean", "95% interval"):
        table.add_column(column)
    for metric in HEADLINE_METRICS:
        rows = summary[summary["metric"] == metric]
        if rows.empty:
            continue
        last = rows.sort_values("date").iloc[-1]
        table.add_row(metric, yearly(metric).unit, str(last["date"].date()), f"{last['mean']:.2f}",
                      f"[{last['lo']:.2f}, {last['hi']:.2f}]")
    Console().print(table)


def _council_spread(cfg: ScenarioConfig, metrics, system) -> None:
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.calibration.councils import matched_values, model_values, published_values, sampling_note, spread_figure, spread_table

    model, published = model_values(metrics), published_values(cfg.population.council_table)
    table = spread_table(model, published)
    typer.echo("\nCouncil by council (quantiles of council values in %; correlation = model vs published, matched by la_code)")
    typer.echo(table.drop(columns=["label"]).round(2).to_string(index=False))
    typer.echo(sampling_note(system, cfg.population.scale))
    path = spread_figure(model, published, Path("results") / f"{default_name(cfg.name)}_council_spread.png")
    values = path.with_suffix(".csv")
    matched_values(model, published).to_csv(values, index=False)
    console.print(f"[green]wrote[/] {path} and {values}")


@app.command()
def compare(
    baseline: Path = typer.Argument(..., help="baseline scenario YAML"),
    reform: Path = typer.Argument(..., help="reform scenario YAML (usually `extends: baseline.yaml`)"),
    replicates: int = typer.Option(4, min=1, max=10_000, help="paired replicates"),
    out: Optional[Path] = typer.Option(None, help="output directory (default results/<baseline>_vs_<reform>)"),
    workers: Optional[int] = typer.Option(None, min=1, help="processes (default: all cores)"),
    small_cell: Optional[int] = typer.Option(None, min=0, help="suppress cells with fewer children (default: metrics.small_cell_threshold)"),
    ensemble: Optional[Path] = typer.Option(None, help="ensemble file: compare at every member, report parameter + stochastic intervals"),
    decompose: bool = typer.Option(False, "--decompose", help="also take the reform apart into its components (configs/components/<reform>.yaml)"),
    components: Optional[Path] = typer.Option(None, help="components YAML for --decompose (default: configs/components/<reform>.yaml beside the reform)"),
    family_channels: Optional[str] = typer.Option(None, "--family-channels", help="also measure which family resources carry the reform's change in the gaps at equal need: stage (one pair of runs per stage of a family's path), channel (one per channel) or merged (every channel at once); channels from configs/components/family_channels.yaml beside the reform"),
    prices: Optional[str] = typer.Option(None, help="money in reports: cash or real (2025-26 prices); default report.price_base"),
    seed: Optional[int] = typer.Option(None, help="root seed shared by both scenarios (default: the baseline's run.seed)"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP + "; applies to both scenarios"),
    scale: Optional[float] = typer.Option(None, help=SCALE_HELP + ", both scenarios"),
    end: Optional[str] = typer.Option(None, help=END_HELP + ", both scenarios"),
) -> None:
    """Run baseline and reform with common random numbers; write equity, costs, stocks and a report."""
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.report.comparison import compare_with_reports

    if prices not in (None, "cash", "real"):
        console.print(f"[bold red]--prices must be cash or real, not {prices!r}[/]")
        raise typer.Exit(code=2)
    base_cfg, reform_cfg = (_load(path, seed, end=end, sets=set_, scale=scale) for path in (baseline, reform))
    parts, hold = None, ("run.route",)
    if decompose or components is not None:
        # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
        from sim.experiments.decompose import DecompositionError, load_components, plan_components

        try:
            parts, hold, _ = load_components(_components_file(reform, components))
            plan_components(base_cfg, reform_cfg, parts, hold)
        except DecompositionError as exc:
            console.print(f"[bold red]Cannot decompose[/]\n{exc}")
            raise typer.Exit(code=2) from None
    channels = _family_channels_for(family_channels, reform, base_cfg, reform_cfg) if family_channels else None
    out = out or Path("results") / default_name(f"{base_cfg.name}_vs_{reform_cfg.name}")
    if ensemble is not None and (parts or channels):
        console.print("[bold red]--decompose and --family-channels are not available with --ensemble[/] "
                      "(take the reform apart at one parameter set; the ensemble gives its intervals)")
        raise typer.Exit(code=2)
    if ensemble is not None:
        _compare_with_ensemble(base_cfg, reform_cfg, baseline, reform, ensemble, replicates, out, workers,
                               base_cfg.metrics.small_cell_threshold if small_cell is None else small_cell)
        return
    with output_lock(check_destination(out)), _progress() as progress:
        tasks = {route: progress.add_task(f"{route}", total=replicates) for route in ("baseline", "reform")}
        if parts:
            tasks["decomposition"] = progress.add_task("decomposition (sub-runs)", total=None)
        if channels:
            tasks["family channels"] = progress.add_task("family channels (sub-runs)", total=None)
        result = compare_with_reports(
            base_cfg, reform_cfg, replicates, out, workers=workers,
            progress=lambda route, done, total: progress.update(tasks[route], completed=done, total=total),
            components=parts, hold=hold, price_base={"real": "real_2025_26"}.get(prices, prices),
            small_cell=base_cfg.metrics.small_cell_threshold if small_cell is None else small_cell,
            baseline_path=baseline, reform_path=reform, command=command_line(), family_channels=channels,
        )
    out = result["out_dir"]
    _print_equity(result["equity"])
    _print_need_standardised_gaps(result["need_standardised_gaps"])
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.report.compare_report import replicate_advice

    notes, too_few = replicate_advice(result["headline"], replicates, base_cfg.report.target_relative_precision)
    if too_few:
        for note in notes:
            console.print(f"[yellow]{note.replace('**', '')}[/]")
    if _identical_runs(result):
        console.print("[bold yellow]Warning:[/] the two scenarios gave identical results in every metric: "
                      "the reform changes nothing in this period (check its `extends:`, its dates against "
                      "run.end, and run.route).")
    council_files = ", council_impact*.csv, councils.md, council maps" if result.get("councils") is not None else ""
    council_files += ", family_channels.csv" if channels else ""
    console.print(f"[green]wrote[/] {out}/ (baseline/, reform/, equity.parquet/.csv, costs, ehcp_stock.csv{council_files}, "
                  "need_standardised_gaps.csv, gap_change_by_severity.csv, report.md, report.html)")


def _family_channels_for(granularity: str, reform: Path, base_cfg: ScenarioConfig, reform_cfg: ScenarioConfig) -> list:
    """The family-resource channels for `compare --family-channels`, checked against both configs
    before anything runs (an unknown granularity or key exits with the reason)."""
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.experiments.decompose import DecompositionError
    from sim.experiments.family_channels import CHANNELS_FILE, channels_at, check_channels

    try:
        channels = channels_at(reform.parent / "components" / CHANNELS_FILE, granularity)
        for config in (base_cfg, reform_cfg):
            check_channels(config, channels)
    except DecompositionError as exc:
        console.print(f"[bold red]Cannot measure the family channels[/]\n{exc}")
        raise typer.Exit(code=2) from None
    return channels


def _compare_with_ensemble(base_cfg: ScenarioConfig, reform_cfg: ScenarioConfig, baseline: Path, reform: Path,
                           ensemble_path: Path, replicates: int, out: Path, workers: int | None, small_cell: int) -> None:
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.calibration.ensemble_runs import compare_ensemble

    ens = _load_ensemble(ensemble_path)
    with _progress() as progress:
        task = progress.add_task(f"{len(ens.members)} members x 2 routes", total=2 * replicates * len(ens.members))
        try:
            result = compare_ensemble(base_cfg, reform_cfg, ens, replicates, out, workers, small_cell=small_cell,
                                      baseline_path=baseline, reform_path=reform, ensemble_path=ensemble_path,
                                      command=command_line(), progress=lambda _label, _done, _total: progress.advance(task))
        except ConfigError as exc:
            console.print(f"[bold red]Ensemble error[/]\n{exc}", highlight=False)
            raise typer.Exit(code=2) from None
    equity = result["equity"]
    table = Table(title=f"Equity impact over {len(ens.members)} plausible parameter sets (reform minus baseline)")
    for column in ("metric", "group", "change", "chance [95%]", "chance + parameters [95%]"):
        table.add_column(column)
    shown = equity[equity["by"].isin(["all", "fsm"]) & ~equity["suppressed"].astype(bool)]
    for metric in ("unmet_need_months", "matched_support_share", "ks4_em4_rate", "neet_rate"):
        for _, row in shown[shown["metric"] == metric].iterrows():
            group = "all" if row["by"] == "all" else f"{row['by']}={row['group']}"
            table.add_row(metric, group, f"{row['change']:+.2f}", f"[{row['change_lo']:+.2f}, {row['change_hi']:+.2f}]",
                          f"[{row['change_lo_combined']:+.2f}, {row['change_hi_combined']:+.2f}]")
    Console(width=150).print(table)
    console.print(f"[green]wrote[/] {out}/ (members/, equity.parquet/.csv, costs.csv, ensemble.yaml, report.md)")


def _identical_runs(result: dict) -> bool:
    """True when baseline and reform metrics agree exactly (a reform that changes nothing)."""
    base, reform = result["baseline"]["metrics"], result["reform"]["metrics"]
    if len(base) != len(reform):
        return False
    return base.reset_index(drop=True).equals(reform.reset_index(drop=True))


def _print_equity(equity) -> None:
    table = Table(title="Equity impact (reform minus baseline, paired per child; 95% replicate interval)")
    for column in ("metric", "group", "baseline", "reform", "change [95%]", "better / worse / same"):
        table.add_column(column)
    shown = equity[equity["by"].isin(["all", "fsm", "income_quintile"]) & ~equity["suppressed"].astype(bool)]
    for metric in ("unmet_need_months", "matched_support_share", "ks4_em4_rate", "neet_rate"):
        for _, row in shown[shown["metric"] == metric].iterrows():
            group = "all" if row["by"] == "all" else f"{row['by']}={row['group']}"
            shares = f"{row['share_better_off']:.0%} / {row['share_worse_off']:.0%} / {row['share_unchanged']:.0%}"
            table.add_row(metric, group, f"{row['baseline']:.2f}", f"{row['reform']:.2f}",
                          f"{row['change']:+.2f} [{row['change_lo']:+.2f}, {row['change_hi']:+.2f}]", shares)
    Console(width=150).print(table)


def _print_need_standardised_gaps(gaps) -> None:
    """A few headline gaps: raw beside the gap at equal need, both routes, and the paired change."""
    table = Table(title="Disadvantage gaps over the whole run, raw and at equal need (children with need; 95% t interval)")
    for column in ("metric", "gap", "raw: baseline -> reform", "at equal need: baseline -> reform", "change at equal need [95%]"):
        table.add_column(column)
    labels = {"fsm_minus_non_fsm": "FSM - non-FSM", "q1_minus_q5": "Q1 - Q5"}
    for metric in ("unmet_need_months", "matched_within_a_year", "ehcp_receipt", "ks4_em4_rate"):
        for contrast, label in labels.items():
            rows = gaps[(gaps["metric"] == metric) & (gaps["contrast"] == contrast)].set_index("component")
            if not {"raw", "at_equal_need"} <= set(rows.index):
                continue
            raw, equal = rows.loc["raw"], rows.loc["at_equal_need"]
            table.add_row(metric, label, f"{raw['baseline']:+.2f} -> {raw['reform']:+.2f}",
                          f"{equal['baseline']:+.2f} -> {equal['reform']:+.2f}",
                          f"{equal['change']:+.2f} [{equal['change_lo']:+.2f}, {equal['change_hi']:+.2f}]")
    Console(width=150).print(table)


def _components_file(reform: Path, components: Path | None) -> Path:
    """The components file given, or configs/components/<reform name without 'reform_'>.yaml next to the reform."""
    if components is not None:
        return components
    return reform.parent / "components" / f"{reform.stem.removeprefix('reform_')}.yaml"


@app.command()
def decompose(
    baseline: Path = typer.Argument(..., help="baseline scenario YAML"),
    reform: Path = typer.Argument(..., help="reform scenario YAML to take apart"),
    components: Optional[Path] = typer.Option(None, help="components YAML (default: configs/components/<reform>.yaml beside the reform; with --by family-channel, the channels YAML, default configs/components/family_channels.yaml)"),
    replicates: int = typer.Option(4, min=1, max=10_000, help="paired replicates per sub-run"),
    shapley: Optional[bool] = typer.Option(None, "--shapley/--no-shapley", help="Shapley values over components (2^k sub-runs; default: only with 4 components or fewer)"),
    out: Optional[Path] = typer.Option(None, help="output directory (default results/<reform>_decomposition, or results/<reform>_family_channels)"),
    workers: Optional[int] = typer.Option(None, min=1, help="processes (default: all cores)"),
    merged: bool = typer.Option(False, "--merged", help="with --by family-channel: switch every channel off together (only every channel on vs every channel off: two pairs of runs)"),
    stages: bool = typer.Option(False, "--stages", help="with --by family-channel: switch whole stages of a family's path off (the channels file's `stages`; one pair of runs per stage)"),
    by: str = typer.Option("reform-component", "--by", help="reform-component: take the reform apart; family-channel: switch each family-resource channel off in both routes (configs/components/family_channels.yaml) and measure how much of the reform's change in the gaps at equal need it carries"),
    scale: Optional[float] = typer.Option(None, help=SCALE_HELP + ", both scenarios"),
    end: Optional[str] = typer.Option(None, help=END_HELP + ", both scenarios"),
) -> None:
    """Split a reform into components (or the gap change into family-resource channels) and measure what each does."""
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.experiments.decompose import DecompositionError, load_components, write_decomposition
    from sim.experiments.decompose import decompose as run_decomposition
    from sim.report.decomposition_report import write_decomposition_report
    from sim.report.document import england_factor

    if by not in ("reform-component", "family-channel"):
        console.print(f"[bold red]--by must be reform-component or family-channel, not {by!r}[/]")
        raise typer.Exit(code=2)
    base_cfg, reform_cfg = _load(baseline, scale=scale, end=end), _load(reform, scale=scale, end=end)
    if merged and stages:
        console.print("[bold red]--merged and --stages exclude each other[/] (every channel at once, or one pair of runs per stage)")
        raise typer.Exit(code=2)
    if by == "family-channel":
        granularity = "merged" if merged else "stage" if stages else "channel"
        _decompose_by_family_channel(base_cfg, reform_cfg, reform, components, replicates, out, workers, granularity)
        return
    path = _components_file(reform, components)
    try:
        parts, hold, _ = load_components(path)
        # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
        from sim.experiments.decompose import needed_subsets, plan_components

        plan = plan_components(base_cfg, reform_cfg, parts, hold)
    except DecompositionError as exc:
        console.print(f"[bold red]Cannot decompose[/]\n{exc}")
        raise typer.Exit(code=2) from None
    names = [c.name for c in plan.components]
    total = len(needed_subsets(names, len(names) <= 4 if shapley is None else shapley)) + 1
    out = out or Path("results") / f"{reform_cfg.name}_decomposition"
    with output_lock(check_destination(out)):  # refused before simulating; no second run can interleave
        with _progress() as progress:
            task = progress.add_task("sub-runs", total=total)
            # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
            from sim.experiments.headline import deflator_for

            result = run_decomposition(base_cfg, reform_cfg, parts, replicates, hold=hold, shapley=shapley, workers=workers,
                                       progress=lambda label, done, n: progress.update(task, completed=done + 1),
                                       deflator=deflator_for(base_cfg.report.price_base, base_cfg.report.deflator_growth))
        pupils = base_cfg.population.pupils_per_council * base_cfg.population.scale * base_cfg.population.councils
        with atomic_directory(out) as tmp:
            write_decomposition(tmp, result)
            write_decomposition_report(tmp, result["table"], f"Decomposition: {reform_cfg.name} against {base_cfg.name}",
                                       england_factor=england_factor(pupils, base_cfg.report.england_pupils))
    console.print(f"[green]wrote[/] {out}/ (decomposition.csv, decomposition.md, decomposition.html, figures/)")


def _decompose_by_family_channel(base_cfg: ScenarioConfig, reform_cfg: ScenarioConfig, reform: Path,
                                 channels_file: Path | None, replicates: int, out: Path | None,
                                 workers: int | None, granularity: str = "channel") -> None:
    """`sendsim decompose --by family-channel`: family_channels.csv, its report and manifest."""
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.experiments.decompose import DecompositionError
    from sim.experiments.family_channels import (
        CHANNELS_FILE,
        channels_at,
        check_channels,
        decompose_by_channel,
        sub_run_count,
        write_family_channels,
    )
    from sim.report.decomposition_report import write_family_channel_report

    path = channels_file or reform.parent / "components" / CHANNELS_FILE
    try:
        channels = channels_at(path, granularity)
        for config in (base_cfg, reform_cfg):
            check_channels(config, channels)
    except DecompositionError as exc:
        console.print(f"[bold red]Cannot decompose by family channel[/]\n{exc}")
        raise typer.Exit(code=2) from None
    out = out or Path("results") / f"{reform_cfg.name}_family_channels"
    with output_lock(check_destination(out)):  # refused before simulating; no second run can interleave
        with _progress() as progress:
            task = progress.add_task("sub-runs", total=sub_run_count(channels))
            result = decompose_by_channel(base_cfg, reform_cfg, channels, replicates, workers=workers,
                                          progress=lambda label, done, n: progress.update(task, completed=done))
        with atomic_directory(out) as tmp:
            write_family_channels(tmp, result)
            write_family_channel_report(tmp, result["table"],
                                        f"The change in the gap at equal need by family-resource channel: "
                                        f"{reform_cfg.name} against {base_cfg.name}")
    console.print(f"[green]wrote[/] {out}/ (family_channels.csv, family_channels.md, family_channels.html)")


@app.command()
def validate(
    config: Path = typer.Argument(Path("configs/baseline.yaml"), help="scenario to check (default: the baseline)"),
    replicates: int = typer.Option(4, min=1, help="replicates for the model interval"),
    workers: Optional[int] = typer.Option(None, min=1),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list instead of a table"),
    councils: bool = typer.Option(False, "--councils", help="also compare council by council (configs with a council_table)"),
    council_scale: float = typer.Option(0.1, "--council-scale", min=0.001, max=1.0,
                                        help="with --councils: population.scale at least this (smaller councils' values are noisy)"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    scale: Optional[float] = typer.Option(None, help=SCALE_HELP),
) -> None:
    """Compare the model with published statistics (flows over 2025; stocks at the January 2025 census)."""
    cfg = _load(config, end="2026-03", sets=set_, scale=scale)  # covers calendar 2025, KS4 2025 and financial year 2025-26
    if councils and cfg.population.council_table is None:
        console.print("[bold red]--councils needs a config with population.council_table (e.g. configs/england.yaml)[/]")
        raise typer.Exit(code=2)
    if councils and cfg.population.scale < council_scale:
        cfg = cfg.model_copy(update={"population": cfg.population.model_copy(update={"scale": council_scale})})
        console.print(f"population.scale raised to {council_scale} for the council comparison (--council-scale)")
    _, (metrics, system, _) = run_scenario(cfg, replicates, workers, f"validate {cfg.name}")
    if councils:
        _council_spread(cfg, metrics, system)
    checks = check_targets(metrics)
    if as_json:
        typer.echo(json.dumps(to_json_records(checks), indent=2))
    else:
        typer.echo(render_table(checks))
        passed = int(checks["ok"].sum())
        typer.echo(f"\n{passed} of {len(checks)} targets within tolerance")


@app.command()
def experiment(
    file: Path = typer.Argument(..., help="experiment YAML in experiments/"),
    executor: str = typer.Option("local", help="local (processes on all cores), serial, or dask"),
    workers: Optional[int] = typer.Option(None, min=1, help="processes or dask workers (default: all cores)"),
    scheduler: Optional[str] = typer.Option(None, help="address of a running dask scheduler (implies --executor dask)"),
    out: Optional[Path] = typer.Option(None, help="results directory (default results/experiments/<name>)"),
    report: bool = typer.Option(True, help="write report.md/.html when the experiment completes"),
) -> None:
    """Run or resume an experiment: scenarios x design points x replicates x council blocks."""
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.experiments.engine import run_experiment
    from sim.experiments.store import StoreError

    if executor not in ("local", "serial", "dask"):
        _print_error(f"--executor must be local, serial or dask, not {executor!r}")
        raise typer.Exit(code=2)
    if scheduler:
        executor = "dask"
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
    )
    with progress:
        bar = progress.add_task(str(file.stem), total=None, rate="")

        def update(done: int, total: int) -> None:
            speed = progress.tasks[0].speed
            progress.update(bar, completed=done, total=total, rate=f"{speed * 60:.1f}/min" if speed else "")

        try:
            out_dir = run_experiment(find_config(file, "experiments"), executor=executor, workers=workers, scheduler=scheduler, out=out,
                                     progress=update, log=lambda message: console.print(f"[yellow]{message}[/]"))
        except (ConfigError, StoreError, FileNotFoundError) as exc:
            _print_error(f"Cannot run the experiment: {exc}")
            raise typer.Exit(code=2) from None
    if report:
        # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
        from sim.report.experiment_report import write_experiment_report

        md, html = write_experiment_report(out_dir)
        console.print(f"[green]wrote[/] {md} and {html}")
    console.print(f"[green]results in[/] {out_dir}/")


@app.command(name="report")
def report_command(directory: Path = typer.Argument(..., help="an experiment results directory")) -> None:
    """Write report.md and report.html (with figures) for an experiment's results."""
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.experiments.store import StoreError, load_manifest
    from sim.report.experiment_report import write_experiment_report

    try:
        load_manifest(directory)
        md, html = write_experiment_report(directory)
    except (StoreError, FileNotFoundError) as exc:
        _print_error(f"Cannot report on {directory}: {exc}")
        raise typer.Exit(code=2) from None
    console.print(f"[green]wrote[/] {md} and {html}")


@app.command()
def calibrate(
    config: Path = typer.Argument(..., help="scenario to calibrate (its parameters are the starting point)"),
    targets: str = typer.Option("all", help="'all' (the validation targets), a comma list of target ids, or a CSV of custom targets"),
    budget: int = typer.Option(40, min=1, help="optimisation trials (each runs the replicates)"),
    replicates: int = typer.Option(2, min=1, help="replicates averaged per trial (same seeds every trial)"),
    parameters: Optional[str] = typer.Option(None, help="comma list of dotted parameters to fit (default: the main assumption levers)"),
    out: Optional[Path] = typer.Option(None, help="calibrated YAML to write (default <config>_calibrated.yaml)"),
    executor: str = typer.Option("local", help="local, serial or dask"),
    workers: Optional[int] = typer.Option(None, min=1),
    seed: int = typer.Option(0, help="seed of the optimiser (TPE sampler)"),
    ensemble_out: Optional[Path] = typer.Option(None, help="also write an ensemble file: the trials not ruled out (history matching)"),
    cutoff: float = typer.Option(3.0, min=0.0, help="implausibility cut for --ensemble-out (max |error| / tolerance over targets)"),
    members: int = typer.Option(10, min=1, help="largest ensemble size for --ensemble-out"),
    stability_years: int = typer.Option(2, min=0, help="--ensemble-out: also rule out trials whose own 20-week timeliness this many years after 2025 falls far below the 2025 figure (an exploding assessment queue); 0 = off"),
    stability_fall: float = typer.Option(2.6, min=0.0, help="--ensemble-out: fall in 20-week timeliness allowed per year by that check, points (published 2023-2025 average: 2.6)"),
) -> None:
    """Fit assumption parameters to published targets (Optuna over replicate-averaged loss)."""
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.calibration.fit import calibrate_command

    try:
        result = calibrate_command(find_config(config), targets, budget, out, executor, workers, replicates,
                                   parameters.split(",") if parameters else None, seed, echo=typer.echo)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        _print_error(f"Cannot calibrate: {exc}")
        raise typer.Exit(code=2) from None
    if ensemble_out is not None:
        # lazy, as above: these load the model (numpy, mesa) only when an ensemble is written
        from sim.calibration.fit import parse_targets
        from sim.calibration.stability import StabilityCheck, screen
        from sim.experiments.executors import make_executor

        check = StabilityCheck(years_after=stability_years, fall_per_year=stability_fall)
        fitted = parse_targets(targets)
        later = check.later_target(fitted)
        stability, described = None, None
        if later is not None:
            typer.echo(f"stability check: running the trials not ruled out on to {later.date[:4]}")
            pool = make_executor(executor, workers)
            try:
                stability = screen(result, load_config(find_config(config)), check, fitted, pool, cutoff)
            finally:
                pool.close()
            described = check.describe(later)
        ens = from_calibration(result, config, cutoff=cutoff, min_members=min(2, members), max_members=members, seed=seed,
                               stability=stability, stability_check=described)
        save_ensemble(ens, ensemble_out)
        note = "" if ens.cut_met else " (too few trials passed the cut: the least implausible were kept; see the file)"
        typer.echo(f"wrote {ensemble_out}: {len(ens.members)} members{note}")


@app.command()
def backtest(
    config: Path = typer.Option(Path("configs/backtest_2015.yaml"), help="dated start config (the earliest census the data support)"),
    origins: str = typer.Option("2019,2020,2021,2022", help="comma list of origin years: fit on the years up to each, score the rest to 2025"),
    budget: int = typer.Option(20, min=1, help="optimisation trials per origin"),
    replicates: int = typer.Option(2, min=1, help="replicates per trial and per scored run (same seeds throughout)"),
    scale: Optional[float] = typer.Option(None, help="population.scale for every run (e.g. 0.1 for a run of minutes)"),
    out: Path = typer.Option(Path("results/backtest_rolling"), help="directory for rolling_*.csv and rolling_mape.md"),
    executor: str = typer.Option("local", help="local, serial or dask"),
    workers: Optional[int] = typer.Option(None, min=1),
    seed: int = typer.Option(0, help="seed of the optimiser (TPE sampler)"),
    confirm: int = typer.Option(4, min=0, help="re-run this many of the best trials (and the start) on fresh replicates and keep the best there (0: keep the search's best)"),
    confirm_replicates: int = typer.Option(8, min=1, help="fresh replicates per confirmed trial; scored runs use --replicates plus these"),
    seeds: Optional[str] = typer.Option(None, help="comma list of replicate root seeds (run.seed): run the protocol once per seed and write rolling_seeds.* (mean and range per series)"),
    recency_half_life: Optional[float] = typer.Option(None, min=0.0, help="half-life in years of an in-sample point's weight in each origin's loss (default 2; 0 weighs every year equally)"),
    search_range: Optional[list[str]] = typer.Option(None, "--range", help="PATH=LO,HI: search a lever in this range instead (repeatable; default: the backtest's declared ranges, requests.propensity_trend_per_year=0,0.2)"),
    plausible_ranges: bool = typer.Option(False, "--plausible-ranges", help="search every lever in the schema's plausible range (no backtest ranges)"),
    series_levers: bool = typer.Option(True, "--series-levers/--no-series-levers", help="also fit the appeal trend at origins whose fit sees two or more appeals points"),
) -> None:
    """Rolling-origin backtest: per origin, fit on the years up to it and report the error to 2025 per series."""
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.calibration.rolling import (
        BACKTEST_RANGES,
        DEFAULT_RECENCY_HALF_LIFE,
        SERIES_LEVERS,
        render_mape,
        render_seeds,
        rolling_backtest,
        seed_check,
        write_rolling,
        write_seeds,
    )

    try:
        years = [int(part) for part in origins.split(",") if part.strip()]
        roots = [int(part) for part in seeds.split(",") if part.strip()] if seeds is not None else None
    except ValueError:
        console.print(f"[bold red]--origins and --seeds must be comma lists of integers, got {origins!r} and {seeds!r}[/]")
        raise typer.Exit(code=2) from None
    ranges = {} if plausible_ranges else dict(BACKTEST_RANGES)
    for spec in search_range or []:
        try:
            path, bounds = spec.split("=", 1)
            low, high = (float(v) for v in bounds.split(","))
        except ValueError:
            console.print(f"[bold red]--range must be PATH=LO,HI, got {spec!r}[/]")
            raise typer.Exit(code=2) from None
        ranges[path.strip()] = (low, high)
    try:
        cfg = load_config(config, {"population": {"scale": scale}} if scale is not None else None)
    except ConfigError as exc:
        console.print(f"[bold red]Configuration error[/]\n{exc}")
        raise typer.Exit(code=2) from None
    options = {"budget": budget, "replicates": replicates, "executor": executor, "workers": workers, "seed": seed,
               "confirm": confirm, "confirm_replicates": confirm_replicates,
               "recency_half_life": DEFAULT_RECENCY_HALF_LIFE if recency_half_life is None else recency_half_life,
               "ranges": ranges, "series_levers": SERIES_LEVERS if series_levers else None,
               "progress": lambda message: console.print(message, highlight=False)}
    try:
        if roots is not None:
            check = seed_check(cfg, roots, years, **options)
        else:
            results = rolling_backtest(cfg, years, **options)
    except ValueError as exc:
        console.print(f"[bold red]Cannot backtest[/]\n{exc}")
        raise typer.Exit(code=2) from None
    if roots is not None:
        paths = write_seeds(check, out, command_line())
        typer.echo(render_seeds(check))
        console.print(f"[green]wrote[/] {', '.join(str(p) for p in paths)}")
        return
    paths = write_rolling(results, out, command_line())
    typer.echo(render_mape(results["mape"]))
    console.print(f"[green]wrote[/] {', '.join(str(p) for p in paths)}")


@app.command()
def forecast(
    config: Path = typer.Argument(Path("configs/baseline.yaml"), help="the calibrated scenario (a run from January 2025)"),
    ensemble: Optional[Path] = typer.Option(None, help="ensemble file (sendsim calibrate --ensemble-out); without it, chance only"),
    replicates: int = typer.Option(4, min=1, help="replicates per parameter set"),
    scale: Optional[float] = typer.Option(None, help="population.scale (smaller is faster and noisier)"),
    out: Path = typer.Option(Path("docs/FORECAST.md"), help="the forecast document to write"),
    workers: Optional[int] = typer.Option(None, min=1),
) -> None:
    """Forecast the January 2026 census and calendar-2026 flows with intervals, dated and tied to a commit."""
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.report.forecast import write_forecast

    try:
        cfg = load_config(config, {"population": {"scale": scale}} if scale is not None else None)
    except ConfigError as exc:
        console.print(f"[bold red]Configuration error[/]\n{exc}")
        raise typer.Exit(code=2) from None
    ens = _load_ensemble(ensemble) if ensemble is not None else None
    total = replicates * (len(ens.members) if ens else 1)
    with _progress() as progress:
        task = progress.add_task("forecast", total=total)
        try:
            path, table = write_forecast(cfg, config, out, replicates, ens, ensemble, workers, command_line(),
                                         on_done=lambda _name: progress.advance(task))
        except (ConfigError, ValueError) as exc:
            console.print(f"[bold red]Cannot forecast[/]\n{exc}")
            raise typer.Exit(code=2) from None
    typer.echo(table[["quantity", "forecast", "lo_combined", "hi_combined"]].to_string(index=False))
    console.print(f"[green]wrote[/] {path}")


@app.command()
def plan(
    config: Path = typer.Argument(..., help="scenario YAML"),
    end: Optional[str] = typer.Option(None, help="last month (YYYY-MM) to time; default the scenario's own end"),
) -> None:
    """Print the month's plan (its stages in order) with the time each stage takes."""
    # lazy: keeps `sendsim --help` fast (this command loads mesa, scipy or matplotlib only when it runs)
    from sim.experiments.stage_timing import stage_timings

    cfg = _load(config, end=end)
    rows, built, stepped = stage_timings(cfg)
    for label, stages in rows.groupby("plan", sort=False):
        table = Table(title=f"{cfg.name}: the month's stages ({label})")
        for column, justify in (("#", "right"), ("stage", "left"), ("when", "left"), ("ms/call", "right"), ("share", "right")):
            table.add_column(column, justify=justify)
        for row in stages.itertuples():
            ms = "-" if row.calls == 0 else f"{row.ms_per_call:.2f}"
            table.add_row(str(row.order), row.stage, row.when, ms, f"{100 * row.share_of_step:.1f}%")
        Console().print(table)
    typer.echo(f"Built in {built:.2f} s; {cfg.run.start} to {cfg.run.end} stepped in {stepped:.2f} s. A stage that appears "
               "in both plans shows its time over the whole run.")


@app.command()
def params(
    filter_: Optional[str] = typer.Argument(None, metavar="[FILTER]", help="show parameters whose path, meaning or source contains this text"),
    as_json: bool = typer.Option(False, "--json", help="print JSON (path, default, unit, meaning, source, plausible, bounds)"),
) -> None:
    """List the parameters: path, default, unit and meaning (sources and ranges with --json)."""
    rows = parameter_table(ScenarioConfig)
    if filter_:
        needle = filter_.lower()
        rows = [r for r in rows if needle in f"{r['path']} {r['meaning']} {r['source']}".lower()]
    if as_json:
        typer.echo(json.dumps(rows, indent=1, default=str))
        return
    if not rows:
        _print_error(f"no parameter matches {filter_!r}; try a section name such as `needs` or a word such as `appeal`")
        raise typer.Exit(code=2)

    width = max(60, min(shutil.get_terminal_size((80, 24)).columns, 100))
    lines = [f"{len(rows)} parameter(s){f' matching {filter_!r}' if filter_ else ''}; "
             f"sources and ranges: sendsim params --json"]
    section = None
    for row in rows:
        if row["path"].split(".")[0] != section and "." in row["path"]:
            section = row["path"].split(".")[0]
            lines.append(f"\n[{section}]")
        default = row["default"]
        shown = ", ".join(str(v) for v in default) if isinstance(default, list) else str(default)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        head = f"{row['path']} = {shown}" + (f"  ({row['unit']})" if row["unit"] else "")
        lines.extend(textwrap.wrap(head, width=width, subsequent_indent="    ", break_on_hyphens=False))
        lines.extend(textwrap.wrap(row["meaning"], width=width, initial_indent="    ", subsequent_indent="    "))
    typer.echo("\n".join(lines))


@app.command()
def dashboard(
    port: int = typer.Option(8765, min=0, max=65535, help="port to serve on"),
    host: str = typer.Option("127.0.0.1", help="address to listen on (127.0.0.1: this machine only)"),
    open_browser: bool = typer.Option(True, "--open/--no-open", help="open the page in a web browser"),
    cache: Optional[Path] = typer.Option(None, help="where comparisons are kept (default results/dashboard)"),
    configs: Optional[Path] = typer.Option(None, help="scenario folder to choose from (default: this checkout's configs/)"),
) -> None:
    """Explore a reform in the browser: levers, paired comparisons, equity, costs; PNG/CSV/YAML downloads."""
    require_extra("solara", "dashboard", "The dashboard (sendsim dashboard)")
    console.print(f"[green]sendsim dashboard[/] on http://{host}:{port}/ (Ctrl+C to stop)")
    env = serve.environment(cache_dir=cache, config_dir=configs)
    try:
        raise typer.Exit(code=subprocess.call(serve.command(port, host, open_browser), env=env))
    except KeyboardInterrupt:
        raise typer.Exit(code=0) from None


if __name__ == "__main__":
    app()
