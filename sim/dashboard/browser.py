"""Headless Chromium for the dashboard's browser test and screenshots (Playwright, system browser).

Why the system browser: Playwright's own browser download is a prebuilt binary from outside the
package registries; Debian's `chromium` package is the same engine, installed by the ordinary
package manager (`scripts/ensure_chromium.sh`), and Playwright drives it through
`executable_path`. The flags keep it headless, sandbox-free (containers run as root) and off
the network except for the page under test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str | None:
    """The system Chromium (SENDSIM_CHROMIUM overrides), or None when there is none."""
    for candidate in (os.environ.get("SENDSIM_CHROMIUM"), *CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def launch(playwright):
    """A headless Chromium browser from the system package (raises if there is none)."""
    path = chromium_path()
    if path is None:
        raise FileNotFoundError("no system Chromium: run scripts/ensure_chromium.sh (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
