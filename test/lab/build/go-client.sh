#!/usr/bin/env bash
# Builds the Go gRPC test client (test/go-client) into the lab cache, keyed by
# a hash of its sources, and prints its path. Its dependencies come from the
# Go module proxy at the versions in test/go-client/go.sum.
set -euo pipefail
source "$(dirname "$0")/common.sh"

src="$(cd "$LAB_DIR/../go-client" && pwd)"
key="$(cd "$src" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)"
out="$LAB_CACHE/go-client-$key/bin"
if [[ -x "$out/lnnode-goclient" ]]; then
  echo "$out/lnnode-goclient"
  exit 0
fi
mkdir -p "$out"
log "building the Go test client into $out"
start=$SECONDS
(cd "$src" && GOFLAGS=-mod=readonly "${NICE[@]}" go build -p "$LAB_JOBS" -trimpath -o "$out/lnnode-goclient.tmp" .)
mv "$out/lnnode-goclient.tmp" "$out/lnnode-goclient"
log "Go test client built in $((SECONDS - start))s"
echo "$out/lnnode-goclient"
