/** Pool.start's SV2 step: key files, then the listeners on the pool's own stratifier. */
import { join } from 'node:path';
import type { Pool, PoolOptions } from '../pool/pool.js';
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
  const sv2 = await Sv2Listener.start({
    urls: config.sv2url, stratifier: pool.stratifier, keys, nonce2length: config.nonce2length, mindiff: config.mindiff,
    nextId, listenFds: opts.sv2ListenFds, maxConnections: config.maxclients, logger, noChannelTimeoutMs: opts.authTimeoutMs,
  });
  logger.notice(`SV2 authority public key ${keys.authorityPublic} (in ${keys.publicPath})`);
  logger.notice(`Stratum V2 on ${sv2.minerUrls.join(', ')}`);
  return sv2;
}
