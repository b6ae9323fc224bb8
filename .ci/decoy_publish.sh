#!/usr/bin/env bash
# Dependency confusion, end to end and offline: a pypiserver stands in for public PyPI and carries every
# third-party distribution the wheels need plus decoy internal-rdbms / internal-base wheels with higher
# versions; a devpi-server mirrors it (root/public) under the internal index (root/internal).
# `./pants publish ::` uploads to root/internal, then README.md's consumer command (only the index URL
# swapped) installs into a fresh venv, and tests/e2e/dependency_confusion.py checks where everything came
# from. Prints PASS/FAIL per check; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${COMMONS_PYTHON:-python3.11}"  # the interpreter the wheels target, for the venvs and downloads
scenario=tests/e2e/dependency_confusion.py
cache="${XDG_CACHE_HOME:-$HOME/.cache}/commons-ci"
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
# Another Pants run (a developer's, another CI step) holds pantsd: wait for it rather than fail after 60 s.
export PANTS_PANTSD_TIMEOUT_WHEN_MULTIPLE_INVOCATIONS="${PANTS_PANTSD_TIMEOUT_WHEN_MULTIPLE_INVOCATIONS:-1200}"
t0=$SECONDS
say() { echo "decoy publish [$((SECONDS - t0)) s]: $*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # url, pid, log: until the server answers, it exits, or 60 s pass
  for _ in $(seq 1 240); do
    python3 -c 'import sys,urllib.request as u; u.build_opener(u.ProxyHandler({})).open(sys.argv[1], timeout=2)' \
      "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "server for $1 exited:" >&2; tail -20 "$3" >&2; return 1; }
    sleep 0.25
  done
  echo "no answer from $1 after 60 s:" >&2; tail -20 "$3" >&2; return 1
}
# pip with this machine's pip.conf and PIP_* variables out of the way: only the indexes on the command line.
clean_pip() {
  env $(env | sed -n 's/^\(PIP_[A-Z_]*\)=.*/-u \1/p') PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"
}

# Tools, pinned, in a venv reused across runs (rebuilt when the pins change).
# moto's server stands in for SQS when the example service runs.
pins=(devpi-server==6.20.3 devpi-client==7.3.0 pypiserver==2.4.2 "moto[server]==5.2.5")
tools="$cache/devpi-venv"
if [[ "$(cat "$tools/.complete" 2>/dev/null)" != "${pins[*]}" ]]; then
  say "installing ${pins[*]} into $tools"
  rm -rf "$tools" && python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check "${pins[@]}" 2>"$cache/devpi-venv.log" \
    || { tail -40 "$cache/devpi-venv.log" >&2; exit 1; }
  echo "${pins[*]}" > "$tools/.complete"
fi

work="$(mktemp -d)"
servers=()
trap 'kill "${servers[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
scenario_args() {  # array name, then a dependency_confusion.py command that prints NUL-separated arguments
  local -n into="$1"; shift
  python3 "$scenario" "$@" >"$work/args" && mapfile -d '' into <"$work/args"
}

# The internal index starts in the background (it takes a while) while the wheels build.
devpi_port="$(free_port)"
devpi_url="http://127.0.0.1:$devpi_port"
password="$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
"$tools/bin/devpi-init" --serverdir "$work/devpi" --no-root-pypi --root-passwd "$password" >"$work/devpi.log" 2>&1 \
  || { tail -20 "$work/devpi.log" >&2; exit 1; }
"$tools/bin/devpi-server" --serverdir "$work/devpi" --host 127.0.0.1 --port "$devpi_port" \
  >>"$work/devpi.log" 2>&1 &
servers+=($!)
devpi_pid=$!

say "building the wheels (./pants package ::)"
./pants package :: >"$work/package.log" 2>&1 || { tail -40 "$work/package.log" >&2; exit 1; }

# The stand-in for PyPI: the third-party closure of the README's install, downloaded once from the real
# registry (with this machine's normal pip config) and kept under a key of what it was resolved from.
scenario_args download download-args --readme README.md --libs libs --dist dist
download+=("setuptools>=61" wheel)  # what pip needs to build examples/service from its folder
key="$({ printf '%s\n' "$("$python" -VV)"; for w in "${download[@]}"; do
  unzip -p "${w%%\[*}" '*.dist-info/METADATA' | grep '^Requires-Dist'; echo "$w" | sed 's/.*\[/[/'; done; } \
  | sha256sum | cut -c1-16)"
third_party="$cache/decoy-public/$key"
if [[ ! -f "$third_party/.complete" ]]; then
  say "downloading the third-party distributions into $third_party"
  rm -rf "$cache/decoy-public" && mkdir -p "$third_party"
  "$python" -m pip download -q --disable-pip-version-check -d "$third_party" "${download[@]}" \
    2>"$cache/decoy-download.log" || { tail -40 "$cache/decoy-download.log" >&2; exit 1; }
  rm -f "$third_party"/internal_*  # the internal wheels came from dist/; the public index must not have them
  touch "$third_party/.complete"
fi

python3 "$scenario" decoys --libs libs --out "$work/decoys" internal-rdbms internal-base | sed 's/^/decoy: /'

public_port="$(free_port)"
"$tools/bin/pypi-server" run -i 127.0.0.1 -p "$public_port" --disable-fallback -a . -P . \
  "$third_party" "$work/decoys" >"$work/public.log" 2>&1 &
servers+=($!)
public="http://127.0.0.1:$public_port/simple/"
wait_http "$public" "${servers[-1]}" "$work/public.log"
say "public stand-in at $public"

wait_http "$devpi_url/+api" "$devpi_pid" "$work/devpi.log"
devpi() {
  "$tools/bin/devpi" --clientdir "$work/devpi-client" "$@" >>"$work/devpi-client.log" 2>&1 \
    || { echo "devpi $1 failed:" >&2; tail -20 "$work/devpi-client.log" >&2; return 1; }
}
devpi use "$devpi_url"
devpi login root --password "$password"
devpi index -c root/public type=mirror "mirror_url=$public"
devpi index -c root/internal bases=root/public volatile=False
say "devpi at $devpi_url: root/internal based on root/public (a mirror of the stand-in)"

# Only the configured uploader may publish: a wrong password must be refused.
bad_upload_status="$(curl -s -o /dev/null -w '%{http_code}' -u root:not-the-password -F ":action=file_upload" \
  -F name=internal-base -F version=0.0.1 -F "content=@${download[0]%%\[*}" \
  "$devpi_url/root/internal/" || true)"

say "publishing (./pants publish ::) to root/internal"
TWINE_REPOSITORY_URL_COMMONS="$devpi_url/root/internal/" TWINE_USERNAME_COMMONS=root \
  TWINE_PASSWORD_COMMONS="$password" ./pants publish :: >"$work/publish.log" 2>&1 \
  || { tail -40 "$work/publish.log" >&2; exit 1; }

say "published"
venv="$work/consumer"
"$python" -m venv "$venv"
internal="$devpi_url/root/internal/+simple/"
# Control: the unsafe command, with the public index as an extra, resolves the decoyed names to decoys.
scenario_args control control-args --libs libs --dist dist internal-rdbms internal-base
clean_pip "$venv/bin/python" -m pip install -q --dry-run --no-deps --report "$work/control.json" \
  --index-url "$internal" --extra-index-url "$public" "${control[@]}"

# The step under test: README.md's consumer command, only the index URL swapped; --report to check sources.
scenario_args consumer consumer-args --readme README.md --index-url "$internal"
say "pip ${consumer[*]}"
clean_pip "$venv/bin/python" -m pip "${consumer[@]}" --report "$work/report.json" >"$work/install.log" 2>&1 \
  || { tail -40 "$work/install.log" >&2; exit 1; }
clean_pip "$venv/bin/python" -m pip list --format=json >"$work/pip-list.json"
modules=(); for lib in libs/*/; do lib="${lib%/}"; modules+=("internal_${lib#libs/}"); done
(cd "$work" && "$venv/bin/python" -I "$OLDPWD/$scenario" probe "${modules[@]}") >"$work/probe.json"

status=0
python3 "$scenario" check --libs libs --report "$work/report.json" --pip-list "$work/pip-list.json" \
  --probe "$work/probe.json" --control "$work/control.json" --public-url "http://127.0.0.1:$public_port/" \
  --internal-url "$devpi_url/root/internal/" --mirror-url "$devpi_url/root/public/" \
  --bad-upload-status "$bad_upload_status" || status=$?

# The example service: installed from its folder with every dependency from the internal index, started
# under uvicorn against the real services, exercised over HTTP (tests/e2e/example_service.py).
say "installing examples/service from the internal index"
clean_pip "$venv/bin/python" -m pip install -q --index-url "$internal" ./examples/service >"$work/example-install.log" 2>&1 \
  || { tail -40 "$work/example-install.log" >&2; exit 1; }
database="orders_example_$$"
pg_url="${COMMONS_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
psql -q "$pg_url" -c "CREATE DATABASE $database" >/dev/null
trap 'kill "${servers[@]}" 2>/dev/null || true; wait 2>/dev/null || true; psql -q "$pg_url" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1; rm -rf "$work"' EXIT
moto_port="$(free_port)"
"$tools/bin/python" -m moto.server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
servers+=($!)
wait_http "http://127.0.0.1:$moto_port/moto-api/" "${servers[-1]}" "$work/moto.log"
service_port="$(free_port)"
env -C "$work" -u PYTHONPATH \
  COMMONS_RDBMS_URL="${pg_url%/*}/$database" \
  COMMONS_CACHE_URL="${COMMONS_REDIS_URL:-redis://127.0.0.1:6379/0}" COMMONS_CACHE_KEY_PREFIX="example-$$:" \
  COMMONS_HTTP_BASE_URL="http://127.0.0.1:$service_port" \
  COMMONS_AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" COMMONS_AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  COMMONS_FASTAPI_HEALTH_DETAILS=true ORDERS_QUEUE_NAME="orders-$$" \
  "$venv/bin/orders-service" --port "$service_port" >"$work/service.log" 2>&1 &
servers+=($!)
wait_http "http://127.0.0.1:$service_port/health/live" "${servers[-1]}" "$work/service.log"
say "example service at http://127.0.0.1:$service_port"
python3 tests/e2e/example_service.py "http://127.0.0.1:$service_port" "$work/service.log" || {
  status=1; echo "the example service's log:" >&2; tail -30 "$work/service.log" >&2; }
say "done"
exit $status
