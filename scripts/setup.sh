#!/usr/bin/env bash
# Install everything the tests need: a venv (.venv) with the package and its dev extras,
# Debian's Chromium for the browser tests and PostgreSQL for the search tests (when run as
# root, as on CI).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
            || echo "could not install chromium: browser tests will skip (they fail under CI=true)"
    else
        echo "chromium is missing (sudo apt-get install chromium): browser tests will skip"
    fi
fi

# PostgreSQL: the search tests start a server of their own (workers sharing one study).
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) \
            || echo "could not install postgresql: its tests will skip (they fail under CI=true)"
    else
        echo "postgresql is missing (sudo apt-get install postgresql): its tests will skip"
    fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
# Numba's kernels for the app's first pages, compiled now rather than on a first visit.
.venv/bin/python -m optim_core.engines.warm
