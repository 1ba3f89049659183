"""Screenshots of the dashboard's equity, time-series and England map views (docs/images/), and its timings.

Starts the dashboard exactly as `sendsim dashboard` does (with an empty cache, so the first
comparison is computed, not read back), drives it in headless Chromium, and reports the seconds
from starting the server to the first chart, for a lever change to redraw (a new comparison),
for a lever set back to redraw (read from the cache), and for a comparison of all of England at
a small scale (`ENGLAND_SCALE`) to show its hex maps.

    python scripts/dashboard_screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from sim.dashboard import serve
from sim.dashboard.browser import launch

ROOT = Path(__file__).resolve().parents[1]
CHART = ".chart-change_by_income_quintile_unmet_need_months img"
LEVER = ".lever-reform-experts-capacity-multiplier input"
WAIT_MS = 600_000
ENGLAND_SCALE = "0.005"  # about 40,000 pupils over England's 153 councils: a map in minutes, not hours
MAP = ".chart-council_map_unmet_need_change img"


def choose(page, select: str, option: str) -> None:
    """Pick `option` in the Vuetify select with class `select`."""
    page.locator(f"{select} .v-field").click()
    page.get_by_role("option", name=option, exact=True).click()


def new_hash(page, previous: str) -> str:
    page.wait_for_function(
        "prev => { const el = document.querySelector('.reform-hash');"
        " return el && el.textContent.trim().length === 64 && el.textContent.trim() !== prev"
        " && !document.querySelector('.run-status'); }", arg=previous, timeout=WAIT_MS)
    page.wait_for_selector(CHART, timeout=WAIT_MS)
    return page.locator(".reform-hash").inner_text().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    timings = {}
    with tempfile.TemporaryDirectory() as cache:
        port = serve.free_port()
        started = time.perf_counter()
        process = serve.start(port, cache_dir=Path(cache))
        try:
            timings["server_up_s"] = serve.wait_until_up(port, process, timeout=180)
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page(viewport={"width": 1400, "height": 1250}, device_scale_factor=1)
                page.goto(f"http://127.0.0.1:{port}/")
                first = new_hash(page, "")
                timings["start_to_first_chart_s"] = time.perf_counter() - started
                page.locator(LEVER).fill("0.5")
                t0 = time.perf_counter()
                page.locator(LEVER).press("Enter")
                new_hash(page, first)
                timings["lever_change_to_redraw_s"] = time.perf_counter() - t0
                page.screenshot(path=str(args.out / "dashboard_equity.png"))
                page.get_by_text("Over time", exact=True).click()
                page.wait_for_selector(".chart-ehcp_share_over_time img", timeout=WAIT_MS)
                page.screenshot(path=str(args.out / "dashboard_time_series.png"))
                page.get_by_text("Equity", exact=True).click()
                page.wait_for_selector(CHART, timeout=WAIT_MS)
                current = page.locator(".reform-hash").inner_text().strip()
                page.locator(LEVER).fill("1")
                t0 = time.perf_counter()
                page.locator(LEVER).press("Enter")
                new_hash(page, current)
                timings["lever_back_to_redraw_from_cache_s"] = time.perf_counter() - t0
                current = page.locator(".reform-hash").inner_text().strip()
                page.locator(".setting-scale input").fill(ENGLAND_SCALE)
                page.locator(".setting-scale input").press("Enter")
                current = new_hash(page, current)  # the typical council at that scale, before England
                t0 = time.perf_counter()
                choose(page, ".choose-council", "England (all councils)")
                new_hash(page, current)
                timings["england_comparison_s"] = time.perf_counter() - t0
                page.get_by_text("Map", exact=True).click()
                page.wait_for_selector(MAP, timeout=WAIT_MS)
                page.wait_for_function("el => el.complete && el.naturalWidth > 0",
                                       arg=page.locator(MAP).element_handle(), timeout=WAIT_MS)
                page.screenshot(path=str(args.out / "dashboard_map.png"))
                browser.close()
        finally:
            serve.stop(process)
    print(json.dumps({k: round(v, 1) for k, v in timings.items()}, indent=2))
    names = ("dashboard_equity.png", "dashboard_time_series.png", "dashboard_map.png")
    print("wrote " + ", ".join(str(args.out / name) for name in names))


if __name__ == "__main__":
    main()
