#!/usr/bin/env bash
# Proves the shared remote cache (README "Remote cache") against a real REAPI server: BuildGrid runs a
# CAS + ActionCache on loopback, in memory. Clone 1 runs one library's unit tests with the cache on
# (and --no-local-cache, so every result is really computed and written); clone 2 runs the same tests
# with an empty local store and empty named caches: every test result must say "(cached remotely)".
# Usage: .ci/remote_cache.sh [target spec, default libs/testing::]
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
target="${1:-libs/testing::}"

die() { echo "remote cache: $*" >&2; exit 1; }

tools="${XDG_CACHE_HOME:-$HOME/.cache}/commons-ci/buildgrid-venv"
if [[ ! -f "$tools/.complete" ]]; then
  echo "remote cache: installing BuildGrid into $tools" >&2
  rm -rf "$tools" && python3 -m venv "$tools"
  # 0.4.4 is the newest BuildGrid that installs on these machines.
  PIP_CONFIG_FILE=/dev/null "$tools/bin/pip" install -q --disable-pip-version-check "buildgrid==0.4.4"
  touch "$tools/.complete"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$work/buildgrid.yml" <<YAML
server:
  - !channel
    address: "127.0.0.1:$port"
    insecure-mode: true
storages:
  - !lru-storage &cas
    size: 1024MB
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 100000
    allow-updates: true
    cache-failed-actions: false
instances:
  - name: main
    services:
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
      - !action-cache
        cache: *ac
YAML
"$tools/bin/bgd" server start "$work/buildgrid.yml" >"$work/buildgrid.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/buildgrid.log" >&2; die "BuildGrid exited"; }
  sleep 0.25
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { tail -20 "$work/buildgrid.log" >&2; die "BuildGrid did not listen on :$port within 30 s"; }
echo "remote cache: BuildGrid 0.4.4 serves CAS + ActionCache on grpc://127.0.0.1:$port (instance main)"

git clone -q "$repo" "$work/writer"
git clone -q "$repo" "$work/reader"
mkdir -p "$work/empty-store" "$work/empty-named-caches"

export COMMONS_REMOTE_CACHE="grpc://127.0.0.1:$port" COMMONS_REMOTE_CACHE_INSTANCE=main
# Plain output, no pantsd left behind in the throwaway clones, no CI extras (coverage) in the proof.
common=(--no-pantsd --no-dynamic-ui --no-colors --tag=unit test "$target")

run() {  # run <name> <clone> <pants args...>; prints the elapsed time, keeps the log
  local name="$1" clone="$2"; shift 2
  local start=$SECONDS rc=0
  (cd "$clone" && env -u CI ./pants "$@") >"$work/$name.log" 2>&1 || rc=$?
  echo "remote cache: $name run took $((SECONDS - start)) s (exit $rc)"
  if ((rc != 0)); then tail -40 "$work/$name.log" >&2; die "the $name run failed"; fi
}

run writer "$work/writer" --no-local-cache "${common[@]}"
run reader "$work/reader" --no-local-cache --local-store-dir="$work/empty-store" \
  --named-caches-dir="$work/empty-named-caches" "${common[@]}"

# Pants' result lines: "✓ <target> succeeded in 1.23s (cached remotely)."
results="$(grep -E '^(✓|✕) .* (succeeded|failed)( \(exit code [0-9]+\))?( in [0-9.]+s)?( \(.*\))?\.$' "$work/reader.log" || true)"
total="$(grep -c . <<<"$results" || true)"
remote="$(grep -c '(cached remotely)' <<<"$results" || true)"
echo "$results"
((total > 0)) || { tail -40 "$work/reader.log" >&2; die "the reader run printed no test results"; }
((remote == total)) || die "$((total - remote)) of $total test results in the reader clone were not cached remotely"
echo "remote cache: all $total test results in the second clone came from the remote cache"
