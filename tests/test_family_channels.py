"""The family-resource channels: travel, evidence at the decision to issue, and the reform's gap
change split by channel switched off.

Statistical checks use tolerances from binomial standard errors (process tests on crafted
children) or from the spread of replicates (whole runs, Z standard errors of the mean).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.config.loader import load_config
from sim.experiments.decompose import DecompositionError
from sim.experiments.family_channels import (
    ALL,
    FAMILY_CHANNELS_CSV,
    GRANULARITIES,
    NOTHING,
    OUTCOMES,
    OVERLAP,
    TOTAL,
    Channel,
    channels_at,
    check_channels,
    decompose_by_channel,
    gap_values,
    group_by_stage,
    load_channels,
    load_stages,
    merge_channels,
    with_channels_off,
)
from sim.experiments.runner import run_replicate, run_replicates
from sim.population.state import EHCP, INCLUSION_BASE, INDEPENDENT_SPECIAL, MAINSTREAM, STATE_SPECIAL
from sim.processes import assessment, placement
from tests.conftest import binomial_se

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = ROOT / "configs" / "components" / "family_channels.yaml"
Z = 3.0


def _config(name: str, scale: float, end: str):
    data = load_config(ROOT / "configs" / name).model_dump(mode="json")
    data["population"]["scale"] = scale
    data["run"]["end"] = end
    return type(load_config(ROOT / "configs" / name)).model_validate(data)


def _everything(channels: list[Channel], name: str = "every_channel") -> Channel:
    """All channels merged into one (switching it off = switching every channel off)."""
    merged = merge_channels(channels, name)
    assert merged.off == {k: v for c in channels for k, v in c.off.items()}
    return merged


# ---- the channel file ---------------------------------------------------------------------------
def test_the_channel_file_names_every_family_resource_stage_with_known_disjoint_keys() -> None:
    channels = load_channels(CHANNELS)
    names = {c.name for c in channels}
    assert {"identification_push", "requests", "private_reports", "evidence_decisions", "representation",
            "placement_preference", "travel", "plan_challenges", "tutoring", "tiered_complaints"} <= names
    for scenario in ("baseline.yaml", "reform_white_paper.yaml"):
        config = load_config(ROOT / "configs" / scenario)
        check_channels(config, channels)  # raises on an unknown or repeated key or an invalid off value
        off = with_channels_off(config, channels, [c.name for c in channels]).model_dump(mode="json")
        for channel in channels:
            for key, value in channel.off.items():
                section, field = key.split(".")
                assert off[section][field] == value
                assert config.model_dump(mode="json")[section][field] != value, f"{key} is already off by default"


def test_a_bad_channel_is_named_and_nothing_is_written(tmp_path) -> None:
    bad = tmp_path / "channels.yaml"
    bad.write_text("channels:\n  - name: typo\n    when_off:\n      family.no_such_key: 0\n", encoding="utf-8")
    with pytest.raises(DecompositionError, match="family.no_such_key"):
        check_channels(load_config(ROOT / "configs" / "baseline.yaml"), load_channels(bad))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["decompose", str(ROOT / "configs" / "baseline.yaml"),
                                      str(ROOT / "configs" / "reform_white_paper.yaml"), "--by", "family-channel",
                                      "--components", str(bad), "--out", str(out)])
    assert result.exit_code == 2 and "family.no_such_key" in result.output
    assert not out.exists()
    out_of_range = tmp_path / "range.yaml"
    out_of_range.write_text("channels:\n  - name: r\n    when_off:\n      family.tutoring_at_full_advocacy: 2\n",
                            encoding="utf-8")
    with pytest.raises(DecompositionError, match="tutoring_at_full_advocacy"):
        check_channels(load_config(ROOT / "configs" / "baseline.yaml"), load_channels(out_of_range))


# ---- travel -------------------------------------------------------------------------------------
@pytest.fixture
def ctx(make_model):
    model = make_model(councils=1, pupils=24000)
    context = model.context()
    context.config.placement.special_preference_intercept = 20.0  # every family asks for a special school
    return context


def _plan_holders(ctx, n: int) -> np.ndarray:
    c = ctx.c
    rows = np.flatnonzero((c.year_group <= 11) & (c.placement == MAINSTREAM))[:n]
    assert len(rows) == n
    c.support_level[rows] = EHCP
    c.severity[rows] = 2.5
    c.excluded[rows] = False
    return rows


def _places_for_everyone(ctx, n: int) -> None:
    """Free state special places for all n, each suitable (no child is sent independent for want of
    a suitable free place), so only the journey can fail."""
    occupied = np.floor(ctx.councils.special_places) - placement.free_special_places(ctx)
    ctx.councils.special_places[:] = occupied + n + 0.5
    ctx.config.placement.independent_when_places_free = 0.0


def test_families_without_transport_or_means_turn_down_a_distant_place(ctx) -> None:
    c, f = ctx.c, ctx.config.family
    rows = _plan_holders(ctx, 6000)
    _places_for_everyone(ctx, len(rows))
    f.council_transport_share, f.travel_decline_without_transport = 0.5, 0.8
    c.advocacy[rows[0::2]] = 0.1
    c.advocacy[rows[1::2]] = 0.9
    placement.place(ctx, rows)
    special = np.isin(c.placement[rows], (STATE_SPECIAL, INDEPENDENT_SPECIAL))
    for half, advocacy in ((slice(0, None, 2), 0.1), (slice(1, None, 2), 0.9)):
        expected = (1 - f.council_transport_share) * f.travel_decline_without_transport * (1 - advocacy)
        declined = 1 - special[half].mean()
        assert abs(declined - expected) <= 4 * binomial_se(expected, len(rows) // 2), (advocacy, declined, expected)
    assert (1 - special[0::2].mean()) > (1 - special[1::2].mean())
    # those who turned the place down are in their home school, have not secured a place, and still wanted one
    declined = rows[~special]
    assert np.all(np.isin(c.placement[declined], (MAINSTREAM, INCLUSION_BASE)))
    assert np.all(c.school[declined] == c.home_school[declined])
    assert c.special_wanted[declined].all() and not c.special_secured[declined].any()
    assert len(ctx.events.frame("travel_declined")) == len(declined)


def test_council_transport_for_everyone_switches_the_travel_channel_off(ctx) -> None:
    c, f = ctx.c, ctx.config.family
    rows = _plan_holders(ctx, 2000)
    _places_for_everyone(ctx, len(rows))
    f.council_transport_share, f.travel_decline_without_transport = 1.0, 1.0
    c.advocacy[rows] = 0.0
    placement.place(ctx, rows)
    assert np.all(c.placement[rows] == STATE_SPECIAL) and c.special_secured[rows].all()
    assert not placement.cannot_travel(ctx, rows).any()
    f.council_transport_share, f.travel_decline_without_transport = 0.0, 0.0
    assert not placement.cannot_travel(ctx, rows).any()


# ---- evidence at the decision to issue --------------------------------------------------------
def test_a_private_report_raises_the_chance_the_council_issues_a_plan(ctx) -> None:
    c, d = ctx.c, ctx.config.decision
    rows = np.flatnonzero(c.year_group <= 11)[:400]
    c.severity[rows] = np.where(np.arange(len(rows)) % 4 < 2, 2.0, 0.3).astype(np.float32)  # severe and mild
    c.private_report[rows] = np.arange(len(rows)) % 2 == 0
    p = assessment.plan_probability(ctx, rows)
    with_report, without = p[c.private_report[rows]], p[~c.private_report[rows]]
    assert np.all(with_report > without)
    odds = lambda q: q / (1 - q)  # noqa: E731
    assert np.allclose(odds(with_report) / odds(without), np.exp(d.private_report_issue_effect))
    d.private_report_issue_effect = 0.0
    p_off = assessment.plan_probability(ctx, rows)
    assert np.allclose(p_off[0::2], p_off[1::2])  # no evidence term: the report changes nothing
    a = ctx.config.assessment
    assert np.allclose(np.unique(np.round(p_off, 9)),
                       np.unique(np.round([a.plan_issued_probability, a.plan_issued_probability * a.mild_need_plan_ratio], 9)))


# ---- the decomposition by channel -------------------------------------------------------------
def test_the_channel_table_has_one_row_per_channel_and_measure_and_adds_up() -> None:
    """A tiny run: the shape of the table and the exact identity all_off + carried + overlap = total."""
    channels = load_channels(CHANNELS)
    travel = next(c for c in channels if c.name == "travel")
    rest = _everything([c for c in channels if c.name != "travel"], "the_rest")
    baseline, reform = (_config(n, 0.01, "2030-08") for n in ("baseline.yaml", "reform_white_paper.yaml"))
    result = decompose_by_channel(baseline, reform, [rest, travel], 2, workers=1)
    table, per = result["table"], result["per_replicate"]
    assert result["manifest"]["sub_runs"] == 8
    cells = len(OUTCOMES) * 2  # outcomes x (at_equal_need, raw)
    for measure, rows in (("baseline_gap", [NOTHING, "the_rest", "travel", ALL]),
                          ("reform_gap", [NOTHING, "the_rest", "travel", ALL]),
                          ("change", [NOTHING, "the_rest", "travel", ALL]),
                          ("carried", ["the_rest", "travel", ALL, OVERLAP, TOTAL])):
        part = table[table["measure"] == measure]
        assert sorted(part["channel"].unique()) == sorted(rows)
        assert len(part) == len(rows) * cells
    assert (table["replicates"] == 2).all()
    assert set(table.columns) >= {"channel", "label", "measure", "metric", "contrast", "component", "value", "lo", "hi"}
    carried = per[per["measure"] == "carried"].pivot_table(index=["replicate", "metric", "contrast", "component"],
                                                           columns="channel", values="value")
    parts = carried[["the_rest", "travel", ALL, OVERLAP]].sum(axis=1)
    assert np.allclose(parts, carried[TOTAL], atol=1e-9)
    change = per[(per["measure"] == "change") & (per["channel"] == NOTHING)].set_index(
        ["replicate", "metric", "contrast", "component"])["value"]
    assert np.allclose(carried[TOTAL].sort_index(), change.sort_index())


@pytest.fixture(scope="module")
def gaps_on_and_off() -> dict[str, pd.DataFrame]:
    """Per-replicate gaps in the baseline with every channel on and every channel off (same seeds)."""
    config = _config("baseline.yaml", 0.1, "2031-08")
    everything = _everything(load_channels(CHANNELS))
    out = {}
    for name, off in (("on", []), ("off", [everything.name])):
        run_config = with_channels_off(config, [everything], off)
        outputs = run_replicates(run_config, 5, root_seed=11, workers=1, children_only=True)
        out[name] = gap_values(pd.concat([o.children for o in outputs], ignore_index=True))
    return out


@pytest.mark.parametrize("metric", ["unmet_need_months", "matched_within_a_year", "ehcp_receipt"])
def test_switching_every_channel_off_removes_the_quintile_gap_at_equal_need(gaps_on_and_off, metric) -> None:
    """Every channel off: children with the same need are treated alike whatever their family's
    income (the quintile-1 minus quintile-5 gap at equal need is zero within replicate noise),
    while with the channels on the gap is there and moves when they are switched off."""
    key = (metric, "q1_minus_q5", "at_equal_need")
    on, off = gaps_on_and_off["on"][key], gaps_on_and_off["off"][key]
    se = lambda v: float(v.std(ddof=1) / np.sqrt(len(v)))  # noqa: E731
    assert abs(off.mean()) <= Z * se(off) + 0.02 * abs(on.mean()), f"{metric}: off {off.mean():+.3f} (se {se(off):.3f})"
    assert abs(on.mean()) > Z * se(on), f"{metric}: on {on.mean():+.3f} (se {se(on):.3f})"
    assert abs((on - off).mean()) > Z * se(on - off)


def test_the_command_writes_the_channel_table_its_report_and_manifest(tmp_path) -> None:
    channels = tmp_path / "channels.yaml"
    channels.write_text("channels:\n  - name: travel\n    label: Travel\n    when_off:\n"
                        "      family.travel_decline_without_transport: 0.0\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["decompose", str(ROOT / "configs" / "baseline.yaml"),
                                      str(ROOT / "configs" / "reform_white_paper.yaml"), "--by", "family-channel",
                                      "--components", str(channels), "--scale", "0.01", "--replicates", "2",
                                      "--end", "2027-08", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / FAMILY_CHANNELS_CSV)
    assert set(table["channel"]) == {NOTHING, "travel", ALL, OVERLAP, TOTAL}
    text = (out / "family_channels.md").read_text(encoding="utf-8")
    assert "Travel" in text and "Every channel off" in text
    assert (out / "family_channels.html").exists() and (out / "manifest.json").exists()
    # a rerun into the same directory replaces its own files and keeps the user's
    (out / "my_notes.txt").write_text("mine", encoding="utf-8")
    again = CliRunner().invoke(app, ["decompose", str(ROOT / "configs" / "baseline.yaml"),
                                     str(ROOT / "configs" / "reform_white_paper.yaml"), "--by", "family-channel",
                                     "--components", str(channels), "--scale", "0.01", "--replicates", "2",
                                     "--end", "2027-08", "--workers", "1", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert (out / "my_notes.txt").read_text(encoding="utf-8") == "mine"
    assert set(pd.read_csv(out / FAMILY_CHANNELS_CSV)["channel"]) == {NOTHING, "travel", ALL, OVERLAP, TOTAL}


@pytest.mark.parametrize("by", ["family-channel", "reform-component"])
def test_decompose_refuses_a_foreign_directory_before_simulating(tmp_path, by) -> None:
    """A directory sendsim did not write is refused with exit 2 before any sub-run starts (no
    progress bar of sub-runs), and the user's file is untouched."""
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "thesis.docx").write_text("chapter 1", encoding="utf-8")
    result = CliRunner().invoke(app, ["decompose", str(ROOT / "configs" / "baseline.yaml"),
                                      str(ROOT / "configs" / "reform_white_paper.yaml"), "--by", by,
                                      "--scale", "0.01", "--replicates", "2", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "refusing to touch it" in result.output and "sub-runs" not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["thesis.docx"]
    assert (out / "thesis.docx").read_text(encoding="utf-8") == "chapter 1"


def test_under_the_tiered_route_a_specialist_package_a_family_cannot_reach_is_declined_too(make_model) -> None:
    """Travel acts in both routes alike: a package naming a special school the family cannot reach
    leaves the child at its home school (inclusion base or mainstream), wanted but not secured."""
    from sim.processes import tiers

    model = make_model({"run": {"route": "tiered"}}, councils=1, pupils=24000)
    ctx = model.context()
    c, f = ctx.c, ctx.config.family
    ctx.config.reform.special_school_package_threshold = 0.0  # every package names a special school
    rows = np.flatnonzero((c.year_group <= 11) & (c.placement == MAINSTREAM))[:4000]
    c.severity[rows] = 2.5
    _places_for_everyone(ctx, len(rows))
    f.council_transport_share, f.travel_decline_without_transport = 0.5, 1.0
    c.advocacy[rows] = 0.0
    tiers.place_specialist(ctx, rows)
    special = np.isin(c.placement[rows], (STATE_SPECIAL, INDEPENDENT_SPECIAL))
    assert abs((1 - special.mean()) - 0.5) <= 4 * binomial_se(0.5, len(rows))
    declined = rows[~special]
    assert np.all(c.school[declined] == c.home_school[declined])
    assert c.special_wanted[rows].all()
    assert not c.special_secured[declined].any() and c.special_secured[rows[special]].all()


# ---- stages: the channels grouped where they act, measured beside a comparison -----------------
def test_every_channel_belongs_to_a_stage_and_the_stages_switch_off_exactly_the_channels_keys() -> None:
    channels, stages = load_channels(CHANNELS), load_stages(CHANNELS)
    assert all(c.stage in stages for c in channels), [c.name for c in channels if c.stage not in stages]
    grouped = group_by_stage(channels, stages)
    assert [g.name for g in grouped] == [s for s in stages if any(c.stage == s for c in channels)]
    assert {k: v for g in grouped for k, v in g.off.items()} == {k: v for c in channels for k, v in c.off.items()}
    for g in grouped:  # a stage switches off its own channels' keys and nothing else
        assert g.off == {k: v for c in channels if c.stage == g.name for k, v in c.off.items()}
    assert [len(channels_at(CHANNELS, how)) for how in GRANULARITIES] == [len(grouped), len(channels), 1]


def test_a_channel_naming_an_unknown_stage_is_refused_with_the_stages_allowed(tmp_path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text("stages:\n  asking: Asking\nchannels:\n  - name: requests\n    stage: akking\n    when_off:\n"
                    "      requests.advocacy_effect: 0.0\n", encoding="utf-8")
    with pytest.raises(DecompositionError, match=r"stage 'akking' is not one of the file's `stages` \(asking\)"):
        load_channels(path)
    with pytest.raises(DecompositionError, match="allowed are stage, channel, merged"):
        channels_at(CHANNELS, "family")


def test_compare_measures_the_stages_beside_the_comparison_reusing_its_own_runs(tmp_path) -> None:
    """`compare --family-channels stage` (what `make run` does): family_channels.csv with one row per
    stage, the "every channel on" gaps equal to the comparison's own need-standardised gaps (its
    two runs are reused, not rerun), the rows adding up to the reform's change per replicate, and the
    report naming what carries the change."""
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["compare", str(ROOT / "configs" / "baseline.yaml"),
                                      str(ROOT / "configs" / "reform_white_paper.yaml"), "--scale", "0.01",
                                      "--end", "2027-08", "--replicates", "2", "--workers", "1",
                                      "--family-channels", "stage", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / FAMILY_CHANNELS_CSV)
    stages = list(load_stages(CHANNELS))
    assert set(table["channel"]) == {NOTHING, *stages, ALL, OVERLAP, TOTAL}
    own = pd.read_csv(out / "need_standardised_gaps.csv").set_index(["metric", "contrast", "component"])
    on = table[(table["channel"] == NOTHING) & (table["measure"] == "baseline_gap")]
    for row in on.itertuples():
        assert row.value == pytest.approx(own.loc[(row.metric, row.contrast, row.component), "baseline"], abs=1e-12)
    carried = table[table["measure"] == "carried"].set_index(["metric", "contrast", "component", "channel"])["value"]
    for (metric, contrast, component), part in carried.groupby(level=[0, 1, 2]):
        part = part.droplevel([0, 1, 2])
        assert part[TOTAL] == pytest.approx(part[ALL] + part[stages].sum() + part[OVERLAP], abs=1e-9)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "What carries the change in the gap: family resources, stage by stage" in report
    assert "The reform changes the FSM gap in unmet-need months at equal need by" in report
    assert report.index("Disadvantage gaps at equal need") < report.index("What carries the change") < report.index("## Figures")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [c["name"] for c in manifest["family_channels"]["channels"]] == stages
    assert "family_channels.csv" in manifest["files"]


def test_compare_refuses_an_unknown_family_channel_granularity_before_simulating(tmp_path) -> None:
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["compare", str(ROOT / "configs" / "baseline.yaml"),
                                      str(ROOT / "configs" / "reform_white_paper.yaml"), "--scale", "0.01",
                                      "--replicates", "2", "--workers", "1", "--family-channels", "everything",
                                      "--out", str(out)])
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and "allowed are stage, channel, merged" in output, result.output
    assert not out.exists()


def test_decompose_refuses_merged_and_stages_together(tmp_path) -> None:
    result = CliRunner().invoke(app, ["decompose", str(ROOT / "configs" / "baseline.yaml"),
                                      str(ROOT / "configs" / "reform_white_paper.yaml"), "--by", "family-channel",
                                      "--merged", "--stages", "--scale", "0.01", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "exclude each other" in result.output
    assert not (tmp_path / "x").exists()


def test_a_children_only_replicate_has_the_full_replicates_children_table() -> None:
    """The decomposition's sub-runs skip the metrics (`children_only`): the children table they
    read must be the one a full replicate returns, column for column and bit for bit."""
    config = _config("reform_white_paper.yaml", 0.01, "2027-08")
    full = run_replicate(config, 1)
    lean = run_replicate(config, 1, children_only=True)
    pd.testing.assert_frame_equal(lean.children, full.children, check_exact=True)
    assert lean.seed == full.seed and lean.metrics.empty and lean.system.empty and not full.metrics.empty
