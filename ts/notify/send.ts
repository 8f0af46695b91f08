/**
 * One HTTP(S) POST of a notification, with a deadline for the whole exchange.
 *
 * node:https rather than fetch: a webhook entry may trust its own CA (`ca`, a PEM file,
 * for a self-signed receiver) without switching certificate checks off for anything
 * else, and Node 20's fetch takes no per-request CA without the undici package.
 * Certificates are always verified (Node's defaults plus the entry's CA, or
 * NODE_EXTRA_CA_CERTS for the whole process).
 */
import http from 'node:http';
import https from 'node:https';
import * as tls from 'node:tls';

export interface PostOptions {
  readonly timeoutMs: number;
  /** Extra trusted CA certificates (PEM), added to Node's own. */
  readonly ca?: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Abort the request (the notifier stopping). */
  readonly signal?: AbortSignal;
}

export interface PostResult {
  /** 2xx. */
  readonly ok: boolean;
  readonly status?: number;
  /** The receiver refused this body for good (400, 413, 422): retrying cannot help. */
  readonly permanent: boolean;
  /** A 429/503's Retry-After, ms. */
  readonly retryAfterMs?: number;
  /** What went wrong, for the log (status and the start of the reply, or the network error). */
  readonly error?: string;
}

const PERMANENT = new Set([400, 413, 422]);
/** Enough of a refusal's body to see why (Discord and Telegram explain in JSON). */
const BODY_EXCERPT = 300;

function retryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  const secs = Number(s);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(s);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/** Node's root CAs plus the entry's: `ca` alone would replace the roots. */
function withRoots(ca: string): string[] {
  return [...tls.rootCertificates, ca];
}

/** POST `body` (JSON) to `url`; never throws. */
export function post(url: URL, body: string, opts: PostOptions): Promise<PostResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const payload = Buffer.from(body, 'utf8');
    const headers = { ...opts.headers, 'content-type': 'application/json', 'content-length': String(payload.length) };
    const reqOpts: https.RequestOptions = { method: 'POST', headers, agent: false, signal: opts.signal };
    if (url.protocol === 'https:' && opts.ca) reqOpts.ca = withRoots(opts.ca);
    let req: http.ClientRequest;
    try {
      req = (url.protocol === 'https:' ? https : http).request(url, reqOpts, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < BODY_EXCERPT) chunks.push(c);
          size += c.length;
        });
        res.on('error', (e) => done({ ok: false, permanent: false, error: e.message }));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return done({ ok: true, status, permanent: false });
          const excerpt = Buffer.concat(chunks).toString('utf8').slice(0, BODY_EXCERPT).replace(/\s+/g, ' ').trim();
          done({
            ok: false, status, permanent: PERMANENT.has(status),
            retryAfterMs: status === 429 || status === 503 ? retryAfter(res.headers['retry-after']) : undefined,
            error: `HTTP ${status}${excerpt ? `: ${excerpt}` : ''}`,
          });
        });
      });
    } catch (e) {
      resolve({ ok: false, permanent: false, error: (e as Error).message });
      return;
    }
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    req.on('error', (e) => done({ ok: false, permanent: false, error: (e as NodeJS.ErrnoException).code ? `${(e as NodeJS.ErrnoException).code}: ${e.message}` : e.message }));
    req.end(payload);
  });
}
