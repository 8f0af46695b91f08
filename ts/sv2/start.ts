/**
 * Pool.start's SV2 step: key files, then the listeners. With worker threads the threads
 * are given the authority key first (PoolWorkers.enableSv2) and every accepted SV2 socket
 * is handed to one of them, as V1 sockets are; without, the channels are miners of the
 * pool's own stratifier on this thread.
 */
import { join } from 'node:path';
import type { Pool, PoolOptions } from '../pool/pool.js';
import type { Sv2HostSettings } from './host.js';
import { loadSv2Keys } from './keys.js';
import { Sv2Listener } from './listener.js';

export async function startSv2(pool: Pool, opts: Pick<PoolOptions, 'sockdir' | 'sv2ListenFds' | 'name' | 'authTimeoutMs'>, nextId: () => number): Promise<Sv2Listener> {
  const { config, logger } = pool;
  const keys = loadSv2Keys({
    authorityPath: config.sv2AuthorityKey, staticPath: config.sv2StaticKey,
    sockdir: opts.sockdir ?? join('/tmp', opts.name ?? 'ckpool'),
  });
  for (const f of keys.created) logger.notice(`SV2: created key file ${f} (mode 0600)`);
  for (const f of keys.exposed) logger.warning(`SV2: key file ${f} can be read by other users; chmod 600 it`);
  const host: Sv2HostSettings = {
    authoritySecret: keys.authoritySecret, nonce2length: config.nonce2length, mindiff: config.mindiff, noChannelTimeoutMs: opts.authTimeoutMs,
    // V1's per-connection limits (config floodrate, floodburst, maxpending) hold for SV2 connections too
    floodRate: pool.server.floodRate, floodBurst: pool.server.floodBurst, maxPendingBytes: pool.server.maxPendingBytes,
  };
  const workers = pool.workers;
  // before the listener accepts anything: a thread's messages arrive in order, so the key is there before the first socket
  workers?.enableSv2(host);
  const sv2 = await Sv2Listener.start({
    ...host, urls: config.sv2url, stratifier: pool.stratifier, keys, nextId, listenFds: opts.sv2ListenFds, maxConnections: config.maxclients, logger,
    handoff: workers ? (socket, index) => workers.handoffSv2(socket, index) : undefined,
  });
  logger.notice(`SV2 authority public key ${keys.authorityPublic} (in ${keys.publicPath})`);
  logger.notice(`Stratum V2 on ${sv2.minerUrls.join(', ')}${workers ? ` (served on the ${workers.threads} worker threads)` : ''}`);
  return sv2;
}
