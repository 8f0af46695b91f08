/**
 * An HTTP pass-through in front of a real bcoin node that raises the network target
 * difficulty in getblocktemplate replies (bits 1d00ffff, difficulty 1).
 *
 * Why a stand-in: on regtest (bits 207fffff) half of all hashes solve a block, so
 * every test share would also be a block, change the tip and make the next share
 * stale — share verdicts (above target, duplicate, ntime…) could not be tested
 * deterministically. No real node serves regtest templates with a hard target, so
 * this rewrites that one field; everything else (tips, polling, addresses,
 * submitblock) is the real node's answer.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HardBits {
  url: string;
  close(): Promise<void>;
}

export async function hardBitsProxy(target: { host: string; port: number }, bits = '1d00ffff'): Promise<HardBits> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const up = http.request({ host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        const out: Buffer[] = [];
        ur.on('data', (c: Buffer) => out.push(c));
        ur.on('end', () => {
          let text = Buffer.concat(out).toString('utf8');
          if (body.includes('getblocktemplate')) {
            const j = JSON.parse(text);
            if (j.result) {
              j.result.bits = bits;
              j.result.target = '00000000ffff0000000000000000000000000000000000000000000000000000';
            }
            text = JSON.stringify(j);
          }
          const headers = { ...ur.headers };
          delete headers['content-length'];
          res.writeHead(ur.statusCode ?? 500, headers);
          res.end(text);
        });
      });
      up.on('error', () => { res.statusCode = 502; res.end(); });
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
