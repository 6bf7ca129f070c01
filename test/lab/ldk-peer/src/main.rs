//! LDK peer for lnnode's regtest lab: an `ldk-node` node on loopback, driven by the
//! tests through a tiny JSON-over-HTTP control API (one request per connection).
//!
//! Routes (bodies and answers are JSON; errors are `{"error": "..."}` with 4xx/5xx):
//!   GET  /node_id  /listen  /balances  /channels  /payments  /next_event
//!   POST /connect {node_id, addr, persist}      POST /new_address
//!   POST /open_channel {node_id, addr, amount_sat, push_msat?, announce?}
//!   POST /close_channel {user_channel_id, node_id, force?}
//!   POST /invoice {amount_msat, description? | description_hash?, expiry_secs?}
//!   POST /pay {invoice}   POST /sync   POST /stop
//! `user_channel_id` is a u128 and travels as a decimal string; ids and hashes as hex.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::str::FromStr;
use std::sync::Arc;

use ldk_node::bitcoin::hashes::{sha256, Hash};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Network;
use ldk_node::config::{BackgroundSyncConfig, EsploraSyncConfig};
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description, Sha256};
use ldk_node::payment::PaymentKind;
use ldk_node::{Builder, Event, Node, UserChannelId};
use serde_json::{json, Value};

const USAGE: &str = "usage: ldk-peer --data-dir DIR --network regtest --listen 127.0.0.1:PORT \
--control 127.0.0.1:PORT (--esplora URL | --bitcoind-rpc HOST:PORT:USER:PASS)";

struct Args {
	data_dir: String,
	network: Network,
	listen: String,
	control: String,
	esplora: Option<String>,
	bitcoind_rpc: Option<String>,
}

fn parse_args() -> Result<Args, String> {
	let mut a = Args {
		data_dir: String::new(),
		network: Network::Regtest,
		listen: String::new(),
		control: String::new(),
		esplora: None,
		bitcoind_rpc: None,
	};
	let mut it = std::env::args().skip(1);
	while let Some(flag) = it.next() {
		if flag == "--help" || flag == "-h" {
			println!("{USAGE}");
			std::process::exit(0);
		}
		let val = it.next().ok_or(format!("{flag} needs a value"))?;
		match flag.as_str() {
			"--data-dir" => a.data_dir = val,
			"--network" => a.network = Network::from_str(&val).map_err(|e| e.to_string())?,
			"--listen" => a.listen = val,
			"--control" => a.control = val,
			"--esplora" => a.esplora = Some(val),
			"--bitcoind-rpc" => a.bitcoind_rpc = Some(val),
			_ => return Err(format!("unknown flag {flag}")),
		}
	}
	if a.data_dir.is_empty() || a.listen.is_empty() || a.control.is_empty() {
		return Err("--data-dir, --listen and --control are required".into());
	}
	if a.esplora.is_some() == a.bitcoind_rpc.is_some() {
		return Err("give exactly one of --esplora, --bitcoind-rpc".into());
	}
	Ok(a)
}

fn build_node(a: &Args) -> Result<Node, String> {
	let mut b = Builder::new();
	b.set_network(a.network);
	b.set_storage_dir_path(a.data_dir.clone());
	let listen = SocketAddress::from_str(&a.listen).map_err(|e| format!("--listen: {e}"))?;
	b.set_listening_addresses(vec![listen]).map_err(|e| e.to_string())?;
	// An alias (plus listening addresses) lets the node open announced channels.
	b.set_node_alias("ldk-peer".to_string()).map_err(|e| e.to_string())?;
	if let Some(url) = &a.esplora {
		// The lab moves blocks fast; poll at ldk-node's minimum interval.
		let bg = BackgroundSyncConfig {
			onchain_wallet_sync_interval_secs: 10,
			lightning_wallet_sync_interval_secs: 10,
			fee_rate_cache_update_interval_secs: 10,
		};
		let sync = EsploraSyncConfig { background_sync_config: Some(bg) };
		b.set_chain_source_esplora(url.clone(), Some(sync));
	}
	if let Some(spec) = &a.bitcoind_rpc {
		let p: Vec<&str> = spec.splitn(4, ':').collect();
		if p.len() != 4 {
			return Err("--bitcoind-rpc wants HOST:PORT:USER:PASS".into());
		}
		let port = p[1].parse::<u16>().map_err(|e| format!("--bitcoind-rpc port: {e}"))?;
		b.set_chain_source_bitcoind_rpc(p[0].into(), port, p[2].into(), p[3].into());
	}
	b.build().map_err(|e| format!("build: {e}"))
}

fn hex(bytes: &[u8]) -> String {
	bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
	if s.len() % 2 != 0 {
		return Err("odd-length hex".into());
	}
	(0..s.len())
		.step_by(2)
		.map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("bad hex {s}")))
		.collect()
}

/// An error answer: (HTTP status, message).
type Reply = Result<Value, (u16, String)>;

fn bad(msg: impl ToString) -> (u16, String) {
	(400, msg.to_string())
}

fn node_err(e: ldk_node::NodeError) -> (u16, String) {
	(500, e.to_string())
}

fn field<'a>(body: &'a Value, name: &str) -> Result<&'a Value, (u16, String)> {
	body.get(name).filter(|v| !v.is_null()).ok_or_else(|| bad(format!("missing {name}")))
}

fn str_field<'a>(body: &'a Value, name: &str) -> Result<&'a str, (u16, String)> {
	field(body, name)?.as_str().ok_or_else(|| bad(format!("{name} must be a string")))
}

fn u64_field(body: &Value, name: &str) -> Result<u64, (u16, String)> {
	field(body, name)?.as_u64().ok_or_else(|| bad(format!("{name} must be a non-negative integer")))
}

fn pubkey(body: &Value) -> Result<PublicKey, (u16, String)> {
	PublicKey::from_str(str_field(body, "node_id")?).map_err(|e| bad(format!("node_id: {e}")))
}

fn sockaddr(body: &Value) -> Result<SocketAddress, (u16, String)> {
	SocketAddress::from_str(str_field(body, "addr")?).map_err(|e| bad(format!("addr: {e:?}")))
}

fn user_channel_id(body: &Value) -> Result<UserChannelId, (u16, String)> {
	let v = field(body, "user_channel_id")?;
	let n = match v {
		Value::String(s) => s.parse::<u128>().map_err(|e| bad(format!("user_channel_id: {e}")))?,
		_ => v.as_u64().ok_or_else(|| bad("user_channel_id must be a decimal string"))? as u128,
	};
	Ok(UserChannelId(n))
}

fn event_json(e: &Event) -> Value {
	match e {
		Event::PaymentSuccessful { payment_id, payment_hash, payment_preimage, fee_paid_msat } => {
			json!({"type": "PaymentSuccessful", "payment_id": payment_id.map(|p| hex(&p.0)),
				"payment_hash": hex(&payment_hash.0), "payment_preimage": payment_preimage.map(|p| hex(&p.0)),
				"fee_paid_msat": fee_paid_msat})
		},
		Event::PaymentFailed { payment_id, payment_hash, reason } => {
			json!({"type": "PaymentFailed", "payment_id": payment_id.map(|p| hex(&p.0)),
				"payment_hash": payment_hash.map(|h| hex(&h.0)), "reason": reason.map(|r| format!("{r:?}"))})
		},
		Event::PaymentReceived { payment_id, payment_hash, amount_msat, custom_records } => {
			json!({"type": "PaymentReceived", "payment_id": payment_id.map(|p| hex(&p.0)),
				"payment_hash": hex(&payment_hash.0), "amount_msat": amount_msat,
				"custom_records": custom_records.len()})
		},
		Event::PaymentClaimable { payment_id, payment_hash, claimable_amount_msat, claim_deadline, .. } => {
			json!({"type": "PaymentClaimable", "payment_id": hex(&payment_id.0),
				"payment_hash": hex(&payment_hash.0), "claimable_amount_msat": claimable_amount_msat,
				"claim_deadline": claim_deadline})
		},
		Event::ChannelPending { channel_id, user_channel_id, counterparty_node_id, funding_txo, .. } => {
			json!({"type": "ChannelPending", "channel_id": hex(&channel_id.0),
				"user_channel_id": user_channel_id.0.to_string(),
				"counterparty_node_id": counterparty_node_id.to_string(), "funding_txo": funding_txo.to_string()})
		},
		Event::ChannelReady { channel_id, user_channel_id, counterparty_node_id, funding_txo } => {
			json!({"type": "ChannelReady", "channel_id": hex(&channel_id.0),
				"user_channel_id": user_channel_id.0.to_string(),
				"counterparty_node_id": counterparty_node_id.map(|p| p.to_string()),
				"funding_txo": funding_txo.map(|o| o.to_string())})
		},
		Event::ChannelClosed { channel_id, user_channel_id, counterparty_node_id, reason } => {
			json!({"type": "ChannelClosed", "channel_id": hex(&channel_id.0),
				"user_channel_id": user_channel_id.0.to_string(),
				"counterparty_node_id": counterparty_node_id.map(|p| p.to_string()),
				"reason": reason.as_ref().map(|r| r.to_string())})
		},
		#[allow(unreachable_patterns)]
		other => json!({"type": "Other", "debug": format!("{other:?}")}),
	}
}

fn payment_json(p: &ldk_node::payment::PaymentDetails) -> Value {
	let (kind, hash, preimage) = match &p.kind {
		PaymentKind::Onchain { txid, .. } => ("onchain", Some(txid.to_string()), None),
		PaymentKind::Bolt11 { hash, preimage, .. } => ("bolt11", Some(hex(&hash.0)), preimage.map(|x| hex(&x.0))),
		PaymentKind::Spontaneous { hash, preimage } => {
			("spontaneous", Some(hex(&hash.0)), preimage.map(|x| hex(&x.0)))
		},
		_ => ("other", None, None),
	};
	json!({"id": hex(&p.id.0), "kind": kind, "payment_hash": hash, "preimage": preimage,
		"amount_msat": p.amount_msat, "fee_paid_msat": p.fee_paid_msat,
		"direction": format!("{:?}", p.direction), "status": format!("{:?}", p.status)})
}

fn handle(node: &Node, method: &str, path: &str, body: &Value) -> Reply {
	match (method, path) {
		("GET", "/node_id") => Ok(json!({"node_id": node.node_id().to_string()})),
		("GET", "/listen") => {
			let addrs = node.listening_addresses().unwrap_or_default();
			Ok(json!({"addresses": addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>()}))
		},
		("POST", "/connect") => {
			let persist = body.get("persist").and_then(Value::as_bool).unwrap_or(false);
			node.connect(pubkey(body)?, sockaddr(body)?, persist).map_err(node_err)?;
			Ok(json!({}))
		},
		("GET", "/peers") => Ok(Value::Array(
			node.list_peers()
				.iter()
				.map(|p| json!({
					"node_id": p.node_id.to_string(),
					"address": p.address.to_string(),
					"is_persisted": p.is_persisted,
					"is_connected": p.is_connected,
				}))
				.collect(),
		)),
		("POST", "/disconnect") => {
			node.disconnect(pubkey(body)?).map_err(node_err)?;
			Ok(json!({}))
		},
		("POST", "/new_address") => {
			let addr = node.onchain_payment().new_address().map_err(node_err)?;
			Ok(json!({"address": addr.to_string()}))
		},
		("GET", "/balances") => {
			let b = node.list_balances();
			Ok(json!({
				"total_onchain_sat": b.total_onchain_balance_sats,
				"spendable_onchain_sat": b.spendable_onchain_balance_sats,
				"anchor_reserve_sat": b.total_anchor_channels_reserve_sats,
				"total_lightning_sat": b.total_lightning_balance_sats,
				"lightning_balances": b.lightning_balances.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>(),
				"pending_sweeps": b.pending_balances_from_channel_closures.iter()
					.map(|x| format!("{x:?}")).collect::<Vec<_>>(),
			}))
		},
		("POST", "/open_channel") => {
			let (pk, addr, amount) = (pubkey(body)?, sockaddr(body)?, u64_field(body, "amount_sat")?);
			let push = body.get("push_msat").and_then(Value::as_u64);
			let id = if body.get("announce").and_then(Value::as_bool).unwrap_or(false) {
				node.open_announced_channel(pk, addr, amount, push, None)
			} else {
				node.open_channel(pk, addr, amount, push, None)
			}
			.map_err(node_err)?;
			Ok(json!({"user_channel_id": id.0.to_string()}))
		},
		("POST", "/close_channel") => {
			let (id, pk) = (user_channel_id(body)?, pubkey(body)?);
			// ldk-node answers Ok for a channel it does not know; a test wants to hear that.
			if !node.list_channels().iter().any(|c| c.user_channel_id.0 == id.0 && c.counterparty_node_id == pk) {
				return Err((404, format!("no channel {} with {pk}", id.0)));
			}
			if body.get("force").and_then(Value::as_bool).unwrap_or(false) {
				node.force_close_channel(&id, pk, None).map_err(node_err)?;
			} else {
				node.close_channel(&id, pk).map_err(node_err)?;
			}
			Ok(json!({}))
		},
		("GET", "/channels") => Ok(Value::Array(
			node.list_channels()
				.iter()
				.map(|c| {
					json!({"channel_id": hex(&c.channel_id.0), "user_channel_id": c.user_channel_id.0.to_string(),
					"counterparty_node_id": c.counterparty_node_id.to_string(),
					"funding_txo": c.funding_txo.map(|o| o.to_string()), "short_channel_id": c.short_channel_id,
					"channel_value_sat": c.channel_value_sats, "outbound_capacity_msat": c.outbound_capacity_msat,
					"inbound_capacity_msat": c.inbound_capacity_msat, "confirmations": c.confirmations,
					"is_outbound": c.is_outbound, "is_channel_ready": c.is_channel_ready,
					"is_usable": c.is_usable, "is_announced": c.is_announced})
				})
				.collect(),
		)),
		("POST", "/invoice") => {
			let desc = if let Some(h) = body.get("description_hash").and_then(Value::as_str) {
				let bytes: [u8; 32] =
					unhex(h).map_err(bad)?.try_into().map_err(|_| bad("description_hash must be 32 bytes"))?;
				Bolt11InvoiceDescription::Hash(Sha256(sha256::Hash::from_byte_array(bytes)))
			} else {
				let text = body.get("description").and_then(Value::as_str).unwrap_or("").to_string();
				Bolt11InvoiceDescription::Direct(Description::new(text).map_err(|e| bad(format!("{e:?}")))?)
			};
			let expiry = body.get("expiry_secs").and_then(Value::as_u64).unwrap_or(3600) as u32;
			let bolt11 = node.bolt11_payment();
			let inv = match body.get("amount_msat").and_then(Value::as_u64) {
				Some(msat) => bolt11.receive(msat, &desc, expiry),
				None => bolt11.receive_variable_amount(&desc, expiry),
			}
			.map_err(node_err)?;
			Ok(json!({"invoice": inv.to_string(), "payment_hash": hex(inv.payment_hash().as_byte_array())}))
		},
		("POST", "/pay") => {
			let inv = Bolt11Invoice::from_str(str_field(body, "invoice")?).map_err(|e| bad(format!("invoice: {e}")))?;
			let id = node.bolt11_payment().send(&inv, None).map_err(node_err)?;
			Ok(json!({"payment_id": hex(&id.0)}))
		},
		("GET", "/payments") => Ok(Value::Array(node.list_payments().iter().map(payment_json).collect())),
		("GET", "/next_event") => match node.next_event() {
			None => Ok(Value::Null),
			Some(e) => {
				let v = event_json(&e);
				node.event_handled().map_err(node_err)?;
				Ok(v)
			},
		},
		("POST", "/sync") => {
			node.sync_wallets().map_err(node_err)?;
			Ok(json!({}))
		},
		_ => Err((404, format!("no route {method} {path}"))),
	}
}

/// Reads one HTTP/1.1 request: (method, path, body).
fn read_request(stream: &TcpStream) -> Result<(String, String, Vec<u8>), String> {
	let mut r = BufReader::new(stream);
	let mut line = String::new();
	r.read_line(&mut line).map_err(|e| e.to_string())?;
	let mut parts = line.split_whitespace();
	let method = parts.next().ok_or("empty request")?.to_string();
	let path = parts.next().ok_or("no path")?.to_string();
	let mut len = 0usize;
	loop {
		let mut h = String::new();
		if r.read_line(&mut h).map_err(|e| e.to_string())? == 0 || h.trim().is_empty() {
			break;
		}
		if let Some((k, v)) = h.split_once(':') {
			if k.trim().eq_ignore_ascii_case("content-length") {
				len = v.trim().parse().map_err(|_| "bad content-length")?;
			}
		}
	}
	if len > 1 << 20 {
		return Err("body too large".into());
	}
	let mut body = vec![0u8; len];
	r.read_exact(&mut body).map_err(|e| e.to_string())?;
	Ok((method, path, body))
}

fn respond(mut stream: &TcpStream, status: u16, body: &Value) {
	let text = body.to_string();
	let reason = match status {
		200 => "OK",
		400 => "Bad Request",
		404 => "Not Found",
		_ => "Internal Server Error",
	};
	let head = format!(
		"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
		text.len()
	);
	let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(text.as_bytes()));
	let _ = stream.flush();
}

fn serve(node: Arc<Node>, stream: TcpStream) {
	let (method, path, raw) = match read_request(&stream) {
		Ok(r) => r,
		Err(e) => return respond(&stream, 400, &json!({"error": e})),
	};
	let body: Value = if raw.is_empty() {
		json!({})
	} else {
		match serde_json::from_slice(&raw) {
			Ok(v) => v,
			Err(e) => return respond(&stream, 400, &json!({"error": format!("body: {e}")})),
		}
	};
	if method == "POST" && path == "/stop" {
		let r = node.stop();
		respond(&stream, 200, &json!({"stopped": r.is_ok()}));
		std::process::exit(0);
	}
	match handle(&node, &method, &path, &body) {
		Ok(v) => respond(&stream, 200, &v),
		Err((status, msg)) => respond(&stream, status, &json!({"error": msg})),
	}
}

fn main() {
	let args = parse_args().unwrap_or_else(|e| {
		eprintln!("ldk-peer: {e}\n{USAGE}");
		std::process::exit(2);
	});
	let node = Arc::new(build_node(&args).unwrap_or_else(|e| {
		eprintln!("ldk-peer: {e}");
		std::process::exit(1);
	}));
	if let Err(e) = node.start() {
		eprintln!("ldk-peer: start: {e}");
		std::process::exit(1);
	}
	let listener = TcpListener::bind(&args.control).unwrap_or_else(|e| {
		eprintln!("ldk-peer: control {}: {e}", args.control);
		std::process::exit(1);
	});
	// One line on stdout once the control port answers: the lab waits for it.
	println!("ldk-peer ready node_id={} control={}", node.node_id(), args.control);
	for stream in listener.incoming().flatten() {
		let node = Arc::clone(&node);
		std::thread::spawn(move || serve(node, stream));
	}
}
