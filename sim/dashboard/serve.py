"""Start the dashboard's web server (Solara, under uvicorn) as a child process.

Why a child process: `solara run` owns its event loop and reload machinery; running it as a
subprocess of this interpreter keeps `sendsim dashboard`, the browser test and the screenshot
script on exactly the same code path, and lets them stop it cleanly.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

APP = "sim.dashboard.app"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command(port: int, host: str = "127.0.0.1", open_browser: bool = False) -> list[str]:
    return [sys.executable, "-m", "solara", "run", APP, "--port", str(port), "--host", host, "--production",
            "--open" if open_browser else "--no-open", "--log-level", "warning"]


def environment(cache_dir: Path | None = None, config_dir: Path | None = None, defaults: str | None = None) -> dict:
    """The server's environment: this interpreter's import path, and the dashboard's settings."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    env.setdefault("MPLBACKEND", "Agg")
    if cache_dir is not None:
        env["SENDSIM_DASHBOARD_CACHE"] = str(cache_dir)
    if config_dir is not None:
        env["SENDSIM_CONFIG_DIR"] = str(config_dir)
    if defaults is not None:
        env["SENDSIM_DASHBOARD_DEFAULTS"] = defaults
    return env


def start(port: int, *, cache_dir: Path | None = None, config_dir: Path | None = None, defaults: str | None = None,
          log: Path | None = None) -> subprocess.Popen:
    """Start the server in the background (the caller stops it with `stop`)."""
    out = open(log, "w") if log else subprocess.DEVNULL
    return subprocess.Popen(command(port), env=environment(cache_dir, config_dir, defaults), stdout=out,
                            stderr=subprocess.STDOUT)


def wait_until_up(port: int, process: subprocess.Popen | None = None, timeout: float = 90.0) -> float:
    """Seconds until the server answers HTTP on localhost:port; raises if it dies or times out."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the dashboard server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"the dashboard did not answer on port {port} within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
