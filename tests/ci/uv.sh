# Sourced by .ci/floors.sh and .ci/python_matrix.sh: sets UV to a pinned uv, installed once into a cached venv.
# uv keeps its own download cache (~/.cache/uv), so a second CI run installs from disk.
tools="${XDG_CACHE_HOME:-$HOME/.cache}/commons-ci/uv-venv"
if [[ ! -f "$tools/.complete" ]]; then
  echo "installing uv into $tools"
  rm -rf "$tools" && python3 -m venv "$tools" \
    && "$tools/bin/pip" install -q --disable-pip-version-check "uv==0.13.9" && touch "$tools/.complete" \
    || { echo "could not install uv" >&2; return 1; }
fi
UV="$tools/bin/uv"
