#!/usr/bin/env bash
# Install the lab into a venv and start it: streamlit prints the address to open.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e .
# Numba's kernels for the first pages and the lessons, compiled here (once per version of the
# sources; later starts only load them) rather than while the first visitor waits.
python -m optim_core.engines.warm
exec streamlit run app.py "$@"
