/**
 * Disk full on the logdir while a block is found (issue 14, faults): the pool's logdir
 * is a small tmpfs (a real filesystem, really full — ENOSPC from the kernel), filled up
 * after the pool started; a miner then finds a block on Bitcoin Core regtest. The block
 * file cannot be written, so the pool must say so loudly (CRIT, with the block's hex, on
 * the console: the log file is on the full disk too) and still submit the block, which
 * Core must accept. Share logs (-L) and stats files fail too and must not stop the pool.
 *
 * Mounting needs root (as in CI and on the development machine); without it the test is
 * a todo, with the reason printed.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmdirSync, writeSync, closeSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mineBlock } from './helpers/chain.js';
import { connectMiner, killAllCkpools, startCkpool } from './helpers/ckpool-proc.js';
import { coreTests, startCore, stopAllCores, CORE_BURN_ADDRESS } from './helpers/core.js';

const DIFF = 0.000001;
const mounts: string[] = [];

/** Fill the filesystem holding `dir` until the kernel says ENOSPC. */
function fill(dir: string): number {
  const fd = openSync(path.join(dir, 'filler'), 'w');
  const chunk = Buffer.alloc(4096, 0x5a);
  let bytes = 0;
  try {
    for (;;) bytes += writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  return bytes;
}

const root = process.getuid?.() === 0;
const bin = coreTests('faults-disk');

if (!root) {
  console.log('# faults-disk: not run: mounting a tmpfs as a full logdir needs root (run as root, as CI does)');
  test.todo('faults-disk: disk full on the logdir while a block is found (needs root for mount -t tmpfs)');
} else if (bin) {
  test.after.always(async () => {
    killAllCkpools();
    await stopAllCores();
    for (const m of mounts.splice(0)) {
      try {
        execFileSync('umount', ['-l', m]);
        rmdirSync(m);
      } catch {
        /* already gone */
      }
    }
  });

  test.serial('logdir full (tmpfs, ENOSPC) while a miner finds a block: the block is submitted and accepted by Core, the failure is CRIT with the block hex', async (t) => {
    const core = await startCore(bin);
    await core.generate(101, CORE_BURN_ADDRESS);
    const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0750', 'tmpfs', logdir]);
    mounts.push(logdir);
    const pool = await startCkpool(['-L'], {
      btcd: [core.btcd({ notify: true })], zmqblock: core.zmqUrl, btcaddress: CORE_BURN_ADDRESS, logdir,
      startdiff: DIFF, mindiff: DIFF, maxdiff: DIFF, highdiff: DIFF, workers: 2,
    }, { name: 'full' });
    const m = await connectMiner(pool.port, 'full.rig', { configure: true });
    const filled = fill(logdir);
    t.log(`filled ${filled} bytes; df: ${execFileSync('df', ['-k', logdir], { encoding: 'utf8' }).split('\n')[1]}`);

    const x = await mineBlock(core, m, 'full.rig', 'bip310', DIFF, 0x2000);
    t.is((x.reply as { result: unknown }).result, true, 'the share is accepted');
    t.true(x.confirmations >= 1, 'Core has the block on its best chain');
    const hex = await core.rpc<string>('getblock', [x.share.hash, 0]);

    // the console (stderr) has the loud failure and the hex
    const end = Date.now() + 10_000;
    while (!pool.err().includes(hex) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const err = pool.err();
    const lines = err.split('\n');
    t.true(lines.some((l) => l.includes(x.share.hash) && /CKP_ERR_BLOCK_WRITE|block file|submitting anyway/i.test(l)), `a CRIT line naming the block: ${lines.slice(-10).join('\n')}`);
    t.true(lines.some((l) => l.includes(hex)), 'the block hex is on the console');
    t.false(readdirSync(path.join(logdir, 'blocks')).some((f) => f.includes(x.share.hash) && f.endsWith('.json')), 'no (partial) block file claims to be complete');
    t.is(pool.child.exitCode, null, 'the pool is still running');

    // and it keeps working: free the disk, the next block is written as usual
    execFileSync('rm', ['-f', path.join(logdir, 'filler')]);
    const y = await mineBlock(core, m, 'full.rig', 'none', DIFF);
    t.is((y.reply as { result: unknown }).result, true);
    t.true(y.confirmations >= 1);
    const wend = Date.now() + 10_000;
    while (!readdirSync(path.join(logdir, 'blocks')).some((f) => f.includes(y.share.hash)) && Date.now() < wend) await new Promise((r) => setTimeout(r, 50));
    t.true(readdirSync(path.join(logdir, 'blocks')).some((f) => f.includes(y.share.hash)), 'with space again the block file is written');
    m.close();
  });
}
