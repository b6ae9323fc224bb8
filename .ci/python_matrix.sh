#!/usr/bin/env bash
# Every library's unit + integration suite with plain pytest on Python 3.12 and 3.13 with today's newest
# versions (Pants runs it on 3.11), one throwaway uv venv and ONE pytest process per library and Python,
# two at a time. --with-floors adds .ci/floors.sh's runs to the same pool (one step, both cores busy).
# Ends with "N passed, N failed, N skipped, N errors"; fails on a failure or a skipped integration test.
# Extra arguments go to tests/ci/pymatrix.py (--lib cache, --jobs 1).
set -uo pipefail
cd "$(dirname "$0")/.."
runs=(latest@3.12 latest@3.13)
if [[ "${1:-}" == --with-floors ]]; then shift; runs+=(floors@3.11 floors@3.13); fi
source tests/ci/uv.sh || exit 1
export COMMONS_POSTGRES_URL="${COMMONS_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
export COMMONS_MYSQL_URL="${COMMONS_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"
export COMMONS_REDIS_URL="${COMMONS_REDIS_URL:-redis://127.0.0.1:6379/0}"
export COMMONS_REQUIRE_SERVICES=1
exec python3 tests/ci/pymatrix.py --uv "$UV" "${runs[@]}" "$@"
