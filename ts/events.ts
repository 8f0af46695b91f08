/**
 * The pool's operator-facing events: what the HTTP API's live stream, the Prometheus
 * metrics and the notifications (webhooks) want to hear about, on one typed bus.
 *
 * Emitted on the main thread only and never from the share path: block events come from
 * the block ledger (after a solve is written to disk), worker presence from the stats
 * minute, node/upstream state from the generator and the proxy's upstream set.
 * Listeners must not throw (an exception is caught and logged by `emitSafe`) and must not
 * block: anything slow (HTTP delivery, SQLite) queues its own work.
 */
import { EventEmitter } from 'node:events';

export type BlockVerdict = 'pending' | 'accepted' | 'rejected' | 'orphaned' | 'inconclusive';

/** A block this pool solved, as the ledger keeps it (logdir/blocks/). */
export interface BlockRecord {
  readonly height: number;
  /** Display-order hex. */
  readonly hash: string;
  /** The user (payout address in solo mode) whose share solved it. */
  readonly finder: string;
  /** Full worker name (`user.worker`). */
  readonly worker: string;
  /** Coinbase value in satoshis (subsidy + fees). */
  readonly reward: number;
  /** Unix seconds when it was solved. */
  readonly time: number;
  /** The solving share's difficulty. */
  readonly diff: number;
  readonly verdict: BlockVerdict;
  /** The nodes' reject reasons, or why it counts as orphaned. */
  readonly reason?: string;
}

export interface WorkerPresence {
  /** Full worker name. */
  readonly worker: string;
  readonly user: string;
  /** ms since the epoch of its last share (0 = never). */
  readonly lastShare: number;
  /**
   * The threshold this event is about (minutes without shares): one presence tracker
   * runs per distinct `offlineminutes` of the notification entries, so with several
   * thresholds a worker is reported once per threshold.
   */
  readonly offlineMinutes?: number;
}

export interface LinkState {
  /** The node (`host:port`) or upstream pool (`url`). */
  readonly name: string;
  readonly reason?: string;
}

export interface PoolEventMap {
  /** A block was solved and written to disk; its submission is under way. */
  block_found: [BlockRecord];
  /** A found block's verdict changed (accepted, rejected, orphaned later, inconclusive). */
  block_verdict: [BlockRecord];
  /** A worker went without shares for the configured time. */
  worker_offline: [WorkerPresence];
  /** A worker that was offline submitted a share again. */
  worker_online: [WorkerPresence];
  node_down: [LinkState];
  node_up: [LinkState];
  upstream_down: [LinkState];
  upstream_up: [LinkState];
}

export type PoolEventName = keyof PoolEventMap;

export class PoolEvents extends EventEmitter<PoolEventMap> {
  /**
   * Emit without letting a listener's exception reach the emitter (the pool's own
   * code paths must not fail because a notification or metrics listener did).
   */
  emitSafe<K extends PoolEventName>(name: K, ...args: PoolEventMap[K]): void {
    for (const l of this.listeners(name) as ((...a: PoolEventMap[K]) => void)[]) {
      try {
        l(...args);
      } catch (e) {
        this.onListenerError(name, e);
      }
    }
  }

  /** Where listener exceptions go; the pool sets this to its logger. */
  onListenerError: (name: PoolEventName, e: unknown) => void = () => undefined;
}
