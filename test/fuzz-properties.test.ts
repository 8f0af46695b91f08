/**
 * fast-check properties over the fuzz targets of test/fuzz/ (the same fuzz functions
 * jazzer runs, so the same invariants: only coded errors escape, output bounded, the two
 * template readers agree), with a bounded number of runs so the whole file takes a few
 * seconds; plus every committed seed of test/fuzz/corpus/ replayed, so a corpus entry
 * that once found something stays a regression test. Coverage-guided runs: npm run fuzz.
 */
import test from 'ava';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { fuzz as fuzzConfig } from './fuzz/config.js';
import { fuzz as fuzzControl } from './fuzz/control.js';
import { fuzz as fuzzStratum, JOB_ID, stratifier } from './fuzz/stratum.js';
import { fuzz as fuzzTemplate } from './fuzz/template.js';
import { fuzz as fuzzRpc, closeRpcTarget } from './fuzz/rpc.js';
import { fuzz as fuzzUpstream, closeUpstreamTarget } from './fuzz/upstream.js';

const TARGETS: Record<string, (d: Buffer) => void | Promise<void>> = {
  config: fuzzConfig, control: fuzzControl, stratum: fuzzStratum, template: fuzzTemplate, rpc: fuzzRpc, upstream: fuzzUpstream,
};
test.after.always(async () => {
  stratifier.close();
  closeRpcTarget();
  await closeUpstreamTarget();
});

const corpus = new URL('./fuzz/corpus/', import.meta.url);
for (const [name, fuzz] of Object.entries(TARGETS)) {
  test(`every committed seed of the ${name} target keeps its invariants`, async (t) => {
    const seeds = readdirSync(new URL(`${name}/`, corpus));
    t.true(seeds.length > 0, 'a seed corpus is committed');
    for (const s of seeds) await fuzz(readFileSync(new URL(`${name}/${s}`, corpus)));
  });
}

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const RUNS = { numRuns: 200 };

test('config: arbitrary text and JSON-ish objects parse or are refused with a CKP_ERR_CONFIG_* error', async (t) => {
  await fc.assert(fc.property(bytes(512), (d) => fuzzConfig(d)), RUNS);
  const value = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }));
  const keys = fc.constantFrom('btcd', 'proxy', 'btcaddress', 'btcsig', 'serverurl', 'mindiff', 'startdiff', 'maxdiff', 'nonce1length', 'nonce2length', 'update_interval', 'version_mask', 'logdir', 'zmqblock', 'upstream', 'redirecturl', 'maxclients', 'dropidle');
  await fc.assert(fc.property(fc.nat(255), fc.dictionary(keys, value), (mode, obj) => fuzzConfig(Buffer.concat([Buffer.from([mode]), Buffer.from(JSON.stringify(obj))]))), RUNS);
  t.pass('every generated config was parsed or refused with a coded error (a stray exception fails the property)');
});

test('stratum: random lines and well-formed requests with random params keep the stratifier answering', async (t) => {
  const method = fc.constantFrom('mining.subscribe', 'mining.authorize', 'mining.configure', 'mining.submit', 'mining.suggest_difficulty', 'mining.suggest_target', 'mining.get_transactions', 'mining.get_txnhashes', 'mining.ping', 'mining.extranonce.subscribe', 'mining.term', 'x');
  const param = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(JOB_ID), fc.stringMatching(/^[0-9a-f]{8}$/), fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 2 }));
  const msg = fc.record({ id: fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.constant(null)), method, params: fc.oneof(fc.array(param, { maxLength: 6 }), param) });
  await fc.assert(fc.asyncProperty(fc.nat(255), fc.array(msg, { maxLength: 8 }), async (cut, msgs) => {
    await fuzzStratum(Buffer.concat([Buffer.from([cut]), Buffer.from(msgs.map((m) => JSON.stringify(m) + '\n').join(''))]));
  }), RUNS);
  await fc.assert(fc.asyncProperty(bytes(1200), (d) => fuzzStratum(d)), RUNS);
  t.pass('no exception from the stratifier, every reply a JSON object, output bounded');
});

test('control: random frames and commands never throw out of runCommand', async (t) => {
  const frame = fc.tuple(fc.nat(255), fc.string({ maxLength: 64 })).map(([b, s]) => {
    const body = Buffer.from(s);
    const h = Buffer.alloc(4);
    h.writeUInt32LE(body.length);
    return Buffer.concat([Buffer.from([b]), h, body]);
  });
  const cmd = fc.tuple(fc.nat(255), fc.constantFrom('ping', 'loglevel', 'getuser', 'dropclient', 'reconnect', 'message', 'stats', 'getxfd', 'accept', 'reject'), fc.constantFrom('', '=', ':', ' '), fc.string({ maxLength: 16 }))
    .map(([b, n, sep, a]) => {
      const body = Buffer.from(n + sep + a);
      const h = Buffer.alloc(4);
      h.writeUInt32LE(body.length);
      return Buffer.concat([Buffer.from([b & 0xfc]), h, body]);
    });
  await fc.assert(fc.asyncProperty(fc.oneof(bytes(80), frame, cmd), (d) => fuzzControl(d)), RUNS);
  t.pass('decoder errors coded, replies bounded, no internal error');
});

test('template and rpc: the captured replies, mutated, are read or refused with coded errors', async (t) => {
  const seeds = ['core-regtest-2tx', 'bcoin-regtest'].map((s) => readFileSync(new URL(`template/${s}`, corpus)));
  const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 })).map(([s, edits]) => {
    const b = Buffer.from(s);
    for (const [at, v] of edits) b[at % b.length] = v;
    return b;
  });
  fc.assert(fc.property(fc.oneof(mutated, bytes(300)), (d) => fuzzTemplate(d)), RUNS);
  await fc.assert(fc.asyncProperty(fc.nat(255), mutated, (status, d) => fuzzRpc(Buffer.concat([Buffer.from([status & 0x07]), d]))), { numRuns: 100 });
  t.pass('both readers agree where both read; no uncoded error');
});

test('upstream: messages a pool may send (and garbage) never crash the proxy, hang it or drop its miner', async (t) => {
  const id = fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 4 }));
  const param = fc.oneof(fc.string({ maxLength: 70 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 64 }), { maxLength: 3 }));
  const method = fc.constantFrom('mining.notify', 'mining.set_difficulty', 'client.reconnect', 'client.get_version', 'client.show_message', 'mining.ping', 'mining.set_extranonce', 'x');
  const msg = fc.record({ id, method, params: fc.array(param, { maxLength: 9 }) }).map((m) => Buffer.from(JSON.stringify(m)));
  await fc.assert(fc.asyncProperty(fc.oneof(msg, bytes(200)), (d) => fuzzUpstream(d)), { numRuns: 40 });
  t.pass();
});
