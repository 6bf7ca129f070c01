#!/usr/bin/env bash
# Builds btcd and btcctl at $BTCD_VERSION into the lab cache and prints the btcd path.
# btcd's go.mod has no replace directives, so `go install module@version` works.
set -euo pipefail
source "$(dirname "$0")/common.sh"

out="$LAB_CACHE/btcd-$BTCD_VERSION/bin"
if [[ -x "$out/btcd" && -x "$out/btcctl" ]]; then
  echo "$out/btcd"
  exit 0
fi
mkdir -p "$out"
log "building btcd $BTCD_VERSION into $out"
start=$SECONDS
GOBIN="$out.tmp" GOFLAGS= "${NICE[@]}" go install -p "$LAB_JOBS" -trimpath \
  "github.com/btcsuite/btcd@$BTCD_VERSION" \
  "github.com/btcsuite/btcd/cmd/btcctl@$BTCD_VERSION"
mv "$out.tmp/btcd" "$out.tmp/btcctl" "$out/"
rmdir "$out.tmp"
log "btcd built in $((SECONDS - start))s"
echo "$out/btcd"
