#!/usr/bin/env sh
# Make sure a headless Chromium from the operating system's packages is available for the
# dashboard's browser test (Playwright drives it; no browser is downloaded by Playwright).
# Idempotent and quiet when Chromium is already there. Never fails the build: where Chromium
# cannot be installed (no root, no apt, no network) it says so and the browser test is skipped.
set -u
for candidate in "${SENDSIM_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    exit 0
  fi
done
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: no /usr/bin/chromium and no apt-get; install Chromium with your package manager (the browser test will be skipped)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "ensure_chromium: /usr/bin/chromium is missing and installing it needs root: run 'sudo apt-get install -y chromium' (the browser test will be skipped)" >&2
    exit 0
  fi
fi
echo "ensure_chromium: installing Chromium from the Debian/Ubuntu packages (apt-get install chromium) ..." >&2
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 \
   && $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
  echo "ensure_chromium: installed $(/usr/bin/chromium --version 2>/dev/null)" >&2
else
  echo "ensure_chromium: could not install Chromium with apt-get (the browser test will be skipped)" >&2
fi
exit 0
