#!/usr/bin/env bash
# Builds lnd and lncli at $LND_VERSION into the lab cache and prints the lnd path.
# lnd's go.mod has replace directives, so `go install ...@version` refuses it.
# Instead: download the module from the proxy, copy its (read-only) directory,
# and `go build` inside the copy with the module's own go.mod/go.sum.
set -euo pipefail
source "$(dirname "$0")/common.sh"

out="$LAB_CACHE/lnd-$LND_VERSION/bin"
if [[ -x "$out/lnd" && -x "$out/lncli" ]]; then
  echo "$out/lnd"
  exit 0
fi
mkdir -p "$out"
log "building lnd $LND_VERSION into $out (tags: $LND_TAGS)"
start=$SECONDS

moddir="$(GOFLAGS= go mod download -json "github.com/lightningnetwork/lnd@$LND_VERSION" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -d "$moddir" ]] || { log "go mod download gave no Dir"; exit 1; }

src="$LAB_CACHE/lnd-$LND_VERSION/src"
rm -rf "$src"
cp -r "$moddir" "$src"
chmod -R u+w "$src"

ldflags="-s -w -buildid= -X github.com/lightningnetwork/lnd/build.Commit=$LND_VERSION"
(
  cd "$src"
  "${NICE[@]}" go build -p "$LAB_JOBS" -trimpath -tags="$LND_TAGS" -ldflags="$ldflags" \
    -o "$out/lnd.tmp" ./cmd/lnd
  "${NICE[@]}" go build -p "$LAB_JOBS" -trimpath -tags="$LND_TAGS" -ldflags="$ldflags" \
    -o "$out/lncli.tmp" ./cmd/lncli
)
mv "$out/lnd.tmp" "$out/lnd"
mv "$out/lncli.tmp" "$out/lncli"
rm -rf "$src"
log "lnd built in $((SECONDS - start))s"
echo "$out/lnd"
