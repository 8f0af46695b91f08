/**
 * Stratum v1 wire messages: the error triples, server-initiated messages, and
 * parsing helpers. Replies always carry `id` (echoed as given, any JSON type),
 * `result` and `error`; server messages carry `"id":null`.
 */

/** Standard stratum error codes (slush's spec; ckpool itself sends bare strings). */
/**
 * The user agent of a ckpool proxy (-p): ckpool's "ckpool/0.9.9" or ours "ckpool-ts/…".
 * Such a connection carries a whole farm's shares and gets link limits (ts/modes/links.ts)
 * and no invalid-share burst (stratifier); any client can claim it, as any can send
 * mining.passthrough (README, the limit keys).
 */
export const PROXY_AGENT = /^ckpool(-ts)?\//;

export const StratumError = {
  OTHER: 20,
  JOB_NOT_FOUND: 21,
  DUPLICATE: 22,
  LOW_DIFFICULTY: 23,
  UNAUTHORIZED: 24,
  NOT_SUBSCRIBED: 25,
} as const;

export type ErrorTriple = [number, string, null];

export const err = (code: number, message: string): ErrorTriple => [code, message, null];

/** ckpool's reject-reason strings, and the stratum code each maps to. */
export const Reject = {
  INVALID_JOB: { reason: 'Invalid JobID', code: StratumError.JOB_NOT_FOUND },
  STALE: { reason: 'Stale', code: StratumError.JOB_NOT_FOUND },
  NTIME: { reason: 'Ntime out of range', code: StratumError.OTHER },
  VERSION: { reason: 'Invalid version mask', code: StratumError.OTHER },
  DUPLICATE: { reason: 'Duplicate', code: StratumError.DUPLICATE },
  ABOVE_TARGET: { reason: 'Above target', code: StratumError.LOW_DIFFICULTY },
} as const;
export type RejectKind = keyof typeof Reject;

/** ckpool's share_err numbers for the share log (§10.4). */
export const ERRN: Record<RejectKind | 'VALID', number> = {
  VALID: 0, INVALID_JOB: 1, STALE: 2, NTIME: 3, DUPLICATE: 4, ABOVE_TARGET: 5, VERSION: 6,
};

export function reply(id: unknown, result: unknown, error: ErrorTriple | null = null): string {
  return JSON.stringify({ id: id === undefined ? null : id, result, error });
}

export function rejectReply(id: unknown, kind: RejectKind): string {
  const r = Reject[kind];
  return JSON.stringify({ id: id === undefined ? null : id, result: false, error: err(r.code, r.reason), 'reject-reason': r.reason });
}

export const setDifficulty = (diff: number): string => JSON.stringify({ id: null, method: 'mining.set_difficulty', params: [diff] });
export const notify = (params: unknown[]): string => JSON.stringify({ id: null, method: 'mining.notify', params });
export const showMessage = (text: string): string => JSON.stringify({ id: null, method: 'client.show_message', params: [text] });
export const reconnect = (host?: string, port?: number | string, wait = 0): string =>
  JSON.stringify({ id: null, method: 'client.reconnect', params: host ? [host, String(port), wait] : [] });

const HEX = /^[0-9a-fA-F]+$/;
export const isHex = (s: unknown): s is string => typeof s === 'string' && s.length > 0 && HEX.test(s);

/**
 * Difficulty values miners send: a JSON number or a numeric string, finite and > 0.
 * Returns null for anything else.
 */
export function parseDiff(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** Round a difficulty to 3 significant digits (vardiff outputs; keeps set_difficulty readable). */
export function roundDiff(d: number): number {
  if (!(d > 0) || !Number.isFinite(d)) return d;
  const p = Math.pow(10, 2 - Math.floor(Math.log10(d)));
  return Math.round(d * p) / p;
}

/** The text every miner is shown when the pool's block is accepted (ckpool's wording). */
export function blockSolvedText(height: number, workername: string, poolName: string): string {
  return `Block ${height} solved by ${workername} @ ${poolName}!`;
}
