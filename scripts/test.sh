#!/usr/bin/env bash
# Set up (once) and run the whole test suite, browser test included.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
