/**
 * Stats across threads. A worker thread's stratifier reports to a StatsForwarder, which
 * records every call as a few numbers in a flat array; the main thread replays that
 * array, in order, into the one PoolStats (replayStats). Every share is replayed with its
 * own timestamp, so the pool's accounting is exactly what one process would have done;
 * only when it happens is later, by at most one flush interval.
 */
import type { PoolStats, ShareEvent, StatsSink } from './stats.js';

const enum Ev {
  SHARE = 1,
  AUTH = 2,
  GONE = 3,
  SESSIONS = 4,
  BLOCK = 5,
}

/** The flat event list a forwarder hands over (numbers and strings only: cheap to clone). */
export type StatsEvents = (number | string)[];

export class StatsForwarder implements StatsSink {
  #ev: StatsEvents = [];

  /** @param onFull called when the buffer reaches `maxEntries` (the owner flushes early) */
  constructor(private readonly onFull: () => void, private readonly maxEntries = 60_000) {}

  get size(): number {
    return this.#ev.length;
  }

  /** The events so far; the buffer starts again empty. */
  take(): StatsEvents {
    const ev = this.#ev;
    this.#ev = [];
    return ev;
  }

  #push(): void {
    if (this.#ev.length >= this.maxEntries) this.onFull();
  }

  addShare(e: ShareEvent): void {
    // the reject reason (a short constant string, or 0 when accepted) rides along for the totals
    this.#ev.push(Ev.SHARE, e.clientId, e.diff, e.sdiff, (e.accepted ? 1 : 0) | (e.submitted ? 2 : 0), e.now, e.reason ?? 0);
    this.#push();
  }

  clientAuthorised(user: string, worker: string, clientId: number, now: number): void {
    this.#ev.push(Ev.AUTH, user, worker, clientId, now);
    this.#push();
  }

  clientDisconnected(_user: string, _worker: string, clientId: number, now: number): void {
    this.#ev.push(Ev.GONE, clientId, now);
    this.#push();
  }

  setDisconnectedSessions(n: number): void {
    this.#ev.push(Ev.SESSIONS, n);
  }

  /** The main thread takes the network difficulty from its own workbases. */
  setNetworkDiff(_d: number): void {}

  blockFound(now: number, solver?: { readonly workername: string }): void {
    this.#ev.push(Ev.BLOCK, now, solver?.workername ?? '');
  }
}

/** What a replay saw besides the PoolStats calls. */
export interface ReplayEffects {
  /** the worker's count of remembered disconnected sessions, when it changed */
  sessions?: number;
  /** client ids authorised / gone in this batch (the main thread tracks them per worker) */
  authorised: number[];
  gone: number[];
}

/** Apply a forwarder's events to the pool's PoolStats, in order. Malformed input is skipped. */
export function replayStats(stats: PoolStats, ev: StatsEvents): ReplayEffects {
  const fx: ReplayEffects = { authorised: [], gone: [] };
  const n = ev.length;
  let i = 0;
  while (i < n) {
    switch (ev[i]) {
      case Ev.SHARE: {
        const clientId = ev[i + 1] as number;
        const flags = ev[i + 4] as number;
        const reason = ev[i + 6];
        // shares of a client the stats never saw authorised cannot be attributed
        if (stats.hasClient(clientId)) {
          stats.addShare({
            user: '', worker: '', clientId, diff: ev[i + 2] as number, sdiff: ev[i + 3] as number,
            accepted: (flags & 1) !== 0, submitted: (flags & 2) !== 0, now: ev[i + 5] as number,
            reason: typeof reason === 'string' ? reason : undefined,
          });
        }
        i += 7;
        break;
      }
      case Ev.AUTH:
        stats.clientAuthorised(ev[i + 1] as string, ev[i + 2] as string, ev[i + 3] as number, ev[i + 4] as number);
        fx.authorised.push(ev[i + 3] as number);
        i += 5;
        break;
      case Ev.GONE:
        stats.clientDisconnected('', '', ev[i + 1] as number, ev[i + 2] as number);
        fx.gone.push(ev[i + 1] as number);
        i += 3;
        break;
      case Ev.SESSIONS:
        fx.sessions = ev[i + 1] as number;
        i += 2;
        break;
      case Ev.BLOCK: {
        const who = ev[i + 2] as string;
        stats.blockFound(ev[i + 1] as number, who ? { workername: who } : undefined);
        i += 3;
        break;
      }
      default:
        return fx; // not ours: stop rather than misread the rest
    }
  }
  return fx;
}
