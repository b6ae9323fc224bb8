#!/usr/bin/env bash
# `./pants publish ::` against a real, throwaway package index (pypiserver), then proves every
# library can be downloaded from that index alone. (tests/e2e installs from such an index in a fresh venv.)
set -euo pipefail
cd "$(dirname "$0")/.."

tools="${XDG_CACHE_HOME:-$HOME/.cache}/commons-ci/index-venv"
if [[ ! -f "$tools/.complete" ]]; then
  rm -rf "$tools" && python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check "pypiserver>=2.1" "passlib>=1.7"
  touch "$tools/.complete"
fi

work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/packages"
password="$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
"$tools/bin/python" -c 'import sys; from passlib.apache import HtpasswdFile as H
h = H(sys.argv[1], new=True); h.set_password("ci", sys.argv[2]); h.save()' "$work/htpasswd" "$password"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$tools/bin/python" -m pypiserver run -i 127.0.0.1 -p "$port" --disable-fallback \
  -P "$work/htpasswd" -a update "$work/packages" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 40); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.25; done

TWINE_REPOSITORY_URL_COMMONS="http://127.0.0.1:$port/" TWINE_USERNAME_COMMONS=ci \
  TWINE_PASSWORD_COMMONS="$password" ./pants publish ::

missing=0
for lib in base cache rdbms aws fastapi http testing; do
  if PIP_CONFIG_FILE=/dev/null python3 -m pip --isolated download -q --no-deps -d "$work/dl" \
      --index-url "http://127.0.0.1:$port/simple/" "internal-$lib"; then
    echo "index serves internal-$lib"
  else
    echo "index does not serve internal-$lib" >&2; missing=1
  fi
done
exit $missing
