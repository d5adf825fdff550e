#!/usr/bin/env bash
# Create .venv (once) and install the project with the CPU build of torch.
# Usage: source scripts/setup.sh [--test]   (--test also installs pytest, Playwright and Chromium)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch 2.13.0 is the CPU build; plain `torch` would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install -q -e ".[test]"
  if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk >/dev/null
    else
      echo "The browser test needs Debian's chromium: sudo apt-get install chromium chromium-driver fonts-noto-cjk" >&2
      exit 1
    fi
  fi
else
  .venv/bin/python -m pip install -q -e .
fi
