#!/usr/bin/env bash
# Install (scripts/setup.sh) and run the notebook's examples on pyasync.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python notebooks/notebook_examples.py "$@"
