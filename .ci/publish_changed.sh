#!/usr/bin/env bash
# Publishes only what changed since a git ref:
#   .ci/publish_changed.sh <git ref> [<simple index URL>]      (or COMMONS_INDEX_SIMPLE_URL)
#
# The wheels to upload are those of `./pants --changed-since=<ref> --changed-dependents=transitive`
# (a library whose sources changed, and the libraries that depend on it), plus any library whose README
# (its wheel's long description, which no Pants target owns) or version changed. A dependent whose own
# files did not change keeps its version: the index already holds it and twine's --skip-existing skips it.
# (Pants cannot take --changed-since and target arguments together, hence the explicit list.)
#
# With the index's simple URL it first runs .ci/version_check.py (a changed library must have a version
# the index does not hold, and a CHANGELOG entry for it), and afterwards reads the index to say, per
# wheel, "published" or "skipped (already on the index)": Pants says "published" for both.
# Upload URL and credentials are the ones `./pants publish` reads (TWINE_*_COMMONS, or .pypirc).
# Exit 0: done (or nothing to publish); 1: the version check or an upload failed; 2: bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: .ci/publish_changed.sh <git ref> [<simple index URL>]"
ref="${1:?$usage}"
index="${2:-${COMMONS_INDEX_SIMPLE_URL:-}}"
say() { echo "publish changed: $*"; }
git rev-parse --verify --quiet "$ref^{commit}" >/dev/null || { say "unknown git ref '$ref'" >&2; exit 2; }

if [[ -n "$index" ]]; then
  python3 .ci/version_check.py --since "$ref" --index "$index" || { say "not publishing" >&2; exit 1; }
fi

changed=(--changed-since="$ref" --changed-dependents=transitive)
targets="$(
  {
    ./pants "${changed[@]}" --filter-target-type=python_distribution list
    python3 .ci/version_check.py --since "$ref" --changed | sed 's|^\(.*\)$|libs/\1:dist|'
  } | sort -u
)"
if [[ -z "$targets" ]]; then
  say "no library changed since $ref; nothing to publish"
  exit 0
fi
libs="$(sed 's|^libs/\([^:]*\):dist$|\1|' <<<"$targets")"
say "the libraries changed since $ref and their dependents: $(tr '\n' ' ' <<<"$libs")"

if [[ -z "$index" ]]; then
  say "no index URL given: no version check, and Pants says 'published' for skipped uploads too" >&2
  # shellcheck disable=SC2086  # one target per word
  exec ./pants publish $targets
fi

before="$(python3 .ci/version_check.py --published --index "$index")"
# Pants prints "✓ <file> published to @commons." for an upload twine skipped too: say "skipped" instead
# for the files of versions the index held before.
rewrite=()
while read -r project version state; do
  [[ "$state" == published ]] || continue
  stem="${project//-/[-_]}-${version//./\.}"
  rewrite+=(-e "s/✓ \($stem[-.][^ ]*\) published to \(@[a-z_-]*\)\./- \1 skipped (already on \2)./")
done <<<"$before"
# shellcheck disable=SC2086
./pants publish $targets 2>&1 | sed -u "${rewrite[@]}" -e ''
after="$(python3 .ci/version_check.py --published --index "$index")"

echo
say "what the index says now:"
failed=0
for lib in $libs; do
  was="$(grep "^internal-$lib " <<<"$before" || true)"
  now="$(grep "^internal-$lib " <<<"$after" || true)"
  version="$(cut -d' ' -f2 <<<"$now")"
  if [[ "$now" != *" published" ]]; then
    say "internal-$lib $version: NOT on the index after publishing" >&2; failed=1
  elif [[ "$was" == *" published" ]]; then
    say "internal-$lib $version: skipped (already on the index)"
  else
    say "internal-$lib $version: published"
  fi
done
exit "$failed"
