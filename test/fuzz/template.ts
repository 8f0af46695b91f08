/**
 * Fuzz target: a getblocktemplate reply body read both ways the pool reads it — the
 * native reader (ts/node/template-reader.ts decodeTemplate over crates/ckpool-core's
 * template.rs) and the ordinary JSON.parse — and turned into a Workbase
 * (ts/work/workbase.ts: checkTemplate, merkle branch, witness commitment, coinbase).
 *
 * Invariants: only coded errors escape (CKP_ERR_WORK_TEMPLATE, CKP_ERR_NATIVE_*, ...);
 * when the native reader takes a body, JSON.parse takes it too and both give the same
 * transactions (same count, txids and data), so a template read natively can later be
 * materialised (a node link's workinfo, a solved block) without a surprise.
 */
import { decodeTemplate, templateTxData, templateTxids } from '../../ts/node/template-reader.js';
import type { BlockTemplate } from '../../ts/node/rpc-types.js';
import { Workbase } from '../../ts/work/workbase.js';
import { allowKnown, check, FuzzFinding } from './invariant.js';

/** a P2WPKH payout script (the pool address kind of the regtest tests) */
const PAYOUT = Buffer.from('0014' + '11'.repeat(20), 'hex');

export function workbaseFrom(t: BlockTemplate): Workbase | Error {
  return allowKnown(() => new Workbase({ template: t, seq: 1, epoch: 1, payout: { script: PAYOUT }, nonce1length: 4, nonce2length: 8 }));
}

export function fuzz(data: Buffer): void {
  let native: BlockTemplate | undefined;
  try {
    native = decodeTemplate(200, data);
  } catch (e) {
    throw new FuzzFinding(`decodeTemplate threw (it must hand back undefined for a body it does not take): ${String(e)}`);
  }
  let plain: unknown;
  try {
    plain = (JSON.parse(data.toString('utf8')) as { result?: unknown })?.result;
  } catch {
    plain = undefined;
  }
  if (native !== undefined) {
    check(plain !== undefined && plain !== null && typeof plain === 'object', 'native reader took a body JSON.parse refuses');
    const txs = (plain as { transactions?: unknown }).transactions;
    check(Array.isArray(txs), 'native reader took a template without a transactions array');
    const ids = templateTxids(native);
    check(ids.length === (txs as unknown[]).length, 'native and JSON transaction counts differ');
    const data2 = templateTxData(native);
    for (let i = 0; i < ids.length; i++) {
      const tx = (txs as { txid?: unknown; hash?: unknown; data?: unknown }[])[i]!;
      check(ids[i] === String(tx.txid ?? tx.hash).toLowerCase(), `txid ${i} differs between the readers`);
      // Known and left (see BENCHMARKS.md, Fuzzing): neither reader checks that `data` is
      // hex; the native one hands back non-ASCII bytes as latin1, JSON.parse as UTF-8.
      if (typeof tx.data === 'string' && /^[\x00-\x7f]*$/.test(tx.data)) check(data2[i] === tx.data, `data ${i} differs between the readers`);
    }
    workbaseFrom(native);
  }
  if (plain !== undefined && plain !== null && typeof plain === 'object') workbaseFrom(plain as BlockTemplate);
}
