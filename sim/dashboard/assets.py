"""Put the dashboard's browser assets where the Solara server looks for them, from the npm registry.

Why: Solara's page loads its JavaScript and CSS (the Vuetify app, RequireJS, Font Awesome)
through a proxy that fetches them from a public CDN on first use and caches them. Where that
CDN cannot be reached (offline machines, locked-down CI) the page stays blank. These files are
ordinary npm packages, so this script fetches the exact versions the installed Solara asks for
with `npm pack` and unpacks them into Solara's proxy cache; the server then never needs the CDN.

Idempotent and quiet when the assets are present; prints what it did otherwise. Exit code 0
unless npm is missing or fails (then the dashboard needs the CDN). Run it as
`python scripts/ensure_solara_assets.py` (what `make test` and `make dashboard` do).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path


def required_packages() -> list[str]:
    """npm `name@version` specs the installed Solara's page template loads from its CDN."""
    # optional extra: solara (`sendsim[dashboard]`)
    import ipyvue
    import solara
    import solara.server
    from solara.server import settings

    template = (Path(solara.server.__file__).parent / "templates" / "solara.html.j2").read_text()
    specs = set(re.findall(r"\{\{cdn\}\}/((?:@[\w.-]+/)?[\w.-]+@\d+\.\d+\.\d+[\w.+-]*)/", template))
    vue3 = ipyvue.__version__.startswith("3")
    specs = {s for s in specs if ("vuetify3-app" in s) == vue3 or "vuetify" not in s}
    # components that load a library lazily from the CDN (e.g. Markdown's mermaid)
    for source in (Path(solara.__file__).parent / "components").glob("*.py"):
        specs |= set(re.findall(r"getCdn\(\)\}/((?:@[\w.-]+/)?[\w.-]+@\d+\.\d+\.\d+)/", source.read_text()))
    fontawesome = settings.assets.fontawesome_path.strip("/").split("/")[0]
    if fontawesome:
        specs.add(fontawesome)
    specs.add("requirejs@2.3.6")  # loaded by the ipywidgets manager in the page
    return sorted(specs)


def cache_dir() -> Path:
    # optional extra: solara (`sendsim[dashboard]`)
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def missing() -> list[str]:
    """npm specs the page needs that are not in Solara's asset cache."""
    root = cache_dir()
    return [spec for spec in required_packages() if not (root / spec / "package.json").is_file()]


def ensure() -> int:
    root = cache_dir()
    needed = missing()
    if not needed:
        return 0
    npm = shutil.which("npm")
    if npm is None:
        print(f"ensure_solara_assets: npm not found; the dashboard will fetch {needed} from the CDN", file=sys.stderr)
        return 1
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec in needed:
            result = subprocess.run([npm, "pack", spec, "--silent"], cwd=tmp, capture_output=True, text=True)
            if result.returncode != 0:
                print(f"ensure_solara_assets: npm pack {spec} failed:\n{result.stderr}", file=sys.stderr)
                return 1
            tarball = Path(tmp) / result.stdout.strip().splitlines()[-1]
            target = root / spec
            staging = Path(tmp) / "unpacked"
            with tarfile.open(tarball) as archive:
                archive.extractall(staging, filter="data")
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging / "package"), target)
            shutil.rmtree(staging, ignore_errors=True)
            print(f"ensure_solara_assets: {spec} -> {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(ensure())
