/**
 * Webhook notifications (issue 16): events from the pool's bus (ts/events.ts) become
 * deliveries, one per subscribed webhook, stored in the outbox (ts/notify/outbox.ts)
 * before the first attempt and removed once the receiver answered 2xx.
 *
 * Never on the share path: bus listeners only start an async write; the HTTP work runs
 * on its own timers. A dead webhook costs one request per backoff step (doubling from
 * `retryMs` up to `retryMaxMs`), one at a time per webhook (so deliveries arrive in
 * order), and at most `maxPending` stored deliveries: past that the oldest non-block
 * delivery is dropped with a log line. Block events are never dropped (they are rare;
 * the bound is exceeded rather than lose one).
 *
 * Every delivery carries the event's stable id (json body `id`, header `Idempotency-Key`)
 * so a receiver can drop the duplicates at-least-once delivery allows: a crash between
 * the receiver's answer and the unlink, or the old and new process of a handover both
 * sending a delivery they found in the shared outbox.
 */
import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_NOTIFY_QUEUE, type NotificationEntry, type NotifyEventName } from '../config/notifications.js';
import { ckError } from '../errors.js';
import type { BlockRecord, LinkState, PoolEvents, WorkerPresence } from '../events.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { renderBody } from './format.js';
import { Outbox, isBlockEvent, webhookKey, type NotifyRecord, type NotifyType } from './outbox.js';
import { post } from './send.js';

export interface NotifierOptions {
  readonly entries: readonly NotificationEntry[];
  /** The outbox is `<logdir>/notify/outbox/`. */
  readonly logdir: string;
  readonly logger?: Logger;
  /** Shown in every message (the instance name). */
  readonly pool?: string;
  /** Most deliveries waiting (default 1000, config `notifyqueue`). */
  readonly maxPending?: number;
  /** First pause after a failed attempt, ms (default 5000); doubles per failure. */
  readonly retryMs?: number;
  /** Longest pause between attempts, ms (default 600 000). */
  readonly retryMaxMs?: number;
  /**
   * How often the outbox directory is re-read for deliveries another process stored
   * (the other half of a handover), ms (default 30 000).
   */
  readonly rescanMs?: number;
}

/** One pending delivery as `ckpmsg notifications` shows it (no URL: it may hold a token). */
export interface PendingInfo {
  readonly id: string;
  readonly type: NotifyType;
  /** Unix seconds of the event. */
  readonly time: number;
  /** `notifications[i] (format, host)`. */
  readonly webhook: string;
  readonly attempts: number;
  readonly lastError?: string;
  /** Seconds until the next attempt (0: now or under way). */
  readonly nextAttemptIn: number;
}

interface Pending {
  readonly file: string;
  readonly rec: NotifyRecord;
  /** on disk (or the write failed and it is sent from memory): may be attempted */
  ready: boolean;
  persisted: boolean;
  attempts: number;
  lastError?: string;
}

interface Target {
  readonly key: string;
  readonly index: number;
  readonly entry: NotificationEntry;
  readonly url: URL;
  readonly label: string;
  readonly ca?: string;
  readonly queue: Pending[];
  busy: boolean;
  /** failed attempts in a row */
  failures: number;
  nextAt: number;
  timer: NodeJS.Timeout | null;
}

const VERDICT_EVENT: Partial<Record<BlockRecord['verdict'], NotifyEventName>> = {
  accepted: 'block_accepted',
  rejected: 'block_rejected',
  orphaned: 'block_orphaned',
};

/** Where the outbox of a logdir is. */
export const outboxDir = (logdir: string): string => join(logdir, 'notify', 'outbox');

export class Notifier {
  readonly #targets: Target[];
  readonly #byKey = new Map<string, Target>();
  readonly #outbox: Outbox;
  readonly #log: Logger;
  readonly #pool: string;
  readonly #max: number;
  readonly #retryMs: number;
  readonly #retryMaxMs: number;
  /** file names queued here (pending, being written or in flight) */
  readonly #known = new Set<string>();
  readonly #writes = new Set<Promise<unknown>>();
  #lastWrite: Promise<unknown> = Promise.resolve();
  readonly #abort = new AbortController();
  #rescanTimer: NodeJS.Timeout | null = null;
  #rescanning: Promise<void> | null = null;
  #stopped = false;
  /** deliveries dropped to keep the bound, since start */
  dropped = 0;
  /** deliveries the receivers accepted, since start */
  delivered = 0;

  private constructor(opts: NotifierOptions, cas: (string | undefined)[]) {
    this.#log = opts.logger ?? new NullLogger();
    this.#pool = opts.pool ?? 'ckpool-ts';
    this.#max = opts.maxPending ?? DEFAULT_NOTIFY_QUEUE;
    this.#retryMs = opts.retryMs ?? 5000;
    this.#retryMaxMs = opts.retryMaxMs ?? 600_000;
    this.#outbox = new Outbox(outboxDir(opts.logdir));
    this.#targets = opts.entries.map((entry, index) => {
      const url = new URL(entry.url);
      const t: Target = {
        key: webhookKey(entry.format, entry.url), index, entry, url, label: `notifications[${index}] (${entry.format}, ${url.host})`,
        ca: cas[index], queue: [], busy: false, failures: 0, nextAt: 0, timer: null,
      };
      return t;
    });
    for (const t of this.#targets) if (!this.#byKey.has(t.key)) this.#byKey.set(t.key, t);
  }

  /**
   * Read the entries' CA files (a missing one is a start-up error), open the outbox and
   * queue what an earlier process left in it.
   */
  static async start(opts: NotifierOptions): Promise<Notifier> {
    const cas = await Promise.all(opts.entries.map(async (e, i) => {
      if (e.ca === undefined) return undefined;
      try {
        return await readFile(e.ca, 'utf8');
      } catch (err) {
        throw ckError('CKP_ERR_NOTIFY_CA', e.ca, `notifications[${i}]`, (err as Error).message);
      }
    }));
    const n = new Notifier(opts, cas);
    try {
      await n.#outbox.open();
    } catch (e) {
      throw ckError('CKP_ERR_NOTIFY_OUTBOX', n.#outbox.dir, (e as Error).message);
    }
    await n.#rescan(true);
    const rescanMs = opts.rescanMs ?? 30_000;
    n.#rescanTimer = setInterval(() => void n.#rescan(false), rescanMs);
    n.#rescanTimer.unref();
    return n;
  }

  /** Listen on a pool's event bus; returns the function that stops listening. */
  attach(events: PoolEvents): () => void {
    const onFound = (b: BlockRecord) => void this.queue('block_found', blockData(b), `block_found-${b.hash}`, b.time);
    const onVerdict = (b: BlockRecord) => {
      const type = VERDICT_EVENT[b.verdict];
      if (type) void this.queue(type, blockData(b), `${type}-${b.hash}`);
    };
    const onOffline = (w: WorkerPresence) => void this.queue('worker_offline', presenceData(w), undefined, undefined, w);
    const onOnline = (w: WorkerPresence) => void this.queue('worker_online', presenceData(w), undefined, undefined, w);
    const link = (type: NotifyEventName) => (l: LinkState) => void this.queue(type, { name: l.name, ...(l.reason ? { reason: l.reason } : {}) });
    const handlers = {
      block_found: onFound, block_verdict: onVerdict, worker_offline: onOffline, worker_online: onOnline,
      node_down: link('node_down'), node_up: link('node_up'), upstream_down: link('upstream_down'), upstream_up: link('upstream_up'),
    } as const;
    for (const [name, h] of Object.entries(handlers)) events.on(name as 'node_up', h as (l: LinkState) => void);
    return () => {
      for (const [name, h] of Object.entries(handlers)) events.off(name as 'node_up', h as (l: LinkState) => void);
    };
  }

  /** The distinct worker_offline thresholds the entries ask for, minutes. */
  get offlineThresholds(): number[] {
    const set = new Set<number>();
    for (const t of this.#targets) {
      if (t.entry.events.includes('worker_offline') || t.entry.events.includes('worker_online')) set.add(t.entry.offlineMinutes);
    }
    return [...set];
  }

  /**
   * Queue an event for every entry subscribed to it ('test': every entry). Resolves once
   * the deliveries are on disk. `presence` limits worker events to the entries with its
   * threshold.
   */
  async queue(type: NotifyType, data: Record<string, unknown>, id?: string, time?: number, presence?: WorkerPresence): Promise<string> {
    const eventId = id ?? `${type}-${randomUUID()}`;
    if (this.#stopped) return eventId;
    const rec = { v: 1 as const, id: eventId, type, time: time ?? Math.floor(Date.now() / 1000), data, created: Date.now() };
    const targets = this.#targets.filter((t) => type === 'test' ||
      (t.entry.events.includes(type) && (presence?.offlineMinutes === undefined || presence.offlineMinutes === t.entry.offlineMinutes)));
    const seen = new Set<string>();
    const writes: Promise<void>[] = [];
    for (const t of targets) {
      if (seen.has(t.key)) continue; // the same webhook listed twice gets it once
      seen.add(t.key);
      writes.push(this.#enqueue(t, { ...rec, target: t.key }));
    }
    await Promise.all(writes);
    return eventId;
  }

  /** `ckpmsg notifytest`: a test message to every webhook. */
  test(message = 'sent with ckpmsg notifytest'): Promise<string> {
    return this.queue('test', { message });
  }

  /** Every pending delivery, oldest first per webhook. */
  pending(now = Date.now()): PendingInfo[] {
    const out: PendingInfo[] = [];
    for (const t of this.#targets) {
      t.queue.forEach((p, i) => out.push({
        id: p.rec.id, type: p.rec.type, time: p.rec.time, webhook: t.label, attempts: p.attempts,
        ...(p.lastError ? { lastError: p.lastError } : {}),
        nextAttemptIn: i === 0 && !t.busy ? Math.max(0, Math.ceil((t.nextAt - now) / 1000)) : 0,
      }));
    }
    return out;
  }

  get size(): number {
    let n = 0;
    for (const t of this.#targets) n += t.queue.length;
    return n;
  }

  /**
   * Stop: no new events, in-flight requests aborted, timers cleared. Waits for
   * deliveries still being written, so everything queued before stop() is on disk for
   * the next process.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#rescanTimer) clearInterval(this.#rescanTimer);
    for (const t of this.#targets) if (t.timer) clearTimeout(t.timer);
    this.#abort.abort();
    await Promise.allSettled([...this.#writes]);
    await this.#rescanning;
  }

  // ----------------------------------------------------------------------------- queue

  async #enqueue(t: Target, rec: NotifyRecord): Promise<void> {
    const file = Outbox.fileName(rec);
    if (this.#known.has(file)) return; // the same event is already waiting for this webhook
    if (!this.#makeRoom(rec, t)) return;
    this.#known.add(file);
    const p: Pending = { file, rec, ready: false, persisted: false, attempts: 0 };
    t.queue.push(p);
    // one write at a time: a burst (every worker offline at once) must not fill libuv's
    // thread pool with fsyncs that the stats files and share logs are waiting behind
    const w = this.#lastWrite.then(() => this.#outbox.write(rec)).then(() => {
      p.persisted = true;
    }, (e: Error) => {
      this.#log.err(ckError('CKP_ERR_NOTIFY_OUTBOX', this.#outbox.dir, `cannot store ${rec.type} ${rec.id} (sending it from memory only): ${e.message}`).message);
    });
    this.#lastWrite = w;
    this.#writes.add(w);
    await w;
    this.#writes.delete(w);
    p.ready = true;
    this.#pump(t);
  }

  /**
   * Keep the total at most #max: drop the oldest non-block delivery not in flight. A
   * non-block event finds no room when everything waiting is a block: it is dropped
   * itself (returns false). A block event always gets in.
   */
  #makeRoom(rec: NotifyRecord, t: Target): boolean {
    while (this.size >= this.#max) {
      if (this.#dropOldest()) continue;
      if (isBlockEvent(rec.type)) return true;
      this.dropped++;
      this.#log.warning(ckError('CKP_ERR_NOTIFY_DROPPED', this.size, rec.type, rec.id, t.label).message);
      return false;
    }
    return true;
  }

  /** Drop the oldest waiting non-block delivery (not one in flight); false when there is none. */
  #dropOldest(): boolean {
    let victim: { t: Target; i: number; created: number } | null = null;
    for (const tt of this.#targets) {
      tt.queue.forEach((p, i) => {
        if (isBlockEvent(p.rec.type) || !p.ready || (i === 0 && tt.busy)) return;
        if (!victim || p.rec.created < victim.created) victim = { t: tt, i, created: p.rec.created };
      });
    }
    const v = victim as { t: Target; i: number } | null;
    if (!v) return false;
    const pendingBefore = this.size;
    const [p] = v.t.queue.splice(v.i, 1) as [Pending];
    this.dropped++;
    this.#log.warning(ckError('CKP_ERR_NOTIFY_DROPPED', pendingBefore, p.rec.type, p.rec.id, v.t.label).message);
    void this.#outbox.remove(p.file).catch(() => undefined).finally(() => this.#known.delete(p.file));
    return true;
  }

  /** Pick up deliveries stored by an earlier (or, during a handover, the other) process. */
  #rescan(first: boolean): Promise<void> {
    if (this.#rescanning || this.#stopped) return this.#rescanning ?? Promise.resolve();
    this.#rescanning = (async () => {
      let names: string[];
      try {
        names = await this.#outbox.names();
      } catch (e) {
        this.#log.err(ckError('CKP_ERR_NOTIFY_OUTBOX', this.#outbox.dir, (e as Error).message).message);
        return;
      }
      const found: { t: Target; p: Pending }[] = [];
      for (const file of names) {
        if (this.#known.has(file) || this.#stopped) continue;
        const rec = await this.#outbox.read(file).catch(() => null);
        if (rec === null || this.#known.has(file)) continue;
        if (rec === 'corrupt') {
          this.#log.err(ckError('CKP_ERR_NOTIFY_OUTBOX', this.#outbox.dir, `${file} is not a notification record; moved aside as ${file}.bad`).message);
          await this.#outbox.quarantine(file);
          continue;
        }
        const t = this.#byKey.get(rec.target);
        if (!t) {
          this.#log.warning(`Notifications: dropping stored ${rec.type} ${rec.id}: its webhook is no longer in "notifications"`);
          await this.#outbox.remove(file).catch(() => undefined);
          continue;
        }
        this.#known.add(file);
        found.push({ t, p: { file, rec, ready: true, persisted: true, attempts: 0 } });
      }
      found.sort((a, b) => a.p.rec.created - b.p.rec.created);
      for (const { t, p } of found) {
        // in age order behind the head, which may be in flight
        const q = t.queue;
        let i = q.length;
        while (i > (t.busy ? 1 : 0) && q[i - 1]!.rec.created > p.rec.created) i--;
        q.splice(i, 0, p);
      }
      if (found.length && first) this.#log.notice(`Notifications: ${found.length} stored notification(s) to deliver`);
      while (this.size > this.#max && this.#dropOldest()) { /* over the bound after a restart with a smaller notifyqueue */ }
      for (const t of this.#targets) this.#pump(t);
    })().finally(() => {
      this.#rescanning = null;
    });
    return this.#rescanning;
  }

  // -------------------------------------------------------------------------- delivery

  #pump(t: Target): void {
    if (this.#stopped || t.busy) return;
    const p = t.queue[0];
    if (!p || !p.ready) return;
    const wait = t.nextAt - Date.now();
    if (wait > 0) {
      if (!t.timer) {
        t.timer = setTimeout(() => {
          t.timer = null;
          this.#pump(t);
        }, wait);
        t.timer.unref();
      }
      return;
    }
    t.busy = true;
    void this.#attempt(t, p).catch((e: Error) => {
      this.#log.err(`Notifications: ${t.label}: ${e.message}`);
    }).finally(() => {
      t.busy = false;
      this.#pump(t);
    });
  }

  /** Out of the queue; the name is forgotten only after the file is gone, so a rescan cannot queue it again. */
  async #finish(t: Target, p: Pending, unlink: boolean): Promise<void> {
    const i = t.queue.indexOf(p);
    if (i >= 0) t.queue.splice(i, 1);
    try {
      if (unlink) await this.#outbox.remove(p.file);
    } catch (e) {
      this.#log.err(ckError('CKP_ERR_NOTIFY_OUTBOX', this.#outbox.dir, `cannot remove ${p.file}: ${(e as Error).message}`).message);
    } finally {
      this.#known.delete(p.file);
    }
  }

  async #attempt(t: Target, p: Pending): Promise<void> {
    // delivered by another process meanwhile (a handover's other half): nothing to send
    if (p.persisted && !(await stat(join(this.#outbox.dir, p.file)).then(() => true, () => false))) {
      await this.#finish(t, p, false);
      return;
    }
    p.attempts++;
    const r = await post(t.url, renderBody(p.rec, t.entry.format, this.#pool, t.entry.chatId), {
      timeoutMs: t.entry.timeout * 1000,
      ca: t.ca,
      signal: this.#abort.signal,
      headers: { 'user-agent': 'ckpool-ts', 'idempotency-key': p.rec.id, 'x-ckpool-event': p.rec.type },
    });
    if (this.#stopped && !r.ok) return; // aborted: stays on disk for the next process
    if (r.ok || r.permanent) {
      await this.#finish(t, p, true);
      if (r.ok) {
        this.delivered++;
        if (t.failures > 0) this.#log.notice(`Notifications: ${t.label} reachable again after ${t.failures} failed attempt(s)`);
        this.#log.info(`Notifications: ${p.rec.type} ${p.rec.id} delivered to ${t.label}`);
      } else {
        this.#log.err(ckError('CKP_ERR_NOTIFY_REFUSED', p.rec.type, p.rec.id, t.label, r.error).message);
      }
      t.failures = 0;
      t.nextAt = 0;
      return;
    }
    t.failures++;
    p.lastError = r.error;
    let delay = Math.min(this.#retryMaxMs, this.#retryMs * 2 ** Math.min(30, t.failures - 1));
    if (r.retryAfterMs !== undefined) delay = Math.max(delay, Math.min(r.retryAfterMs, this.#retryMaxMs));
    delay = Math.round(delay * (0.9 + Math.random() * 0.2));
    t.nextAt = Date.now() + delay;
    // the first failure and then every doubling: a dead webhook does not flood the log
    if ((t.failures & (t.failures - 1)) === 0) {
      this.#log.warning(`${ckError('CKP_ERR_NOTIFY_DELIVERY', p.rec.type, p.rec.id, t.label, p.attempts, r.error).message}; retrying in ${Math.round(delay / 1000)} s`);
    }
  }
}

function blockData(b: BlockRecord): Record<string, unknown> {
  return {
    height: b.height, hash: b.hash, finder: b.finder, worker: b.worker, reward: b.reward, time: b.time, diff: b.diff,
    verdict: b.verdict, ...(b.reason ? { reason: b.reason } : {}),
  };
}

function presenceData(w: WorkerPresence): Record<string, unknown> {
  return {
    worker: w.worker, user: w.user, lastShare: Math.floor(w.lastShare / 1000),
    ...(w.offlineMinutes !== undefined ? { offlineMinutes: w.offlineMinutes } : {}),
  };
}
