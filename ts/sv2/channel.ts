/**
 * One SV2 mining channel as the stratifier sees it: a StratumConnection whose "lines"
 * are translated to SV2 messages. This is the seam that puts V2 miners on the very
 * share pipeline V1 miners use (ts/pool/stratifier.ts): opening a channel is
 * mining.subscribe + mining.authorize, a SubmitShares is a mining.submit, and the
 * stratifier's replies, set_difficulty and notify come back here as SetTarget,
 * NewMiningJob / NewExtendedMiningJob + SetNewPrevHash and SubmitShares.Success/Error.
 * So duplicate checks, vardiff, stats, share logs, block submission and the control
 * commands are the V1 code paths, not copies of them.
 *
 * A standard channel (header-only mining) is given the full extranonce: the
 * stratifier's extranonce1 followed by nonce2length zero bytes, and jobs carry the merkle
 * root over that coinbase. An extended channel gets extranonce1 as its prefix and
 * mines nonce2length bytes of its own (the V1 extranonce2).
 */
import type { StratumConnection } from '../stratum/server-types.js';
import { targetFromDifficulty } from '../native/core.js';
import { merkleRootFor, parseNotify, type NotifyJob } from './jobs.js';
import { Sv2ErrorCode, type Sv2Out } from './messages.js';
import type { GroupMember, Sv2Group } from './group.js';

/** What a channel needs from its connection. */
export interface ChannelOwner {
  readonly address: string;
  readonly port: number;
  readonly serverIndex: number;
  sendMsg(m: Sv2Out): boolean;
  /** the stratifier dropped this channel (auth timeout, flood, dropidle, operator) */
  channelDropped(ch: Sv2Channel, reason: string): void;
  /** client.reconnect from the stratifier (handover, operator): once per connection */
  reconnect(host: string, port: number): void;
  /** the group that sends standard channels' jobs once for all (null: jobs per channel, REQUIRES_STANDARD_JOBS) */
  readonly group: Sv2Group | null;
  /** a job id unique on the connection (channel and group jobs share the namespace) */
  nextJobId(): number;
}

export type ChannelKind = 'standard' | 'extended';

/** V1 request ids the channel uses for its own requests (submits use numbers). */
export const REQ_SUBSCRIBE = 'sv2-subscribe';
export const REQ_AUTHORIZE = 'sv2-authorize';
export const REQ_SUGGEST = 'sv2-suggest';

/** SV2 jobs remembered per channel for submits (older ones are unknown: invalid-job-id). */
const JOBS_KEPT = 32;

interface SentJob {
  job: NotifyJob;
}

const REJECT_CODES: Record<string, string> = {
  'Invalid JobID': Sv2ErrorCode.INVALID_JOB,
  Stale: Sv2ErrorCode.STALE,
  Duplicate: Sv2ErrorCode.DUPLICATE,
  'Above target': Sv2ErrorCode.LOW_DIFFICULTY,
};

export class Sv2Channel implements StratumConnection, GroupMember {
  readonly connectedAt = Date.now();
  readonly highdiff = false;
  /** shown by the `clients` control command */
  readonly protocol = 'sv2';
  closed = false;
  closeReason: string | undefined = undefined;
  state: unknown = undefined;
  /** true once OpenMiningChannel.Success went out */
  open = false;
  enonce1: Buffer | null = null;
  extranonceSize = 0;
  diff = 0;
  #lastNotify: string | null = null;
  #prevHash = '';
  readonly #jobs = new Map<number, SentJob>();
  /** submit sequence numbers by the V1 request id they were sent with */
  readonly #submits = new Map<number, number>();
  #nextSubmitId = 1;

  constructor(
    readonly owner: ChannelOwner,
    readonly id: number,
    readonly channelId: number,
    readonly kind: ChannelKind,
    readonly requestId: number,
    readonly nonce2length: number,
    /** the SV2 open request's success/failure goes out on the authorize reply */
    readonly onOpen: (ch: Sv2Channel, ok: boolean, errorCode: string) => void,
  ) {}

  get address(): string {
    return this.owner.address;
  }
  get port(): number {
    return this.owner.port;
  }
  get serverIndex(): number {
    return this.owner.serverIndex;
  }

  /** The channel's target now (32 bytes little-endian, hex). */
  target(): string {
    return targetFromDifficulty(this.diff).toString('hex');
  }

  /** The extranonce a standard channel mines with (prefix + zeros), or the extended prefix. */
  extranoncePrefix(): Buffer {
    const e1 = this.enonce1 ?? Buffer.alloc(0);
    return this.kind === 'standard' ? Buffer.concat([e1, Buffer.alloc(this.nonce2length)]) : e1;
  }

  /** A V1 request id for a submit, remembered with its SV2 sequence number. */
  submitId(sequenceNumber: number): number {
    const id = this.#nextSubmitId++;
    this.#submits.set(id, sequenceNumber);
    return id;
  }

  /** A standard channel's extranonce2 in its submits: all zeros (the pool gave it the full extranonce). */
  get zeroNonce2(): string {
    return (this.#zeroNonce2 ??= '00'.repeat(this.nonce2length));
  }
  #zeroNonce2: string | null = null;

  /** A standard channel that holds its first job may be given group jobs (./group.ts). */
  get inGroup(): boolean {
    return this.kind === 'standard' && this.open && !this.closed && this.#prevHash !== '';
  }

  /** The V1 job id of an SV2 job id sent on this channel (undefined: unknown/too old). */
  jobOf(jobId: number): NotifyJob | undefined {
    return this.#jobs.get(jobId)?.job;
  }

  sendJson(msg: unknown): boolean {
    return this.send(JSON.stringify(msg));
  }

  /** A line from the stratifier: translate it. */
  send(line: string | Uint8Array): boolean {
    if (this.closed) return false;
    const s = typeof line === 'string' ? line : Buffer.from(line).toString('utf8');
    if (s.includes('"method":"mining.notify"')) return this.#notify(s.endsWith('\n') ? s.slice(0, -1) : s);
    let m: { id?: unknown; method?: unknown; params?: unknown[]; result?: unknown; error?: unknown; 'reject-reason'?: unknown };
    try {
      m = JSON.parse(s) as typeof m;
    } catch {
      return false;
    }
    switch (m.method) {
      case 'mining.set_difficulty': {
        const d = Number(m.params?.[0]);
        if (!(d > 0)) return false;
        this.diff = d;
        if (this.open) return this.owner.sendMsg({ type: 'SetTarget', channelId: this.channelId, maximumTarget: this.target() });
        return true;
      }
      case 'client.reconnect': {
        const p = m.params ?? [];
        this.owner.reconnect(typeof p[0] === 'string' ? p[0] : '', p[1] !== undefined ? Number(p[1]) || 0 : 0);
        return true;
      }
      case 'client.show_message':
        return true; // SV2 has no text to miners
      case undefined:
        return this.#reply(m.id, m.result, m.error, m['reject-reason']);
      default:
        return true;
    }
  }

  #reply(id: unknown, result: unknown, error: unknown, rejectReason: unknown): boolean {
    if (id === REQ_SUBSCRIBE) {
      if (Array.isArray(result) && typeof result[1] === 'string') {
        this.enonce1 = Buffer.from(result[1], 'hex');
        this.extranonceSize = this.nonce2length;
      } else {
        this.onOpen(this, false, /full/i.test(String(error)) ? Sv2ErrorCode.CAPACITY : Sv2ErrorCode.NOT_READY);
      }
      return true;
    }
    if (id === REQ_AUTHORIZE) {
      if (result === true && this.enonce1) {
        this.onOpen(this, true, '');
        this.open = true;
        if (this.#lastNotify) this.#notify(this.#lastNotify);
      } else if (this.enonce1) {
        this.onOpen(this, false, Sv2ErrorCode.UNKNOWN_USER);
      }
      return true;
    }
    if (typeof id !== 'number') return true;
    const seq = this.#submits.get(id);
    if (seq === undefined) return true;
    this.#submits.delete(id);
    if (result === true) {
      return this.owner.sendMsg({
        type: 'SubmitSharesSuccess', channelId: this.channelId, lastSequenceNumber: seq, newSubmitsAcceptedCount: 1,
        // in whole difficulty-1 shares (u64 on the wire): the credited difficulty, rounded
        newSharesSum: Math.round(this.diff),
      });
    }
    const code = (typeof rejectReason === 'string' && REJECT_CODES[rejectReason]) || Sv2ErrorCode.INVALID_SHARE;
    return this.owner.sendMsg({ type: 'SubmitSharesError', channelId: this.channelId, sequenceNumber: seq, errorCode: code });
  }

  #notify(line: string): boolean {
    this.#lastNotify = line;
    if (!this.open) return true; // the first job goes out right after OpenMiningChannel.Success
    const job = parseNotify(line);
    if (!job) return false;
    if (this.kind === 'standard') {
      // once for the whole group (sent now, or already sent for another member)
      const groupJobId = this.owner.group?.job(this, job) ?? null;
      if (groupJobId !== null) {
        this.#remember(groupJobId, job);
        this.#prevHash = job.prevHash;
        return true;
      }
    }
    const jobId = this.owner.nextJobId();
    this.#remember(jobId, job);
    const newPrev = job.prevHash !== this.#prevHash;
    // a job on a new prevhash is a future job (no min_ntime) that SetNewPrevHash activates
    const minNtime = newPrev ? null : job.ntime;
    let ok: boolean;
    if (this.kind === 'standard') {
      ok = this.owner.sendMsg({
        type: 'NewMiningJob', channelId: this.channelId, jobId, minNtime, version: job.version,
        merkleRoot: merkleRootFor(job, this.extranoncePrefix()),
      });
    } else {
      ok = this.owner.sendMsg({
        type: 'NewExtendedMiningJob', channelId: this.channelId, jobId, minNtime, version: job.version, versionRollingAllowed: true,
        merklePath: job.merklePath, coinbaseTxPrefix: job.coinb1.toString('hex'), coinbaseTxSuffix: job.coinb2.toString('hex'),
      });
    }
    if (newPrev) {
      this.#prevHash = job.prevHash;
      ok = this.owner.sendMsg({ type: 'SetNewPrevHash', channelId: this.channelId, jobId, prevHash: job.prevHash, minNtime: job.ntime, nbits: job.nbits }) && ok;
    }
    return ok;
  }

  #remember(jobId: number, job: NotifyJob): void {
    this.#jobs.set(jobId, { job });
    if (this.#jobs.size > JOBS_KEPT) this.#jobs.delete(this.#jobs.keys().next().value!);
  }

  /** The stratifier drops this miner (auth timeout, invalid flood, dropidle, `drop`). */
  close(reason: string): void {
    if (this.closed) return;
    this.owner.channelDropped(this, reason);
  }

  /** @internal the connection marks a channel gone (no stratifier call from here). */
  markClosed(reason: string): void {
    this.closed = true;
    this.closeReason = reason;
  }
}
