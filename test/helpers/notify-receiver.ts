/**
 * A local HTTPS webhook receiver for the notification tests: a real node:https server
 * with a self-signed certificate (test/helpers/certs.ts, the openssl CLI) that records
 * every POST. It can go down (the listening socket closed: connections are refused)
 * and come back on the same port, or answer with a chosen status.
 */
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { makeCert, type MadeCert } from './certs.js';

export interface Received {
  readonly path: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
  readonly raw: string;
}

export class NotifyReceiver {
  readonly received: Received[] = [];
  /** Answer with this status (default 200). */
  status = 200;
  port = 0;
  #server: https.Server | null = null;
  #waiters: (() => void)[] = [];

  private constructor(readonly cert: MadeCert) {}

  /** Start on an ephemeral port with a fresh self-signed certificate made in `dir`. */
  static async start(dir: string): Promise<NotifyReceiver> {
    const r = new NotifyReceiver(makeCert(dir, { cn: 'notify-receiver' }));
    await r.up();
    return r;
  }

  /** The certificate to trust (an entry's `ca`): the receiver's own, self-signed. */
  get caPath(): string {
    return this.cert.certPath;
  }

  url(path: string): string {
    return `https://127.0.0.1:${this.port}${path}`;
  }

  /** Listen (again, on the same port after down()). */
  async up(): Promise<void> {
    if (this.#server) return;
    const server = https.createServer({ cert: this.cert.cert, key: this.cert.key }, (req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => { raw += d; });
      req.on('end', () => {
        if (this.status >= 200 && this.status < 300) {
          let body: Record<string, unknown> = {};
          try { body = JSON.parse(raw) as Record<string, unknown>; } catch { /* recorded as {} with raw */ }
          this.received.push({ path: req.url ?? '', headers: req.headers, body, raw });
          for (const w of this.#waiters.splice(0)) w();
        }
        res.writeHead(this.status, { 'content-type': 'application/json' });
        res.end(this.status === 200 ? '{"ok":true}' : '{"ok":false,"description":"test receiver refuses"}');
      });
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stop listening and drop open connections: senders get ECONNREFUSED until up(). */
  async down(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  /** Requests to `path` (prefix), optionally of one event type. */
  at(path: string, type?: string): Received[] {
    return this.received.filter((r) => r.path.startsWith(path) && (type === undefined || r.headers['x-ckpool-event'] === type));
  }

  /** Wait until `cond` holds over what was received. */
  async waitFor(cond: () => boolean, timeoutMs = 20_000, what = 'notification'): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; received ${JSON.stringify(this.received.map((r) => [r.path, r.headers['x-ckpool-event']]))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  async close(): Promise<void> {
    await this.down();
  }
}
