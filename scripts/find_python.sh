#!/usr/bin/env bash
# Prints the path of a Python >= 3.12 interpreter, or explains what to install.
# Mesa 3.4+ needs 3.12; many machines still default to 3.11, so look beyond `python3`.
set -u
candidates=("${PYTHON:-}" python3.13 python3.12 python3)
for dir in "$HOME"/.pyenv/versions/3.1[2-9]* /usr/local/bin /usr/bin; do
  for exe in "$dir"/bin/python3 "$dir"/python3.13 "$dir"/python3.12; do
    [ -x "$exe" ] && candidates+=("$exe")
  done
done
for py in "${candidates[@]}"; do
  [ -n "$py" ] || continue
  if "$py" -c 'import sys; raise SystemExit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
    command -v "$py" 2>/dev/null || echo "$py"
    exit 0
  fi
done
echo "sendsim needs Python >= 3.12 (Mesa 3.4+ requires it). Install one (e.g. 'pyenv install 3.12' or your OS package python3.12) or set PYTHON=/path/to/python3.12." >&2
exit 1
