"""Which family-resource channel carries the reform's change in the gap at equal need.

Why: the reform's headline equity number is its change in the need-standardised gap (FSM minus
not-FSM, income quintile 1 minus quintile 5, among children with the same need;
`sim.metrics.gaps`). That gap exists only because families with more resources get more out of
the process at some stage: they push for identification, request assessments, buy private
reports, appeal with representation, ask for special schools and can reach them, challenge weak
plans, pay for tutoring, complain under the tiered route. A reader who quotes the reform's
change needs to know which of these stages moves it, because each is a different policy story
(and rests on a different, often weak, piece of evidence).

A **channel** is a named set of configuration keys whose `when_off` values stop that stage from
depending on family resources (`configs/components/family_channels.yaml`). Two kinds of "off":
for stages every child passes through (identification, requests, decisions, appeals, placement
preference, suspensions, who holds support at the start census) the family-resource term is
set to zero, so the stage still acts but equally for every family; for things only families
who can pay or press do (private reports, representation, tutoring, travel without council
transport, successful plan challenges, tiered complaints) the action itself is switched off.

Unlike the reform's components (`sim.experiments.decompose`), a channel is switched off in
**both** routes: a channel changes the world the reform acts in, not the reform. For each set S
of channels switched off, the baseline and the reform are run with the baseline's root seed
(replicate r holds the same children with the same luck in every sub-run: common random
numbers), and the reform's change in each gap is taken inside the replicate: c(S). Readings:

- **carried** by channel i: c(nothing off) - c({i} off): how much of the reform's change
  disappears when only that channel is off (leave-one-out);
- **all channels off**: c(every channel off), the change left when no family resource acts
  (the gap at equal need should then be about zero in both routes, and so its change);
- **overlap**: c(nothing off) - c(all off) - sum of the carried amounts: what channels do
  together beyond their separate parts (channels feed each other: a private report only
  matters through the decisions and appeals it changes), so that
  all_off + sum(carried) + overlap = the reform's change, exactly, per replicate.

Every value is computed per replicate and summarised with the project's t-interval.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sim.config import ConfigError, ScenarioConfig, config_hash, validate_config
from sim.experiments.decompose import DecompositionError, _set, flatten
from sim.experiments.provenance import command_line, git_state, now_iso, package_versions
from sim.experiments.results import write_manifest
from sim.experiments.runner import run_replicates
from sim.metrics.gaps import GAP_METRIC_BY_NAME, need_standardised_gaps, t_interval

FAMILY_CHANNELS_CSV = "family_channels.csv"
CHANNELS_FILE = "family_channels.yaml"  # in configs/components/, beside the reforms' components
NOTHING = "nothing_off"
ALL = "all_off"
OVERLAP = "overlap"
TOTAL = "total"
#: the gaps decomposed: (metric, contrast); all at equal need (and the raw gap for reference)
OUTCOMES: tuple[tuple[str, str], ...] = (
    ("unmet_need_months", "fsm_minus_non_fsm"),
    ("unmet_need_months", "q1_minus_q5"),
    ("matched_within_a_year", "fsm_minus_non_fsm"),
    ("matched_within_a_year", "q1_minus_q5"),
    ("ehcp_receipt", "fsm_minus_non_fsm"),
    ("ehcp_receipt", "q1_minus_q5"),
)
GAP_COMPONENTS = ("at_equal_need", "raw")
MEASURES = ("baseline_gap", "reform_gap", "change", "carried")
COLUMNS = ["channel", "label", "order", "measure", "metric", "contrast", "component", "unit", "better",
           "value", "lo", "hi", "replicates"]


@dataclass(frozen=True)
class Channel:
    """A family-resource channel: dotted configuration key -> its value when the channel is off."""

    name: str
    label: str
    off: dict[str, Any]
    stage: str | None = None


#: how finely `channels_at` takes the family-resource stages apart
GRANULARITIES = ("stage", "channel", "merged")


def _read(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DecompositionError(f"cannot read the channels file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise DecompositionError(f"{path}: expected a mapping with `channels` (and optionally `stages`)")
    return data


def load_stages(path: Path | str) -> dict[str, str]:
    """The file's `stages` (stage name -> label), in the file's order; empty when it has none."""
    path = Path(path)
    stages = _read(path).get("stages") or {}
    if not isinstance(stages, dict) or not all(isinstance(v, str) for v in stages.values()):
        raise DecompositionError(f"{path}: `stages` must map a stage name to its label")
    return {str(k): v for k, v in stages.items()}


def load_channels(path: Path | str) -> list[Channel]:
    """Read a channels file (`channels: [{name, label, stage, when_off: {dotted.key: value}}]`;
    `stage`, when given, must be one of the file's `stages`)."""
    path = Path(path)
    data = _read(path)
    stages = load_stages(path)
    items = data.get("channels")
    if not isinstance(items, list) or not items:
        raise DecompositionError(f"{path}: `channels` must be a non-empty list of {{name, label, when_off}}")
    channels = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "name" not in item or not isinstance(item.get("when_off"), dict) \
                or not item["when_off"]:
            raise DecompositionError(f"{path}: channels[{i}] needs a `name` and a non-empty `when_off` mapping "
                                     "of dotted configuration keys to their values when the channel is off")
        name = str(item["name"])
        if name in (NOTHING, ALL, OVERLAP, TOTAL):
            raise DecompositionError(f"{path}: channel name {name!r} is reserved")
        stage = item.get("stage")
        if stage is not None and str(stage) not in stages:
            raise DecompositionError(f"{path}: channels[{i}] ({name}): stage {stage!r} is not one of the file's "
                                     f"`stages` ({', '.join(stages) or 'none defined'})")
        channels.append(Channel(name, str(item.get("label", name)), dict(item["when_off"]),
                                None if stage is None else str(stage)))
    names = [c.name for c in channels]
    if len(set(names)) != len(names):
        raise DecompositionError(f"{path}: channel names repeat: {names}")
    return channels


def merge_channels(channels: list[Channel], name: str = "every_channel") -> Channel:
    """Every channel as one: switching it off switches them all off (two pairs of runs instead of
    one per channel, for many replicates of the question "is anything left with no family
    resource acting?")."""
    return Channel(name, "Every family-resource channel together", {k: v for c in channels for k, v in c.off.items()})


def group_by_stage(channels: list[Channel], stages: dict[str, str]) -> list[Channel]:
    """One channel per stage (in the order of `stages`), switching off every channel of that stage.

    Why: a comparison can afford one pair of runs per stage of the process (five) where it cannot
    afford one per channel (fourteen); the stage tells a reader *where* in a family's path through
    the system the reform's change in the gap is carried, and the per-channel command says by what.
    """
    missing = [c.name for c in channels if c.stage is None]
    if missing or not stages:
        raise DecompositionError("grouping by stage needs `stages` in the channels file and a `stage` on every "
                                 f"channel (missing on: {', '.join(missing) or 'every channel: no stages defined'})")
    grouped = []
    for stage, label in stages.items():
        members = [c for c in channels if c.stage == stage]
        if members:
            grouped.append(Channel(stage, label, {k: v for c in members for k, v in c.off.items()}, stage))
    return grouped


def channels_at(path: Path | str, granularity: str) -> list[Channel]:
    """The channels of a file taken apart by `granularity`: "stage" (one per stage), "channel" (as
    listed) or "merged" (every channel as one)."""
    if granularity not in GRANULARITIES:
        raise DecompositionError(f"family channels by {granularity!r}: allowed are {', '.join(GRANULARITIES)}")
    channels = load_channels(path)
    if granularity == "stage":
        return group_by_stage(channels, load_stages(path))
    return [merge_channels(channels)] if granularity == "merged" else channels


def check_channels(config: ScenarioConfig, channels: list[Channel]) -> None:
    """Raise `DecompositionError` naming the key when a channel names a key the schema does not
    have, two channels share a key, or switching every channel off gives an invalid configuration."""
    known = flatten(config.model_dump(mode="json"))
    seen: dict[str, str] = {}
    for channel in channels:
        for key in channel.off:
            if key not in known:
                raise DecompositionError(f"channel {channel.name!r}: unknown configuration key {key!r}")
            if key in seen:
                raise DecompositionError(f"key {key!r} is in both {seen[key]!r} and {channel.name!r}")
            seen[key] = channel.name
    with_channels_off(config, channels, [c.name for c in channels])


def with_channels_off(config: ScenarioConfig, channels: list[Channel], off: list[str]) -> ScenarioConfig:
    """`config` with the named channels switched off (their `when_off` values set)."""
    if not off:
        return config
    data = copy.deepcopy(config.model_dump(mode="json"))
    for channel in channels:
        if channel.name in off:
            for key, value in channel.off.items():
                _set(data, key, value)
    data["name"] = f"{config.name}[{'+'.join(off) if len(off) < len(channels) else 'all'} off]"
    try:
        return validate_config(data)
    except ConfigError as exc:  # names the field and the allowed range
        raise DecompositionError(f"switching channels off gives an invalid configuration: {exc}") from None


def gap_values(children: pd.DataFrame) -> pd.DataFrame:
    """Per replicate (rows) and (metric, contrast, component) (columns): the whole-run gaps decomposed."""
    wide = need_standardised_gaps(children)
    keep = wide.set_index(["metric", "contrast"]).index.isin(OUTCOMES)
    long = wide[keep].melt(id_vars=["replicate", "metric", "contrast"], value_vars=list(GAP_COMPONENTS),
                           var_name="component", value_name="value")
    return long.pivot_table(index="replicate", columns=["metric", "contrast", "component"], values="value",
                            dropna=False)


def channel_sets(channels: list[Channel]) -> list[tuple[str, list[str]]]:
    """(row name, channels switched off) for every pair of runs needed: nothing, each alone, all."""
    names = [c.name for c in channels]
    return [(NOTHING, []), *[(name, [name]) for name in names], (ALL, names)]


def sub_run_count(channels: list[Channel]) -> int:
    """Runs needed (baseline and reform for each distinct set of channels switched off)."""
    return 2 * len({frozenset(off) for _, off in channel_sets(channels)})


def per_replicate_table(gaps: dict[str, tuple[pd.DataFrame, pd.DataFrame]], channels: list[Channel]) -> pd.DataFrame:
    """Tidy per-replicate rows: gaps and changes of every set, carried amounts and the overlap.

    `gaps[row]` = (baseline gaps, reform gaps) from `gap_values`, for each row of `channel_sets`.
    """
    frames = []

    def add(channel: str, measure: str, frame: pd.DataFrame) -> None:
        long = frame.stack(["metric", "contrast", "component"], future_stack=True).rename("value").reset_index()
        long["channel"], long["measure"] = channel, measure
        frames.append(long)

    change = {}
    for row, (base, reform) in gaps.items():
        change[row] = reform - base
        add(row, "baseline_gap", base)
        add(row, "reform_gap", reform)
        add(row, "change", change[row])
    carried_sum = 0.0 * change[NOTHING]
    for channel in channels:
        carried = change[NOTHING] - change[channel.name]
        carried_sum = carried_sum + carried
        add(channel.name, "carried", carried)
    add(ALL, "carried", change[ALL])
    add(OVERLAP, "carried", change[NOTHING] - change[ALL] - carried_sum)
    add(TOTAL, "carried", change[NOTHING])
    return pd.concat(frames, ignore_index=True)


def summarise_channels(per_replicate: pd.DataFrame, channels: list[Channel]) -> pd.DataFrame:
    """Mean and t-interval over replicates of every (channel, measure, metric, contrast, component)."""
    labels = {NOTHING: "Every channel on (the model as configured)", ALL: "Every channel off",
              OVERLAP: "Overlap: channels acting together", TOTAL: "The reform's change (every channel on)",
              **{c.name: c.label for c in channels}}
    order = {NOTHING: 0, **{c.name: i for i, c in enumerate(channels, start=1)}, ALL: len(channels) + 1,
             OVERLAP: len(channels) + 2, TOTAL: len(channels) + 3}
    rows = []
    keys = ["channel", "measure", "metric", "contrast", "component"]
    for (channel, measure, metric, contrast, component), part in per_replicate.groupby(keys, sort=False):
        value, lo, hi, n = t_interval(part["value"])
        spec = GAP_METRIC_BY_NAME[metric]
        rows.append({"channel": channel, "label": labels[channel], "order": order[channel], "measure": measure,
                     "metric": metric, "contrast": contrast, "component": component, "unit": spec.unit,
                     "better": spec.better, "value": value, "lo": lo, "hi": hi, "replicates": n})
    out = pd.DataFrame(rows, columns=COLUMNS)
    rank = {**{o: i for i, o in enumerate(OUTCOMES)}}
    out["_o"] = [rank[(m, c)] for m, c in zip(out["metric"], out["contrast"])]
    out["_c"] = out["component"].map({c: i for i, c in enumerate(GAP_COMPONENTS)})
    out["_m"] = out["measure"].map({m: i for i, m in enumerate(MEASURES)})
    return (out.sort_values(["_c", "_o", "_m", "order"], kind="stable").drop(columns=["_o", "_c", "_m"])
            .reset_index(drop=True))


def decompose_by_channel(baseline: ScenarioConfig, reform: ScenarioConfig, channels: list[Channel], replicates: int,
                         *, workers: int | None = None,
                         progress: Callable[[str, int, int], None] | None = None,
                         known_children: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> dict:
    """Run the baseline and the reform with no channel, each channel alone and every channel off.

    `known_children` = (baseline, reform) children tables of the two runs with every channel on,
    made with the same root seed and replicate count (a comparison passes its own), so they are
    not run again.
    Returns {"table": summary (`COLUMNS`), "per_replicate": tidy per-replicate rows, "manifest": dict}.
    """
    root_seed = baseline.run.seed
    if reform.run.seed != root_seed:
        data = reform.model_dump(mode="json")
        data["run"]["seed"] = root_seed
        reform = validate_config(data)
    check_channels(baseline, channels)
    check_channels(reform, channels)
    sets = channel_sets(channels)
    total = sub_run_count(channels) - (2 if known_children is not None else 0)
    gaps: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    already: dict[frozenset[str], tuple[pd.DataFrame, pd.DataFrame]] = {}
    if known_children is not None:
        already[frozenset()] = (gap_values(known_children[0]), gap_values(known_children[1]))
    done = 0
    for row, off in sets:
        if frozenset(off) in already:  # one channel: switching it off is switching all off
            gaps[row] = already[frozenset(off)]
            continue
        pair = []
        for config in (baseline, reform):
            run_config = with_channels_off(config, channels, off)
            outputs = run_replicates(run_config, replicates, root_seed=root_seed, workers=workers, children_only=True)
            children = pd.concat([o.children for o in outputs], ignore_index=True)
            pair.append(gap_values(children))
            done += 1
            if progress:
                progress(f"{run_config.name}", done, total)
        gaps[row] = already[frozenset(off)] = (pair[0], pair[1])
    per_replicate = per_replicate_table(gaps, channels)
    manifest = {
        "kind": "family_channel_decomposition", "seed": root_seed, "replicates": replicates, "sub_runs": total,
        "baseline": {"scenario": baseline.name, "config_sha256": config_hash(baseline)},
        "reform": {"scenario": reform.name, "config_sha256": config_hash(reform)},
        "channels": [{"name": c.name, "label": c.label, "stage": c.stage, "when_off": c.off} for c in channels],
    }
    return {"table": summarise_channels(per_replicate, channels), "per_replicate": per_replicate,
            "manifest": manifest}


def write_family_channels(out_dir: Path | str, result: dict) -> Path:
    """family_channels.csv (tidy, `COLUMNS`) and manifest.json (channel definitions, seeds, hashes, versions)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FAMILY_CHANNELS_CSV
    result["table"].to_csv(path, index=False)
    write_manifest(out_dir, {**result["manifest"], "packages": package_versions(), "git": git_state(),
                             "finished": now_iso(), "command": command_line()})
    return path
