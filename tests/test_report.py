"""The run report: summary.md says where its numbers came from and shows every headline metric.

Two small replicates (one council of 6,000 pupils, January 2025 to December 2026) are enough to
exercise every table and figure; the numbers themselves are not checked here.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sim.config import ScenarioConfig, config_hash
from sim.metrics import compute_metrics, system_table
from sim.model import SendModel
from sim.report import HEADLINE_METRICS, write_summary
from sim.report.figures import fsm_gap

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = ("census_shares.png", "pipeline.png", "gaps.png", "finance.png")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    config = ScenarioConfig.model_validate({
        "name": "report_check",
        "population": {"pupils_per_council": 6000},
        "run": {"end": "2026-12"},
    })
    metrics, system = [], []
    for replicate, seed in enumerate((11, 12)):
        model = SendModel(config, seed=seed).run()
        metrics.append(compute_metrics(model).assign(replicate=replicate))
        system.append(system_table(model).assign(replicate=replicate))
    metrics = pd.concat(metrics, ignore_index=True)
    system = pd.concat(system, ignore_index=True)
    manifest = {
        "scenario": config.name,
        "config": config.model_dump(mode="json"),
        "config_sha256": config_hash(config),
        "config_file": "configs/report_check.yaml",
        "seed": config.run.seed,
        "replicates": 2,
        "replicate_seeds": {"0": 11, "1": 12},
        "git": {"commit": "0123abc", "dirty": True},
        "sendsim_version": "test",
        "started": "2025-01-01T00:00:00+00:00",
        "finished": "2025-01-01T00:01:00+00:00",
        "command": "sendsim run configs/report_check.yaml --replicates 2",
    }
    run_dir = tmp_path_factory.mktemp("run")
    path = write_summary(run_dir, metrics, system, manifest)
    return run_dir, path, manifest, metrics


def test_summary_names_the_scenario_and_its_config_hash(report):
    run_dir, path, manifest, _ = report
    assert path == run_dir / "summary.md"
    text = path.read_text(encoding="utf-8")
    assert "report_check" in text.splitlines()[0]
    assert manifest["config_sha256"] in text
    assert "0123abc" in text and "uncommitted changes" in text


def test_summary_reports_every_headline_metric(report):
    text = report[1].read_text(encoding="utf-8")
    missing = [metric for metric in HEADLINE_METRICS if f"`{metric}`" not in text]
    assert not missing, f"headline metrics absent from summary.md: {missing}"
    assert "not produced by this run" not in text


def test_every_figure_is_a_real_png_embedded_in_the_summary(report):
    run_dir, path, _, _ = report
    text = path.read_text(encoding="utf-8")
    for name in FIGURES:
        figure = run_dir / "figures" / name
        assert figure.is_file(), name
        assert figure.read_bytes()[:8] == PNG_SIGNATURE, name
        assert figure.stat().st_size > 20_000, f"{name} is suspiciously small"
        assert f"(figures/{name})" in text


def test_fsm_gap_is_differenced_within_each_replicate(report):
    metrics = report[3]
    gap = fsm_gap(metrics, "ks4_em4_rate")
    rows = metrics[(metrics["metric"] == "ks4_em4_rate") & (metrics["by"] == "fsm")]
    expected = rows.pivot_table(index=["replicate", "date"], columns="group", values="value")
    expected = (expected["fsm"] - expected["non_fsm"]).sort_index()
    got = gap.set_index(["replicate", "date"])["value"].sort_index()
    pd.testing.assert_series_equal(got, expected, check_names=False)
