// Number and time formatting for the dashboard. Pure functions (no DOM), so they
// can be imported by the browser and by node tests alike.

const HASH_UNITS = ['H/s', 'kH/s', 'MH/s', 'GH/s', 'TH/s', 'PH/s', 'EH/s', 'ZH/s'];
const SI = ['', 'k', 'M', 'G', 'T', 'P', 'E', 'Z'];

/** three significant digits, no trailing zeros after the point: 1.20 → "1.2", 123.4 → "123" */
function sig3(x) {
  if (x === 0) return '0';
  const s = Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3);
  return s.includes('.') && !s.includes('e') ? s.replace(/\.?0+$/, '') : s;
}

/** scale x by powers of 1000 into one of `units` (x >= 1000 moves up a unit) */
function scaled(x, units) {
  let i = 0;
  let v = Math.abs(x);
  while (v >= 999.5 && i < units.length - 1) { v /= 1000; i++; }
  return { v: x < 0 ? -v : v, unit: units[i] };
}

/** H/s → "0 H/s", "950 H/s", "4.29 MH/s", "1.5 EH/s" */
export function formatHashrate(hps) {
  if (hps == null || !Number.isFinite(hps)) return '—';
  const { v, unit } = scaled(hps, HASH_UNITS);
  return `${sig3(v)} ${unit}`;
}

/**
 * Share and network difficulties: below 1000 with up to three significant digits
 * (pool test difficulties are fractions, 0.0001), above with an SI suffix ("92.7T").
 */
export function formatDifficulty(d) {
  if (d == null || !Number.isFinite(d)) return '—';
  if (Math.abs(d) < 1000) {
    if (d !== 0 && Math.abs(d) < 0.001) return Number(d.toPrecision(3)).toString();
    return sig3(d);
  }
  const { v, unit } = scaled(d, SI);
  return `${sig3(v)}${unit}`;
}

/** integer counts with thousands separators: 12345 → "12,345" */
export function formatCount(n) {
  if (n == null || !Number.isFinite(n)) return '—';
  return Math.round(n).toLocaleString('en-US');
}

/** unix seconds → "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago"; 0/null → "never" */
export function formatAgo(t, nowSeconds = Date.now() / 1000) {
  if (!t) return 'never';
  const s = Math.max(0, Math.floor(nowSeconds - t));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** seconds → "45s", "12m 5s", "4h 12m", "3d 4h" (the two largest units) */
export function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return '—';
  let s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

/** satoshis → "3.125 BTC" (no trailing zeros) */
export function formatBtc(sats) {
  if (sats == null || !Number.isFinite(sats)) return '—';
  return `${(sats / 1e8).toFixed(8).replace(/\.?0+$/, '')} BTC`;
}

/** unix seconds → local "2026-12-04 23:41:07" */
export function formatTime(t) {
  if (!t) return '—';
  const d = new Date(t * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** a long hex hash shortened for tables: "000000…a1b2c3d4" */
export function shortHash(hash, tail = 8) {
  if (typeof hash !== 'string' || hash.length <= tail + 8) return hash ?? '—';
  const lead = hash.match(/^0*/)[0].length;
  return `${hash.slice(0, Math.max(6, Math.min(lead, 16)))}…${hash.slice(-tail)}`;
}
