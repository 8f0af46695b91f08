/**
 * The dashboard with 10,000 miners (issue 15: "must stay usable with 10,000 miners"), in a
 * real browser (Debian's chromium through playwright-core), against a real pool on a real
 * bcoin regtest node with 10,000 real TCP miners: ckpool-bench `connect` in a child
 * process (its own open-file limit) subscribes and authorizes 10,000 connections as
 * workers of one user and holds them open while the pages are checked.
 *
 * What "usable" means here: the user page and the overview's miner table come up with
 * the full count, only one page of rows is ever in the DOM (the server pages: offset and
 * limit), the last page is one click away, and nothing on the page throws. How long the
 * pages took is logged (a timed assertion would only measure this shared machine).
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { MemoryLogger } from '../ts/log/logger.js';
import { Pool } from '../ts/pool/pool.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS } from './helpers/bcoin.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const BENCH = path.join(root, 'bin', 'ckpool-bench.js');
const artifacts = path.join(root, 'test', 'artifacts');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const MINERS = 10_000;

let pool: Pool;
let base: string;
let bench: ChildProcess | null = null;
let browser: Browser;
let logdir: string;

test.before(async () => {
  mkdirSync(artifacts, { recursive: true });
  const node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(5, REGTEST_ADDRESS);
  logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-dash-scale-'));
  pool = await Pool.start({
    btcd: [{ ...node.btcd(false), notify: false, line: 0 }], btcaddress: REGTEST_ADDRESS,
    serverurl: ['127.0.0.1:0'], startdiff: 1, mindiff: 1, logdir, updateInterval: 600, blockpoll: 500,
    apiurl: '127.0.0.1:0', maxclients: MINERS + 1000,
  }, { logger: new MemoryLogger(), statsIntervalMs: 60_000, server: { highdiffPort: 65535 }, authTimeoutMs: 600_000 });
  base = pool.api!.url;
  bench = spawn(process.execPath, [BENCH, 'connect', '-p', String(pool.addresses[0]!.port), '-c', String(MINERS), '-u', 'zed.w{i}',
    '--settle', '100', '--hold', '600', '--timeout', '300', '-q', '--json'], { stdio: ['ignore', 'ignore', 'inherit'] });
  // every miner authorized: the API's count of the user's workers
  const end = Date.now() + 300_000;
  for (;;) {
    const r = await fetch(`${base}api/v1/users/zed/workers?limit=1`);
    const total = r.ok ? ((await r.json()) as { total: number }).total : 0;
    if (total >= MINERS) break;
    if (Date.now() > end) throw new Error(`only ${total} of ${MINERS} miners authorized in 300 s`);
    if (bench.exitCode !== null) throw new Error(`ckpool-bench exited (${bench.exitCode}) with ${total} miners authorized`);
    await delay(500);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM });
});

test.after.always(async () => {
  bench?.kill('SIGKILL');
  await browser?.close();
  await pool?.stop();
  await stopAllBcoins();
  if (logdir) rmSync(logdir, { recursive: true, force: true });
});

const info = () => document.querySelector('.pager-info')?.textContent ?? '';

test.serial(`user page with ${MINERS.toLocaleString('en-US')} workers: one page of rows in the DOM, the last page a click away; screenshot`, async (t) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const bodies: number[] = [];
  page.on('response', (r) => { if (new URL(r.url()).pathname === '/api/v1/users/zed/workers') void r.body().then((b) => bodies.push(b.length), () => undefined); });
  const t0 = Date.now();
  await page.goto(`${base}#/user/zed`);
  await page.waitForFunction((want) => document.querySelector('.pager-info')?.textContent === want, `1–50 of ${MINERS.toLocaleString('en-US')}`, { timeout: 60_000 });
  t.log(`user page: first page of workers shown ${Date.now() - t0} ms after navigation`);
  const rows = () => page.evaluate(() => document.querySelectorAll('table[aria-label="workers"] tbody tr').length);
  t.is(await rows(), 50);
  t.true(await page.evaluate(() => document.querySelectorAll('tr').length) <= 60, 'the DOM holds one page of rows, not 10,000');

  const t1 = Date.now();
  await page.getByRole('button', { name: 'last page' }).click();
  const lastInfo = `${(MINERS - 49).toLocaleString('en-US')}–${MINERS.toLocaleString('en-US')} of ${MINERS.toLocaleString('en-US')}`;
  await page.waitForFunction((want) => document.querySelector('.pager-info')?.textContent === want, lastInfo, { timeout: 30_000 });
  t.log(`last page shown ${Date.now() - t1} ms after the click`);
  t.is(await rows(), 50);
  t.true(await page.getByRole('button', { name: 'next page' }).isDisabled());
  const names = await page.evaluate(() => [...document.querySelectorAll('table[aria-label="workers"] tbody tr')].map((tr) => tr.querySelector('td')?.textContent ?? ''));
  t.true(names.length === 50 && names.every((n) => /^w\d+$/.test(n)), `worker names on the last page: ${names.slice(0, 3).join(' ')} …`);
  t.true(bodies.length >= 2 && Math.max(...bodies) < 64 * 1024, `each page is one small reply (${bodies.join(', ')} bytes), not the 10,000 workers`);
  await page.screenshot({ path: path.join(artifacts, 'dashboard-user-10000.png') });
  t.deepEqual(errors, []);
  await page.close();
});

test.serial(`overview with ${MINERS.toLocaleString('en-US')} miners connected: the counts and a paged miner table`, async (t) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const t0 = Date.now();
  await page.goto(`${base}#/`);
  await page.waitForFunction((want) => document.querySelector('.pager-info')?.textContent === want, `1–25 of ${MINERS.toLocaleString('en-US')}`, { timeout: 60_000 });
  t.log(`overview: miner table shown ${Date.now() - t0} ms after navigation`);
  t.is(await page.evaluate(() => document.querySelectorAll('table[aria-label="connected miners"] tbody tr').length), 25);
  // the miners card counts every connection (the text is the formatted count)
  await page.waitForFunction((want) => [...document.querySelectorAll('.card')].some((c) => c.textContent?.includes(want)), MINERS.toLocaleString('en-US'), { timeout: 30_000 });
  await page.getByRole('button', { name: 'next page' }).click();
  await page.waitForFunction((want) => document.querySelector('.pager-info')?.textContent === want, `26–50 of ${MINERS.toLocaleString('en-US')}`, { timeout: 30_000 });
  t.regex(await page.evaluate(info), /^26–50 of /);
  await page.screenshot({ path: path.join(artifacts, 'dashboard-overview-10000.png') });
  t.deepEqual(errors, []);
  await page.close();
});
