# Sourced by the build scripts: loads the pinned versions and locates the cache.
# shellcheck shell=bash
LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../versions.env
source "$LAB_DIR/versions.env"
LAB_CACHE="${LNNODE_LAB_CACHE:-$HOME/.cache/lnnode-lab}"
mkdir -p "$LAB_CACHE"

# Builds share the machine with tests; keep them polite.
NICE=(nice -n 15)
export GOFLAGS="${GOFLAGS:--mod=mod}"
# go build parallelism (-p); cargo jobs.
LAB_JOBS="${LAB_JOBS:-2}"

log() { echo "[lab-build] $*" >&2; }
