/**
 * How the HTTP API answers errors: `{ "error": { "code": "CKP_ERR_…", "message": "…" } }`
 * with the status the catalogue (ts/errors.ts) notes for the code. Routes throw these;
 * the server's error handler renders them (anything else is a 500 with CKP_ERR_API_INTERNAL).
 */
import { ckError, isCkpoolError, type CkpoolError, type ErrorCode } from '../errors.js';

/** HTTP status of each API error code. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  CKP_ERR_API_NOT_FOUND: 404,
  CKP_ERR_API_UNAVAILABLE: 404,
  CKP_ERR_API_PARAM: 400,
  CKP_ERR_API_AUTH: 401,
  CKP_ERR_API_BUSY: 503,
};

export interface ErrorBody {
  error: { code: string; message: string };
}

export function notFound(what: string, name: string): CkpoolError {
  return ckError('CKP_ERR_API_NOT_FOUND', what, JSON.stringify(name));
}

export function badParam(name: string, why: string): CkpoolError {
  return ckError('CKP_ERR_API_PARAM', name, why);
}

/** Status and body for any error a route threw. */
export function errorReply(err: unknown): { status: number; body: ErrorBody } {
  if (isCkpoolError(err)) {
    const status = STATUS[err.code] ?? 500;
    return { status, body: { error: { code: err.code, message: err.message } } };
  }
  // fastify's own errors (bad JSON body, unsupported media type, …) carry a 4xx statusCode
  const e = err as { statusCode?: unknown; message?: unknown };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: { error: { code: 'CKP_ERR_API_PARAM', message: String(e.message) } } };
  }
  const internal = ckError('CKP_ERR_API_INTERNAL', err instanceof Error ? err.message : String(err));
  return { status: 500, body: { error: { code: internal.code, message: internal.message } } };
}
