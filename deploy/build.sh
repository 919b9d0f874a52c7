#!/usr/bin/env bash
# The image's build steps (the Dockerfile runs this; deploy/check-recipe.sh runs it in a
# clean virtual environment to prove the recipe without a Docker engine).
#   deploy/build.sh SRC PREFIX NUMBA_CACHE_DIR
# Installs townlet with the ops and ui extras from SRC into a new venv at PREFIX, pinned by
# SRC/constraints.txt (this compiles the cffi core, which links -lrt), then warms the
# Numba cache in NUMBA_CACHE_DIR by running one tick of the default town.
set -euo pipefail
src=$1 prefix=$2 cache=$3
python3 -m venv "$prefix"
"$prefix/bin/pip" install --no-cache-dir -q -c "$src/constraints.txt" "$src[ops,ui]"
mkdir -p "$cache"
warm=$(mktemp -d)
(cd "$warm" && NUMBA_CACHE_DIR="$cache" "$prefix/bin/townlet" run --ticks 1 --no-console \
    --no-publish --json >/dev/null)
rm -rf "$warm"
