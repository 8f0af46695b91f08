/**
 * `ckpool-bench template-source`: a FAKE bitcoind for benchmarks only.
 *
 * A regtest node's target is so easy (bits 207fffff) that half of all random hashes
 * are blocks, so a throughput benchmark against one measures block handling, not
 * share validation. This serves what a pool needs from bitcoind, with a mainnet-like
 * target and a realistic template (0 or thousands of segwit transactions, txid ≠
 * wtxid, a correct default_witness_commitment), over bitcoind's JSON-RPC:
 *
 *   getblocktemplate, getblockchaininfo, getnetworkinfo, getmininginfo, getdifficulty,
 *   validateaddress, getbestblockhash, getblockcount, getblockhash, submitblock
 *   (recorded, and a block on the tip becomes the tip), decoderawtransaction (minimal),
 *   and `bench_newblock` (also POST /newblock): a new tip, announced on the optional
 *   ZMQ `hashblock` publisher exactly as bitcoind's -zmqpubhashblock does.
 *
 * It validates nothing and holds no chain: it is not a node, and nothing mined
 * against it is worth anything. The network name (getblockchaininfo.chain) is
 * selectable so addresses validate as the pool expects (default regtest: bcrt1… and
 * bcoin's rb1… addresses).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { decodeAddress, type NetworkName } from '../bitcoin/address.js';
import { ckError, ckErrorCause } from '../errors.js';
import { difficultyFromNbits, fromDisplayHex, sha256d, targetFromNbits, toDisplayHex, witnessCommitment } from '../native/core.js';
import { decodeTransaction, makeTransactions, type SyntheticTx } from './txgen.js';
import type { NewBlock } from './trigger.js';

export type { NewBlock } from './trigger.js';

export type ChainName = 'main' | 'test' | 'signet' | 'regtest';

export interface TemplateSourceOptions {
  /** listen address (default 127.0.0.1) */
  host?: string;
  /** RPC port (default 0: any free port) */
  port?: number;
  /** RPC credentials (default bench / bench) */
  user?: string;
  password?: string;
  /** transactions per template (default 0) */
  txs?: number;
  /** compact target, 8 hex digits (default 17034219, mainnet in late 2024) */
  bits?: string;
  /** getblockchaininfo.chain (default regtest) */
  chain?: ChainName;
  /** height of the first template (default 880000) */
  height?: number;
  /** ZMQ hashblock publisher: a port (0 = any), an endpoint such as tcp://127.0.0.1:28332, or null for none (default) */
  zmq?: number | string | null;
  /** one line per event (new tip, submitted block) */
  log?: (line: string) => void;
}

export interface SubmittedBlock {
  hash: string;
  height: number;
  /** became the tip (it built on the current tip) */
  accepted: boolean;
  at: number;
}


interface Prepared {
  height: number;
  prevhash: string;
  /** '{"result":' + template without its closing brace + ',"curtime":' */
  head: Buffer;
  template: Record<string, unknown>;
  bytes: number;
}

const CHAIN_NETWORK: Record<ChainName, NetworkName> = { main: 'main', test: 'testnet', signet: 'signet', regtest: 'regtest' };

class RpcFail extends Error {
  constructor(readonly code: number, message: string, readonly http = 500) {
    super(message);
  }
}

function subsidy(height: number): number {
  const halvings = Math.floor(height / 210_000);
  return halvings >= 64 ? 0 : Math.floor(5_000_000_000 / 2 ** halvings);
}

/** A block-hash-looking random hash (display order, leading zeros like mainnet's). */
function fakeBlockHash(): string {
  return '00000000000000000000' + randomBytes(22).toString('hex');
}

export class TemplateSource {
  readonly host: string;
  port = 0;
  readonly user: string;
  readonly password: string;
  readonly txs: number;
  readonly bits: string;
  readonly chain: ChainName;
  readonly network: NetworkName;
  readonly difficulty: number;
  /** ZMQ endpoint once bound, or null */
  zmq: string | null = null;
  /** RPC calls answered, by method */
  readonly calls: Record<string, number> = {};
  readonly blocks: SubmittedBlock[] = [];
  tipHeight: number;
  tip: string;

  readonly #server: http.Server;
  readonly #target: string;
  readonly #hashes = new Map<number, string>();
  readonly #log: (line: string) => void;
  #current!: Prepared;
  /** the template for the next tip, built ahead so a block change answers at once */
  #next: Prepared | null = null;
  #nextTimer: NodeJS.Timeout | null = null;
  #pub: { send(m: Array<string | Buffer>): Promise<void>; close(): void; readonly lastEndpoint: string | null } | null = null;
  #pubQueue: Promise<void> = Promise.resolve();
  #zmqSeq = 0;
  #closed = false;
  readonly #zmqOpt: number | string | null;
  readonly #auth: string;

  private constructor(opts: TemplateSourceOptions) {
    this.host = opts.host ?? '127.0.0.1';
    this.user = opts.user ?? 'bench';
    this.password = opts.password ?? 'bench';
    this.txs = opts.txs ?? 0;
    this.bits = (opts.bits ?? '17034219').toLowerCase();
    this.chain = opts.chain ?? 'regtest';
    if (!/^[0-9a-f]{8}$/.test(this.bits)) throw ckError('CKP_ERR_BENCH_OPTION', '--bits', '8 hex digits', JSON.stringify(opts.bits));
    if (!(this.chain in CHAIN_NETWORK)) throw ckError('CKP_ERR_BENCH_OPTION', '--chain', 'main, test, signet or regtest', JSON.stringify(this.chain));
    if (!Number.isInteger(this.txs) || this.txs < 0 || this.txs > 100_000) throw ckError('CKP_ERR_BENCH_OPTION', '--txs', 'an integer 0..100000', String(opts.txs));
    this.network = CHAIN_NETWORK[this.chain];
    const nbits = parseInt(this.bits, 16);
    this.#target = Buffer.from(targetFromNbits(nbits)).reverse().toString('hex');
    this.difficulty = difficultyFromNbits(nbits);
    this.tipHeight = (opts.height ?? 880_000) - 1;
    this.tip = fakeBlockHash();
    this.#hashes.set(this.tipHeight, this.tip);
    this.#log = opts.log ?? (() => undefined);
    this.#zmqOpt = opts.zmq ?? null;
    this.#auth = 'Basic ' + Buffer.from(`${this.user}:${this.password}`).toString('base64');
    this.#current = this.#prepare(this.tipHeight + 1, this.tip);
    this.#server = http.createServer({ keepAlive: true }, (req, res) => this.#request(req, res));
    this.#server.keepAliveTimeout = 600_000;
    this.#server.headersTimeout = 0;
    this.#server.requestTimeout = 0;
  }

  /** Start listening (and the ZMQ publisher, when asked). */
  static async start(opts: TemplateSourceOptions = {}): Promise<TemplateSource> {
    const ts = new TemplateSource(opts);
    const where = `${ts.host}:${opts.port ?? 0}`;
    await new Promise<void>((resolve, reject) => {
      ts.#server.once('error', (e) => reject(ckErrorCause('CKP_ERR_BENCH_LISTEN', e, where, (e as Error).message)));
      ts.#server.listen(opts.port ?? 0, ts.host, () => resolve());
    });
    ts.port = (ts.#server.address() as AddressInfo).port;
    if (ts.#zmqOpt !== null) {
      const endpoint = typeof ts.#zmqOpt === 'number'
        ? `tcp://${ts.host}:${ts.#zmqOpt === 0 ? '*' : ts.#zmqOpt}` : ts.#zmqOpt;
      try {
        const zmq = await import('zeromq');
        const pub = new zmq.Publisher();
        await pub.bind(endpoint);
        ts.#pub = pub;
        ts.zmq = pub.lastEndpoint ?? endpoint;
      } catch (e) {
        await ts.close();
        throw ckErrorCause('CKP_ERR_BENCH_LISTEN', e, endpoint, `ZMQ: ${(e as Error).message}`);
      }
    }
    ts.#scheduleNext();
    return ts;
  }

  /** "host:port" for a pool's btcd url. */
  get url(): string {
    return `${this.host}:${this.port}`;
  }

  /** Size of the current getblocktemplate reply, bytes. */
  get templateBytes(): number {
    return this.#current.bytes;
  }

  /** The current template as an object (tests). */
  get template(): Record<string, unknown> {
    return { ...this.#current.template, curtime: Math.floor(Date.now() / 1000) };
  }

  /** A new tip (as if a block was found elsewhere): new template, ZMQ hashblock. */
  newBlock(): NewBlock {
    const next = this.#next;
    this.#next = null;
    const hash = next ? next.prevhash : fakeBlockHash();
    return this.#advance(hash, next);
  }

  #advance(hash: string, prepared: Prepared | null): NewBlock {
    this.tipHeight++;
    this.tip = hash;
    this.#hashes.set(this.tipHeight, hash);
    this.#current = prepared && prepared.prevhash === hash ? prepared : this.#prepare(this.tipHeight + 1, hash);
    this.#publish(hash);
    this.#log(`new tip ${hash} at height ${this.tipHeight}`);
    this.#scheduleNext();
    return { hash, height: this.tipHeight };
  }

  #publish(hash: string): void {
    const pub = this.#pub;
    if (!pub) return;
    const seq = Buffer.alloc(4);
    seq.writeUInt32LE(this.#zmqSeq++ >>> 0);
    // bitcoind: [topic, 32-byte hash in display order, LE uint32 sequence]; one send at a time
    this.#pubQueue = this.#pubQueue.then(() => pub.send(['hashblock', Buffer.from(hash, 'hex'), seq])).catch(() => undefined);
  }

  /** Build the next template a little later, off the block-change path. */
  #scheduleNext(): void {
    if (this.#nextTimer || this.#closed) return;
    this.#nextTimer = setTimeout(() => {
      this.#nextTimer = null;
      if (!this.#closed) this.#next = this.#prepare(this.tipHeight + 2, fakeBlockHash());
    }, 200);
    this.#nextTimer.unref();
  }

  #prepare(height: number, prevhash: string): Prepared {
    const txs: SyntheticTx[] = this.txs ? makeTransactions(this.txs) : [];
    const wtxids = Buffer.concat(txs.map((t) => fromDisplayHex('hash', t.hash)));
    const commitment = witnessCommitment(wtxids).toString('hex');
    let fees = 0;
    const transactions = txs.map(({ size: _s, vsize: _v, ...t }) => {
      fees += t.fee;
      return t;
    });
    const now = Math.floor(Date.now() / 1000);
    const template: Record<string, unknown> = {
      capabilities: ['proposal'],
      version: 0x20000000,
      rules: ['csv', '!segwit', 'taproot'],
      vbavailable: {},
      vbrequired: 0,
      previousblockhash: prevhash,
      transactions,
      coinbaseaux: {},
      coinbasevalue: subsidy(height) + fees,
      longpollid: `${prevhash}${height}`,
      target: this.#target,
      mintime: now - 3600,
      mutable: ['time', 'transactions', 'prevblock'],
      noncerange: '00000000ffffffff',
      sigoplimit: 80_000,
      sizelimit: 4_000_000,
      weightlimit: 4_000_000,
      bits: this.bits,
      height,
      default_witness_commitment: '6a24aa21a9ed' + commitment,
    };
    const json = JSON.stringify(template);
    const head = Buffer.from('{"result":' + json.slice(0, -1) + ',"curtime":', 'latin1');
    return { height, prevhash, head, template, bytes: head.length + 40 };
  }

  // ------------------------------------------------------------------ RPC

  #request(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/newblock') {
        const nb = this.newBlock();
        this.calls.bench_newblock = (this.calls.bench_newblock ?? 0) + 1;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(nb) + '\n');
        return;
      }
      if (req.headers.authorization !== this.#auth) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="jsonrpc"' });
        res.end();
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        this.#reply(res, 500, { result: null, error: { code: -32700, message: 'Parse error' }, id: null });
        return;
      }
      if (Array.isArray(body)) {
        const out = body.map((call) => this.#dispatch(call));
        this.#reply(res, 200, out.map((o) => o.reply));
        return;
      }
      const call = body as { method?: unknown; params?: unknown; id?: unknown };
      if (call && call.method === 'getblocktemplate' && this.#gbtAllowed(call.params)) {
        this.#count('getblocktemplate');
        const tail = Buffer.from(`${Math.floor(Date.now() / 1000)}},"error":null,"id":${JSON.stringify(call.id ?? null)}}\n`, 'latin1');
        const head = this.#current.head;
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': head.length + tail.length });
        res.write(head);
        res.end(tail);
        return;
      }
      const { status, reply } = this.#dispatch(call);
      this.#reply(res, status, reply);
    });
  }

  #reply(res: http.ServerResponse, status: number, reply: unknown): void {
    const text = JSON.stringify(reply) + '\n';
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  #count(method: string): void {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
  }

  #gbtAllowed(params: unknown): boolean {
    const req = Array.isArray(params) ? (params[0] as { rules?: unknown } | undefined) : undefined;
    return Array.isArray(req?.rules) && req.rules.includes('segwit');
  }

  #dispatch(call: unknown): { status: number; reply: unknown } {
    const c = (call ?? {}) as { method?: unknown; params?: unknown; id?: unknown };
    const id = c.id ?? null;
    try {
      if (typeof c.method !== 'string') throw new RpcFail(-32600, 'Method must be a string');
      const params = Array.isArray(c.params) ? c.params : [];
      const result = this.#call(c.method, params);
      this.#count(c.method);
      return { status: 200, reply: { result, error: null, id } };
    } catch (e) {
      const f = e instanceof RpcFail ? e : new RpcFail(-1, (e as Error).message);
      return { status: f.http, reply: { result: null, error: { code: f.code, message: f.message }, id } };
    }
  }

  #call(method: string, params: unknown[]): unknown {
    switch (method) {
      case 'getblocktemplate':
        if (!this.#gbtAllowed(params)) {
          throw new RpcFail(-8, 'getblocktemplate must be called with the segwit rule set (call with {"rules": ["segwit"]})');
        }
        return this.template;
      case 'getblockchaininfo':
        return {
          chain: this.chain, blocks: this.tipHeight, headers: this.tipHeight, bestblockhash: this.tip,
          difficulty: this.difficulty, time: Math.floor(Date.now() / 1000), mediantime: Math.floor(Date.now() / 1000) - 600,
          verificationprogress: 1, initialblockdownload: false, chainwork: '00'.repeat(32), size_on_disk: 0, pruned: false,
          warnings: 'ckpool-bench template source: a fake node for benchmarks only',
        };
      case 'getnetworkinfo':
        return {
          version: 270000, subversion: '/ckpool-bench-template-source:0.1.0/', protocolversion: 70016, localservices: '0000000000000409',
          localrelay: true, timeoffset: 0, networkactive: true, connections: 8, connections_in: 0, connections_out: 8,
          networks: [], relayfee: 0.00001, incrementalfee: 0.00001, localaddresses: [],
          warnings: 'ckpool-bench template source: a fake node for benchmarks only',
        };
      case 'getmininginfo':
        return {
          blocks: this.tipHeight, difficulty: this.difficulty, networkhashps: this.difficulty * 2 ** 32 / 600,
          pooledtx: this.txs, chain: this.chain, warnings: '',
        };
      case 'getdifficulty':
        return this.difficulty;
      case 'validateaddress':
        return this.#validateAddress(params[0]);
      case 'getbestblockhash':
        return this.tip;
      case 'getblockcount':
        return this.tipHeight;
      case 'getblockhash': {
        const h = params[0];
        if (typeof h !== 'number' || !Number.isInteger(h) || h < 0 || h > this.tipHeight) throw new RpcFail(-8, 'Block height out of range');
        return this.#hashes.get(h) ?? toDisplayHex(sha256d(Buffer.from(`ckpool-bench height ${h}`)));
      }
      case 'submitblock':
        return this.#submitBlock(params[0]);
      case 'decoderawtransaction':
        try {
          return decodeTransaction(params[0] as string);
        } catch {
          throw new RpcFail(-22, 'TX decode failed');
        }
      case 'bench_newblock':
        return this.newBlock();
      default:
        throw new RpcFail(-32601, 'Method not found', 404);
    }
  }

  #validateAddress(address: unknown): unknown {
    if (typeof address !== 'string') return { isvalid: false };
    try {
      const d = decodeAddress(address, this.network);
      const script = d.script.toString('hex');
      const witness = d.type === 'p2wpkh' || d.type === 'p2wsh' || d.type === 'p2tr';
      return {
        isvalid: true, address, scriptPubKey: script, isscript: d.type === 'p2sh' || d.type === 'p2wsh', iswitness: witness,
        ...(witness ? { witness_version: d.type === 'p2tr' ? 1 : 0, witness_program: script.slice(4) } : {}),
      };
    } catch {
      return { isvalid: false, error: 'Invalid address' };
    }
  }

  #submitBlock(hex: unknown): string | null {
    if (typeof hex !== 'string' || hex.length < 160 || !/^[0-9a-fA-F]+$/.test(hex.slice(0, 160))) throw new RpcFail(-22, 'Block decode failed');
    const header = Buffer.from(hex.slice(0, 160), 'hex');
    const hash = toDisplayHex(sha256d(header));
    const prev = toDisplayHex(header.subarray(4, 36));
    const accepted = prev === this.tip;
    const height = accepted ? this.tipHeight + 1 : this.tipHeight;
    this.blocks.push({ hash, height, accepted, at: Date.now() });
    this.#log(`submitblock ${hash} at height ${height}: ${accepted ? 'new tip' : 'not on the tip (stale)'}`);
    if (!accepted) return this.blocks.some((b) => b.hash === hash && b.accepted) ? 'duplicate' : 'inconclusive';
    this.#advance(hash, null);
    return null;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#nextTimer) clearTimeout(this.#nextTimer);
    await this.#pubQueue;
    this.#pub?.close();
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
