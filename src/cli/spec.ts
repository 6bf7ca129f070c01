/**
 * What a command accepts, declared once: the parser checks a command line
 * against it and the help text is printed from it, so the two cannot drift.
 */
export interface ArgSpec {
  name: string;
  /** Unit, format and default, for `help <cmd>`. */
  help: string;
  optional?: boolean;
  /** Takes every remaining argument (zero or more). Only the last argument. */
  variadic?: boolean;
}

export interface FlagSpec {
  /** With the leading dashes: `--fee-rate`. */
  name: string;
  /** The value's placeholder (`SAT_PER_VB`); absent for a switch that takes no value. */
  value?: string;
  help: string;
}

export interface CommandSpec {
  name: string;
  /** One line for the command list. */
  summary: string;
  args: readonly ArgSpec[];
  flags: readonly FlagSpec[];
  /** Paragraphs after the argument list in `help <cmd>`. */
  notes?: readonly string[];
  /** A line to copy, shown in `help <cmd>`. */
  example?: string;
}

/** Options every command takes, before or after the command name. */
export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: '--data-dir', value: 'DIR', help: "the node's data dir: its rpc.token, rpc.addr and tls.cert (default ~/.lnnode/<network>)" },
  { name: '--network', value: 'NET', help: 'regtest | testnet | signet | mainnet: picks the default data dir (default regtest)' },
  { name: '--rpc', value: 'HOST:PORT', help: "the node's lnnode.v1 API (default: rpc.addr in the data dir, else 127.0.0.1:10019)" },
  { name: '--tls-cert', value: 'FILE', help: "the API's certificate when it is not on loopback (default <data-dir>/tls.cert)" },
  { name: '--json', help: 'print the answer as JSON (bytes as hex, 64-bit amounts as strings, enums by short name)' },
  { name: '--help', help: 'help for the command (or -h)' },
];
