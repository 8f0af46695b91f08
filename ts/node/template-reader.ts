/**
 * getblocktemplate replies read natively (crates/ckpool-core/src/template.rs).
 *
 * With thousands of transactions, `JSON.parse` of the reply builds an object and three
 * strings per transaction, and the pool keeps them as long as the workbase lives: work
 * for the parser and the garbage collector on the block-change critical path. The
 * native reader decodes only what a workbase needs (txids and wtxids, in internal byte
 * order), hands back the template's other fields, and says where each transaction's
 * raw hex is in the reply buffer (templateTxData: a solved block, mining.get_transactions).
 * `transactions` becomes objects only if something reads it (a node link's workinfo, which
 * sends the whole template): to every reader it is the same BlockTemplate as before.
 */
import { native } from '../native/binding.js';
import type { BlockTemplate, TemplateTransaction } from './rpc-types.js';

/** What the native reader decoded: one 32-byte hash per transaction, internal order. */
export interface TemplateHashes {
  readonly count: number;
  readonly txids: Buffer;
  readonly wtxids: Buffer;
  /** the reply body, and where each transaction's data hex is in it (start, end, …) */
  readonly body: Buffer;
  readonly data: Uint32Array;
}

const HASHES = Symbol('ckpool-ts.templateHashes');

/** The decoded hashes of a template read natively (undefined for one read with JSON.parse). */
export function templateHashes(t: BlockTemplate): TemplateHashes | undefined {
  return (t as { [HASHES]?: TemplateHashes })[HASHES];
}

/**
 * RpcClient `decode` hook for getblocktemplate: the template, or undefined to let the
 * client read the reply the ordinary way (an HTTP or RPC error, a reply the native reader
 * does not take; the ordinary path then reports it with the usual coded errors).
 */
export function decodeTemplate(status: number, body: Buffer): BlockTemplate | undefined {
  if (status !== 200) return undefined;
  let p: ReturnType<typeof native.parseBlockTemplate>;
  try {
    p = native.parseBlockTemplate(body);
  } catch {
    return undefined;
  }
  if (p === null) return undefined;
  let fields: unknown;
  try {
    fields = JSON.parse(p.fields);
  } catch {
    return undefined;
  }
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) return undefined;
  const t = fields as BlockTemplate;
  let txs: TemplateTransaction[] | undefined;
  Object.defineProperty(t, 'transactions', {
    enumerable: true,
    configurable: true,
    // the whole objects (fee, depends, …) only on demand: the ordinary parse, once
    get: () => (txs ??= (JSON.parse(body.toString('utf8')) as { result: BlockTemplate }).result.transactions),
    set: (v: TemplateTransaction[]) => { txs = v; },
  });
  const hashes: TemplateHashes = { count: p.count, txids: p.txids, wtxids: p.wtxids, body, data: p.data };
  Object.defineProperty(t, HASHES, { value: hashes });
  return t;
}

/** Every transaction's raw hex, in template order (without materialising the objects when read natively). */
export function templateTxData(t: BlockTemplate): string[] {
  const h = templateHashes(t);
  if (!h) return t.transactions.map((tx) => tx.data);
  const out = new Array<string>(h.count);
  for (let i = 0; i < h.count; i++) out[i] = h.body.toString('latin1', h.data[2 * i]!, h.data[2 * i + 1]!);
  return out;
}

/** RPC-order txids of a template. */
export function templateTxids(t: BlockTemplate): string[] {
  const h = templateHashes(t);
  if (!h) return t.transactions.map((tx) => tx.txid ?? tx.hash);
  const out = new Array<string>(h.count);
  for (let i = 0; i < h.count; i++) out[i] = Buffer.from(h.txids.subarray(32 * i, 32 * i + 32)).reverse().toString('hex');
  return out;
}

/** A template's fields without `transactions` (which is not read, so not materialised). */
export function templateWithoutTransactions(t: BlockTemplate): BlockTemplate {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(t)) if (k !== 'transactions') out[k] = (t as unknown as Record<string, unknown>)[k];
  out.transactions = [];
  return out as unknown as BlockTemplate;
}
