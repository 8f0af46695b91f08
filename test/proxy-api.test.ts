/**
 * The HTTP API in proxy and userproxy mode (config apiurl; ts/modes/proxy-api.ts): a
 * proxy over real TCP in front of a real pool on bcoin regtest (behind the hard-target
 * stand-in of test/helpers/hardbits.ts, so shares are shares), a miner mining through
 * it, the API asked over HTTP: /api/v1/pool with the upstream state (a dead first entry
 * and the live second one), the local miners, /metrics from ProxyMetrics, the history of
 * the proxy's own miners, no blocks. The modes without an API (-P, -N, -R) refuse apiurl
 * at start with a clear error.
 */
import test from 'ava';
import { ProxyMode } from '../ts/modes/proxy.js';
import { startMode } from '../ts/modes/start.js';
import { MemoryLogger } from '../ts/log/logger.js';
import type { Pool } from '../ts/pool/pool.js';
import { freePort } from '../ts/node/ports.js';
import type { HardBits } from './helpers/hardbits.js';
import { miner, mineOne, modeConfig, startMainPoolEnv, stopMainPoolEnv } from './helpers/modes.js';

const DIFF = 0.00001;
let hard: HardBits;
let pool: Pool;
const closers: (() => Promise<void> | void)[] = [];

test.before(async () => {
  ({ hard, pool } = await startMainPoolEnv(DIFF));
});
test.after.always(() => stopMainPoolEnv({ pool, hard }, closers));

test.serial('proxy with apiurl: /api/v1/pool with the upstream state, miners, clients, /metrics, history; no blocks', async (t) => {
  const dead = await freePort();
  const logger = new MemoryLogger();
  // port 0 (any free one): past the config parser, which wants a real port
  const config = modeConfig('proxy', [{ port: dead }, { port: pool.addresses[0]!.port }], { startdiff: DIFF, mindiff: 1e-9 }, { apiurl: '127.0.0.1:0' });
  const proxy = await ProxyMode.start(config, { logger, server: { highdiffPort: 65535 }, retryMs: 100, historyIntervalMs: 300 });
  closers.push(() => proxy.stop());
  await proxy.waitReady(20_000);
  t.truthy(proxy.api);
  const base = proxy.api!.server.url;
  t.regex(base, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const get = async (p: string) => {
    const r = await fetch(new URL(p, base));
    const text = await r.text();
    let json: any;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: r.status, type: r.headers.get('content-type') ?? '', text, json };
  };

  const c = await miner(proxy.addresses[0]!.port, 'local.rig');
  closers.push(() => c.close());
  for (let i = 0; i < 3; i++) t.is((await mineOne(c, 'local.rig')).reply.result, true);

  // the pool figures are folded in by the stats tick
  let p = await get('/api/v1/pool');
  for (let i = 0; i < 100 && !(p.json.sharesAccepted >= 3); i++) {
    await new Promise((r) => setTimeout(r, 100));
    p = await get('/api/v1/pool');
  }
  t.is(p.status, 200);
  t.like(p.json, { mode: 'proxy', miners: 1, users: 1, network: null, lastBlock: null, blocksFound: 0 });
  t.true(p.json.sharesAccepted >= 3);
  const up = p.json.upstream;
  t.like(up, { connected: true, ready: true, url: `127.0.0.1:${pool.addresses[0]!.port}`, sessions: 1 });
  t.true(up.connects >= 1);
  t.is(up.pools.length, 2);
  t.like(up.pools[0], { url: `127.0.0.1:${dead}`, active: false });
  t.regex(up.pools[0].lastError ?? '', /ECONNREFUSED|refused/i, 'the dead entry says why');
  t.like(up.pools[1], { active: true, lastError: null });

  const cl = await get('/api/v1/clients');
  t.like(cl.json, { total: 1 });
  t.like(cl.json.items[0], { user: 'local', worker: 'local.rig', address: '127.0.0.1' });
  const u = await get('/api/v1/users/local');
  t.like(u.json, { user: 'local', workers: 1 });
  t.like((await get('/api/v1/blocks')).json, { total: 0, items: [] });

  const m = await get('/metrics');
  t.is(m.status, 200);
  t.regex(m.type, /^text\/plain/);
  t.regex(m.text, /^ckpool_miners_connected 1$/m);
  t.regex(m.text, /^ckpool_shares_accepted_total \d+/m);

  // history of the proxy's own miners (sampled every 300 ms here)
  let hp = (await get('/api/v1/history/pool?range=1h')).json;
  for (let i = 0; i < 50 && !(hp.t.length >= 1); i++) {
    await new Promise((r) => setTimeout(r, 100));
    hp = (await get('/api/v1/history/pool?range=1h')).json;
  }
  t.like(hp, { range: '1h', stepSeconds: 60 });
  t.true(hp.t.length >= 1);
  t.is((await get('/api/v1/history/users/local?range=24h')).status, 200);
  // the ckpool stats files over HTTP, as in pool mode
  t.regex((await get('/pool/pool.status')).text, /"runtime"/);

  // stopping closes the port
  await proxy.stop();
  closers.pop();
  await t.throwsAsync(fetch(new URL('/api/v1/pool', base)));
});

test.serial('passthrough and redirector modes (node mode by the same check) refuse apiurl at start, saying so', async (t) => {
  for (const mode of ['passthrough', 'redirector'] as const) {
    const extra = mode === 'redirector' ? { redirecturl: ['127.0.0.1:1'] } : {};
    const config = modeConfig(mode, [{ port: pool.addresses[0]!.port }], { apiurl: `127.0.0.1:${await freePort()}`, ...extra });
    const e = await t.throwsAsync(startMode(config, { name: mode, logger: new MemoryLogger() }));
    t.is((e as { code?: string }).code, 'CKP_ERR_API_UNAVAILABLE', mode);
    t.is(e!.message.replace(/^CKP_ERR_API_UNAVAILABLE: /, ''), `the HTTP API (config "apiurl") is not available in ${mode} mode`);
  }
});
