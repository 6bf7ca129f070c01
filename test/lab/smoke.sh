#!/usr/bin/env bash
# Smoke check of the built lab peers: btcd on regtest (loopback, random ports, temp
# dir), 101 blocks over JSON-RPC, lnd on top of it until `lncli getinfo` answers and
# reports the tip, then both stopped by PID. Also checks `ldk-peer --help` runs
# (the LDK peer is not started: it needs the lab's Esplora adapter).
# Usage: bash test/lab/smoke.sh   (builds nothing; run build/all.sh first)
set -euo pipefail
LAB_DIR="$(cd "$(dirname "$0")" && pwd)"
source "$LAB_DIR/versions.env"
LAB_CACHE="${LNNODE_LAB_CACHE:-$HOME/.cache/lnnode-lab}"
BTCD="$LAB_CACHE/btcd-$BTCD_VERSION/bin/btcd"
LND="$LAB_CACHE/lnd-$LND_VERSION/bin/lnd"
LNCLI="$LAB_CACHE/lnd-$LND_VERSION/bin/lncli"
LDK_PEER="$LAB_CACHE/ldk-peer-$LDK_NODE_VERSION/bin/ldk-peer"
for b in "$BTCD" "$LND" "$LNCLI" "$LDK_PEER"; do
  [[ -x "$b" ]] || { echo "missing $b: run bash test/lab/build/all.sh" >&2; exit 1; }
done

dir="$(mktemp -d "${TMPDIR:-/tmp}/lab-smoke-XXXXXX")"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ "${KEEP:-}" == 1 ]]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then echo "timed out waiting for $what" >&2; return 1; fi
    sleep 0.5
  done
}

# Coinbases go to a fixed address nobody holds the key of (p2wpkh of 20 bytes of
# 0x01); the smoke check only needs blocks, not spendable coins.
MINING_ADDR=bcrt1qqyqszqgpqyqszqgpqyqszqgpqyqszqgpvxat9t
rpc_port=$(free_port) p2p_port=$(free_port)
rpc_user=lab rpc_pass=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$BTCD" --regtest --datadir="$dir/btcd/data" --logdir="$dir/btcd/logs" \
  --listen="127.0.0.1:$p2p_port" --rpclisten="127.0.0.1:$rpc_port" \
  --rpcuser="$rpc_user" --rpcpass="$rpc_pass" \
  --rpccert="$dir/btcd/rpc.cert" --rpckey="$dir/btcd/rpc.key" \
  --txindex --nobanning --miningaddr="$MINING_ADDR" >"$dir/btcd.out" 2>&1 &
pids+=($!)

rpc() { # rpc METHOD [JSON-PARAMS]
  curl -sf --cacert "$dir/btcd/rpc.cert" -u "$rpc_user:$rpc_pass" \
    -d "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"$1\",\"params\":${2:-[]}}" \
    "https://127.0.0.1:$rpc_port/"
}
wait_for 30 "btcd RPC" rpc getblockcount
rpc generate '[101]' >/dev/null
height=$(rpc getblockcount | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')
[[ "$height" == 101 ]] || { echo "btcd height $height after generate 101" >&2; exit 1; }
echo "btcd $BTCD_VERSION: regtest height $height"

lnd_rpc=$(free_port) lnd_p2p=$(free_port)
"$LND" --lnddir="$dir/lnd" --bitcoin.regtest --bitcoin.node=btcd \
  --btcd.rpchost="127.0.0.1:$rpc_port" --btcd.rpcuser="$rpc_user" --btcd.rpcpass="$rpc_pass" \
  --btcd.rpccert="$dir/btcd/rpc.cert" \
  --rpclisten="127.0.0.1:$lnd_rpc" --listen="127.0.0.1:$lnd_p2p" --norest \
  --noseedbackup --debuglevel=info >"$dir/lnd.out" 2>&1 &
pids+=($!)

lncli() { "$LNCLI" --lnddir="$dir/lnd" --network=regtest --rpcserver="127.0.0.1:$lnd_rpc" "$@"; }
synced() { lncli getinfo | python3 -c 'import json,sys; i=json.load(sys.stdin); sys.exit(0 if i["synced_to_chain"] and i["block_height"]==101 else 1)'; }
start=$SECONDS
wait_for 120 "lncli getinfo" lncli getinfo || { tail -20 "$dir/lnd.out" >&2; exit 1; }
echo "lnd $LND_VERSION: getinfo answered after $((SECONDS - start))s"
wait_for 120 "lnd synced to height 101" synced || { lncli getinfo >&2; exit 1; }
lncli getinfo | python3 -c 'import json,sys; i=json.load(sys.stdin); print("lnd:", i["version"], "pubkey", i["identity_pubkey"], "height", i["block_height"], "synced", i["synced_to_chain"])'

"$LDK_PEER" --help | grep -q '^usage: ldk-peer' || { echo "ldk-peer --help failed" >&2; exit 1; }
echo "ldk-peer (ldk-node $LDK_NODE_VERSION): --help ok"
echo "smoke ok"
