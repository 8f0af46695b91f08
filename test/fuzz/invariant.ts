/**
 * What every fuzz target asserts: the only thing allowed out of the code under test is a
 * CkpoolError whose code is in the catalogue (ts/errors.ts). Anything else — a TypeError
 * from reading a field of the wrong type, a RangeError, a plain Error — is a finding.
 * Shared by the jazzer targets (test/fuzz/*.ts) and the fast-check properties
 * (test/fuzz-properties.test.ts).
 */
import { CkpoolError, catalogue } from '../../ts/errors.js';

export class FuzzFinding extends Error {
  override name = 'FuzzFinding';
}

/**
 * True for an error the code raised on purpose, with a known code: a CkpoolError, or an
 * Error from the native core carrying its CKP_ERR_NATIVE_* code (mapped in src/lib.rs).
 */
export function isKnownError(e: unknown): e is CkpoolError {
  if (e instanceof CkpoolError) return Object.hasOwn(catalogue, e.code);
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && typeof code === 'string' && code.startsWith('CKP_ERR_NATIVE_') && Object.hasOwn(catalogue, code);
}

/** Run `fn`; a CkpoolError with a known code is an accepted answer, anything else is rethrown. */
export function allowKnown<T>(fn: () => T): T | CkpoolError {
  try {
    return fn();
  } catch (e) {
    if (isKnownError(e)) return e;
    throw e;
  }
}

export async function allowKnownAsync<T>(fn: () => Promise<T>): Promise<T | CkpoolError> {
  try {
    return await fn();
  } catch (e) {
    if (isKnownError(e)) return e;
    throw e;
  }
}

/** Fail the input when `cond` is false (output bounds, states that must hold). */
export function check(cond: boolean, what: string): void {
  if (!cond) throw new FuzzFinding(what);
}
