/**
 * Fuzz target: what a bitcoind answers to getblocktemplate, through the real RPC client
 * (ts/node/rpc.ts: the bulk keep-alive connection of ts/node/bulk.ts, the node:http path,
 * reply parsing into results or coded errors, the template's field checks) over a real
 * loopback HTTP server that answers with the fuzz input: the first byte picks the HTTP
 * status and the method called, the rest is the body. The template, when one comes back,
 * is made into a Workbase (checkTemplate and the rest).
 *
 * Invariants: the call settles (well inside its time limit: a hang is a finding), with
 * a result or a CKP_ERR_RPC_* / CKP_ERR_WORK_* error; nothing else escapes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RpcClient } from '../../ts/node/rpc.js';
import { allowKnownAsync, check } from './invariant.js';
import { workbaseFrom } from './template.js';

const STATUSES = [200, 200, 200, 200, 401, 403, 404, 500];
let reply: { status: number; body: Buffer } = { status: 200, body: Buffer.alloc(0) };

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(reply.status, { 'Content-Type': 'application/json', 'Content-Length': reply.body.length });
    res.end(reply.body);
  });
});
server.keepAliveTimeout = 60_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
server.unref();
const client = new RpcClient({ url: `127.0.0.1:${(server.address() as AddressInfo).port}`, user: 'fuzz', pass: 'fuzz', timeoutMs: 5000 });

export async function fuzz(data: Buffer): Promise<void> {
  if (data.length === 0) return;
  reply = { status: STATUSES[data[0]! & 7]!, body: data.subarray(1) };
  const started = performance.now();
  const r = await allowKnownAsync(async () => {
    if (data[0]! & 0x80) return client.getBestBlockHash();
    return workbaseFrom(await client.getBlockTemplate());
  });
  check(performance.now() - started < 4000, 'an RPC reply took seconds to read');
  if (r instanceof Error && 'code' in r) {
    check(/^CKP_ERR_(RPC|WORK|NATIVE)_/.test(String(r.code)), `unexpected error code ${String(r.code)}`);
  }
}

/** For the ava properties: let the test process end. */
export function closeRpcTarget(): void {
  client.close();
  server.close();
}
