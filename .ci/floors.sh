#!/usr/bin/env bash
# The declared floors are true: every library resolved with `uv pip install --resolution lowest-direct`
# (each `>=` bound of its pyproject, [test] extra included, exactly; its sibling libraries from libs/) into
# throwaway venvs, and its unit + integration suite run there on the oldest and the newest Python we claim.
# Ends with "N passed, N failed, N skipped, N errors"; fails on a failure or a skipped integration test.
# Extra arguments go to tests/ci/pymatrix.py (--lib cache, --jobs 1).
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/ci/uv.sh || exit 1
export COMMONS_POSTGRES_URL="${COMMONS_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
export COMMONS_MYSQL_URL="${COMMONS_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"
export COMMONS_REDIS_URL="${COMMONS_REDIS_URL:-redis://127.0.0.1:6379/0}"
export COMMONS_REQUIRE_SERVICES=1
exec python3 tests/ci/pymatrix.py --uv "$UV" floors@3.11 floors@3.13 "$@"
