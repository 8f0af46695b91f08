// Shared by the bench-table summaries (bench-summary.mjs, bench-scaling-summary.mjs):
// reading results.jsonl files and the number formatting of the tables.
import { readFileSync } from 'node:fs';

/** Every tagged summary line ({scenario, result}) of the given results.jsonl files. */
export const readResults = (files) =>
  files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));

/** Median of the finite numbers in xs (null when there are none). */
export const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/** A number for a markdown table ('—' for null). */
export const fmt = (x, unit = '', digits = 0) =>
  (x === null ? '—' : `${x.toLocaleString('en-US', { maximumFractionDigits: digits })}${unit}`);
