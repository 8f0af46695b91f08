/** Query parameters of the API, checked by hand so a bad one gets a clear CKP_ERR_API_PARAM. */
import { badParam } from './errors.js';

export const MAX_LIMIT = 500;
export const DEFAULT_LIMIT = 50;

type Query = Record<string, unknown>;

function one(q: Query, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw badParam(name, 'given more than once');
  return v;
}

function intParam(q: Query, name: string, min: number, max: number, dflt: number): number {
  const s = one(q, name);
  if (s === undefined) return dflt;
  if (!/^[0-9]{1,9}$/.test(s)) throw badParam(name, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(s.slice(0, 40))}`);
  const n = Number(s);
  if (n < min || n > max) throw badParam(name, `must be from ${min} to ${max}, got ${n}`);
  return n;
}

export interface Page {
  offset: number;
  limit: number;
}

/** ?offset=0&limit=50 (limit 1..500). */
export function pageParams(q: Query): Page {
  return { offset: intParam(q, 'offset', 0, 1e9, 0), limit: intParam(q, 'limit', 1, MAX_LIMIT, DEFAULT_LIMIT) };
}

/** One of a fixed set of words, with a default. */
export function choiceParam<T extends string>(q: Query, name: string, choices: readonly T[], dflt: T): T {
  const s = one(q, name);
  if (s === undefined) return dflt;
  if (!(choices as readonly string[]).includes(s)) throw badParam(name, `must be one of ${choices.join(', ')}, got ${JSON.stringify(s.slice(0, 40))}`);
  return s as T;
}

export function optionalString(q: Query, name: string, maxLength = 256): string | undefined {
  const s = one(q, name);
  if (s !== undefined && (s.length === 0 || s.length > maxLength)) throw badParam(name, `must be 1 to ${maxLength} characters`);
  return s;
}

export function paged<T>(all: readonly T[], p: Page): { total: number; offset: number; limit: number; items: T[] } {
  return { total: all.length, offset: p.offset, limit: p.limit, items: all.slice(p.offset, p.offset + p.limit) };
}
