/**
 * Stand-ins in front of the soak's Bitcoin Core (regtest). Documented as stand-ins
 * because no real node produces these on demand:
 *
 * - `bits`: rewrites the network target in getblocktemplate replies. On regtest (bits
 *   207fffff) half of all hashes solve a block, so every share would be a block; with
 *   a harder target the pool sees blocks at a rate a soak can live with. Such a block
 *   meets the real regtest target, but the header's nBits is not Core's, so Core refuses such a block ("bad-diffbits"):
 *   the soak checks those were written and submitted. For blocks Core must accept, the
 *   soak turns the rewrite off for short windows (`bits = null`): the template is then
 *   Core's own and every share on it is a real regtest block. Everything else is Core's
 *   own answer.
 * - `slow` / `fail`: a node whose replies come late and that errors on a schedule
 *   (HTTP 500, a JSON-RPC error, or no reply until the client gives up), as a
 *   struggling node does; the pool must keep serving from its other node.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = 'ok' | 'http500' | 'rpcerror' | 'hang';

export interface NodeProxyOptions {
  /** Core's RPC host:port */
  target: { host: string; port: number };
  /** compact bits to put in getblocktemplate replies (and the matching target) */
  bits?: string;
  /** extra delay per reply, ms: a random value in [min, max] */
  delayMs?: [number, number];
  /** what to do with a request at time `ms` since start (default always 'ok') */
  schedule?: (ms: number) => Fault;
}

export interface NodeProxy {
  url: string;
  /** the bits put in templates now; null passes Core's own (see realWindow in scripts/soak.ts) */
  bits: string | null;
  counts: Record<Fault, number>;
  close(): Promise<void>;
}

/** The 256-bit target for compact `bits`, as 64 hex digits. */
export function targetHex(bits: string): string {
  const n = parseInt(bits, 16);
  const size = n >>> 24;
  const mant = BigInt(n & 0x7fffff);
  const t = size <= 3 ? mant >> BigInt(8 * (3 - size)) : mant << BigInt(8 * (size - 3));
  return t.toString(16).padStart(64, '0');
}

/** Compact bits for a share difficulty (diff 1 = 0x1d00ffff). */
export function bitsForDiff(diff: number): string {
  const diff1 = 0xffffn << 208n;
  // scale to keep precision for fractional difficulties
  const scaled = (diff1 * 1_000_000_000n) / BigInt(Math.round(diff * 1e9));
  let hex = scaled.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  let size = hex.length / 2;
  let mant = parseInt(hex.slice(0, 6).padEnd(6, '0'), 16);
  if (mant & 0x800000) {
    mant >>>= 8;
    size++;
  }
  return ((size << 24) | mant).toString(16).padStart(8, '0');
}

export async function nodeProxy(opts: NodeProxyOptions): Promise<NodeProxy> {
  const started = Date.now();
  const state = { bits: opts.bits ?? null };
  const counts: Record<Fault, number> = { ok: 0, http500: 0, rpcerror: 0, hang: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const fault = opts.schedule?.(Date.now() - started) ?? 'ok';
      counts[fault]++;
      const [lo, hi] = opts.delayMs ?? [0, 0];
      const delay = lo + Math.random() * (hi - lo);
      setTimeout(() => {
        if (fault === 'hang') return; // the client's timeout ends it
        if (fault === 'http500') {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('stand-in: node failing');
          return;
        }
        if (fault === 'rpcerror') {
          let id: unknown = null;
          try {
            id = (JSON.parse(body.toString('utf8')) as { id?: unknown }).id ?? null;
          } catch {
            /* keep null */
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ result: null, error: { code: -28, message: 'stand-in: node warming up' }, id }));
          return;
        }
        forward(opts.target, state.bits, req, body, res);
      }, delay);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `127.0.0.1:${port}`,
    get bits() { return state.bits; },
    set bits(b: string | null) { state.bits = b; },
    counts,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

function forward(target: { host: string; port: number }, bits: string | null, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
  const up = http.request({ host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
    const out: Buffer[] = [];
    ur.on('data', (c: Buffer) => out.push(c));
    ur.on('end', () => {
      let text = Buffer.concat(out).toString('utf8');
      if (bits && body.includes('getblocktemplate')) {
        try {
          const j = JSON.parse(text) as { result?: { bits?: string; target?: string } };
          if (j.result) {
            j.result.bits = bits;
            j.result.target = targetHex(bits);
          }
          text = JSON.stringify(j);
        } catch {
          /* pass Core's text on as it is */
        }
      }
      const headers = { ...ur.headers };
      delete headers['content-length'];
      res.writeHead(ur.statusCode ?? 500, headers);
      res.end(text);
    });
  });
  up.on('error', () => {
    res.statusCode = 502;
    res.end();
  });
  up.end(body);
}
