/**
 * The web dashboard (web/) in a real browser: Debian's chromium driven by
 * playwright-core, against a real pool (in this process) on a real bcoin regtest
 * node, with its HTTP API on a free port and test miners (test stratum clients
 * whose shares are solved by the Rust core) mining continuously.
 *
 * The main pool sits behind test/helpers/hardbits.ts (shares are not blocks, so the
 * miners' shares stay steady); a second pool straight on the node finds a real block
 * for the blocks page. Screenshots go to test/artifacts/ (gitignored).
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { MemoryLogger } from '../ts/log/logger.js';
import { Pool } from '../ts/pool/pool.js';
import { StratumClient } from '../ts/miner/client.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { hardBitsProxy, type HardBits } from './helpers/hardbits.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const artifacts = path.join(root, 'test', 'artifacts');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const XSS_WORKER = '<img src=x onerror=alert(1)>';
const WORKERS = ['rig1', 'rig2', XSS_WORKER];

let node: BcoinNode;
let proxy: HardBits;
let pool: Pool;
let base: string;
let browser: Browser;
const miners: Miner[] = [];
const pools: Pool[] = [];
const dirs: string[] = [];

interface Miner { worker: string; accepted: number; error: unknown; stop(): Promise<void> }

/** a stratum client that keeps grinding and submitting shares at the pool's difficulty */
async function startMiner(stratumPort: number, worker: string, pauseMs = 400): Promise<Miner> {
  const c = await StratumClient.connect(stratumPort);
  const job = c.nextJob(20_000);
  await c.subscribe();
  await job;
  const auth = await c.authorize(worker);
  if (auth.result !== true) throw new Error(`authorize ${worker}: ${JSON.stringify(auth)}`);
  let running = true;
  const m: Miner = { worker, accepted: 0, error: null, stop: async () => { running = false; await loop; c.close(); } };
  const loop = (async () => {
    while (running) {
      try {
        const s = c.grind();
        const r = await c.submit(worker, s.params);
        if (r.result === true) m.accepted++;
      } catch (err) {
        if (running) m.error = err;
        return;
      }
      await delay(pauseMs);
    }
  })();
  miners.push(m);
  return m;
}

async function startPool(btcd: { url: string; auth?: string; pass?: string }, logdirPrefix: string): Promise<{ pool: Pool; base: string }> {
  const logdir = mkdtempSync(path.join(tmpdir(), logdirPrefix));
  dirs.push(logdir);
  const p = await Pool.start({
    btcd: [{ ...btcd, notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: 0.00001, mindiff: 1e-9, logdir,
    updateInterval: 600, blockpoll: 50, apiurl: '127.0.0.1:0', // port 0: the API binds a free port
  }, { logger: new MemoryLogger(), statsIntervalMs: 60_000, server: { highdiffPort: 65535 }, historyIntervalMs: 2000 });
  pools.push(p);
  if (!p.api) throw new Error('apiurl set but the pool started no API server');
  return { pool: p, base: p.api.url };
}

/** a page that records dialogs (alert() from injected markup) and script errors */
async function openPage(viewport = { width: 1280, height: 900 }): Promise<{ page: Page; dialogs: string[]; errors: string[] }> {
  const page = await browser.newPage({ viewport });
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  page.on('pageerror', (e) => errors.push(e.message));
  return { page, dialogs, errors };
}

const nonZeroChart = (sel: string) => /now (?!0 H\/s)[0-9.]+ [kMGTPEZ]?H\/s/.test(document.querySelector(sel)?.textContent ?? '');

/** the texts of a table's body cells, row by row */
const tableRows = (page: Page, label: string) => page.evaluate((l) =>
  [...document.querySelectorAll(`table[aria-label="${l}"] tbody tr`)].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')), label);

test.before(async () => {
  mkdirSync(artifacts, { recursive: true });
  node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(5, REGTEST_ADDRESS);
  proxy = await hardBitsProxy({ host: node.host, port: node.port });
  ({ pool, base } = await startPool({ url: proxy.url, auth: node.user, pass: node.pass }, 'ckpool-ts-dash-'));
  const port = pool.addresses[0]!.port;
  for (const w of WORKERS) await startMiner(port, `alice.${w}`);
  await startMiner(port, 'bob.cpu0');
  browser = await chromium.launch({ executablePath: CHROMIUM });
});

test.after.always(async () => {
  await Promise.all(miners.map((m) => m.stop()));
  await browser?.close();
  for (const p of pools) await p.stop();
  await proxy?.close();
  await stopAllBcoins();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test.serial('overview: the chart shows a non-zero hashrate, the miners are listed; screenshot', async (t) => {
  const { page, dialogs, errors } = await openPage();
  const urls: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  await page.goto(base);
  await page.waitForFunction(nonZeroChart, '.chart .chart-summary', { timeout: 60_000 });
  await page.waitForFunction(() => document.querySelectorAll('table[aria-label="connected miners"] tbody tr td[data-label="Worker"]').length >= 4,
    undefined, { timeout: 30_000 });
  // the line is drawn from the history store (sampled every 2 s here), not only from live events
  await page.waitForFunction(() => /\((last 1h), ([3-9]|\d\d+) points\)$/.test(document.querySelector('.chart .chart-summary')?.textContent ?? ''),
    undefined, { timeout: 30_000 });
  const rows = await tableRows(page, 'connected miners');
  const workers = rows.map((r) => r[1]);
  for (const w of WORKERS) t.true(workers.includes(`alice.${w}`), `${w} listed`);
  t.true(workers.includes('bob.cpu0'));
  t.true(rows.some((r) => r[0] === 'bob'), 'user column');
  // the figures come from api/v1/pool and its events
  const stat = (k: string) => page.locator(`[data-stat="${k}"] .value`).textContent();
  t.regex((await stat('hashrate')) ?? '', /^[0-9.]+ [kMGTPEZ]?H\/s$/);
  t.not(await stat('hashrate'), '0 H/s');
  t.is(await stat('miners'), '4');
  t.regex((await stat('uptime')) ?? '', /^\d+[smhd]/);
  t.is(await stat('block'), 'none yet');
  t.regex((await stat('network')) ?? '', /^1$/, 'the template difficulty (hardbits: 1d00ffff, difficulty 1)');
  t.true(Number(((await stat('shares')) ?? '').replace(/,/g, '')) > 0);
  await page.screenshot({ path: path.join(artifacts, 'dashboard.png'), fullPage: true });
  for (const m of miners) {
    t.is(m.error, null, `${m.worker} mines without errors`);
    t.true(m.accepted > 0, `${m.worker} has accepted shares`);
  }
  // everything (uPlot included) comes from the pool itself: no CDN
  t.deepEqual(urls.filter((u) => !u.startsWith(base)), []);
  t.true(urls.includes(`${base}assets/uplot/uPlot.iife.min.js`));
  t.deepEqual(dialogs, []);
  t.deepEqual(errors, []);
  await page.close();
});

test.serial('user page: the workers table lists the miners with hashrate, best share, last share, accepted/rejected; its own chart', async (t) => {
  const { page, errors } = await openPage();
  await page.goto(base);
  // the header's search box leads to a user's page
  await page.getByRole('searchbox', { name: 'user or address' }).fill('alice');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.hash === '#/user/alice');
  await page.waitForFunction(() => document.querySelectorAll('table[aria-label="workers"] tbody tr td[data-label="Worker"]').length >= 3,
    undefined, { timeout: 30_000 });
  await page.waitForFunction(nonZeroChart, '.chart .chart-summary', { timeout: 60_000 });
  // the other ranges come from the history store too
  for (const range of ['24h', '7d', '1h']) {
    await page.getByRole('button', { name: range, exact: true }).click();
    await page.waitForFunction((r) => new RegExp(`\\(last ${r}, \\d+ points\\)$`).test(document.querySelector('.chart .chart-summary')?.textContent ?? ''), range, { timeout: 15_000 });
    t.is(await page.getByRole('button', { name: range, exact: true }).getAttribute('aria-pressed'), 'true');
  }
  // every worker has shares in by now: a hashrate, a best share, a last share time
  await page.waitForFunction(() => [...document.querySelectorAll('table[aria-label="workers"] tbody tr')]
    .every((tr) => tr.querySelector('td[data-label="Hashrate"]')?.textContent !== '0 H/s'), undefined, { timeout: 30_000 });
  const rows = await tableRows(page, 'workers');
  t.deepEqual(rows.map((r) => r[0]).sort(), [...WORKERS].sort(), 'the part after "alice." (bob\'s worker is not here)');
  for (const [name, rate, , best, last, accepted, rejected] of rows) {
    t.regex(rate!, /^[0-9.]+ [kMGTPEZ]?H\/s$/, `${name} hashrate`);
    t.regex(best!, /^[0-9.]+[kMGTPEZ]?$/, `${name} best share`);
    t.not(best, '0');
    t.regex(last!, /^(just now|\d+ s ago)$/, `${name} last share`);
    t.true(Number(accepted) > 0, `${name} accepted`);
    t.is(rejected, '0');
  }
  t.regex(await page.locator('h1.page-title').textContent() ?? '', /alice$/);
  t.is(await page.locator('[data-stat="workers"] .value').textContent(), '3');
  // sort by name through the API (server-side), page of results redrawn
  await page.getByRole('button', { name: 'Worker', exact: true }).click();
  await page.waitForFunction(() => document.querySelector('table[aria-label="workers"] th[aria-sort] button')?.textContent === 'Worker');
  const byName = (await tableRows(page, 'workers')).map((r) => r[0]);
  const full = byName.map((n) => `alice.${n}`);
  t.deepEqual(full, [...full].sort(), 'ascending by full name (code units)');
  // a worker's own chart (history/workers/alice.rig1), opened from its row
  await page.getByRole('link', { name: 'rig1', exact: true }).click();
  await page.waitForFunction(() => location.hash === '#/user/alice/alice.rig1');
  await page.waitForFunction(nonZeroChart, '.chart[aria-label="Worker rig1 chart"] .chart-summary', { timeout: 60_000 });
  t.is(await page.locator('.chart').count(), 2, 'the user\'s chart and the worker\'s');
  t.is(await page.locator('a[aria-current]').textContent(), 'rig1');
  await page.screenshot({ path: path.join(artifacts, 'dashboard-user.png'), fullPage: true });
  t.deepEqual(errors, []);
  await page.close();
});

test.serial(`XSS: a worker named ${XSS_WORKER} renders as text, creates no element and runs nothing`, async (t) => {
  const { page, dialogs } = await openPage();
  for (const [hash, table] of [['#/user/alice', 'workers'], ['#/', 'connected miners']] as const) {
    await page.goto(`${base}${hash}`);
    await page.waitForFunction((l) => document.querySelectorAll(`table[aria-label="${l}"] tbody tr td[data-label="Worker"]`).length >= 3,
      table, { timeout: 30_000 });
    const cells = (await tableRows(page, table)).flat();
    t.true(cells.some((c) => c.includes(XSS_WORKER)), `${table}: the name is shown as text`);
    t.is(await page.locator('main img').count(), 0, `${table}: no img element was created`);
    t.is(await page.locator('img[src="x"]').count(), 0);
  }
  // a user name in the URL goes to the page as text too
  await page.goto(`${base}#/user/${encodeURIComponent('<svg onload=alert(2)>')}`);
  await page.waitForSelector('h1.page-title');
  t.regex(await page.locator('h1.page-title').textContent() ?? '', /<svg onload=alert\(2\)>$/);
  t.is(await page.locator('main svg').count(), 0);
  // unknown user: the API's 404 said in words, the empty chart and table hidden
  await page.locator('main [role="alert"]').waitFor({ timeout: 10_000 });
  t.regex(await page.locator('main [role="alert"]').textContent() ?? '', /^No user “<svg onload=alert\(2\)>” on this pool/);
  t.false(await page.locator('table[aria-label="workers"]').isVisible());
  t.deepEqual(dialogs, [], 'no alert() ran');
  // and no code path that could parse data as HTML exists in the dashboard
  const sources = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.js') ? [path.join(dir, e.name)] : []));
  for (const f of sources(path.join(root, 'web'))) {
    t.notRegex(readFileSync(f, 'utf8'), /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/, f);
  }
  await page.close();
});

test.serial('live updates come from one event stream: no polling, history at most once a minute', async (t) => {
  const { page } = await openPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));
  await page.goto(base);
  await page.waitForFunction(nonZeroChart, '.chart .chart-summary', { timeout: 60_000 });
  const shares = () => page.locator('[data-stat="shares"] .value').textContent();
  const before = await shares();
  requests.length = 0;
  // the pool event comes every 5 s: the share count moves without a request of ours
  await page.waitForFunction((b) => document.querySelector('[data-stat="shares"] .value')?.textContent !== b, before, { timeout: 20_000 });
  await delay(11_000);
  t.not(await shares(), before);
  const api = requests.filter((p) => p.startsWith('/api/'));
  t.deepEqual(api.filter((p) => p !== '/api/v1/clients'), [], `only the miners table may refresh (every 30 s): ${api.join(' ')}`);
  t.true(api.length <= 1);
  // a user page switches the one stream to ?user=…, it does not open a second one
  requests.length = 0;
  await page.goto(`${base}#/user/alice`);
  await page.waitForFunction(() => document.querySelectorAll('table[aria-label="workers"] tbody tr td[data-label="Worker"]').length >= 3,
    undefined, { timeout: 30_000 });
  t.is(requests.filter((p) => p === '/api/v1/events').length, 1);
  await page.close();
});

test.serial('paging is done by the server: 55 workers of one user are 50 rows, then 5 (offset/limit requests)', async (t) => {
  const port = pool.addresses[0]!.port;
  const idle: StratumClient[] = [];
  for (let i = 0; i < 55; i++) {
    const c = await StratumClient.connect(port);
    idle.push(c);
    await c.subscribe();
    t.is((await c.authorize(`dave.w${String(i).padStart(2, '0')}`)).result, true);
  }
  const { page, errors } = await openPage();
  const asked: string[] = [];
  page.on('request', (r) => { const u = new URL(r.url()); if (u.pathname === '/api/v1/users/dave/workers') asked.push(u.search); });
  await page.goto(`${base}#/user/dave`);
  const info = page.locator('.pager-info');
  await page.waitForFunction(() => document.querySelector('.pager-info')?.textContent === '1–50 of 55', undefined, { timeout: 30_000 });
  t.is((await tableRows(page, 'workers')).length, 50);
  await page.getByRole('button', { name: 'next page' }).click();
  await page.waitForFunction(() => document.querySelector('.pager-info')?.textContent === '51–55 of 55');
  t.is((await tableRows(page, 'workers')).length, 5);
  t.true(await page.getByRole('button', { name: 'next page' }).isDisabled());
  t.true(asked.some((q) => /offset=50/.test(q) && /limit=50/.test(q)), asked.join(' '));
  await page.getByRole('button', { name: 'first page' }).click();
  await page.waitForFunction(() => document.querySelector('.pager-info')?.textContent === '1–50 of 55');
  t.is(await info.textContent(), '1–50 of 55');
  t.deepEqual(errors, []);
  for (const c of idle) c.close();
  await page.close();
});

test.serial('phone (390×844): overview, user and blocks pages fit the width; screenshot', async (t) => {
  const { page, errors } = await openPage({ width: 390, height: 844 });
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await page.goto(base);
  await page.waitForFunction(nonZeroChart, '.chart .chart-summary', { timeout: 60_000 });
  await page.waitForFunction(() => document.querySelectorAll('table[aria-label="connected miners"] tbody td[data-label="Worker"]').length >= 4);
  t.is(await overflow(), 0, 'overview');
  await page.screenshot({ path: path.join(artifacts, 'dashboard-phone.png'), fullPage: true });
  await page.goto(`${base}#/user/alice`);
  await page.waitForFunction(() => document.querySelectorAll('table[aria-label="workers"] tbody td[data-label="Worker"]').length >= 3);
  t.is(await overflow(), 0, 'user page (with the long XSS worker name)');
  // the long worker name wraps inside its cell; the hidden columns are the optional ones
  t.false(await page.locator('table[aria-label="workers"] th', { hasText: 'Accepted' }).isVisible());
  t.true(await page.locator('table[aria-label="workers"] th', { hasText: 'Best share' }).isVisible());
  await page.screenshot({ path: path.join(artifacts, 'dashboard-phone-user.png'), fullPage: true });
  await page.goto(`${base}#/blocks`);
  await page.waitForSelector('table[aria-label="found blocks"] tbody tr');
  t.is(await overflow(), 0, 'blocks page');
  t.deepEqual(errors, []);
  await page.close();
});

test.serial('found blocks: a block a miner solves shows with height, finder, reward and the node\'s verdict', async (t) => {
  // straight on the node (regtest bits): a share is a block
  const second = await startPool(node.btcd(false), 'ckpool-ts-dash-blocks-');
  const height = (await node.rpc.call<number>('getblockcount', [])) + 1;
  const c = await StratumClient.connect(second.pool.addresses[0]!.port);
  const job = c.nextJob(20_000);
  await c.subscribe();
  await job;
  t.is((await c.authorize('carol.finder')).result, true);
  const s = c.grind();
  t.true(s.block);
  t.is((await c.submit('carol.finder', s.params)).result, true);
  const { page, errors } = await openPage();
  await page.goto(`${second.base}#/blocks`);
  await page.waitForFunction(() => /accepted/.test(document.querySelector('table[aria-label="found blocks"] tbody tr td[data-label="Verdict"]')?.textContent ?? ''),
    undefined, { timeout: 30_000 });
  const [row] = await tableRows(page, 'found blocks');
  const [h, , finder, worker, reward, , found, verdict] = row!;
  t.is(h, height.toLocaleString('en-US'));
  t.is(finder, 'carol');
  t.is(worker, 'carol.finder');
  t.regex(reward!, /^[0-9.]+ BTC$/);
  t.regex(found!, /^(just now|\d+ s ago)$/);
  t.is(verdict, 'accepted');
  const title = await page.locator('table[aria-label="found blocks"] tbody tr td[data-label="Hash"] code').getAttribute('title');
  t.is(title, await node.rpc.call<string>('getblockhash', [height]));
  // and the overview's last-block figure
  await page.goto(second.base);
  await page.waitForFunction((hh) => document.querySelector('[data-stat="block"] .value')?.textContent === hh, h, { timeout: 15_000 });
  await page.screenshot({ path: path.join(artifacts, 'dashboard-blocks.png') });
  t.deepEqual(errors, []);
  c.close();
  await page.close();
});

test.serial('formatting (web/lib/format.js as the browser loads it): hashrates, difficulties, times, amounts', async (t) => {
  const { page } = await openPage();
  await page.goto(base);
  const out = await page.evaluate(async () => {
    const f = await import(new URL('lib/format.js', document.baseURI).href);
    const now = 1_800_000_000;
    return {
      hashrate: [0, 950, 999.7, 4_294_967.296, 1.5e12, 2.5e18, null].map(f.formatHashrate),
      difficulty: [0, 0.0001, 0.00037, 1, 12.345, 999, 1234, 92.7e12, null].map(f.formatDifficulty),
      ago: [0, now - 2, now - 42, now - 200, now - 5 * 3600, now - 3 * 86400, now + 10].map((t: number) => f.formatAgo(t, now)),
      duration: [5, 725, 4 * 3600 + 12 * 60, 3 * 86400 + 4 * 3600 + 5].map(f.formatDuration),
      btc: [312_500_000, 5_000_000_000, 1].map(f.formatBtc),
      count: f.formatCount(1234567),
      hash: f.shortHash('00000000000000000001a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7'),
    };
  });
  t.deepEqual(out.hashrate, ['0 H/s', '950 H/s', '1 kH/s', '4.29 MH/s', '1.5 TH/s', '2.5 EH/s', '—']);
  t.deepEqual(out.difficulty, ['0', '0.0001', '0.00037', '1', '12.3', '999', '1.23k', '92.7T', '—']);
  t.deepEqual(out.ago, ['never', 'just now', '42 s ago', '3 min ago', '5 h ago', '3 d ago', 'just now']);
  t.deepEqual(out.duration, ['5s', '12m 5s', '4h 12m', '3d 4h']);
  t.deepEqual(out.btc, ['3.125 BTC', '50 BTC', '0.00000001 BTC']);
  t.is(out.count, '1,234,567');
  t.is(out.hash, '0000000000000000…c4d5e6f7');
  await page.close();
});
