#!/usr/bin/env bash
# Set up (once) and start the web chat on the bundled seeds: http://127.0.0.1:7860
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python app.py "$@"
