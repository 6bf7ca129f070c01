#!/usr/bin/env bash
# Builds the LDK peer (test/lab/ldk-peer, on ldk-node $LDK_NODE_VERSION) into the lab
# cache and prints the binary path. The cache directory is keyed by the ldk-node
# version; a hash of the crate's sources kept next to the binary makes an edited
# ldk-peer rebuild in place (cargo's target dir lives in the cache too, so that is
# an incremental build of one crate).
set -euo pipefail
source "$(dirname "$0")/common.sh"

crate="$LAB_DIR/ldk-peer"
root="$LAB_CACHE/ldk-peer-$LDK_NODE_VERSION"
out="$root/bin"

if ! grep -q "^ldk-node = \"=$LDK_NODE_VERSION\"" "$crate/Cargo.toml"; then
  log "ldk-peer/Cargo.toml does not pin ldk-node =$LDK_NODE_VERSION (versions.env)"
  exit 1
fi

source_hash() {
  (cd "$crate" && cat Cargo.toml src/*.rs && if [[ -f Cargo.lock ]]; then cat Cargo.lock; fi) |
    sha256sum | cut -d' ' -f1
}
hash="$(source_hash)"
if [[ -x "$out/ldk-peer" && "$(cat "$out/.source-hash" 2>/dev/null)" == "$hash" ]]; then
  echo "$out/ldk-peer"
  exit 0
fi
mkdir -p "$out"
log "building ldk-peer (ldk-node $LDK_NODE_VERSION) into $out"
start=$SECONDS
locked=()
[[ -f "$crate/Cargo.lock" ]] && locked=(--locked)
CARGO_TARGET_DIR="$root/target" "${NICE[@]}" cargo build --release "${locked[@]}" \
  -j "$LAB_JOBS" --manifest-path "$crate/Cargo.toml"
cp "$root/target/release/ldk-peer" "$out/ldk-peer.tmp"
mv "$out/ldk-peer.tmp" "$out/ldk-peer"
# Recompute: the first build writes Cargo.lock.
source_hash > "$out/.source-hash"
log "ldk-peer built in $((SECONDS - start))s"
echo "$out/ldk-peer"
