/**
 * The stats files ckpool writes every minute: `<logdir>/users/<user>` (pretty JSON,
 * indent 1, per user) and `<logdir>/pool/pool.status` (three one-line JSON objects),
 * written atomically (temporary file + rename) so a reader never sees half a file.
 * The bytes last written are kept: the HTTP API serves exactly those.
 */
import { rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ckErrorCause, type CkpoolError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { ensurePrivateDir } from '../safe-files.js';
import { IDLE_SECONDS, userFields, userTree, type UserState } from './documents.js';
import { J, dumpJson } from './format.js';
import { safeFileName } from './readback.js';

export class StatsFiles {
  readonly #logdir: string;
  readonly #logger: Logger;
  #dirsMade = false;
  /** user names already warned about (not usable as a file name): once each */
  readonly #warnedNames = new Set<string>();
  /** What the last write() wrote, by user name and for pool.status. */
  readonly writtenUsers = new Map<string, string>();
  writtenPool: string | undefined;

  constructor(logdir: string, logger: Logger) {
    this.#logdir = logdir;
    this.#logger = logger;
  }

  /**
   * users/<user> for every user that authorised and has a share, then pool/pool.status;
   * the same figures are logged at NOTICE ("User x:{…}" for users active in the last
   * minute, "Pool:{…}" ×3). `poolLines` is called after the user files are written (the
   * figures are those of that moment). Rejects with CKP_ERR_STATS_WRITE if any file
   * failed (the others are still written).
   */
  async write(users: Iterable<UserState>, poolLines: () => [string, string, string], now: number): Promise<void> {
    const userDir = join(this.#logdir, 'users');
    const poolDir = join(this.#logdir, 'pool');
    let firstErr: CkpoolError | undefined;
    if (!this.#dirsMade) {
      try {
        // ours and not writable by others: no file here can be a planted link
        ensurePrivateDir(userDir, 'users dir');
        ensurePrivateDir(poolDir, 'pool dir');
        this.#dirsMade = true;
      } catch (e) {
        throw ckErrorCause('CKP_ERR_STATS_WRITE', e, this.#logdir, (e as Error).message);
      }
    }

    for (const u of users) {
      if (!u.authorised || !u.lastShare) continue;
      if (!safeFileName(u.name)) {
        if (!this.#warnedNames.has(u.name)) {
          this.#warnedNames.add(u.name);
          this.#logger.warning(`Not writing stats for user ${JSON.stringify(u.name)}: not usable as a file name`);
        }
        continue;
      }
      if ((now - u.lastShare) / 1000 <= IDLE_SECONDS) {
        this.#logger.notice(`User ${u.name}:${dumpJson(J.obj(userFields(u)), { compact: true })}`);
      }
      const text = `${dumpJson(userTree(u, now), { indent: 1, precision: 16 })}\n`;
      try {
        await atomicWrite(join(userDir, u.name), text);
        this.writtenUsers.set(u.name, text);
      } catch (e) {
        const err = ckErrorCause('CKP_ERR_STATS_WRITE', e, join(userDir, u.name), (e as Error).message);
        this.#logger.err(err.message);
        firstErr ??= err;
      }
    }

    const lines = poolLines();
    for (const l of lines) this.#logger.notice(`Pool:${l}`);
    const poolFile = join(poolDir, 'pool.status');
    try {
      const text = `${lines.join('\n')}\n`;
      await atomicWrite(poolFile, text);
      this.writtenPool = text;
    } catch (e) {
      const err = ckErrorCause('CKP_ERR_STATS_WRITE', e, poolFile, (e as Error).message);
      this.#logger.err(err.message);
      firstErr ??= err;
    }
    if (firstErr) throw firstErr;
  }
}

let tmpCounter = 0;

/** Write `text` to `file` via a temporary file in the same directory and a rename. */
export async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${++tmpCounter}.tmp`);
  try {
    await writeFile(tmp, text, { mode: 0o640 });
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}
