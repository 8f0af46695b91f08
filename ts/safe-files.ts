/**
 * Directories and files a pool (often run as root) writes into: the sockdir with its
 * `main.pid` and sockets, and the logdir with users/, pool/, blocks/ and share logs.
 *
 * The default sockdir is `/tmp/<name>/`: any local user can create it first, or plant a
 * `main.pid` symlink in a directory others may write to, and a pool that followed it
 * would overwrite whatever the link names (issue 14: a root pool overwrote a root-only
 * file). So, unlike ckpool (mkdir 0750 and carry on whatever is there):
 * - a directory we make gets 0750 (ckpool's mode);
 * - one that exists must be ours (or root's) and not writable by group or others,
 *   through a symlink only if the symlink is ours (or root's) too; otherwise start-up
 *   stops with an error naming the fix;
 * - files are created with O_EXCL | O_NOFOLLOW after removing an old entry (the entry
 *   itself, never what a link points to), so nothing is written through a link.
 */
import { constants, closeSync, lstatSync, mkdirSync, openSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { ckError } from './errors.js';

const myUid = (): number => (typeof process.geteuid === 'function' ? process.geteuid() : 0);

function trusted(st: Stats): boolean {
  return st.uid === myUid() || st.uid === 0;
}

/**
 * Make `dir` (0750, parents as needed) or check the one that is there. Throws
 * CKP_ERR_UNSAFE_DIR (`what` names it in the message: "sockdir", "logdir", …).
 */
export function ensurePrivateDir(dir: string, what: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
  } catch (e) {
    throw ckError('CKP_ERR_UNSAFE_DIR', what, dir, (e as Error).message, 'create it, or choose another path');
  }
  const link = lstatSync(dir);
  if (link.isSymbolicLink() && !trusted(link)) {
    throw ckError('CKP_ERR_UNSAFE_DIR', what, dir, `it is a symbolic link owned by uid ${link.uid}`, `remove it (it may have been planted) or choose another path`);
  }
  const st = statSync(dir);
  if (!st.isDirectory()) throw ckError('CKP_ERR_UNSAFE_DIR', what, dir, 'it is not a directory', 'remove it or choose another path');
  if (!trusted(st)) {
    throw ckError('CKP_ERR_UNSAFE_DIR', what, dir, `it is owned by uid ${st.uid}, not by this user (uid ${myUid()})`,
      `remove it (another user may have created it first) or run with a path of your own`);
  }
  if (st.mode & 0o022) {
    const who = [st.mode & 0o020 ? 'its group' : '', st.mode & 0o002 ? 'others' : ''].filter(Boolean).join(' and ');
    throw ckError('CKP_ERR_UNSAFE_DIR', what, dir, `it is writable by ${who} (mode ${(st.mode & 0o777).toString(8)})`, `chmod go-w ${dir}`);
  }
}

const checked = new Set<string>();

/**
 * ensurePrivateDir once per directory and process: for the logdir's subdirectories,
 * made or checked when first written to (users/, pool/, blocks/, share logs).
 */
export function ensurePrivateDirOnce(dir: string, what: string): void {
  if (checked.has(dir)) return;
  ensurePrivateDir(dir, what);
  checked.add(dir);
}

/**
 * Write `data` to `path` as a new file: an entry already there (a stale file, or a link
 * someone planted) is removed first, then the file is created with O_CREAT | O_EXCL |
 * O_NOFOLLOW, so the write never lands anywhere else.
 */
export function writeNewFile(path: string, data: string, mode = 0o640): void {
  try {
    lstatSync(path);
    unlinkSync(path); // the entry itself, even a link (unlink never follows)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}
