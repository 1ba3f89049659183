"""The dashboard: levers described by parameter metadata, configs that reproduce what ran, a
cached and cancellable comparison engine, charts that carry their data, and — in a real headless
Chromium driven by Playwright — the page loading, a lever change rerunning and redrawing, a bad
value showing the loader's error, and every download working.

The browser tests need Debian's `chromium` (installed by `scripts/ensure_chromium.sh`, which
`make test` runs first) and the page's assets (`scripts/ensure_solara_assets.py`); they are
skipped, saying why, only where no Chromium exists.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sim.config import ConfigError, config_hash, load_config
from sim.config.params import parameter_table
from sim.config.schema import ScenarioConfig
from sim.dashboard import charts
from sim.dashboard.engine import Cancelled, run_comparison
from sim.dashboard.levers import LEVERS, parameter_spec
from sim.dashboard.scenario import (
    ENGLAND,
    REGION_PREFIX,
    Selection,
    baseline_yaml,
    council_names,
    default_config_dir,
    pupils_estimate,
    reform_yaml,
    resolve,
)
from sim.report.maps import COUNCIL_MAPS

# one xdist worker runs this whole module (`--dist loadfile` in pyproject.toml): its engine tests
# fill the cache the server reads, and one server, browser and page serve the browser tests
REPO = Path(__file__).resolve().parents[1]
QUICK = dict(scale=0.02, end="2026-08", replicates=1)
# What the browser tests' page starts from (the server's defaults). The engine tests run their
# comparisons at these settings into the server's cache before it starts, so each comparison is
# computed once in this module: the page's first comparison and the region's are then served
# from the cache, which is itself a check that the cache is keyed by the resolved configs alone.
BROWSER = dict(scale=0.02, end="2030-08", replicates=2)
REGION = "North East"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---- levers and configs ------------------------------------------------------------------------
def test_every_lever_is_described_by_its_parameter_metadata():
    rows = {row["path"]: row for row in parameter_table(ScenarioConfig)}
    for lever in LEVERS:
        row = rows[lever.path]
        assert lever.spec["unit"] == row["unit"] and lever.spec["meaning"] == row["meaning"]
        assert row["meaning"] in lever.hint() and row["source"] in lever.hint()
        if row["plausible"]:
            lo, hi = row["plausible"]
            assert f"plausible {lo:g} to {hi:g}" in lever.hint()
        expected = {bool: "bool", int: "int", float: "float"}.get(type(row["default"]), "month")
        assert lever.kind == expected
    with pytest.raises(KeyError, match="not a parameter"):
        parameter_spec("reform.no_such_lever")


def test_a_bad_lever_gets_the_loaders_error_naming_field_value_and_range():
    with pytest.raises(ConfigError) as error:
        resolve(Selection().with_lever("reform.experts_capacity_multiplier", 9.0))
    message = str(error.value)
    assert "`reform.experts_capacity_multiplier` = 9.0" in message and "allowed range [0.0, 5.0]" in message
    with pytest.raises(ConfigError, match="transition.legal_switch.*YYYY-MM"):
        resolve(Selection().with_lever("transition.legal_switch", "2029-13"))
    with pytest.raises(ConfigError, match="population.scale"):
        resolve(Selection(scale=2.0))


def test_impossible_months_are_refused_by_the_schema_itself():
    with pytest.raises(ConfigError, match="reform.funding_start"):
        load_config(REPO / "configs" / "reform_white_paper.yaml", {"reform": {"funding_start": "2026-4"}})


def test_downloaded_yaml_reproduces_exactly_the_configs_that_ran(tmp_path):
    for path in default_config_dir().glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    selection = Selection(council="Hartlepool", scale=0.1, end="2031-08", seed=7, levers={
        "reform.experts_capacity_multiplier": 0.4, "transition.protect_older_pupils": False,
        "transition.legal_switch": "2030-09"})
    baseline, reform = resolve(selection)
    (tmp_path / "dashboard_reform.yaml").write_text(reform_yaml(selection))
    (tmp_path / "dashboard_baseline.yaml").write_text(baseline_yaml(selection))
    assert yaml.safe_load((tmp_path / "dashboard_reform.yaml").read_text())["extends"] == "reform_white_paper.yaml"
    assert config_hash(load_config(tmp_path / "dashboard_reform.yaml")) == config_hash(reform)
    assert config_hash(load_config(tmp_path / "dashboard_baseline.yaml")) == config_hash(baseline)
    assert reform.reform.experts_capacity_multiplier == 0.4 and reform.transition.legal_switch == "2030-09"
    assert baseline.reform.experts_capacity_multiplier == 1.0  # levers change the reform only


def test_a_lever_set_back_to_the_files_value_is_the_files_own_config():
    _, as_filed = resolve(Selection())
    _, set_back = resolve(Selection(levers={"reform.experts_capacity_multiplier": 1.0}))
    _, changed = resolve(Selection(levers={"reform.experts_capacity_multiplier": 0.5}))
    assert config_hash(set_back) == config_hash(as_filed) and as_filed.name == "reform_white_paper"
    assert changed.name == "reform_white_paper_custom" and config_hash(changed) != config_hash(as_filed)
    assert "experts_capacity_multiplier" not in reform_yaml(Selection(levers={"reform.experts_capacity_multiplier": 1.0}))


def test_councils_are_chosen_by_name_and_england_takes_them_all():
    names = council_names()
    baseline, reform = resolve(Selection(council="Hartlepool"))
    for config in (baseline, reform):
        assert config.population.council_table == "england" and config.population.councils == 1
        assert names[config.population.first_council] == "Hartlepool"
    england, _ = resolve(Selection(council=ENGLAND, scale=0.01))
    assert england.population.councils == len(names) == 153
    assert pupils_estimate(Selection(council=ENGLAND, scale=0.01)) > 50 * pupils_estimate(Selection(council="Hartlepool", scale=0.01))
    with pytest.raises(ConfigError, match="not in the council table"):
        resolve(Selection(council="Atlantis"))


def test_a_region_simulates_every_council_of_that_region():
    from sim.config.council_table import load_council_table

    table = load_council_table()
    north_east = list(table.loc[table["region_name"] == "North East", "la_name"])
    baseline, reform = resolve(Selection(council=REGION_PREFIX + "North East", scale=0.01))
    for config in (baseline, reform):
        assert config.population.region == "North East" and config.population.councils == len(north_east) >= 2
    assert pupils_estimate(Selection(council=REGION_PREFIX + "North East", scale=0.01)) == int(
        table.loc[table["region_name"] == "North East", "pupils_est"].astype(float).sum() * 0.01)
    with pytest.raises(ConfigError, match="region 'Atlantis' is not in the council table"):
        resolve(Selection(council=REGION_PREFIX + "Atlantis"))


# ---- the engine and the charts -----------------------------------------------------------------
@pytest.fixture(scope="module")
def server_cache(tmp_path_factory):
    """The cache directory of this module's comparisons, shared by the engine tests and the server."""
    return tmp_path_factory.mktemp("dashboard_server_cache")


@pytest.fixture(scope="module")
def quick_result(server_cache):
    """The comparison the browser tests' page starts from, run (not from the cache) by the engine."""
    baseline, reform = resolve(Selection(**BROWSER))
    return run_comparison(baseline, reform, BROWSER["replicates"], cache_dir=server_cache), (baseline, reform, server_cache)


@pytest.fixture(scope="module")
def region_result(server_cache):
    """Every council of a region at the browser tests' settings (the page's region test is served it)."""
    baseline, reform = resolve(Selection(**BROWSER, council=REGION_PREFIX + REGION))
    return run_comparison(baseline, reform, BROWSER["replicates"], cache_dir=server_cache), baseline


def test_a_comparison_is_cached_by_its_resolved_configs(quick_result):
    first, (baseline, reform, cache) = quick_result
    assert not first.from_cache and (first.out_dir / "manifest.json").is_file()
    assert first.manifest["reform"]["config_sha256"] == config_hash(reform)
    again = run_comparison(baseline, reform, BROWSER["replicates"], cache_dir=cache)
    assert again.from_cache and again.out_dir == first.out_dir
    pd.testing.assert_frame_equal(again.equity, first.equity)
    # a changed lever is another comparison: not served from this one's cache entry
    _, other = resolve(Selection(**BROWSER, levers={"reform.experts_capacity_multiplier": 0.5}))
    with pytest.raises(Cancelled):
        run_comparison(baseline, other, BROWSER["replicates"], cache_dir=cache, should_stop=lambda: True)


def test_a_cancelled_comparison_stops_and_writes_nothing(tmp_path):
    baseline, reform = resolve(Selection(**{**QUICK, "replicates": 2}))
    seen = []

    def stop_after_first() -> bool:
        return len(seen) >= 1

    with pytest.raises(Cancelled, match="cancelled after 1 of 2 baseline replicates"):
        run_comparison(baseline, reform, 2, cache_dir=tmp_path, progress=lambda f, m: seen.append((f, m)),
                       should_stop=stop_after_first)
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert not list(tmp_path.glob(".*tmp*"))


def test_every_chart_is_a_png_with_the_table_it_draws(quick_result):
    result, _ = quick_result
    drawn = [charts.ehcp_share_chart(result.stock), charts.quintile_change_chart(result.equity, "unmet_need_months"),
             charts.winners_losers_chart(result.equity, "unmet_need_months"),
             charts.gaps_chart(result.equity, result.standardised_gaps), charts.costs_chart(result.costs)]
    for chart in drawn:
        assert chart.png().startswith(PNG_MAGIC)
        assert len(pd.read_csv(io.BytesIO(chart.csv()))) == len(chart.data) > 0
    quintiles = drawn[1].data
    assert list(quintiles["group"]) == ["1", "2", "3", "4", "5"]
    assert set(drawn[0].data["route"]) == {"baseline", "reform"}


def test_need_standardised_gaps_are_drawn_when_the_comparison_has_them(quick_result):
    result, _ = quick_result
    table = pd.DataFrame({
        "metric": ["unmet_need_months"], "contrast": ["fsm_minus_non_fsm"], "component": ["need_standardised"],
        "unit": ["months"], "better": ["lower"], "baseline": [2.0], "baseline_lo": [1.5], "baseline_hi": [2.5],
        "reform": [1.0], "reform_lo": [0.5], "reform_hi": [1.5], "change": [-1.0], "change_lo": [-1.4],
        "change_hi": [-0.6], "replicates": [4]})
    chart = charts.gaps_chart(result.equity, table)
    assert chart.title.startswith("Need-standardised") and len(chart.data) == 1
    assert charts.gaps_chart(result.equity, None).title.startswith("Disadvantage gaps (raw")


def test_a_region_comparison_shows_the_comparisons_own_hex_maps_with_their_council_values(region_result, tmp_path):
    region = REGION
    result, baseline = region_result
    assert not result.from_cache and result.several_councils and len(result.councils) == baseline.population.councils
    maps = charts.council_map_charts(result.councils, result.maps)
    assert [m.name for m in maps] == [stem for _, stem, *_ in COUNCIL_MAPS]
    assert {m.route for m in maps} == {"baseline", "change"} and len({m.measure for m in maps}) == 2
    for chart in maps:
        # the very file the comparison drew with sim.report.maps: no second drawing of the map
        assert chart.png() == (result.out_dir / "figures" / f"{chart.name}.png").read_bytes()
        assert chart.png().startswith(PNG_MAGIC)
        data = pd.read_csv(io.BytesIO(chart.csv()))
        assert len(data) == len(result.councils) and set(data["region_name"]) == {region}
        column = next(column for column, stem, *_ in COUNCIL_MAPS if stem == chart.name)
        assert data[column].notna().all()
        if chart.route == "change" and "unmet_need" in column:
            assert (data["unmet_need_months_change_lo"] <= data["unmet_need_months_change_hi"]).all()
    # one council has no map worth drawing: the dashboard does not offer it
    single, single_reform = resolve(Selection(**{**QUICK, "council": "Hartlepool"}))
    assert not run_comparison(single, single_reform, QUICK["replicates"], cache_dir=tmp_path).several_councils


# ---- in a real browser -------------------------------------------------------------------------
BROWSER_DEFAULTS = ",".join(f"{name}={value}" for name, value in BROWSER.items())
LEVER = ".lever-reform-experts-capacity-multiplier input"
QUINTILE_CHART = ".chart-change_by_income_quintile_unmet_need_months img"
WAIT_MS = 240_000


@pytest.fixture(scope="module")
def server_process(tmp_path_factory, server_cache, quick_result, region_result):
    """(url, server process, its cache directory), started once the engine's comparisons are in
    that cache (whichever test of the module runs first)."""
    from sim.dashboard import serve

    cache = server_cache
    port = serve.free_port()
    log = tmp_path_factory.mktemp("dashboard_log") / "server.log"
    process = serve.start(port, cache_dir=cache, defaults=BROWSER_DEFAULTS, log=log)
    try:
        serve.wait_until_up(port, process, timeout=180)  # generous for a loaded machine; a crash fails at once
        yield f"http://127.0.0.1:{port}/", process, cache
    finally:
        serve.stop(process)


@pytest.fixture(scope="module")
def server(server_process):
    return server_process[0]


@pytest.fixture(scope="module")
def page(server):
    from sim.dashboard.browser import chromium_path, launch

    if chromium_path() is None:
        pytest.skip("no system Chromium (/usr/bin/chromium): run scripts/ensure_chromium.sh "
                    "(apt-get install chromium) to run the dashboard's browser tests")
    sync_api = pytest.importorskip("playwright.sync_api")
    from sim.dashboard import assets

    if assets.missing() and assets.ensure() != 0:
        pytest.skip(f"the page's assets {assets.missing()} are not in Solara's cache and npm could not fetch them "
                    "(run scripts/ensure_solara_assets.py where the npm registry is reachable)")
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        tab = context.new_page()
        tab.set_default_timeout(WAIT_MS)
        started = time.perf_counter()
        tab.goto(server)
        tab.wait_for_selector(QUINTILE_CHART)
        tab.first_chart_seconds = time.perf_counter() - started
        tab.first_hash = tab.locator(".reform-hash").inner_text().strip()
        tab.first_summary = tab.locator("text=paired replicates").first.inner_text()
        yield tab
        context.close()
        browser.close()


def _one(page, selector: str):
    """The locator of `selector` once exactly one element matches it: while the page is drawn
    again the old field and its replacement can both be in the document for a moment."""
    page.wait_for_function("selector => document.querySelectorAll(selector).length === 1", arg=selector)
    return page.locator(selector)


def _value_of(page, selector: str) -> str:
    """The value of the one field matching `selector`, read in the page in the same moment as
    its uniqueness is checked: a locator read after `_one` can still meet a redraw that put the
    old field and its replacement side by side (seen once under load as a strict-mode error)."""
    return page.wait_for_function(
        "selector => { const f = document.querySelectorAll(selector);"
        " return f.length === 1 && f[0].value.trim() !== '' ? f[0].value : false; }",
        arg=selector).json_value()


def _on_one(page, selector: str, act, attempts: int = 5):
    """Apply `act` to the one element matching `selector`, again if a redraw between the check
    and the action made the locator match two (Playwright's strict-mode error)."""
    from playwright.sync_api import Error as PlaywrightError

    for attempt in range(attempts):
        try:
            return act(_one(page, selector))
        except PlaywrightError as error:
            if "strict mode violation" not in str(error) or attempt == attempts - 1:
                raise


# JS: "done" once the page shows `condition`; "overwritten" as soon as the field holds another
# value than the one typed (the server's echo of the previous value); else keep waiting
ACTED_OR_OVERWRITTEN = """([condition, field, typed]) => {
    if (eval(condition)()) return "done";
    const fields = document.querySelectorAll(field);
    if (fields.length !== 1) return false;  // the field is being drawn again: wait for it
    const value = fields[0].value;
    if (value.trim() === "") return false;
    return value === typed || Number(value) === Number(typed) ? false : "overwritten";
}"""


def _set_lever(page, value: str, condition: str, attempts: int = 4, field: str = LEVER,
               timeout_ms: int = 60_000) -> None:
    """Type a lever value (or another field's) and press Enter until the page shows `condition`
    (a JS expression).

    Under load the server's echo of the previous value can reach the field after the new value
    was typed and overwrite it; that is seen at once (the field no longer holds the typed value)
    and the value is typed again, instead of waiting out a timeout. While the field holds the
    typed value the page is given `timeout_ms` to act on it before it is typed again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    outcome = None
    for _ in range(attempts):
        _on_one(page, field, lambda field_: field_.fill(value))
        _on_one(page, field, lambda field_: field_.press("Enter"))
        try:
            outcome = page.wait_for_function(ACTED_OR_OVERWRITTEN, arg=[condition, field, value],
                                             timeout=timeout_ms).json_value()
        except PlaywrightTimeout:
            outcome = "timed out"
        if outcome == "done":
            return
    raise AssertionError(f"typing {value!r} into {field} {attempts} times never gave {condition} (last: {outcome})")


def _download(page, target, attempts: int = 5, timeout_ms: int = 20_000):
    """Click a download button and return the download; click again if none started.

    Now and then a click starts no download (seen under load, once in a few runs); waiting 20 s
    per click, up to five clicks, loses less time than one long wait and allows as much in all. A
    late download of an earlier click is as good: any download of this button is the file.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        try:
            with page.expect_download(timeout=timeout_ms) as download:
                target.click()
            return download.value
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise


def _finished_run(page, previous_hash: str | None = None) -> str:
    """Wait until a comparison is shown whose reform hash differs from `previous_hash`."""
    page.wait_for_function(
        "prev => { const el = document.querySelector('.reform-hash');"
        " return el && el.textContent.trim().length === 64 && el.textContent.trim() !== prev"
        " && !document.querySelector('.run-status'); }", arg=previous_hash or "")
    page.wait_for_selector(QUINTILE_CHART)
    return page.locator(".reform-hash").inner_text().strip()


def test_the_page_loads_and_draws_the_equity_view(page, quick_result):
    assert page.title() == "sendsim dashboard"
    # the page's first comparison is the engine's, served from the cache both share: the cache
    # is keyed by the resolved configs, whoever resolved them
    _, (_, reform, _) = quick_result
    assert page.first_hash == config_hash(reform) and "from the cache" in page.first_summary, page.first_summary
    _finished_run(page)
    assert _value_of(page, ".lever-reform-targeted-plus-threshold input") == "1.2"
    assert "plausible 0.5 to 1.2" in page.content()  # the Experts at Hand lever's range, from the schema
    assert page.locator(".equity-table tbody tr").count() >= 6
    assert page.first_chart_seconds < 200


def test_a_lever_change_reruns_and_redraws_chart_and_table(page):
    before_hash = _finished_run(page)
    before_chart = page.locator(QUINTILE_CHART).screenshot()
    before_table = page.locator(".equity-table").inner_text()
    value = 0.4 if float(_value_of(page, LEVER)) == 0.3 else 0.3  # a value not on screen yet
    started = ("() => !!document.querySelector('.run-status') || "
               f"document.querySelector('.reform-hash')?.textContent.trim() !== '{before_hash}'")
    _set_lever(page, str(value), started)
    after_hash = _finished_run(page, before_hash)
    assert after_hash != before_hash
    resolved = resolve(Selection(**BROWSER,
                                 levers={"reform.experts_capacity_multiplier": value}))[1]
    assert after_hash == config_hash(resolved)  # the page ran exactly the config the YAML describes
    page.wait_for_function("prev => { const el = document.querySelector('.equity-table');"
                           " return el && el.innerText !== prev; }", arg=before_table)
    assert page.locator(QUINTILE_CHART).screenshot() != before_chart


def test_a_bad_value_shows_the_loaders_error_and_runs_nothing(page):
    _set_lever(page, "9", "() => !!document.querySelector('.config-error')")
    text = page.locator(".config-error").inner_text()
    assert "reform.experts_capacity_multiplier" in text and "allowed range [0.0, 5.0]" in text
    assert page.locator(".run-status").count() == 0
    _set_lever(page, "0.3", "() => !document.querySelector('.config-error')")


def test_downloads_give_png_csv_and_yaml_that_reproduces_the_run(page, tmp_path):
    # the comparison on screen must be the one for the lever as it stands (a rerun may be pending)
    value = float(_value_of(page, LEVER))
    expected = config_hash(resolve(Selection(**BROWSER,
                                             levers={"reform.experts_capacity_multiplier": value}))[1])
    page.wait_for_function(f"() => document.querySelector('.reform-hash')?.textContent.trim() === '{expected}'"
                           " && !document.querySelector('.run-status')")
    shown_hash = page.locator(".reform-hash").inner_text().strip()
    buttons = page.locator(".downloads-change_by_income_quintile_unmet_need_months")
    png = _download(page, buttons.get_by_text("PNG"))
    assert Path(png.path()).read_bytes().startswith(PNG_MAGIC)
    table = pd.read_csv(_download(page, buttons.get_by_text("CSV")).path())
    assert list(table["group"]) == [1, 2, 3, 4, 5] and {"change", "change_lo", "change_hi"} <= set(table.columns)
    for path in default_config_dir().glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    # the YAML must reproduce the comparison on screen when it is downloaded (a slow echo of an
    # earlier lever value can start a rerun meanwhile: wait for it and read the hash then)
    page.wait_for_function("() => !document.querySelector('.run-status')")
    shown_hash = page.locator(".reform-hash").inner_text().strip()
    reform_file = _download(page, page.get_by_text("Reform YAML"))
    target = tmp_path / reform_file.suggested_filename
    target.write_bytes(Path(reform_file.path()).read_bytes())
    assert config_hash(load_config(target)) == shown_hash
    page.get_by_text("Over time", exact=True).click()
    page.wait_for_selector(".chart-ehcp_share_over_time img")
    stock = _download(page, page.locator(".downloads-ehcp_share_over_time").get_by_text("CSV"))
    assert set(pd.read_csv(stock.path())["route"]) == {"baseline", "reform"}
    page.get_by_text("Equity", exact=True).click()


def _choose(page, select: str, option: str) -> None:
    """Pick `option` in the (Vuetify) select with class `select`."""
    page.locator(f"{select} .v-field").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_a_region_shows_the_hex_maps_of_england_for_baseline_and_change(page):
    from sim.config.council_table import load_council_table

    table = load_council_table()
    region = REGION
    _finished_run(page)
    # from the reform file's levers (other tests may have turned one), so that the region's
    # comparison is the engine's, already in the cache
    page.locator(".reset-levers").click()
    before = page.first_hash
    page.wait_for_function(f"() => document.querySelector('.reform-hash')?.textContent.trim() === '{before}'"
                           " && !document.querySelector('.run-status')")
    assert page.get_by_text("Map", exact=True).count() == 0  # one council: no map offered
    _choose(page, ".choose-council", REGION_PREFIX + region)
    _finished_run(page, before)
    assert "from the cache" in page.locator("text=paired replicates").first.inner_text()
    page.get_by_text("Map", exact=True).click()
    for stem in ("council_map_unmet_need_baseline", "council_map_unmet_need_change"):
        image = page.locator(f".chart-{stem} img")
        image.wait_for()
        page.wait_for_function("el => el.complete && el.naturalWidth > 300", arg=image.element_handle())
    change = page.locator(".downloads-council_map_unmet_need_change")
    png = Path(_download(page, change.get_by_text("PNG")).path()).read_bytes()
    shown_dir = Path(page.locator("code", has_text="dashboard_server_cache").first.inner_text().strip())
    assert png == (shown_dir / "figures" / "council_map_unmet_need_change.png").read_bytes()  # the report's own map
    data = pd.read_csv(_download(page, change.get_by_text("CSV")).path())
    assert sorted(data["la_name"]) == sorted(table.loc[table["region_name"] == region, "la_name"])
    assert data["unmet_need_months_change"].notna().all()
    _choose(page, ".choose-map", "High-needs spending per pupil per year")
    page.locator(".chart-council_map_high_needs_spend_change img").wait_for()
    assert page.locator(".chart-council_map_unmet_need_change img").count() == 0
    _choose(page, ".choose-council", "Typical council")  # back to the state the other tests expect
    page.wait_for_function(f"() => document.querySelector('.reform-hash')?.textContent.trim() === '{before}'"
                           " && !document.querySelector('.run-status')")
    page.wait_for_selector(QUINTILE_CHART)  # the Map view is gone with the region; Equity is shown
    assert page.get_by_text("Map", exact=True).count() == 0


def _cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_rate(pid: int, seconds: float) -> float:
    before = _cpu_seconds(pid)
    time.sleep(seconds)
    return (_cpu_seconds(pid) - before) / seconds


CANCEL_REPLICATES = 40  # far more than can finish before Cancel: only the replicate running then is finished


def test_cancel_stops_the_comparison_and_leaves_the_page_usable(page, server_process):
    if not Path("/proc/self/stat").is_file():
        pytest.skip("measuring the server's CPU time needs Linux /proc")
    _, process, cache = server_process
    replicates = ".setting-replicates input"
    shown = _finished_run(page)
    entries = sorted(p.name for p in cache.iterdir())
    # the page took the new size: it is running it (or, on any machine, has cancelled or finished it)
    taken = (f"() => !!document.querySelector('.run-status') || !!document.querySelector('.run-cancelled')"
             f" || document.body.innerText.includes('{CANCEL_REPLICATES} paired replicates')")
    _set_lever(page, str(CANCEL_REPLICATES), taken, field=replicates)
    page.wait_for_function(f"() => /: [1-9][0-9]* of {CANCEL_REPLICATES} replicates/.test("
                           "document.querySelector('.run-status')?.textContent || '')")  # a replicate has finished
    running = _cpu_rate(process.pid, 2.0)  # the worker thread computing replicates
    page.locator(".cancel-button").click()
    # "cancelling" lasts until the running replicate ends: seconds, or an instant when Cancel lands as
    # a replicate finishes, so the page may go straight to the cancelled state
    page.wait_for_function("() => /cancelling/.test(document.querySelector('.run-status')?.textContent || '')"
                           " || !!document.querySelector('.run-cancelled')")
    text, disabled = page.evaluate("() => [document.querySelector('.run-status')?.textContent ?? null,"
                                   " document.querySelector('.cancel-button').disabled]")  # one snapshot of the page
    if text is not None:  # still stopping: it says so, and Cancel cannot be pressed again
        assert "cancelling" in text and disabled, (text, disabled)
    # it stops after the replicate it is running, then says how far it got
    page.wait_for_selector(".run-cancelled")
    message = page.locator(".run-cancelled").inner_text()
    assert re.search(rf"cancelled after \d+ of {CANCEL_REPLICATES} (baseline|reform) replicates", message), message
    assert "nothing was written" in message
    assert page.locator(".run-status").count() == 0 and page.locator(".run-progress").count() == 0
    # no further progress: the worker is gone (the server idles) and nothing reached the cache
    idle = _cpu_rate(process.pid, 3.0)
    assert idle < max(0.35 * running, 0.15), f"server still busy after Cancel: {idle:.2f} CPU s/s (running: {running:.2f})"
    assert page.locator(".run-cancelled").inner_text() == message and page.locator(".run-status").count() == 0
    assert sorted(p.name for p in cache.iterdir()) == entries
    # the page is usable again: Run is offered, and a new comparison runs to the end and is drawn
    assert page.locator(".run-button").is_enabled()
    _set_lever(page, "1", "() => !document.querySelector('.run-cancelled')", field=replicates)
    page.wait_for_function("() => !document.querySelector('.run-status') && "
                           "document.body.innerText.includes('1 paired replicates')")
    assert "computed in" in page.locator("text=1 paired replicates").first.inner_text()
    page.wait_for_selector(QUINTILE_CHART)
    _set_lever(page, "2", "() => document.body.innerText.includes('2 paired replicates')"
               " && !document.querySelector('.run-status')", field=replicates)  # back to the cached comparison
    assert page.locator(".reform-hash").inner_text().strip() == shown


def test_the_cli_offers_the_dashboard_command():
    from typer.testing import CliRunner

    from sim.cli import app

    result = CliRunner().invoke(app, ["dashboard", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--host", "--open", "--cache", "--configs"):
        assert option in result.output
