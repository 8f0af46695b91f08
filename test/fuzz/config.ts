/**
 * Fuzz target: ckpool.conf parsing (ts/config/parse.ts parseConfig) in every mode.
 * The first byte picks the mode and -t; the rest is the file text. A config that does
 * not parse must be refused with a CKP_ERR_CONFIG_* error naming the file and line.
 */
import { parseConfig } from '../../ts/config/parse.js';
import { MODES } from '../../ts/config/types.js';
import { allowKnown, check } from './invariant.js';

export function fuzz(data: Buffer): void {
  if (data.length === 0) return;
  const mode = MODES[data[0]! % MODES.length]!;
  const trusted = (data[0]! & 0x80) !== 0;
  const text = data.subarray(1).toString('utf8');
  const r = allowKnown(() => parseConfig(text, mode, 'fuzz.conf', { trusted, openFileLimit: 1024 }));
  if (r instanceof Error) {
    check(r.code.startsWith('CKP_ERR_CONFIG_'), `config error with a foreign code ${r.code}`);
    check(r.message.startsWith('fuzz.conf'), `config error that does not name the file: ${r.message}`);
    check(r.message.length < 4096 + text.length, 'config error message unbounded');
  } else {
    check(r.mode === mode, 'parsed config lost its mode');
  }
}
