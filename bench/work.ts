/**
 * `npm run bench:work` — getblocktemplate with 4000 transactions → workbase ready.
 *
 * The template is synthesised in memory in Bitcoin Core's shape (4000 transactions of
 * ~370-byte witness data, txid ≠ wtxid, a real witness commitment) and serialised to
 * the JSON text a node would send, so the measurement covers what the pool does with
 * a reply: JSON.parse, template checks, txids → merkle branch (Rust), wtxids → witness
 * commitment (Rust, compared with the node's), coinbase assembly, notify params.
 * Targets (issue 3): total < 15 ms, of which Rust < 2 ms. Measured two ways: the reply
 * through JSON.parse (a caller handing Workbase a template object), and the reply body
 * through the native reader the pool's RPC client uses (ts/node/template-reader.ts).
 */
import { randomBytes } from 'node:crypto';
import { merkleBranch, witnessCommitment, fromDisplayHex } from '../ts/native/core.js';
import { Workbase } from '../ts/work/workbase.js';
import { decodeTemplate } from '../ts/node/template-reader.js';
import type { BlockTemplate } from '../ts/node/rpc-types.js';

const N = 4000;
const rev = (b: Buffer) => Buffer.from(b).reverse().toString('hex');
const txs = Array.from({ length: N }, () => {
  const txid = randomBytes(32);
  const wtxid = randomBytes(32);
  return { data: randomBytes(370).toString('hex'), txid: rev(txid), hash: rev(wtxid), depends: [], fee: 1000, sigops: 4, weight: 900 };
});
const commitment = witnessCommitment(Buffer.concat(txs.map((t) => fromDisplayHex('w', t.hash))));
const template: BlockTemplate = {
  version: 0x20000000, rules: ['csv', '!segwit', 'taproot'], previousblockhash: rev(randomBytes(32)), transactions: txs,
  coinbaseaux: {}, coinbasevalue: 312_500_000 + N * 1000, target: '00'.repeat(32), mintime: 0, mutable: [], noncerange: '00000000ffffffff',
  sigoplimit: 80000, sizelimit: 4000000, weightlimit: 4000000, curtime: 1732400000, bits: '17034219', height: 870000,
  default_witness_commitment: '6a24aa21a9ed' + commitment.toString('hex'),
};
const json = JSON.stringify({ result: template, error: null, id: 1 });
const script = Buffer.from('0014751e76e8199196d454941c45d1b3a323f1433bd6', 'hex');
const rounds = process.argv.includes('--quick') ? 20 : 100;

function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const total: number[] = [];
const nativeTotal: number[] = [];
const body = Buffer.from(json);
const parse: number[] = [];
const rustBranch: number[] = [];
const rustCommit: number[] = [];
let seq = 0;
for (let i = 0; i < rounds + 5; i++) {
  let tpl: BlockTemplate | undefined;
  const p = time(() => { tpl = (JSON.parse(json) as { result: BlockTemplate }).result; });
  const t = time(() => {
    const wb = new Workbase({ template: tpl!, seq: ++seq, epoch: 1, payout: { script }, nonce1length: 4, nonce2length: 8, btcsig: '/bench/' });
    wb.notifyParams(true);
  });
  const txids = Buffer.concat(tpl!.transactions.map((x) => fromDisplayHex('t', x.txid)));
  const wtxids = Buffer.concat(tpl!.transactions.map((x) => fromDisplayHex('w', x.hash)));
  const b = time(() => merkleBranch(txids));
  const c = time(() => witnessCommitment(wtxids));
  const n = time(() => {
    const tpl2 = decodeTemplate(200, body)!;
    const wb = new Workbase({ template: tpl2, seq: ++seq, epoch: 1, payout: { script }, nonce1length: 4, nonce2length: 8, btcsig: '/bench/' });
    wb.notifyParams(true);
  });
  if (i >= 5) { total.push(p + t); parse.push(p); rustBranch.push(b); rustCommit.push(c); nativeTotal.push(n); }
}
const summary = {
  txs: N,
  templateJsonBytes: json.length,
  medianMs: { nativeReaderTotal: +median(nativeTotal).toFixed(3), total: +median(total).toFixed(3), jsonParse: +median(parse).toFixed(3), rustMerkleBranch: +median(rustBranch).toFixed(3), rustWitnessCommitment: +median(rustCommit).toFixed(3) },
};
console.log(`getblocktemplate (${N} txs, ${(json.length / 1e6).toFixed(1)} MB JSON) → workbase ready, median of ${rounds}:`);
console.log(`  total ${summary.medianMs.total} ms (target < 15): JSON.parse ${summary.medianMs.jsonParse} ms, ` +
  `Rust merkle branch ${summary.medianMs.rustMerkleBranch} ms + witness commitment ${summary.medianMs.rustWitnessCommitment} ms (target < 2 together)`);
console.log(`  through the native reader (reply body → workbase, as the pool does): ${summary.medianMs.nativeReaderTotal} ms`);
console.log(JSON.stringify(summary));
