/**
 * ckpool's wire format on passthrough and node links (behaviour §12.2, §12.3, §12.6),
 * both directions, as ckpool 0.9.9's stratifier.c writes it and reads it.
 *
 * - Every message the pool sends a miner behind a link carries `"node.method"`, one of
 *   ckpool's internal message names (stratum_msgs in ckpool.h): `subscribe.result`,
 *   `auth.result`, `share.result`, `diff`, `update`, … ckpool's node reads the miner's
 *   extranonce1, difficulty and authorisation from these (stratifier.c:node_client_msg),
 *   and ckpool's redirector counts a miner as authorised only on `auth.result`
 *   (connector.c:client_message_processor). Passthroughs strip it before the miner sees it.
 * - A node link also gets `{"node.method":"workinfo",...}` per workbase with the keys
 *   and JSON types of stratifier.c:send_node_workinfo (read by add_node_base), and
 *   `{"node.method":"transactions","transaction":[{"hash","data"},...]}` with the raw
 *   transactions the node has not been sent yet (read by add_node_txns).
 *
 * Differences from ckpool 0.9.9, both so that a ckpool node can rebuild every job:
 * `transactions` go out *before* the workinfo that lists them (ckpool sends them after,
 * and its node then drops a workbase whose transactions its own bitcoind lacks), and
 * each one's `hash` is its txid, the key `txn_hashes` uses (ckpool sends the wtxid, so
 * its node misses segwit transactions in its table and falls back to getrawtransaction).
 * No `block` message is sent to nodes when the pool solves a block.
 */
import { ckError } from '../errors.js';
import { prevhashFromStratum, toDisplayHex } from '../native/core.js';
import type { Workbase } from '../work/workbase.js';
import { hex8 } from './common.js';

/** ckpool's names for the messages a pool sends down a link (ckpool.h stratum_msgs). */
export type NodeMethod =
  | 'reconnect' | 'diff' | 'message' | 'update' | 'error' | 'subscribe.result' | 'share.result' | 'auth.result'
  | 'txns.result' | 'ping' | 'workinfo' | 'suggestdiff' | 'block' | 'pong' | 'transactions' | 'mining.configure';

/** The tag of a reply, from the method of the request it answers (ckpool's parse_method). */
export function replyMethod(requestMethod: string): NodeMethod {
  const m = requestMethod.toLowerCase();
  if (m === 'mining.submit') return 'share.result';
  if (m === 'mining.subscribe') return 'subscribe.result';
  if (m.startsWith('mining.auth')) return 'auth.result';
  if (m === 'mining.configure') return 'mining.configure';
  if (m.startsWith('mining.get')) return 'txns.result';
  if (m.startsWith('mining.suggest')) return 'suggestdiff';
  if (m === 'mining.ping') return 'pong';
  // ckpool answers anything else only with an error (send_json_err: SM_ERROR)
  return 'error';
}

/** The tag of a message the pool starts itself (`"id":null,"method":...`). */
export function serverMethod(method: string): NodeMethod {
  switch (method) {
    case 'mining.notify': return 'update';
    case 'mining.set_difficulty': return 'diff';
    case 'client.reconnect': return 'reconnect';
    case 'mining.ping': return 'ping';
    default: return 'message'; // client.show_message, and anything else ckpool has no name for
  }
}

/**
 * A JSON number that jansson reads as a real: ckpool reads `diff` with
 * json_real_value(), which is 0 for an integer such as `1`.
 */
export function jsonReal(n: number): string {
  if (!Number.isFinite(n)) return '0.0';
  const s = String(n);
  return /^-?\d+$/.test(s) ? `${s}.0` : s;
}

/** The job id of a workbase as ckpool's integer `jobid` (its notify job id is the same number in hex). */
export function jobIdNumber(jobIdHex: string): bigint {
  return BigInt(`0x${jobIdHex}`);
}

/**
 * ckpool's `{"node.method":"workinfo",...}` for a template workbase, as one line of text.
 * `jobid` is written as an integer literal: it is `epoch << 32 | seq`, beyond the
 * integers a JavaScript number holds exactly.
 */
export function workinfoLine(wb: Workbase): string {
  const t = wb.template;
  const txids = wb.txCount ? wb.txids() : [];
  const target = typeof t.target === 'string' && /^[0-9a-fA-F]{64}$/.test(t.target) ? t.target.toLowerCase() : toDisplayHex(wb.networkTarget);
  const fields: [string, string][] = [
    ['jobid', jobIdNumber(wb.jobId).toString()],
    ['target', JSON.stringify(target)],
    ['diff', jsonReal(wb.networkDiff)],
    ['version', String(wb.version)],
    ['curtime', String(t.curtime >>> 0)],
    ['prevhash', JSON.stringify(wb.stratumPrevhash)],
    ['ntime', JSON.stringify(hex8(wb.ntime))],
    ['bbversion', JSON.stringify(hex8(wb.version))],
    ['nbit', JSON.stringify(hex8(wb.nbits))],
    ['coinbasevalue', String(wb.coinbasevalue)],
    ['height', String(wb.height)],
    ['flags', JSON.stringify(typeof t.coinbaseaux?.flags === 'string' ? t.coinbaseaux.flags : '')],
    ['txns', String(txids.length)],
    // ckpool's layout: every txid followed by one space (stratifier.c:wb_merkle_bin_txns)
    ['txn_hashes', JSON.stringify(txids.map((h) => `${h} `).join(''))],
    ['merkles', String(wb.branchHex.length)],
    ['merklehash', JSON.stringify(wb.branchHex)],
    ['coinb1', JSON.stringify(wb.coinb1.toString('hex'))],
    ['enonce1varlen', String(wb.nonce1length)],
    ['enonce2varlen', String(wb.nonce2length)],
    ['coinb1len', String(wb.coinb1.length)],
    ['coinb2len', String(wb.coinb2.length)],
    ['coinb2', JSON.stringify(wb.coinb2.toString('hex'))],
    ['node.method', '"workinfo"'],
  ];
  return `{${fields.map(([k, v]) => `"${k}":${v}`).join(',')}}`;
}

/** ckpool's `{"node.method":"transactions","transaction":[{"hash","data"},...]}`. */
export function transactionsLine(txs: readonly { hash: string; data: string }[]): string {
  return JSON.stringify({ 'node.method': 'transactions', transaction: txs.map((t) => ({ hash: t.hash, data: t.data })) });
}

// ------------------------------------------------------------------ the node's side

/** A workinfo as a node reads it (the keys add_node_base reads, checked and decoded). */
export interface NodeWorkinfo {
  jobid: bigint;
  /** stratum (word-swapped) order, as in mining.notify */
  prevhash: string;
  version: number;
  nbits: number;
  ntime: number;
  height: number;
  coinbasevalue: number;
  target: string;
  flags: string;
  /** display-order txids, in block order */
  txids: string[];
  /** the merkle branch as sent (internal order hex) */
  merklehash: string[];
  coinb1: Buffer;
  coinb2: Buffer;
  enonce1varlen: number;
  enonce2varlen: number;
}

const HEX8 = /^[0-9a-fA-F]{8}$/;
const HEX64 = /^[0-9a-fA-F]{64}$/;

/** The link-level node.method of a line from the pool, without parsing it (null: a miner's message or none). */
export function linkMessageKind(line: string): 'workinfo' | 'transactions' | 'block' | null {
  if (line.includes('"client_id"')) return null; // a message for one miner
  const i = line.indexOf('"node.method":"');
  if (i < 0) return null;
  const kind = line.slice(i + 15, line.indexOf('"', i + 15));
  return kind === 'workinfo' || kind === 'transactions' || kind === 'block' ? kind : null;
}

/** Parse a line carrying a workinfo, keeping `jobid` exact (it exceeds 2^53). */
export function parseWorkinfoLine(line: string): NodeWorkinfo {
  const bad = (what: string) => ckError('CKP_ERR_PROXY_PROTOCOL', 'pool', 'workinfo', what);
  let msg: Record<string, unknown>;
  try {
    msg = JSON.parse(line.replace(/"jobid":\s*(\d+)/, '"jobid":"$1"')) as Record<string, unknown>;
  } catch {
    throw bad('not JSON');
  }
  const str = (k: string, re?: RegExp): string => {
    const v = msg[k];
    if (typeof v !== 'string' || (re && !re.test(v))) throw bad(`${k} missing or malformed`);
    return v;
  };
  const int = (k: string): number => {
    const v = msg[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`${k} missing or not a non-negative integer`);
    return v;
  };
  const jobid = msg.jobid;
  if (typeof jobid !== 'string') throw bad('jobid missing or not an integer');
  const txns = int('txns');
  const hashes = str('txn_hashes');
  const txids = hashes.split(/\s+/).filter((h) => h.length > 0);
  if (txids.length !== txns || !txids.every((h) => HEX64.test(h))) throw bad(`txn_hashes does not hold ${txns} txids`);
  const merklehash = msg.merklehash ?? [];
  if (!Array.isArray(merklehash) || !merklehash.every((h) => typeof h === 'string' && HEX64.test(h))) throw bad('merklehash malformed');
  const coinb1 = Buffer.from(str('coinb1', /^([0-9a-fA-F]{2})+$/), 'hex');
  const coinb2 = Buffer.from(str('coinb2', /^([0-9a-fA-F]{2})*$/), 'hex');
  if (coinb1.length !== int('coinb1len') || coinb2.length !== int('coinb2len')) throw bad('coinb1len/coinb2len do not match coinb1/coinb2');
  const enonce1varlen = int('enonce1varlen');
  const enonce2varlen = int('enonce2varlen');
  if (enonce1varlen > 16 || enonce2varlen < 1 || enonce2varlen > 16) throw bad('enonce1varlen/enonce2varlen out of range');
  return {
    jobid: BigInt(jobid),
    prevhash: str('prevhash', HEX64).toLowerCase(),
    version: parseInt(str('bbversion', HEX8), 16) >>> 0,
    nbits: parseInt(str('nbit', HEX8), 16) >>> 0,
    ntime: parseInt(str('ntime', HEX8), 16) >>> 0,
    height: int('height'),
    coinbasevalue: int('coinbasevalue'),
    target: typeof msg.target === 'string' ? msg.target : '',
    flags: typeof msg.flags === 'string' ? msg.flags : '',
    txids: txids.map((h) => h.toLowerCase()),
    merklehash: (merklehash as string[]).map((h) => h.toLowerCase()),
    coinb1,
    coinb2,
    enonce1varlen,
    enonce2varlen,
  };
}

/** The raw transactions of a `transactions` message (entries without data are skipped, as ckpool does). */
export function parseTransactions(msg: Record<string, unknown>): string[] {
  const list = msg.transaction;
  if (!Array.isArray(list)) throw ckError('CKP_ERR_PROXY_PROTOCOL', 'pool', 'transactions message', 'no transaction array');
  const out: string[] = [];
  for (const t of list) {
    const data = (t as { data?: unknown } | null)?.data;
    if (typeof data === 'string' && data.length > 0) out.push(data);
  }
  return out;
}

/** The witness commitment script (`6a24aa21a9ed‖32 bytes`, hex) a coinbase's outputs carry, or null. */
export function commitmentIn(coinb2: Buffer): string | null {
  const marker = Buffer.from('266a24aa21a9ed', 'hex');
  const at = coinb2.indexOf(marker);
  if (at < 0 || at + marker.length + 32 > coinb2.length) return null;
  return coinb2.subarray(at + 1, at + marker.length + 32).toString('hex');
}

/** GBT `previousblockhash` (display order) from a stratum prevhash. */
export function displayPrevhash(stratumPrevhash: string): string {
  return toDisplayHex(prevhashFromStratum(stratumPrevhash));
}
