/**
 * The notification outbox on disk: `<logdir>/notify/outbox/`, one small JSON file per
 * pending delivery (one event for one webhook).
 *
 * - Written before the first attempt: the record goes to a temporary file, is fsynced,
 *   renamed into place and the directory fsynced; only then is it sent. A crash, a
 *   restart or a -H handover at any later point leaves the file, and the next process
 *   sends it (at least once; receivers deduplicate on the event id).
 * - Delivered = the file is unlinked. That is the whole "delivered marker": there is no
 *   log to compact, and two processes (the old and the new one during a handover) can
 *   share the directory safely — the worst case is one extra delivery, which the stable
 *   id covers. A delivery whose unlink is lost in a crash is sent again, likewise.
 * - The file name is `<webhook key>-<hash of the event id>.json`, so the same event
 *   queued twice for a webhook (a block re-announced after a restart) is one file.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { NotifyEventName } from '../config/notifications.js';

/** Everything the outbox knows: the event and for which webhook. */
export type NotifyType = NotifyEventName | 'test';

export interface NotifyRecord {
  readonly v: 1;
  /** Stable event id: the same for every webhook and every retry (the dedup key). */
  readonly id: string;
  readonly type: NotifyType;
  /** Unix seconds the event happened. */
  readonly time: number;
  readonly data: Readonly<Record<string, unknown>>;
  /** Which configured webhook (webhookKey of its format and URL). */
  readonly target: string;
  /** ms since the epoch it was queued: age order, oldest dropped first. */
  readonly created: number;
}

export interface StoredRecord {
  readonly file: string;
  readonly rec: NotifyRecord;
}

/** Block events are never dropped to make room. */
export const isBlockEvent = (type: NotifyType): boolean => type.startsWith('block_');

/** A short stable key of a webhook: its format and URL (tokens included, so not logged). */
export function webhookKey(format: string, url: string): string {
  return createHash('sha256').update(`${format}\n${url}`).digest('hex').slice(0, 12);
}

const TMP_MAX_AGE_MS = 3600_000;

function isRecord(v: unknown): v is NotifyRecord {
  if (!v || typeof v !== 'object') return false;
  const r = v as Record<string, unknown>;
  return r.v === 1 && typeof r.id === 'string' && typeof r.type === 'string' && typeof r.time === 'number' &&
    typeof r.target === 'string' && typeof r.created === 'number' && !!r.data && typeof r.data === 'object';
}

export class Outbox {
  constructor(readonly dir: string) {}

  static fileName(rec: Pick<NotifyRecord, 'id' | 'target'>): string {
    return `${rec.target}-${createHash('sha256').update(rec.id).digest('hex').slice(0, 24)}.json`;
  }

  /** Create the directory; temporary files a crash left behind are removed. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const now = Date.now();
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.tmp')) continue;
      // another process (a handover's other half) may be writing one right now: only old ones go
      const st = await stat(join(this.dir, name)).catch(() => null);
      if (st && now - st.mtimeMs > TMP_MAX_AGE_MS) await unlink(join(this.dir, name)).catch(() => undefined);
    }
  }

  /** File names of every pending delivery. */
  async names(): Promise<string[]> {
    return (await readdir(this.dir)).filter((n) => n.endsWith('.json'));
  }

  /** Read one pending delivery; null when it is gone (delivered by another process) or unreadable. */
  async read(file: string): Promise<NotifyRecord | null | 'corrupt'> {
    let text: string;
    try {
      text = await readFile(join(this.dir, file), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      const v: unknown = JSON.parse(text);
      return isRecord(v) ? v : 'corrupt';
    } catch {
      return 'corrupt';
    }
  }

  /** Put a corrupt file aside (kept for the operator, no longer retried). */
  async quarantine(file: string): Promise<void> {
    await rename(join(this.dir, file), join(this.dir, `${file}.bad`)).catch(() => undefined);
  }

  /** Durably store a pending delivery (fsync of the file and of the directory). Returns its file name. */
  async write(rec: NotifyRecord): Promise<string> {
    const file = Outbox.fileName(rec);
    const tmp = join(this.dir, `.${file}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(rec) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, file));
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
    return file;
  }

  /** Delivered (or dropped): gone from the outbox. */
  async remove(file: string): Promise<void> {
    try {
      await unlink(join(this.dir, file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
