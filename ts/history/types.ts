/** Shapes of the history store (ts/history/store.ts) as the HTTP API serves them. */

export const HISTORY_RANGES = ['1h', '24h', '7d', '30d'] as const;
export type HistoryRange = (typeof HISTORY_RANGES)[number];

/** Columnar, ready for uPlot: t[i] (unix seconds) with hashrate[i] (H/s) and shares[i] (diff-1 shares in the step). */
export interface HistorySeries {
  readonly range: HistoryRange;
  readonly stepSeconds: number;
  readonly t: number[];
  readonly hashrate: number[];
  readonly shares: number[];
}
