#!/usr/bin/env bash
# The suite with plain pytest on the Pythons Pants does not use (Pants runs it on 3.11), one throwaway uv
# venv and ONE pytest process per library and Python, two at a time (tests/ci/pymatrix.py).
#   (no option)    latest@3.12 and latest@3.13: every library with today's newest versions.
#   --ci           what .ci/run runs (~7 min on 2 cores): floors@3.13, every library's whole suite at its
#                  declared floors on the newest Python, and every library's unit tests on 3.12 with today's
#                  versions (3.11 with today's versions is ./pants test ::).
#   --with-floors  the full matrix: latest@3.12, latest@3.13, floors@3.11, floors@3.13, every test.
# Ends with "N passed, N failed, N skipped, N errors"; fails on a failure or a skipped integration test.
# Extra arguments go to tests/ci/pymatrix.py (--lib cache, --jobs 1, --test-timeout 120).
set -uo pipefail
cd "$(dirname "$0")/.."
runs=(latest@3.12 latest@3.13)
case "${1:-}" in
  --with-floors) shift; runs+=(floors@3.11 floors@3.13) ;;
  --ci)
    shift
    runs=(floors@3.13 latest@3.12:base/unit,cache/unit,rdbms/unit,aws/unit,http/unit,fastapi/unit,testing/unit)
    export COMMONS_MATRIX_JOBS="${COMMONS_MATRIX_JOBS:-2}"
    ;;
esac
source tests/ci/uv.sh || exit 1
export COMMONS_POSTGRES_URL="${COMMONS_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
export COMMONS_MYSQL_URL="${COMMONS_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"
export COMMONS_REDIS_URL="${COMMONS_REDIS_URL:-redis://127.0.0.1:6379/0}"
export COMMONS_REQUIRE_SERVICES=1
exec python3 tests/ci/pymatrix.py --uv "$UV" "${runs[@]}" "$@"
