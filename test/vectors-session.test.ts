/**
 * The five recorded shares of test/fixtures/share-vectors.json replayed through a real
 * stratum session: the pool (real TCP server + stratifier) serves each recorded job with
 * the recorded extranonce1 (as an upstream prefix, the way the proxy modes take an
 * upstream pool's), the client submits the recorded share, and the pool validates it —
 * accepted, and sent down the block path when it meets the job's network target.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { StratumServer } from '../ts/stratum/server.js';
import { Stratifier } from '../ts/pool/stratifier.js';
import { Workbase } from '../ts/work/workbase.js';
import { StratumClient } from '../ts/miner/client.js';
import { targetFromNbits, targetToBigInt, fromDisplayHex } from '../ts/native/core.js';
import { StaticWorkSource } from './helpers/static-work.js';

const vectors = JSON.parse(readFileSync(new URL('./fixtures/share-vectors.json', import.meta.url), 'utf8')).vectors;

for (const v of vectors) {
  test(`replay through a session: ${v.name}`, async (t) => {
    const en1 = v.extranonce1 as string;
    const source = new StaticWorkSource();
    const server = new StratumServer({ urls: ['127.0.0.1:0'], highdiffPort: 65535 });
    const strat = new Stratifier({
      generator: source, server, solo: false, mindiff: 1, startdiff: 1, highdiff: 1, maxdiff: 0,
      nonce1length: en1.length / 2, nonce2length: v.extranonce2_size, enonce1Prefix: en1,
      versionMask: 0x1fffe000, updateInterval: 30,
    });
    await server.listen();
    const c = await StratumClient.connect(server.addresses[0]!.port);
    t.teardown(async () => { c.close(); strat.close(); await server.close(); });

    source.push(new Workbase({ notify: v.notify, seq: 1, epoch: 0x6b049b0a, nonce1length: en1.length / 2, nonce2length: v.extranonce2_size }));
    const job = c.nextJob();
    const sub = await c.subscribe('replay');
    t.is((sub.result as unknown[])[1], en1, 'the recorded extranonce1');
    const j = await job;
    // the notify the miner gets is the recorded job, under the pool's own job id
    t.deepEqual(j.params.slice(1, 8), v.notify.slice(1, 8));
    t.is((await c.authorize(v.submit.worker)).result, true);

    const s = v.submit;
    const params = [j.jobId, s.extranonce2, s.ntime, s.nonce];
    if (s.version_bits) params.push(s.version_bits);
    const judged = once(strat, 'share');
    const r = await c.submit(v.submit.worker, params);
    t.deepEqual([r.result, r.error], [true, null], JSON.stringify(r));
    const [, verdict] = (await judged) as [unknown, { accepted: boolean; hash: string; sdiff: number }];
    t.is(verdict.hash, v.expected_block_hash);
    t.true(Math.abs(verdict.sdiff - v.share_difficulty) < 1e-4 * v.share_difficulty);
    // the block path is taken exactly when the hash meets the job's network target
    const isBlock = targetToBigInt(fromDisplayHex('h', v.expected_block_hash)) <= targetToBigInt(targetFromNbits(parseInt(v.notify[6], 16)));
    t.is(source.blocks.length, isBlock ? 1 : 0);
    if (isBlock) t.is(source.blocks[0]!.header.toString('hex'), v.header_hex);
    // and the same share again is a duplicate
    const dup = await c.submit(v.submit.worker, params);
    t.deepEqual(dup.error, [22, 'Duplicate', null]);
  });
}

test('with the whole extranonce1 fixed by the prefix, a second client is told the pool is full', async (t) => {
  const v = vectors[0];
  const source = new StaticWorkSource();
  const server = new StratumServer({ urls: ['127.0.0.1:0'], highdiffPort: 65535 });
  const strat = new Stratifier({
    generator: source, server, solo: false, mindiff: 1, startdiff: 1, highdiff: 1, maxdiff: 0,
    nonce1length: 4, nonce2length: 4, enonce1Prefix: v.extranonce1, versionMask: 0x1fffe000, updateInterval: 30,
  });
  await server.listen();
  source.push(new Workbase({ notify: v.notify, seq: 1, epoch: 1, nonce1length: 4, nonce2length: 4 }));
  const a = await StratumClient.connect(server.addresses[0]!.port);
  const b = await StratumClient.connect(server.addresses[0]!.port);
  t.teardown(async () => { a.close(); b.close(); strat.close(); await server.close(); });
  t.true(Array.isArray((await a.subscribe()).result));
  t.deepEqual((await b.subscribe()).error, [20, 'Pool full: no extranonce1 left', null]);
  t.throws(() => new Stratifier({
    generator: source, server, solo: false, mindiff: 1, startdiff: 1, highdiff: 1, maxdiff: 0,
    nonce1length: 4, nonce2length: 4, enonce1Prefix: 'zz', versionMask: 0, updateInterval: 30,
  }), { code: 'CKP_ERR_STRATUM_OPTION' } as never);
});
