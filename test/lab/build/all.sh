#!/usr/bin/env bash
# Builds every lab peer (and the Go test client) into the cache (each skipped if already built) and prints
# the binary paths. One build at a time: the machine is shared.
set -euo pipefail
here="$(dirname "$0")"
bash "$here/btcd.sh"
bash "$here/lnd.sh"
bash "$here/ldk-peer.sh"
bash "$here/go-client.sh"
