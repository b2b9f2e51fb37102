#!/usr/bin/env bash
# Install the lab into a venv and start it: streamlit prints the address to open.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e .
exec streamlit run app.py "$@"
