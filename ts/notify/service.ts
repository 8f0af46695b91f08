/**
 * Notifications for one running pool or proxy: the Notifier listening on the pool's
 * event bus, plus the presence trackers its entries need (one per distinct
 * `offlineminutes`). Started by Pool.start / ProxyMode.start when the config has
 * `notifications`.
 */
import type { CkpoolConfig } from '../config/types.js';
import type { PoolEvents } from '../events.js';
import type { Logger } from '../log/logger.js';
import { Notifier, type NotifierOptions } from './notifier.js';
import { PresenceTracker, type PresenceStats } from './sources.js';

/** Library knobs (not config keys): retry pacing, rescans and presence checks. */
export interface NotifyTuning extends Pick<NotifierOptions, 'retryMs' | 'retryMaxMs' | 'rescanMs'> {
  /** Presence check period, ms (default: a quarter of the threshold, 1 s … 60 s). */
  readonly presenceCheckMs?: number;
}

export interface NotificationsOptions {
  readonly config: Pick<CkpoolConfig, 'notifications' | 'notifyqueue' | 'logdir'>;
  readonly events: PoolEvents;
  /** Where worker presence is read; absent: no worker events (modes without stats). */
  readonly stats?: PresenceStats;
  readonly logger: Logger;
  readonly name: string;
  readonly tuning?: NotifyTuning;
}

export class Notifications {
  private constructor(
    readonly notifier: Notifier,
    readonly trackers: readonly PresenceTracker[],
    readonly detach: () => void,
  ) {}

  /** null when the config has no notification entries. */
  static async start(o: NotificationsOptions): Promise<Notifications | null> {
    const entries = o.config.notifications ?? [];
    if (!entries.length) return null;
    const notifier = await Notifier.start({
      entries, logdir: o.config.logdir, logger: o.logger, pool: o.name, maxPending: o.config.notifyqueue,
      retryMs: o.tuning?.retryMs, retryMaxMs: o.tuning?.retryMaxMs, rescanMs: o.tuning?.rescanMs,
    });
    const detach = notifier.attach(o.events);
    const stats = o.stats;
    const trackers = stats
      ? notifier.offlineThresholds.map((m) => new PresenceTracker({ stats, events: o.events, offlineMinutes: m, checkMs: o.tuning?.presenceCheckMs }))
      : [];
    for (const t of trackers) t.start();
    o.logger.notice(`Notifications: ${entries.length} webhook(s), outbox ${notifier.size} pending`);
    return new Notifications(notifier, trackers, detach);
  }

  async stop(): Promise<void> {
    for (const t of this.trackers) t.stop();
    this.detach();
    await this.notifier.stop();
  }
}
