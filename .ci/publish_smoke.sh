#!/usr/bin/env bash
# `./pants publish ::` against real, throwaway package indexes (pypiserver), through both documented
# credential paths (TWINE_*_COMMONS variables, and a .pypirc at the repo root), then proves every
# library can be downloaded from each index alone. (.ci/decoy_publish.sh installs from a devpi index
# that shadows a public one, in a fresh venv.)
set -euo pipefail
cd "$(dirname "$0")/.."

tools="${XDG_CACHE_HOME:-$HOME/.cache}/commons-ci/index-venv"
if [[ ! -f "$tools/.complete" ]]; then
  rm -rf "$tools" && python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check "pypiserver>=2.1" "passlib>=1.7"
  touch "$tools/.complete"
fi

if [[ -e .pypirc ]]; then
  echo "publish smoke: a .pypirc already exists at the repo root; move it away first" >&2
  exit 1
fi
work="$(mktemp -d)"
servers=()
trap 'kill "${servers[@]}" 2>/dev/null || true; rm -rf "$work" .pypirc' EXIT
password="$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
"$tools/bin/python" -c 'import sys; from passlib.apache import HtpasswdFile as H
h = H(sys.argv[1], new=True); h.set_password("ci", sys.argv[2]); h.save()' "$work/htpasswd" "$password"

# Starts an empty index; prints its port.
start_index() {
  local dir="$work/$1" port
  mkdir -p "$dir"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "$tools/bin/python" -m pypiserver run -i 127.0.0.1 -p "$port" --disable-fallback \
    -P "$work/htpasswd" -a update "$dir" >"$dir.log" 2>&1 &
  servers+=($!)
  for _ in $(seq 1 40); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.25; done
  echo "$port"
}

# Every library is served by the index on port $1.
check_index() {
  local missing=0
  for lib in $(ls libs); do
    if PIP_CONFIG_FILE=/dev/null python3 -m pip --isolated download -q --no-deps -d "$work/dl-$1" \
        --index-url "http://127.0.0.1:$1/simple/" "internal-$lib"; then
      echo "index :$1 serves internal-$lib"
    else
      echo "index :$1 does not serve internal-$lib" >&2; missing=1
    fi
  done
  return $missing
}

env_port="$(start_index env-index)"
echo "publish smoke: credentials from TWINE_*_COMMONS"
TWINE_REPOSITORY_URL_COMMONS="http://127.0.0.1:$env_port/" TWINE_USERNAME_COMMONS=ci \
  TWINE_PASSWORD_COMMONS="$password" ./pants publish ::
check_index "$env_port"

rc_port="$(start_index pypirc-index)"
echo "publish smoke: credentials from .pypirc at the repo root"
cat > .pypirc <<RC
[distutils]
index-servers = commons

[commons]
repository = http://127.0.0.1:$rc_port/
username = ci
password = $password
RC
./pants publish ::
check_index "$rc_port"
