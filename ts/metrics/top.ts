/**
 * The label-cardinality cap of the per-user and per-worker hashrate gauges: only the
 * `max` entries with the highest 5-minute hashrate get their own label value, the rest
 * are summed into one "__other__" series. A pool with 10,000 workers then still exports a
 * bounded number of series per scrape (Prometheus keeps every label value it ever saw
 * for its retention time, so unbounded names would grow its memory without limit).
 */

/** The label value of the bucket that sums everything below the top `max`. */
export const OTHER_LABEL = '__other__';

export interface Ranked {
  readonly name: string;
  /** hashrate by window, H/s */
  readonly rates: Readonly<Record<string, number>>;
}

/**
 * The top `max` entries by `rates[by]` (ties by name, so the set is stable between
 * scrapes), and the per-window sums of the rest (null when nothing was left over).
 * Entries whose every window is 0 are left out entirely (idle names read back from disk).
 */
export function topWithOther(entries: Iterable<Ranked>, max: number, by: string, windows: readonly string[]): { top: Ranked[]; other: Record<string, number> | null } {
  const live: Ranked[] = [];
  for (const e of entries) if (windows.some((w) => (e.rates[w] ?? 0) > 0)) live.push(e);
  live.sort((a, b) => (b.rates[by] ?? 0) - (a.rates[by] ?? 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const top = live.slice(0, Math.max(0, max));
  if (live.length <= top.length) return { top, other: null };
  const other: Record<string, number> = {};
  for (const w of windows) other[w] = 0;
  for (let i = top.length; i < live.length; i++) for (const w of windows) other[w]! += live[i]!.rates[w] ?? 0;
  return { top, other };
}
