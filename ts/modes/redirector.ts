/**
 * Redirector mode (-R; behaviour §12.4): a passthrough (./passthrough.ts) that watches
 * each miner's submits. The first time upstream accepts one of a miner's shares, the
 * miner is sent `{"id":null,"method":"client.reconnect","params":["<host>","<port>",0]}`
 * for one of the `redirecturl` entries: round robin over new IP addresses, and the same
 * address always gets the same entry. An address that was redirected once is
 * redirected again right after its next successful authorize. Miners that never
 * produce an accepted share are never redirected — the point of the mode is to filter
 * them out in front of the real pools.
 */
import { EventEmitter } from 'node:events';
import type { CkpoolConfig } from '../config/types.js';
import { parseHostPort } from '../config/hostport.js';
import { ckError } from '../errors.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { reconnect } from '../pool/protocol.js';
import { idKey } from './common.js';
import { PassthroughMode, type Miner, type PassthroughOptions, type PassthroughTap } from './passthrough.js';
import type { Json } from './upstream.js';

interface MinerState {
  submits: Set<string>;
  auths: Set<string>;
  redirected: boolean;
}

export class RedirectorTap extends EventEmitter<{ redirect: [m: Miner, host: string, port: number] }> implements PassthroughTap {
  readonly parseDownstream = true;
  readonly targets: { host: string; port: number }[];
  /** which target each address was given */
  readonly byAddress = new Map<string, number>();
  redirected = 0;
  #next = 0;
  readonly #log: Logger;

  constructor(urls: readonly string[], logger?: Logger) {
    super();
    this.#log = logger ?? new NullLogger();
    this.targets = urls.map((u) => {
      const hp = parseHostPort(u);
      if (typeof hp === 'string') throw ckError('CKP_ERR_PROXY_URL', JSON.stringify(u), hp);
      return hp;
    });
    if (!this.targets.length) throw ckError('CKP_ERR_PROXY_OPTION', 'redirecturl', 'a non-empty list of "host:port"', '[]');
  }

  #state(m: Miner): MinerState {
    let s = m.tap as MinerState | undefined;
    if (!s) {
      s = { submits: new Set(), auths: new Set(), redirected: false };
      m.tap = s;
    }
    return s;
  }

  fromMiner(m: Miner, msg: Json): void {
    const method = typeof msg.method === 'string' ? msg.method.toLowerCase() : '';
    if (method === 'mining.submit') this.#state(m).submits.add(idKey(msg.id));
    else if (method.startsWith('mining.auth')) this.#state(m).auths.add(idKey(msg.id));
  }

  toMiner(m: Miner, msg: Json): void {
    if (msg.method !== undefined) return;
    const s = m.tap as MinerState | undefined;
    if (!s || s.redirected) return;
    const k = idKey(msg.id);
    const ok = msg.result === true;
    let go = false;
    if (s.submits.delete(k)) go = ok;
    else if (s.auths.delete(k)) go = ok && this.byAddress.has(m.conn.address);
    // after the reply itself has gone out
    if (go) process.nextTick(() => this.#redirect(m, s));
  }

  #redirect(m: Miner, s: MinerState): void {
    if (s.redirected || m.conn.closed) return;
    s.redirected = true;
    let i = this.byAddress.get(m.conn.address);
    if (i === undefined) {
      i = this.#next++ % this.targets.length;
      this.byAddress.set(m.conn.address, i);
    }
    const t = this.targets[i]!;
    this.redirected++;
    this.#log.info(`redirector: client ${m.id} ${m.conn.address} redirected to ${t.host}:${t.port}`);
    m.conn.send(reconnect(t.host, t.port, 0));
    this.emit('redirect', m, t.host, t.port);
  }
}

export async function startRedirector(config: CkpoolConfig, opts: PassthroughOptions = {}): Promise<{ mode: PassthroughMode; tap: RedirectorTap }> {
  const tap = new RedirectorTap(config.redirecturl, opts.logger);
  const mode = await PassthroughMode.start(config, opts, tap);
  return { mode, tap };
}
