/**
 * The generator: everything between the pool and its bitcoinds (ckpool's
 * generator.c plus the template side of stratifier.c).
 *
 * - start: wait for a live bitcoind, learn its chain, validate `btcaddress` with the
 *   node *and* decode it locally (both must agree), check the first coinbase with
 *   decoderawtransaction, then produce the first workbase;
 * - new work: a new block (poll, ZMQ or notifier) → clean work at once; otherwise a
 *   refresh every `update_interval` s; updates never overlap (a request during one
 *   runs right after it);
 * - block submission: assemble, write to `<logdir>/blocks/` (fsynced) *before*
 *   submitting, submit to every live node, confirm with getblockhash, new work.
 */
import { EventEmitter } from 'node:events';
import { constants } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { ensurePrivateDirOnce } from '../safe-files.js';
import path from 'node:path';
import { ckError, ckErrorCause } from '../errors.js';
import { decodeAddress, type NetworkName } from '../bitcoin/address.js';
import { NullLogger, redact, type Logger } from '../log/logger.js';
import { isMethodNotFound, isRpcError } from '../node/rpc.js';
import { BlockWatcher, type BlockSource } from '../node/blockwatch.js';
import type { Server, ServerSet } from '../node/servers.js';
import type { BlockTemplate } from '../node/rpc-types.js';
import { assembleBlock, type SolvedBlock } from './block.js';
import { Workbase } from './workbase.js';

/** ckpool's donation addresses (stratifier.c), per network. */
export const DONATION_ADDRESS: Record<NetworkName, string> = {
  main: 'bc1q28kkr5hk4gnqe3evma6runjrd2pvqyp8fpwfzu',
  testnet: 'tb1q5fyv7tue73y4zxezh2c685qpwx0cfngfxlrgxh',
  signet: 'tb1q5fyv7tue73y4zxezh2c685qpwx0cfngfxlrgxh',
  regtest: 'bcrt1qlk935ze2fsu86zjp395uvtegztrkaezawxx0wf',
};

/** bitcoind/bcoin `chain` names → our network names. */
export function networkOfChain(chain: string): NetworkName {
  switch (chain) {
    case 'main': return 'main';
    case 'test': case 'testnet': case 'testnet3': case 'testnet4': return 'testnet';
    case 'signet': return 'signet';
    case 'regtest': return 'regtest';
    default: throw ckError('CKP_ERR_WORK_NETWORK', JSON.stringify(chain));
  }
}

export interface GeneratorOptions {
  servers: ServerSet;
  /** Pool mode payout address; absent in solo mode (users are the addresses). */
  btcaddress?: string;
  btcsig?: string;
  /** percent, 0 = none */
  donation?: number;
  nonce1length: number;
  nonce2length: number;
  /** seconds between template refreshes (ckpool.conf update_interval) */
  updateInterval: number;
  blockpollMs?: number;
  zmqblock?: string;
  logdir: string;
  logger?: Logger;
  /** Run the start-up coinbase check with decoderawtransaction (default true). */
  checkCoinbase?: boolean;
  /** How long a block submission keeps retrying while no node takes it, ms (default 600 000). */
  submitRetryMs?: number;
}

export interface NodeVerdict {
  server: string;
  accepted: boolean;
  /**
   * Bitcoin Core's "inconclusive": the block is valid as far as the node could check,
   * but not on its best chain (a competing block at that height came first). Not a reject.
   */
  inconclusive?: boolean;
  /** reject reason, or the transport error message */
  reason: string | null;
}

export interface BlockSubmission extends Omit<SolvedBlock, 'hex' | 'rootMatches'> {
  file: string | null;
  verdicts: NodeVerdict[];
  /** some node accepted it */
  accepted: boolean;
  /** getblockhash(height) on the current node returned this block */
  confirmed: boolean;
  /** not accepted, but a node called it valid and off its best chain ("inconclusive") */
  inconclusive?: boolean;
}

export interface BlockMeta {
  /**
   * The hash the share check computed for this solve (display order). The assembled
   * block must hash to exactly this: a difference means the header was rebuilt from
   * other work than the miner hashed (it is logged loudly; the block is still submitted).
   */
  shareHash?: string;
  /** who found it, for the record (worker name, client id, ...) */
  [k: string]: unknown;
}

export interface GeneratorEvents {
  /** A new workbase; `clean` when it builds on a new tip (miners must drop old work). */
  workbase: [wb: Workbase, clean: boolean];
  /** No bitcoind is reachable: miners should be told the pool is initialising. */
  down: [];
  /** A bitcoind is reachable again. */
  up: [];
  /** A block submission finished. */
  block: [result: BlockSubmission];
  /** A solved block was written to disk (file null: it could not be) and is being submitted. */
  found: [solved: BlockFound];
}

/** What the 'found' event tells (the block ledger, ts/work/ledger.ts, records it). */
export interface BlockFound {
  hash: string;
  height: number;
  file: string | null;
  /** ms since the epoch */
  time: number;
  /** the template's coinbasevalue, satoshis */
  reward: number;
  meta: BlockMeta;
}

/** Workbases older than this (relative to the newest) may go, once there are 3+ (ckpool). */
const WORKBASE_MAX_AGE_MS = 600_000;

export class Generator extends EventEmitter<GeneratorEvents> {
  readonly servers: ServerSet;
  readonly watcher: BlockWatcher;
  readonly epoch = Math.floor(Date.now() / 1000);
  network: NetworkName | null = null;
  payoutScript: Buffer | null = null;
  donationScript: Buffer | null = null;
  current: Workbase | null = null;
  /** seq of the first workbase on the current tip: jobs below it are stale */
  blockChangeSeq = 0;
  readonly #opts: GeneratorOptions;
  readonly #logger: Logger;
  readonly #workbases = new Map<string, Workbase>();
  #seq = 0;
  #timer: NodeJS.Timeout | null = null;
  #updating: Promise<void> | null = null;
  /** another update was asked for while one ran */
  #pending = false;
  #closed = false;
  #down = false;

  constructor(opts: GeneratorOptions) {
    super();
    this.#opts = opts;
    this.servers = opts.servers;
    this.#logger = opts.logger ?? new NullLogger();
    this.watcher = new BlockWatcher({
      servers: opts.servers,
      blockpollMs: opts.blockpollMs,
      zmqblock: opts.zmqblock,
      logger: this.#logger,
    });
    this.watcher.on('block', (hash, source) => this.#onBlock(hash, source));
    this.servers.on('down', () => {
      if (!this.#down) {
        this.#down = true;
        this.emit('down');
      }
    });
    this.servers.on('up', () => {
      if (this.#down) {
        this.#down = false;
        this.emit('up');
      }
      if (this.network) void this.update();
    });
    // Another node may have another tip or mempool: fetch work from it at once.
    this.servers.on('failover', (from, to) => {
      this.#logger.warning(`Failed over from bitcoind ${from.name} to ${to.name}`);
      if (this.network) void this.update();
    });
    this.servers.on('failback', (from, to) => {
      this.#logger.notice(`Failed back from bitcoind ${from.name} to ${to.name}`);
      if (this.network) void this.update();
    });
  }

  /**
   * Wait for a bitcoind, validate the payout address, make the first workbase and
   * start watching for blocks. Fatal configuration problems (invalid address, a
   * coinbase the node rejects) reject the promise.
   */
  async start(timeoutMs?: number): Promise<Workbase> {
    await this.servers.start();
    if (!this.servers.current()) {
      this.#down = true;
      this.emit('down');
    }
    await this.servers.waitUp(timeoutMs);
    const info = await this.servers.call<{ chain: string }>('getblockchaininfo');
    this.network = networkOfChain(info.chain);
    if (this.#opts.btcaddress !== undefined) {
      this.payoutScript = await this.#validateAddress(this.#opts.btcaddress);
      this.#logger.notice(`Mining from any incoming username to address ${this.#opts.btcaddress}`);
    } else {
      this.#logger.notice('Mining solo to any incoming valid BTC address username');
    }
    if ((this.#opts.donation ?? 0) > 0) {
      this.donationScript = decodeAddress(DONATION_ADDRESS[this.network], this.network).script;
      this.#logger.notice(`${this.#opts.donation} percent donation to ${DONATION_ADDRESS[this.network]}`);
    }
    await this.update();
    const wb = this.current;
    if (!wb) throw ckError('CKP_ERR_WORK_TEMPLATE', 'no workbase could be made at start-up');
    if (this.#opts.checkCoinbase !== false) await this.#checkCoinbase(wb);
    this.#logger.notice(`Network diff set to ${wb.networkDiff}`);
    await this.watcher.start();
    this.#schedule();
    return wb;
  }

  /** The workbase a job id names, if it is still kept. */
  workbase(jobId: string): Workbase | undefined {
    return this.#workbases.get(jobId);
  }

  /** Job ids of every kept workbase (worker threads mirror this set). */
  get jobIds(): string[] {
    return [...this.#workbases.keys()];
  }

  get workbaseCount(): number {
    return this.#workbases.size;
  }

  /** Payout script for solo users (their address) on this network. */
  scriptForAddress(address: string): Buffer {
    if (!this.network) throw ckError('CKP_ERR_WORK_NETWORK', 'unknown (generator not started)');
    return decodeAddress(address, this.network).script;
  }

  /** An external block notification (the `notifier` binary, ckpmsg `update`). */
  notify(hash?: string): void {
    this.watcher.notify(hash);
  }

  /**
   * Fetch a template and make a workbase. Overlapping calls are coalesced: one more
   * update runs after the one in flight. The work is clean (miners drop what they have)
   * exactly when it builds on a new tip, as in ckpool: an update after our own block
   * submission that finds the tip already changed (ZMQ came first) is not a second
   * block change — a clean notify with the same prevhash made proxies downstream call
   * every share on the previous job stale.
   */
  update(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#updating) {
      this.#pending = true;
      return this.#updating;
    }
    this.#updating = (async () => {
      try {
        await this.#updateOnce();
      } finally {
        this.#updating = null;
      }
      const next = this.#pending;
      this.#pending = false;
      if (next && !this.#closed) await this.update();
    })();
    return this.#updating;
  }

  async #updateOnce(): Promise<void> {
    let template: BlockTemplate;
    try {
      template = await this.servers.withCurrent((s) => s.client.getBlockTemplate({ rules: ['segwit'] }));
    } catch (err) {
      this.#logger.err(`Failed to get block template: ${(err as Error).message}`);
      return;
    }
    const seq = ++this.#seq;
    let wb: Workbase;
    try {
      wb = new Workbase({
        template,
        seq,
        epoch: this.epoch,
        payout: {
          script: this.payoutScript,
          donationPercent: this.#opts.donation ?? 0,
          donationScript: this.donationScript ?? undefined,
        },
        btcsig: this.#opts.btcsig,
        nonce1length: this.#opts.nonce1length,
        nonce2length: this.#opts.nonce2length,
      });
    } catch (err) {
      this.#logger.err(`Discarded block template at height ${template?.height}: ${(err as Error).message}`);
      return;
    }
    const newTip = !this.current || this.current.prevhash !== wb.prevhash;
    if (newTip) {
      this.blockChangeSeq = seq;
      if (this.current) this.#logger.notice(`Block hash changed to ${wb.prevhash}, height ${wb.height}`);
    }
    this.current = wb;
    this.#workbases.set(wb.jobId, wb);
    this.#prune(wb);
    this.emit('workbase', wb, newTip);
  }

  #prune(newest: Workbase): void {
    if (this.#workbases.size < 3) return;
    for (const [id, wb] of this.#workbases) {
      if (wb !== newest && newest.createdAt - wb.createdAt > WORKBASE_MAX_AGE_MS) this.#workbases.delete(id);
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.update().finally(() => this.#schedule());
    }, this.#opts.updateInterval * 1000);
    this.#timer.unref();
  }

  #onBlock(hash: string | null, source: BlockSource): void {
    this.#logger.notice(`New block ${hash ?? '(no hash)'} via ${source}`);
    void this.update();
    this.#schedule(); // the next periodic refresh counts from this block
  }

  async #validateAddress(address: string): Promise<Buffer> {
    const network = this.network!;
    let local: Buffer;
    try {
      local = decodeAddress(address, network).script;
    } catch (err) {
      throw ckErrorCause('CKP_ERR_WORK_ADDRESS', err, JSON.stringify(address), network, (err as Error).message);
    }
    const v = await this.servers.withCurrent((s) => s.client.validateAddress(address));
    if (!v.isvalid) throw ckError('CKP_ERR_WORK_ADDRESS', JSON.stringify(address), network, 'bitcoind says it is invalid');
    if (v.scriptPubKey && v.scriptPubKey.toLowerCase() !== local.toString('hex')) {
      throw ckError('CKP_ERR_WORK_ADDRESS', JSON.stringify(address), network,
        `bitcoind decodes it to ${v.scriptPubKey}, locally ${local.toString('hex')}`);
    }
    return local;
  }

  async #checkCoinbase(wb: Workbase): Promise<void> {
    const script = this.payoutScript ?? decodeAddress(DONATION_ADDRESS[this.network!], this.network!).script;
    const parts = wb.coinbaseFor(script);
    const hex = Buffer.concat([parts.coinb1, Buffer.alloc(wb.nonce1length + wb.nonce2length), parts.coinb2]).toString('hex');
    try {
      await this.servers.withCurrent((s) => s.client.decodeRawTransaction(hex));
      this.#logger.info('Coinbase transaction confirmed valid');
    } catch (err) {
      if (isMethodNotFound(err)) {
        this.#logger.warning('bitcoind has no decoderawtransaction: coinbase not checked');
        return;
      }
      if (isRpcError(err)) throw ckErrorCause('CKP_ERR_WORK_COINBASE', err, (err as Error).message);
      throw err;
    }
  }

  // ---------------------------------------------------------------- blocks

  /**
   * Submit a solved block. Never throws: a block is too valuable to lose to an
   * exception; every outcome is in the result and the log.
   */
  async submitBlock(wb: Workbase, header: Buffer, coinbaseLegacy: Buffer, meta: BlockMeta = {}): Promise<BlockSubmission> {
    const solved = assembleBlock(wb, header, coinbaseLegacy);
    const { hash, height, hex } = solved;
    this.#logger.notice(`Possible block solve at height ${height}: ${hash}`);
    // Never silently: a block that is not what the miner hashed is a pool bug. It is
    // still written and submitted (the node has the last word; nothing is lost).
    if (meta.shareHash !== undefined && meta.shareHash !== hash) {
      this.#logger.crit(`BLOCK HASH MISMATCH: the assembled block hashes to ${hash}, the share to ${meta.shareHash} (height ${height}); submitting anyway`);
    }
    if (!solved.rootMatches) {
      this.#logger.crit(`BLOCK MERKLE ROOT MISMATCH: the header of block ${hash} (height ${height}) does not commit to its coinbase; submitting anyway`);
    }
    const file = await this.#writeBlock(solved, wb, meta);
    try {
      this.emit('found', { hash, height, file, time: Date.now(), reward: wb.coinbasevalue, meta });
    } catch (err) {
      // a listener's bug must not stop the submission
      this.#logger.err(`A 'found' listener failed for block ${hash}: ${(err as Error).message}`);
    }

    const verdicts: NodeVerdict[] = [];
    const deadline = Date.now() + (this.#opts.submitRetryMs ?? 600_000);
    let accepted = false;
    let answered = false;
    for (let attempt = 0; ; attempt++) {
      const live = this.servers.servers.filter((s) => s.alive);
      const targets = live.length ? live : this.servers.servers;
      const round = await Promise.all(targets.map((s) => this.#submitTo(s, hex)));
      verdicts.push(...round.map((r) => r.verdict));
      answered = round.some((r) => r.answered);
      accepted = round.some((r) => r.verdict.accepted);
      if (answered || Date.now() >= deadline || this.#closed) break;
      this.#logger.err(`No bitcoind answered the submission of block ${hash}; retrying (attempt ${attempt + 2})`);
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
    }

    let confirmed = false;
    try {
      const atHeight = await this.servers.call<string>('getblockhash', [height]);
      confirmed = atHeight === hash;
      this.#logger.notice(`Hash at height ${height} is ${atHeight}: block ${hash} ${confirmed ? 'CONFIRMED' : 'NOT the tip'}`);
    } catch (err) {
      this.#logger.warning(`Could not confirm block ${hash}: ${(err as Error).message}`);
    }
    const inconclusive = !accepted && !confirmed && verdicts.some((v) => v.inconclusive);
    if (accepted || confirmed) this.#logger.notice(`BLOCK ACCEPTED! height ${height} hash ${hash}`);
    else if (inconclusive) this.#logger.warning(`Block ${height} ${hash} is valid, not on the best chain: a competing block at that height reached the node first`);
    else this.#logger.err(`Submitted, but block ${height} ${hash} was rejected: ${verdicts.map((v) => `${v.server}: ${v.reason}`).join('; ')}`);

    const result: BlockSubmission = { hash, height, file, verdicts, accepted: accepted || confirmed, confirmed, ...(inconclusive ? { inconclusive } : {}) };
    if (file) await this.#recordVerdict(file, result).catch(() => undefined);
    this.emit('block', result);
    void this.update();
    return result;
  }

  async #submitTo(server: Server, hex: string): Promise<{ verdict: NodeVerdict; answered: boolean }> {
    try {
      const r = await server.client.submitBlock(hex);
      const inconclusive = r.reason === 'inconclusive';
      const said = r.accepted ? 'accepted' : inconclusive ? 'called valid, not on the best chain,' : 'rejected';
      this.#logger.notice(`bitcoind ${server.name} ${said} block${r.reason ? `: ${r.reason}` : ''}`);
      return { verdict: { server: server.name, accepted: r.accepted, reason: r.reason, ...(inconclusive ? { inconclusive } : {}) }, answered: true };
    } catch (err) {
      const answered = isRpcError(err); // e.g. -22 undecodable: the node did answer
      this.#logger.err(`submitblock to ${server.name} failed: ${redact((err as Error).message)}`);
      return { verdict: { server: server.name, accepted: false, reason: (err as Error).message }, answered };
    }
  }

  /** Write the block to disk, fsynced, before anything is sent anywhere. */
  async #writeBlock(b: SolvedBlock, wb: Workbase, meta: BlockMeta): Promise<string | null> {
    const dir = path.join(this.#opts.logdir, 'blocks');
    const file = path.join(dir, `${String(b.height).padStart(8, '0')}-${b.hash}.json`);
    const record = { height: b.height, hash: b.hash, jobId: wb.jobId, prevhash: wb.prevhash, found: new Date().toISOString(), coinbasevalue: wb.coinbasevalue, ...meta, hex: b.hex };
    try {
      // ours and not writable by others, and the file opened without following a link
      // (a failure here is logged loudly below and the block is submitted all the same)
      ensurePrivateDirOnce(dir, 'blocks dir');
      const tmp = `${file}.tmp`;
      const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o640);
      try {
        await fh.writeFile(JSON.stringify(record) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, file);
      return file;
    } catch (err) {
      // Never let a full disk stop a block from reaching the network.
      const e = ckErrorCause('CKP_ERR_BLOCK_WRITE', err, b.hash, dir, (err as Error).message);
      this.#logger.crit(`${e.message} — submitting anyway; block hex follows`);
      this.#logger.crit(b.hex);
      return null;
    }
  }

  async #recordVerdict(file: string, r: BlockSubmission): Promise<void> {
    const fh = await open(`${file.slice(0, -5)}.result.json`, 'w');
    try {
      await fh.writeFile(JSON.stringify({ hash: r.hash, height: r.height, accepted: r.accepted, confirmed: r.confirmed, verdicts: r.verdicts }) + '\n');
    } finally {
      await fh.close();
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.watcher.close();
    this.servers.close();
  }
}


