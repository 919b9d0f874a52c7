#!/usr/bin/env bash
# Prove the container recipe without a Docker engine (.ci/run runs this):
#  1. the Dockerfile's build steps (deploy/build.sh) in a clean virtual environment,
#     from a copy of the sources as the image's COPY lines take them;
#  2. the runtime command (`townlet run --forever`) with the image's environment
#     (PATH, NUMBA_CACHE_DIR, TOWNLET_CONFIG = configs/container.yaml with the volume
#     paths moved under a temporary directory), checking that a read-only key mount is
#     refused with the fix, that the warmed Numba cache is used (no compiling), that the
#     simulation and publisher probes turn ready, and that SIGTERM exits 0 with a final
#     snapshot and no shared memory left behind.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
cleanup() {
    chattr -i "$tmp/ro-keys" 2>/dev/null || true
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "recipe: build stage (clean venv, cffi core, Numba cache)"
mkdir -p "$tmp/src"
(cd "$root" && cp -r pyproject.toml setup.py MANIFEST.in README.md constraints.txt bindings \
    core configs townlet deploy "$tmp/src/")
find "$tmp/src" -name __pycache__ -prune -exec rm -rf {} +
rm -f "$tmp/src"/townlet/_core*.so "$tmp/src/townlet/_core.c"
bash "$tmp/src/deploy/build.sh" "$tmp/src" "$tmp/opt" "$tmp/numba-cache"

echo "recipe: runtime stage"
mkdir -p "$tmp/home" "$tmp/keys" "$tmp/logs" "$tmp/snapshots" "$tmp/ro-keys"
sed -e "s#dir: /keys#dir: $tmp/keys#" -e "s#/logs/#$tmp/logs/#" \
    -e "s#root: /snapshots#root: $tmp/snapshots#" "$root/configs/container.yaml" > "$tmp/config.yaml"
run_env=(env -i HOME="$tmp/home" PATH="$tmp/opt/bin:/usr/bin:/bin" PYTHONUNBUFFERED=1
         NUMBA_CACHE_DIR="$tmp/numba-cache" TOWNLET_CONFIG="$tmp/config.yaml"
         TOWNLET_KEY_DIR="$tmp/keys")

# A read-only key mount without keys: refused, with the fix in the message.
sed "s#dir: $tmp/keys#dir: $tmp/ro-keys#" "$tmp/config.yaml" > "$tmp/ro.yaml"
chattr +i "$tmp/ro-keys"
set +e
(cd "$tmp/home" && "${run_env[@]}" TOWNLET_CONFIG="$tmp/ro.yaml" townlet run --forever) \
    > "$tmp/ro.out" 2> "$tmp/ro.err"
status=$?
set -e
chattr -i "$tmp/ro-keys"
grep -q "mounted read-only" "$tmp/ro.err" && [ "$status" = 2 ] \
    || { echo "recipe: a read-only key dir was not refused ($status)"; cat "$tmp/ro.err"; exit 1; }

# Provision keys as the runbook says, then start the container's command.
(cd "$tmp/home" && "${run_env[@]}" townlet keys init >/dev/null)
(cd "$tmp/home" && exec "${run_env[@]}" townlet run --forever > "$tmp/run.out" 2> "$tmp/run.err") &
pid=$!
runpid=$pid
ready() { "$tmp/opt/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$1/readyz', timeout=2)" 2>/dev/null; }
for _ in $(seq 600); do
    if ready 9464 && ready 9465 && ready 9467; then break; fi
    kill -0 "$pid" 2>/dev/null || { echo "recipe: townlet run exited"; cat "$tmp/run.err"; exit 1; }
    sleep 0.5
done
ready 9464 && ready 9465 && ready 9467 || { echo "recipe: probes never turned ready"; cat "$tmp/run.err"; exit 1; }
if grep -q compiling_kernel "$tmp/run.err"; then
    echo "recipe: the runtime compiled the kernel: the build did not warm NUMBA_CACHE_DIR"; exit 1
fi
kill -TERM "$pid"
set +e
wait "$pid"
status=$?
set -e
pid=
[ "$status" = 0 ] || { echo "recipe: SIGTERM exit status $status"; cat "$tmp/run.err"; exit 1; }
ls "$tmp/snapshots"/stop-*.tsnap >/dev/null || { echo "recipe: no final snapshot"; exit 1; }
if ls /dev/shm | grep -q "^townlet-$runpid-"; then
    echo "recipe: shared memory left behind"; exit 1
fi
python3 - "$tmp/run.err" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
for line in lines:
    rec = json.loads(line)
    assert {"role", "tick", "config_id", "event", "level", "timestamp"} <= set(rec), rec
print(f"recipe: {len(lines)} log lines, all JSON with the context keys")
PY
echo "recipe: ok"
