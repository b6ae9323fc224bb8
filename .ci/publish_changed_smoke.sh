#!/usr/bin/env bash
# Only what changed is published, end to end against a real, throwaway pypiserver, in a throwaway clone
# of this checkout (its working-tree .ci/, tests/ci/ and ./pants copied over):
#   1. `./pants publish ::` publishes every library at the base commit;
#   2. a source change in internal-base without a bump: .ci/version_check.py fails, naming base;
#   3. bump + CHANGELOG entry: the check passes, and .ci/publish_changed.sh uploads internal-base one patch release up
#      only: its dependents (aws, cache, fastapi, http, rdbms) are rebuilt but reported skipped, Pants'
#      "published" line included; the index then lists that release for base and nothing new for any other library.
# Prints PASS/FAIL per check; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

tools="${XDG_CACHE_HOME:-$HOME/.cache}/commons-ci/index-venv"  # shared with .ci/publish_smoke.sh
if [[ ! -f "$tools/.complete" ]]; then
  rm -rf "$tools" && python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check "pypiserver>=2.1" "passlib>=1.7"
  touch "$tools/.complete"
fi
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
export PANTS_PANTSD_TIMEOUT_WHEN_MULTIPLE_INVOCATIONS="${PANTS_PANTSD_TIMEOUT_WHEN_MULTIPLE_INVOCATIONS:-1200}"

t0=$SECONDS
say() { echo "publish changed smoke [$((SECONDS - t0)) s]: $*"; }
work="$(mktemp -d)"
server=""
repo="$work/repo"
# The clone's pantsd is ours: stop it by its pid, then the index server, then remove everything.
cleanup() {
  local pid
  for pid in $(cat "$repo"/.pids/*/pantsd/pid 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  [[ -n "$server" ]] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
check() {  # description, then a command that must succeed
  local what="$1"; shift
  if "$@"; then say "PASS $what"; else say "FAIL $what"; failures=$((failures + 1)); fi
}

git clone -q "$root" "$repo"
rm -rf "$repo/.ci" "$repo/tests/ci"
cp -R "$root/.ci" "$repo/.ci" && cp -R "$root/tests/ci" "$repo/tests/ci" && cp "$root/pants" "$repo/pants"
find "$repo/tests/ci" -name __pycache__ -prune -exec rm -rf {} +
commit() { git -C "$repo" -c user.name=ci -c user.email=ci@example.invalid commit -q -m "$1" -- "${@:2}"; }
git -C "$repo" add -A .ci tests/ci pants
commit "base" .ci tests/ci pants || true  # nothing to commit when the checkout is clean
git -C "$repo" tag smoke-base

password="$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
"$tools/bin/python" -c 'import sys; from passlib.apache import HtpasswdFile as H
h = H(sys.argv[1], new=True); h.set_password("ci", sys.argv[2]); h.save()' "$work/htpasswd" "$password"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir "$work/packages"
"$tools/bin/python" -m pypiserver run -i 127.0.0.1 -p "$port" --disable-fallback \
  -P "$work/htpasswd" -a update "$work/packages" >"$work/index.log" 2>&1 &
server=$!
for _ in $(seq 1 120); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.25; done
index="http://127.0.0.1:$port/simple/"
export TWINE_REPOSITORY_URL_COMMONS="http://127.0.0.1:$port/" TWINE_USERNAME_COMMONS=ci TWINE_PASSWORD_COMMONS="$password"
cd "$repo"

say "publishing every library at the base commit"
./pants publish :: >"$work/publish-all.log" 2>&1 || { tail -40 "$work/publish-all.log"; exit 1; }
all_published() { ! python3 .ci/version_check.py --published --index "$index" | grep -v ' published$'; }
check "every library is on the index at the base commit" all_published

# Versions as they stand: the smoke bumps base by one patch release.
version_of() { python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "libs/$1/pyproject.toml"; }
old="$(version_of base)"
new="$(python3 -c 'import sys; a, b, c = sys.argv[1].split("."); print(f"{a}.{b}.{int(c) + 1}")' "$old")"

say "changing internal-base's sources without a bump"
echo "# A change that ships." >> libs/base/src/internal_base/__init__.py
commit "base: a change" libs/base/src/internal_base/__init__.py
set +e
python3 .ci/version_check.py --since smoke-base --index "$index" >"$work/check1.out" 2>&1
rc=$?
set -e
cat "$work/check1.out"
check "the version check fails (exit 1) when base changed but kept $old" test "$rc" = 1
check "... naming base" grep -qx "base: CHANGED BUT version $old is already published; bump it" "$work/check1.out"
check "... and no other library" test "$(grep -c CHANGED "$work/check1.out")" = 1

say "bumping internal-base to $new with a CHANGELOG entry"
sed -i "s/^version = \"$old\"/version = \"$new\"/" libs/base/pyproject.toml
sed -i "s/version=\"$old\"/version=\"$new\"/" libs/base/BUILD
python3 - libs/base/CHANGELOG.md "$new" <<'PY'
import sys
path, new = sys.argv[1], sys.argv[2]
text = open(path).read()
entry = f"## [Unreleased]\n\n## [{new}] - 2026-12-02\n\n### Changed\n\n- A change that ships.\n"
open(path, "w").write(text.replace("## [Unreleased]\n", entry, 1))
PY
commit "base: $new" libs/base/pyproject.toml libs/base/BUILD libs/base/CHANGELOG.md
check "the version check passes after the bump" python3 .ci/version_check.py --since smoke-base --index "$index"

say "publishing what changed since the base commit"
if .ci/publish_changed.sh smoke-base "$index" >"$work/publish-changed.log" 2>&1; then rc=0; else rc=$?; fi
grep -v "^ \|^$\|\[WARN\]\|^These imports\|^If you do not" "$work/publish-changed.log" || true
check "publish_changed.sh succeeds" test "$rc" = 0
check "it reports internal-base $new published" \
  grep -q "publish changed: internal-base $new: published$" "$work/publish-changed.log"
for lib in aws cache fastapi http rdbms; do
  check "it reports internal-$lib $(version_of "$lib") (a dependent of base) skipped" \
    grep -q "publish changed: internal-$lib $(version_of "$lib"): skipped (already on the index)$" "$work/publish-changed.log"
done
check "it reports nothing else published" \
  test "$(grep -c 'publish changed: internal-.*: published$' "$work/publish-changed.log")" = 1
check "Pants' line for a skipped wheel says skipped, not published" \
  grep -q "internal_fastapi-$(version_of fastapi)-py3-none-any.whl skipped (already on @commons)" "$work/publish-changed.log"
check "Pants' line for the new wheel says published" \
  grep -q "internal_base-$new-py3-none-any.whl published to @commons" "$work/publish-changed.log"

# What the index holds now: every file name in the upload folder.
versions_of() { ls "$work/packages" | sed -n "s/^internal_$1-\([^-]*\)-.*\.whl$/\1/p" | sort -uV | tr '\n' ' '; }
check "the index holds internal-base $old and $new" test "$(versions_of base)" = "$old $new "
for lib in $(ls libs); do
  [[ "$lib" == base ]] && continue
  check "the index holds internal-$lib $(version_of "$lib") only" test "$(versions_of "$lib")" = "$(version_of "$lib") "
done

if ((failures)); then say "$failures check(s) FAILED"; exit 1; fi
say "all checks passed"
