/**
 * Small pieces shared by the proxy-family modes.
 */
import { readFileSync } from 'node:fs';
import { targetToBigInt } from '../native/core.js';

/** Our user agent towards upstream pools. */
export const AGENT: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    return `ckpool-ts/${pkg.version}`;
  } catch {
    return 'ckpool-ts';
  }
})();

export const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

/** Does a block hash (display hex) meet a target (32 bytes little-endian)? */
export function hashMeetsTarget(hashHex: string, targetLe: Buffer): boolean {
  if (!/^[0-9a-f]{64}$/.test(hashHex)) return false;
  return BigInt('0x' + hashHex) <= targetToBigInt(targetLe);
}

/** A stratum request id as a Map key that survives a JSON round trip. */
export function idKey(id: unknown): string {
  return typeof id === 'string' ? `s${id}` : `n${JSON.stringify(id ?? null)}`;
}
