/**
 * The sockdir and logdir against other local users (issue 14 item 4): a directory owned
 * by someone else, writable by others, or a symlink someone planted is refused with the
 * fix named; a planted main.pid link is replaced, never written through. The tests make
 * the hostile state with chown/chmod (they run as root in CI; as another user the chown
 * cases are not registered, and say so).
 */
import test from 'ava';
import { chmodSync, chownSync, lchownSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, lstatSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { claimInstance } from '../ts/control/instance.js';
import { isCkpoolError } from '../ts/errors.js';
import { FileLogger } from '../ts/log/file.js';
import { MemoryLogger } from '../ts/log/logger.js';
import { ensurePrivateDir } from '../ts/safe-files.js';

const root = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-safe-'));
test.after.always(() => rmSync(root, { recursive: true, force: true }));
const isRoot = process.geteuid?.() === 0;
const NOBODY = 65534;

const claim = (sockdir: string) => claimInstance({ name: 't', sockdir, killold: false, logger: new MemoryLogger() });

test('a new sockdir is made 0750; a planted main.pid link is replaced, the file it named is untouched', async (t) => {
  const sockdir = path.join(root, 'fresh', 'sock');
  const victim = path.join(root, 'victim');
  writeFileSync(victim, 'root-only secret\n');
  const c1 = await claim(sockdir);
  t.is(lstatSync(sockdir).mode & 0o777, 0o750);
  c1.release();
  symlinkSync(victim, path.join(sockdir, 'main.pid'));
  const c2 = await claim(sockdir);
  t.is(readFileSync(victim, 'utf8'), 'root-only secret\n', 'nothing written through the link');
  t.false(lstatSync(c2.pidFile).isSymbolicLink());
  t.is(readFileSync(c2.pidFile, 'utf8'), String(process.pid));
  c2.release();
});

test('a sockdir writable by others is refused with the fix named', async (t) => {
  const sockdir = path.join(root, 'open');
  mkdirSync(sockdir);
  chmodSync(sockdir, 0o777);
  const e = await t.throwsAsync(claim(sockdir));
  t.true(isCkpoolError(e, 'CKP_ERR_UNSAFE_DIR'), String(e));
  t.regex(e!.message, /writable by its group and others \(mode 777\); fix: chmod go-w/);
  chmodSync(sockdir, 0o750);
  (await claim(sockdir)).release();
});

test('a logdir writable by others is refused before any log file is opened', (t) => {
  const logdir = path.join(root, 'logs-open');
  mkdirSync(logdir);
  chmodSync(logdir, 0o775);
  const e = t.throws(() => new FileLogger({ logdir, name: 'x', console: null }));
  t.true(isCkpoolError(e, 'CKP_ERR_CLI_LOGFILE'), String(e));
  t.regex(e!.message, /cannot open log file .*: refusing to use logdir .* writable by its group/);
});

if (isRoot) {
  test('a sockdir created first by another user, or a symlink another user planted, is refused', async (t) => {
    const theirs = path.join(root, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, NOBODY, NOBODY);
    const e1 = await t.throwsAsync(claim(theirs));
    t.true(isCkpoolError(e1, 'CKP_ERR_UNSAFE_DIR'));
    t.regex(e1!.message, new RegExp(`owned by uid ${NOBODY}.*another user may have created it first`));

    const target = path.join(root, 'mine');
    mkdirSync(target, { mode: 0o750 });
    const link = path.join(root, 'planted');
    symlinkSync(target, link);
    lchownSync(link, NOBODY, NOBODY);
    const e2 = t.throws(() => ensurePrivateDir(link, 'sockdir'));
    t.regex(e2!.message, new RegExp(`symbolic link owned by uid ${NOBODY}`));
    t.is(readlinkSync(link), target);
  });
} else {
  console.log('# safe-files: the chown cases need root; not registered');
}
