/**
 * The built-in block-change trigger of `broadcast`: bench_newblock on a ckpool-bench
 * template source (kept apart from the template source so the load generator loads
 * no native code).
 */
import http from 'node:http';
import { ckError, ckErrorCause } from '../errors.js';

export interface NewBlock {
  hash: string;
  height: number;
}

/** Call bench_newblock on a template source: `[user:pass@]host:port`. Returns the new tip and the round-trip time. */
export function triggerNewBlock(rpc: string, timeoutMs = 10_000): Promise<NewBlock & { rpcMs: number }> {
  const m = /^(?:([^:@]*):([^@]*)@)?([^:@]+|\[[^\]]+\]):(\d+)$/.exec(rpc);
  if (!m) return Promise.reject(ckError('CKP_ERR_BENCH_OPTION', '--rpc', '[user:password@]host:port', JSON.stringify(rpc)));
  const [, user = 'bench', pass = 'bench', host, port] = m;
  const body = JSON.stringify({ jsonrpc: '1.0', id: 'ckpool-bench', method: 'bench_newblock', params: [] });
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: host!.replace(/^\[|\]$/g, ''), port: Number(port), method: 'POST', path: '/', timeout: timeoutMs, agent: false,
      headers: { Authorization: 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64'), 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const rpcMs = performance.now() - t0;
        if (res.statusCode === 401 || res.statusCode === 403) {
          reject(ckError('CKP_ERR_BENCH_TRIGGER', `bench_newblock on ${host}:${port}: the RPC credentials were refused (HTTP ${res.statusCode}); give --rpc user:password@host:port`));
          return;
        }
        try {
          const r = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { result?: NewBlock; error?: { message?: string } };
          if (res.statusCode !== 200 || !r.result) throw new Error(r.error?.message ?? `HTTP ${res.statusCode}`);
          resolve({ ...r.result, rpcMs });
        } catch (e) {
          reject(ckErrorCause('CKP_ERR_BENCH_TRIGGER', e, `bench_newblock on ${host}:${port}: ${(e as Error).message} (HTTP ${res.statusCode})`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => reject(ckErrorCause('CKP_ERR_BENCH_TRIGGER', e, `bench_newblock on ${host}:${port}: ${e.message}`)));
    req.end(body);
  });
}
