"""`sendsim`: run scenarios, check calibration. (typer + rich)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sim import __version__
from sim.config import ConfigError, ScenarioConfig, config_hash, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help="sendsim: England's SEND system, EHCP route vs tiered route.")
console = Console(stderr=True)
HEADLINE = (
    "ehcp_share_pupils", "sen_support_share_pupils", "request_rate", "refusal_rate", "request_success_rate",
    "appeal_rate", "tribunal_success_after_refusal", "within_20_weeks_share", "special_school_rate",
    "months_to_support", "unmet_need_months", "ks2_expected_rate", "ks4_em4_rate", "ks4_em4_rate_ehcp",
    "suspension_rate", "exclusion_rate", "neet_rate", "high_needs_spend_per_pupil",
)


def _load(path: Path, seed: int | None = None, end: str | None = None) -> ScenarioConfig:
    """Load and validate a scenario, or exit with the validator's message (nothing is written)."""
    try:
        overrides: dict = {}
        if seed is not None:
            overrides.setdefault("run", {})["seed"] = seed
        if end is not None:
            overrides.setdefault("run", {})["end"] = end
        return load_config(path, overrides or None)
    except ConfigError as exc:
        console.print(f"[bold red]Configuration error[/]\n{exc}")
        raise typer.Exit(code=2) from None


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("replicates"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
    )


def run_scenario(config: ScenarioConfig, replicates: int, workers: int | None, label: str):
    from sim.experiments.runner import combine, run_replicates

    with _progress() as progress:
        task = progress.add_task(label, total=replicates)
        outputs = run_replicates(config, replicates, workers=workers, on_done=lambda _: progress.advance(task))
    return outputs, combine(outputs)


def build_manifest(config: ScenarioConfig, config_path: Path, outputs, started: str, command: str) -> dict:
    from sim.experiments.provenance import git_state, now_iso, package_versions

    return {
        "sendsim_version": __version__,
        "scenario": config.name,
        "config_file": str(config_path),
        "config": config.model_dump(mode="json"),
        "config_sha256": config_hash(config),
        "seed": config.run.seed,
        "replicates": len(outputs),
        "replicate_seeds": {str(o.replicate): o.seed for o in outputs},
        "packages": package_versions(),
        "git": git_state(),
        "started": started,
        "finished": now_iso(),
        "command": command,
    }


@app.command()
def run(
    config: Path = typer.Argument(..., help="scenario YAML (may `extends:` another)"),
    seed: Optional[int] = typer.Option(None, help="root seed (default: run.seed in the config)"),
    replicates: int = typer.Option(4, min=1, max=10_000, help="independent replicates"),
    out: Optional[Path] = typer.Option(None, help="output directory (default results/<scenario name>)"),
    workers: Optional[int] = typer.Option(None, min=1, help="processes (default: all cores)"),
) -> None:
    """Run a scenario and write manifest, metrics, system and children tables, figures and summary."""
    from sim.experiments.provenance import command_line, now_iso
    from sim.experiments.results import atomic_directory, write_manifest
    from sim.metrics import summarise

    cfg = _load(config, seed)
    out = out or Path("results") / cfg.name
    started = now_iso()
    outputs, (metrics, system, children) = run_scenario(cfg, replicates, workers, cfg.name)
    manifest = build_manifest(cfg, config, outputs, started, command_line())
    with atomic_directory(out) as tmp:
        metrics.to_parquet(tmp / "metrics.parquet", index=False)
        system.to_parquet(tmp / "system.parquet", index=False)
        children.to_parquet(tmp / "children.parquet", index=False)
        write_manifest(tmp, manifest)
        _write_report(tmp, metrics, system, manifest)
    _print_headline(summarise(metrics[metrics["by"] == "all"]))
    console.print(f"[green]wrote[/] {out}/ (manifest.json, metrics.parquet, system.parquet, children.parquet, summary.md)")


def _write_report(directory: Path, metrics, system, manifest) -> None:
    try:
        from sim.report.summary import write_summary
    except ImportError:  # report module optional while the package grows
        return
    write_summary(directory, metrics, system, manifest)


def _print_headline(summary) -> None:
    table = Table(title="Headline metrics (latest full period, mean and 95% replicate interval)")
    for column in ("metric", "date", "mean", "95% interval"):
        table.add_column(column)
    for metric in HEADLINE:
        rows = summary[summary["metric"] == metric]
        if rows.empty:
            continue
        last = rows.sort_values("date").iloc[-1]
        table.add_row(metric, str(last["date"].date()), f"{last['mean']:.2f}", f"[{last['lo']:.2f}, {last['hi']:.2f}]")
    Console().print(table)


def _council_spread(cfg: ScenarioConfig, metrics) -> None:
    from sim.calibration.councils import model_values, published_values, spread_figure, spread_table

    if cfg.population.council_table is None:
        console.print("[yellow]--councils needs a config with population.council_table (e.g. configs/england.yaml)[/]")
        return
    model, published = model_values(metrics), published_values(cfg.population.council_table)
    table = spread_table(model, published)
    typer.echo("\nSpread across councils (quantiles of council values; correlation = model vs published, council by council)")
    typer.echo(table.drop(columns=["label"]).round(2).to_string(index=False))
    path = spread_figure(model, published, Path("results") / f"{cfg.name}_council_spread.png")
    console.print(f"[green]wrote[/] {path}")


@app.command()
def compare(
    baseline: Path = typer.Argument(..., help="baseline scenario YAML"),
    reform: Path = typer.Argument(..., help="reform scenario YAML (usually `extends: baseline.yaml`)"),
    replicates: int = typer.Option(4, min=1, max=10_000, help="paired replicates"),
    out: Optional[Path] = typer.Option(None, help="output directory (default results/<baseline>_vs_<reform>)"),
    workers: Optional[int] = typer.Option(None, min=1, help="processes (default: all cores)"),
    small_cell: Optional[int] = typer.Option(None, min=0, help="suppress cells with fewer children (default: metrics.small_cell_threshold)"),
) -> None:
    """Run baseline and reform with common random numbers; write equity, costs, stocks and a report."""
    from sim.experiments.compare import compare_scenarios
    from sim.experiments.provenance import command_line

    base_cfg, reform_cfg = _load(baseline), _load(reform)
    out = out or Path("results") / f"{base_cfg.name}_vs_{reform_cfg.name}"
    with _progress() as progress:
        tasks = {route: progress.add_task(f"{route}", total=replicates) for route in ("baseline", "reform")}
        result = compare_scenarios(
            base_cfg, reform_cfg, replicates, out, workers=workers,
            progress=lambda route, done, total: progress.update(tasks[route], completed=done),
            small_cell=base_cfg.metrics.small_cell_threshold if small_cell is None else small_cell,
            baseline_path=baseline, reform_path=reform, command=command_line(),
        )
    _print_equity(result["equity"])
    console.print(f"[green]wrote[/] {out}/ (baseline/, reform/, equity.parquet/.csv, costs, ehcp_stock.csv, report.md, report.html)")


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


@app.command()
def validate(
    config: Path = typer.Argument(Path("configs/baseline.yaml"), help="scenario to check (default: the baseline)"),
    replicates: int = typer.Option(4, min=1, help="replicates for the model interval"),
    workers: Optional[int] = typer.Option(None, min=1),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list instead of a table"),
    councils: bool = typer.Option(False, "--councils", help="also compare the spread across councils (configs with a council_table)"),
) -> None:
    """Compare the model with published statistics (flows over 2025; stocks at the January 2025 census)."""
    from sim.calibration.validate import check_targets, render_table, to_json_records

    cfg = _load(config, end="2026-03")  # covers calendar 2025, KS4 2025 and financial year 2025-26
    _, (metrics, _, _) = run_scenario(cfg, replicates, workers, f"validate {cfg.name}")
    if councils:
        _council_spread(cfg, metrics)
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
    from sim.experiments.engine import run_experiment
    from sim.experiments.store import StoreError

    if executor not in ("local", "serial", "dask"):
        console.print(f"[bold red]--executor must be local, serial or dask, not {executor!r}[/]")
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
            out_dir = run_experiment(file, executor=executor, workers=workers, scheduler=scheduler, out=out,
                                     progress=update, log=lambda message: console.print(f"[yellow]{message}[/]"))
        except (ConfigError, StoreError, FileNotFoundError) as exc:
            console.print(f"[bold red]Cannot run the experiment[/]\n{exc}")
            raise typer.Exit(code=2) from None
    if report:
        from sim.report.experiment_report import write_experiment_report

        md, html = write_experiment_report(out_dir)
        console.print(f"[green]wrote[/] {md} and {html}")
    console.print(f"[green]results in[/] {out_dir}/")


@app.command(name="report")
def report_command(directory: Path = typer.Argument(..., help="an experiment results directory")) -> None:
    """Write report.md and report.html (with figures) for an experiment's results."""
    from sim.experiments.store import StoreError, load_manifest
    from sim.report.experiment_report import write_experiment_report

    try:
        load_manifest(directory)
        md, html = write_experiment_report(directory)
    except (StoreError, FileNotFoundError) as exc:
        console.print(f"[bold red]Cannot report on {directory}[/]\n{exc}")
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
) -> None:
    """Fit assumption parameters to published targets (Optuna over replicate-averaged loss)."""
    from sim.calibration.fit import calibrate_command

    try:
        calibrate_command(config, targets, budget, out, executor, workers, replicates,
                          parameters.split(",") if parameters else None, seed, echo=typer.echo)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        console.print(f"[bold red]Cannot calibrate[/]\n{exc}")
        raise typer.Exit(code=2) from None


@app.command()
def params() -> None:
    """List every parameter with unit, source and plausible range."""
    from sim.config.params import parameter_table

    table = Table(title="Parameters")
    for column in ("path", "default", "unit", "source", "plausible"):
        table.add_column(column)
    for row in parameter_table(ScenarioConfig):
        table.add_row(row["path"], str(row["default"]), row["unit"], row["source"], str(row["plausible"] or ""))
    Console().print(table)


@app.command()
def dashboard(
    port: int = typer.Option(8765, min=0, max=65535, help="port to serve on"),
    host: str = typer.Option("127.0.0.1", help="address to listen on (127.0.0.1: this machine only)"),
    open_browser: bool = typer.Option(True, "--open/--no-open", help="open the page in a web browser"),
    cache: Optional[Path] = typer.Option(None, help="where comparisons are kept (default results/dashboard)"),
    configs: Optional[Path] = typer.Option(None, help="scenario folder to choose from (default: this checkout's configs/)"),
) -> None:
    """Explore a reform in the browser: levers, paired comparisons, equity, costs; PNG/CSV/YAML downloads."""
    import subprocess

    from sim.dashboard import serve

    console.print(f"[green]sendsim dashboard[/] on http://{host}:{port}/ (Ctrl+C to stop)")
    env = serve.environment(cache_dir=cache, config_dir=configs)
    try:
        raise typer.Exit(code=subprocess.call(serve.command(port, host, open_browser), env=env))
    except KeyboardInterrupt:
        raise typer.Exit(code=0) from None


if __name__ == "__main__":
    app()
