#!/usr/bin/env bash
# Install (scripts/setup.sh), install the "Python 3 (pyasync)" Jupyter kernel
# into .venv, and execute the user's notebook (notebooks/asyncio.ipynb) on it
# headless, one progress line per cell.  Writes the executed notebook and an
# HTML copy under notebooks/out/ and prints where they are.
#   scripts/demo.sh                      # cells unmodified, pyasync's loop
#   scripts/demo.sh --pyasync-imports    # cells with `import pyasync as asyncio`
#   scripts/demo.sh --kernel python3     # the same on stdlib asyncio
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pyasync.kernel install --sys-prefix
exec .venv/bin/python notebooks/run_notebook.py --html "$@"
