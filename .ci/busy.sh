#!/usr/bin/env bash
# Runs .ci/run with CPU burners beside it, as proof that no test depends on a few milliseconds of
# scheduling. Usage: bash .ci/busy.sh [burners, default 2] [rounds, default 1]
set -uo pipefail
cd "$(dirname "$0")/.."
burners="${1:-2}" rounds="${2:-1}"

pids=()
stop_burners() { ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; }
trap stop_burners EXIT
for _ in $(seq 1 "$burners"); do python3 -c 'while True: pass' & pids+=($!); done
echo "busy: $burners CPU-burning processes beside .ci/run on $(nproc) cores"

for round in $(seq 1 "$rounds"); do
  echo "busy: round $round of $rounds"
  # A full rerun, not a cached one: every test must pass again under load.
  COMMONS_CI_FORCE_TESTS=1 bash .ci/run || { echo "busy: round $round FAILED"; exit 1; }
done
echo "busy: $rounds round(s) passed with $burners burners"
