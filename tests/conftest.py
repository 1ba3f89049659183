"""Shared fixtures: a small, fast scenario, one full run per session, and model builders.

Why small: the invariants and determinism checks are about mechanics, not calibration, so a
council of a few thousand pupils over two and a half years exercises every process (two
Septembers, two Aprils, KS2/KS4 in July, the statutory override still running) in well under a
second. Process tests build a somewhat larger, unrun model so that statistical assertions on
crafted children have enough rows.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from sim.config.loader import deep_merge
from sim.config.schema import ScenarioConfig
from sim.model import SendModel

SEED = 20250101
SMALL_PUPILS = 6000  # per council
SMALL_END = "2027-08"
PROCESS_PUPILS = 24000  # larger council for statistical tests of one process


def small_config(overrides: dict[str, Any] | None = None, *, councils: int = 2, pupils: int = SMALL_PUPILS,
                 end: str = SMALL_END) -> ScenarioConfig:
    """A quick scenario: `councils` councils of `pupils` pupils each, January 2025 to `end`.

    `overrides` is a nested dict of config sections (as in a scenario YAML), deep-merged.
    """
    data: dict[str, Any] = {
        "population": {"councils": councils, "pupils_per_council": pupils},
        "run": {"end": end},
    }
    if overrides:
        data = deep_merge(data, overrides)
    return ScenarioConfig.model_validate(data)


def events_by_month(overrides: dict[str, Any], event: str, *, pupils: int, seed: int,
                    end: str) -> tuple[np.ndarray, SendModel]:
    """Counts of `event` in each month of a one-council run of `small_config(overrides)`, and the model."""
    model = SendModel(small_config(overrides, councils=1, pupils=pupils, end=end), seed=seed).run()
    months = model.events.frame(event)["month"].to_numpy()
    return np.bincount(months, minlength=model.n_months), model


def build_model(overrides: dict[str, Any] | None = None, *, seed: int = SEED, **kwargs: Any) -> SendModel:
    return SendModel(small_config(overrides, **kwargs), seed=seed)


def step_months(model: SendModel) -> Iterator[int]:
    """Step a model month by month to the end, yielding the index of the month just run.

    Code placed in the loop body runs after that month's step (and before the next one);
    state needed from before a step can be taken on the previous iteration or before the loop.
    """
    while not model.finished:
        t = model.month
        model.step()
        yield t


def run_to(model: SendModel, month: int) -> SendModel:
    """Step until `model.month == month` (the next step will run month index `month`)."""
    while model.month < month:
        model.step()
    return model


# The longest test files, longest first (measured CPU seconds, `pytest -n 1 --durations=0`). With
# `--dist loadfile` each file runs whole on one worker, and pyproject.toml's `--no-loadscope-reorder`
# keeps this order instead of xdist's (most tests first): the long files start at once on the two
# workers and the many short ones fill in behind them, so no long file is left to run alone at the
# end. Only the order changes; a file missing from the list runs after these, in collection order.
LONGEST_FIRST = (
    "test_experiments.py", "test_dashboard.py", "test_family_channels.py", "test_notebooks.py",
    "test_rolling_backtest.py", "test_publishable_report.py", "test_tiered.py", "test_experiment_specs.py",
    "test_compare.py", "test_fuzz.py", "test_ensemble.py", "test_calibration.py", "test_cli.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move everything alive after collection (the imported packages, the test modules) out of
    the garbage collector's sight, in each worker.

    Why: every replicate ends with a full collection (`runner.release_memory`), and a full
    collection walks every object the process holds. In a test worker that is pytest, pandas,
    matplotlib, hypothesis and every test module, a quarter of a million objects that will never
    be garbage: about 0.2 s per collection, a third of the CPU time of the comparison tests.
    Frozen, they are skipped; what the tests create is still collected as before, and no
    result depends on when memory is freed.
    """
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def config() -> ScenarioConfig:
    return small_config()


@pytest.fixture(scope="session")
def finished_model(config: ScenarioConfig) -> SendModel:
    """The small scenario run once to its end (shared: tests must not modify it)."""
    return SendModel(config, seed=SEED).run()


@pytest.fixture
def make_model() -> Callable[..., SendModel]:
    """Factory: `make_model(overrides, seed=..., councils=..., pupils=..., end=...)` (not run)."""
    return build_model


@pytest.fixture
def fresh_model() -> SendModel:
    """An unrun one-council model with enough children for statistical process tests."""
    return build_model(councils=1, pupils=PROCESS_PUPILS)


@pytest.fixture
def stepper() -> Callable[[SendModel], Iterator[int]]:
    return step_months


def binomial_se(p: float, n: int) -> float:
    """Standard error of a proportion: the unit of every statistical tolerance in these tests."""
    return float(np.sqrt(max(p * (1 - p), 1e-12) / max(n, 1)))
