/**
 * One SV2 TCP connection: the Noise session (native, crates/ckpool-sv2), SetupConnection,
 * and the channels opened on it, each an Sv2Channel on the stratifier. Any transport
 * error — handshake garbage, a frame that does not decrypt, an oversized frame, a
 * malformed message — closes this connection only (and is logged with its
 * CKP_ERR_SV2_* code); the pool and every other connection go on.
 */
import type net from 'node:net';
import { native } from '../native/binding.js';
import type { Logger } from '../log/logger.js';
import type { Stratifier } from '../pool/stratifier.js';
import { difficultyFromTarget } from '../native/core.js';
import { takeFloodTokens, type FloodBucket } from '../stratum/flood.js';
import { REQ_AUTHORIZE, REQ_SUBSCRIBE, REQ_SUGGEST, Sv2Channel, type ChannelKind, type ChannelOwner } from './channel.js';
import { Sv2Group } from './group.js';
import {
  FLAG_REQUIRES_STANDARD_JOBS, PROTOCOL_MINING, SUPPORTED_FLAGS, SV2_VERSION, Sv2ErrorCode, type Sv2In, type Sv2Out,
} from './messages.js';

export interface Sv2ConnectionContext {
  readonly stratifier: Stratifier;
  readonly authoritySecret: string;
  readonly nonce2length: number;
  readonly mindiff: number;
  readonly logger: Logger;
  /** a pool-unique StratumConnection id for a new channel */
  nextId(): number;
  /** certificate validity, seconds */
  readonly certValidity: number;
  /** handshake + SetupConnection deadline, ms */
  readonly setupTimeoutMs: number;
  /** how long a set-up connection may hold no channel (as V1's authorisation deadline), ms */
  readonly noChannelTimeoutMs: number;
  /** most channels one connection may open */
  readonly maxChannels: number;
  /** output bytes queued before the connection is dropped as not reading */
  readonly maxPendingBytes: number;
  /** flood control: messages per second refilled into a bucket of floodBurst (as V1's) */
  readonly floodRate: number;
  readonly floodBurst: number;
  closed(conn: Sv2Connection): void;
}

type Session = InstanceType<typeof native.Sv2Session>;

/** u32s per record of feedCompact's records (src/sv2.rs FEED_RECORD) */
const FEED_RECORD = 7;

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');

/** messages queued within one turn before a connection counts as not reading */
const MAX_QUEUED = 100_000;

export class Sv2Connection implements ChannelOwner {
  readonly address: string;
  readonly port: number;
  readonly channels = new Map<number, Sv2Channel>();
  readonly connectedAt = Date.now();
  bytesIn = 0;
  bytesOut = 0;
  vendor = '';
  #session: Session;
  #setup = false;
  #standardOnly = false;
  #nextChannelId = 1;
  #nextJobId = 1;
  /** the group of this connection's standard channels (created with the first one) */
  #group: Sv2Group | null = null;
  #closed = false;
  #reconnectSent = false;
  #timer: NodeJS.Timeout | null;
  #out: (Buffer | Sv2Out)[] = [];
  #flushScheduled = false;
  /** flood control (../stratum/flood.ts) */
  readonly #flood: FloodBucket = { tokens: -1, tokenTime: 0 };

  constructor(readonly socket: net.Socket, readonly serverIndex: number, readonly ctx: Sv2ConnectionContext) {
    this.address = socket.remoteAddress ?? '';
    this.port = socket.remotePort ?? 0;
    this.#session = new native.Sv2Session(ctx.authoritySecret, ctx.certValidity);
    socket.setNoDelay(true);
    socket.on('data', (b: Buffer) => this.#onData(b));
    socket.on('error', () => this.close('socket error'));
    socket.on('close', () => this.close('client closed'));
    this.#timer = setTimeout(() => {
      if (!this.#setup) this.close('no SV2 handshake and SetupConnection in time');
    }, ctx.setupTimeoutMs);
    this.#timer.unref();
  }

  get closedNow(): boolean {
    return this.#closed;
  }

  #onData(b: Buffer): void {
    if (this.#closed) return;
    this.bytesIn += b.length;
    let fed;
    try {
      // SubmitSharesStandard arrive as numbers (records), everything else as JSON
      fed = this.#session.feedCompact(b);
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'CKP_ERR_SV2_FRAME';
      this.ctx.logger.info(`SV2 client ${this.address}:${this.port} dropped: ${code} ${(e as Error).message}`);
      this.close(code, true);
      return;
    }
    if (fed.out.length) this.#queue(fed.out);
    const r = fed.records;
    // One token per message, as V1 takes one per line: a connection sending faster than
    // floodrate for longer than floodburst allows is dropped before any of this read is
    // judged, so it cannot hold the thread its other miners share.
    if (r.length && !takeFloodTokens(this.#flood, r.length / FEED_RECORD, this.ctx.floodBurst, this.ctx.floodRate, performance.now())) {
      this.ctx.logger.info(`SV2 client ${this.address}:${this.port} flooded more than ${this.ctx.floodBurst} messages, dropping`);
      this.close('flood', true);
      return;
    }
    const others = fed.messages === '[]' ? [] : JSON.parse(fed.messages) as Sv2In[];
    let next = 0;
    for (let i = 0; i < r.length; i += FEED_RECORD) {
      if (this.#closed) return;
      if (r[i] === 1) {
        this.#handle(others[next++]!);
      } else if (!this.#setup) {
        return this.#protocolError('SubmitSharesStandard before SetupConnection');
      } else {
        this.#submit(r[i + 1]!, r[i + 2]!, r[i + 3]!, r[i + 4]!, r[i + 5]!, r[i + 6]!, null);
      }
    }
  }


  /**
   * Output is queued and written once per turn of the event loop: every message of a
   * turn (say, all the replies of the stratifier's one share batch) is encoded in one
   * native call and written in one write. One write and one native call per reply was
   * over a third of the pool's CPU under ckpool-bench-like load.
   */
  #queue(item: Buffer | Sv2Out): boolean {
    if (this.#closed) return false;
    this.#out.push(item);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
    if (this.#out.length > MAX_QUEUED || this.socket.writableLength > this.ctx.maxPendingBytes) {
      this.close('output bound exceeded (not reading)', true);
      return false;
    }
    return true;
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#out.length === 0 || this.socket.destroyed || this.socket.writableEnded) return;
    const items = this.#out;
    this.#out = [];
    const parts: Buffer[] = [];
    // runs of messages in order: SubmitShares replies (most of the output under load) go to
    // the native encoder as numbers, the rest as JSON
    let run: Sv2Out[] = [];
    let replies: number[] = [];
    let codes: string[] = [];
    const encode = (what: () => Buffer, types: () => string): boolean => {
      try {
        parts.push(what());
      } catch (e) {
        // our own message failed to encode: a bug, logged loudly; the connection cannot go on
        this.ctx.logger.err(`SV2: cannot encode ${types()} for ${this.address}:${this.port}: ${(e as Error).message}`);
        return false;
      }
      return true;
    };
    const encodeRun = (): boolean => {
      if (run.length) {
        const msgs = run;
        run = [];
        if (!encode(() => this.#session.encodeMany(JSON.stringify(msgs)), () => msgs.map((m) => m.type).join(','))) return false;
      }
      return true;
    };
    const encodeReplies = (): boolean => {
      if (replies.length) {
        const nums = Uint32Array.from(replies);
        const text = codes.join('\n');
        replies = [];
        codes = [];
        if (!encode(() => this.#session.encodeReplies(nums, text), () => 'SubmitShares replies')) return false;
      }
      return true;
    };
    for (const it of items) {
      if (Buffer.isBuffer(it)) {
        if (!encodeRun() || !encodeReplies()) return this.close('encode error', true);
        parts.push(it);
      } else if (it.type === 'SubmitSharesSuccess' || it.type === 'SubmitSharesError') {
        if (!encodeRun()) return this.close('encode error', true);
        if (it.type === 'SubmitSharesSuccess') {
          const sum = it.newSharesSum;
          replies.push(0, it.channelId, it.lastSequenceNumber, it.newSubmitsAcceptedCount, sum % 0x1_0000_0000, Math.floor(sum / 0x1_0000_0000));
        } else {
          replies.push(1, it.channelId, it.sequenceNumber, 0, 0, 0);
          codes.push(it.errorCode);
        }
      } else {
        if (!encodeReplies()) return this.close('encode error', true);
        run.push(it);
      }
    }
    if (!encodeRun() || !encodeReplies()) return this.close('encode error', true);
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.bytesOut += data.length;
    this.socket.write(data);
  }

  sendMsg(m: Sv2Out): boolean {
    return this.#queue(m);
  }

  nextJobId(): number {
    return this.#nextJobId++;
  }

  /** Group jobs only for a client without REQUIRES_STANDARD_JOBS (a proxy; ./group.ts). */
  get group(): Sv2Group | null {
    return this.#standardOnly ? null : this.#group;
  }

  /** The group channel id of the standard channels (created with the first one; namespace of the channel ids). */
  #groupId(): number {
    this.#group ??= new Sv2Group(this.#nextChannelId++, (m) => this.sendMsg(m), () => this.nextJobId(), () => this.channels.values());
    return this.#group.groupId;
  }

  #protocolError(what: string): void {
    this.ctx.logger.info(`SV2 client ${this.address}:${this.port} dropped: ${what}`);
    this.close(what, true);
  }

  #handle(m: Sv2In): void {
    if (!this.#setup) {
      if (m.type !== 'SetupConnection') return this.#protocolError(`${m.type} before SetupConnection`);
      return this.#setupConnection(m);
    }
    switch (m.type) {
      case 'SetupConnection':
        return this.#protocolError('second SetupConnection');
      case 'OpenStandardMiningChannel':
        return this.#openChannel('standard', m.requestId, m.userIdentity, m.maxTarget, 0);
      case 'OpenExtendedMiningChannel':
        if (this.#standardOnly) return void this.sendMsg({ type: 'OpenMiningChannelError', requestId: m.requestId, errorCode: 'extended-channels-not-supported-for-standard-jobs' });
        return this.#openChannel('extended', m.requestId, m.userIdentity, m.maxTarget, m.minExtranonceSize);
      case 'UpdateChannel': {
        const ch = this.channels.get(m.channelId);
        if (!ch || !ch.open) return void this.sendMsg({ type: 'UpdateChannelError', channelId: m.channelId, errorCode: Sv2ErrorCode.INVALID_CHANNEL });
        const err = this.#applyMaxTarget(ch, m.maximumTarget);
        if (err) this.sendMsg({ type: 'UpdateChannelError', channelId: m.channelId, errorCode: err });
        return;
      }
      case 'CloseChannel': {
        // "If channel_id is addressing a group channel, all channels belonging to such group MUST be closed."
        if (this.#group && m.channelId === this.#group.groupId) {
          for (const ch of [...this.channels.values()]) {
            if (ch.kind === 'standard') this.#removeChannel(ch, `group closed by client (${m.reasonCode.slice(0, 64)})`);
          }
          return;
        }
        const ch = this.channels.get(m.channelId);
        if (ch) this.#removeChannel(ch, `closed by client (${m.reasonCode.slice(0, 64)})`);
        return;
      }
      case 'SubmitSharesStandard':
        return this.#submit(m.channelId, m.sequenceNumber, m.jobId, m.nonce, m.ntime, m.version, null);
      case 'SubmitSharesExtended':
        return this.#submit(m.channelId, m.sequenceNumber, m.jobId, m.nonce, m.ntime, m.version, m.extranonce);
      default:
        return this.#protocolError(`unsupported message type 0x${m.msgType.toString(16)}`);
    }
  }

  #setupConnection(m: Extract<Sv2In, { type: 'SetupConnection' }>): void {
    const fail = (flags: number, code: string) => {
      this.sendMsg({ type: 'SetupConnectionError', flags, errorCode: code });
      this.ctx.logger.info(`SV2 client ${this.address}:${this.port}: SetupConnection refused (${code})`);
      this.close(`SetupConnection refused: ${code}`);
    };
    if (m.protocol !== PROTOCOL_MINING) return fail(0, Sv2ErrorCode.UNSUPPORTED_PROTOCOL);
    if (m.minVersion > SV2_VERSION || m.maxVersion < SV2_VERSION) return fail(0, Sv2ErrorCode.VERSION_MISMATCH);
    const unsupported = (m.flags & ~SUPPORTED_FLAGS) >>> 0;
    if (unsupported) return fail(unsupported, Sv2ErrorCode.UNSUPPORTED_FLAGS);
    this.#setup = true;
    this.#armNoChannelTimer();
    this.#standardOnly = (m.flags & FLAG_REQUIRES_STANDARD_JOBS) !== 0;
    this.vendor = [m.vendor, m.hardwareVersion, m.firmware].filter((s) => s).join(' ').slice(0, 200);
    // server flags: 0 = version rolling allowed (no REQUIRES_FIXED_VERSION), standard channels allowed
    this.sendMsg({ type: 'SetupConnectionSuccess', usedVersion: SV2_VERSION, flags: 0 });
  }

  #openChannel(kind: ChannelKind, requestId: number, user: string, maxTarget: string, minExtranonce: number): void {
    const refuse = (code: string) => void this.sendMsg({ type: 'OpenMiningChannelError', requestId, errorCode: code });
    if (kind === 'extended' && minExtranonce > this.ctx.nonce2length) return refuse(Sv2ErrorCode.MIN_EXTRANONCE_TOO_LARGE);
    if (this.channels.size >= this.ctx.maxChannels) return refuse(Sv2ErrorCode.CAPACITY);
    if (!user) return refuse(Sv2ErrorCode.INVALID_USER);
    if (/^0*$/.test(maxTarget)) return refuse(Sv2ErrorCode.MAX_TARGET_OUT_OF_RANGE);
    const channelId = this.#nextChannelId++;
    const ch = new Sv2Channel(this, this.ctx.nextId(), channelId, kind, requestId, this.ctx.nonce2length, (c, ok, code) => this.#opened(c, ok, code));
    this.channels.set(channelId, ch);
    const st = this.ctx.stratifier;
    st.connect(ch);
    st.message(ch, { id: REQ_SUBSCRIBE, method: 'mining.subscribe', params: [`sv2 ${this.vendor}`.trim()] });
    if (ch.closed || !this.channels.has(channelId)) return;
    st.message(ch, { id: REQ_AUTHORIZE, method: 'mining.authorize', params: [user, ''] });
    if (ch.open) this.#applyMaxTarget(ch, maxTarget);
  }

  #opened(ch: Sv2Channel, ok: boolean, code: string): void {
    if (!ok) {
      this.sendMsg({ type: 'OpenMiningChannelError', requestId: ch.requestId, errorCode: code });
      this.#removeChannel(ch, `channel refused: ${code}`);
      return;
    }
    const prefix = ch.extranoncePrefix().toString('hex');
    if (ch.kind === 'standard') {
      this.sendMsg({ type: 'OpenStandardMiningChannelSuccess', requestId: ch.requestId, channelId: ch.channelId, target: ch.target(), extranoncePrefix: prefix, groupChannelId: this.#groupId() });
    } else {
      this.sendMsg({
        type: 'OpenExtendedMiningChannelSuccess', requestId: ch.requestId, channelId: ch.channelId, target: ch.target(),
        // extended channels get their own jobs: group 0, an id no channel has and nothing is sent to
        extranonceSize: ch.nonce2length, extranoncePrefix: prefix, groupChannelId: 0,
      });
    }
  }

  /** A client's maximum target is a difficulty floor: V1's suggest_difficulty does exactly that. */
  #applyMaxTarget(ch: Sv2Channel, maxTarget: string): string | null {
    if (!/^[0-9a-f]{64}$/.test(maxTarget) || /^0*$/.test(maxTarget)) return Sv2ErrorCode.MAX_TARGET_OUT_OF_RANGE;
    const floor = difficultyFromTarget(Buffer.from(maxTarget, 'hex'));
    if (floor > this.ctx.mindiff && floor > ch.diff) {
      this.ctx.stratifier.message(ch, { id: REQ_SUGGEST, method: 'mining.suggest_difficulty', params: [floor] });
    }
    return null;
  }

  /** A SubmitSharesStandard (extranonce null) or SubmitSharesExtended, as a mining.submit. */
  #submit(channelId: number, sequenceNumber: number, jobId: number, nonce: number, ntime: number, version: number, extranonce: string | null): void {
    const ch = this.channels.get(channelId);
    const error = (code: string) => void this.sendMsg({ type: 'SubmitSharesError', channelId, sequenceNumber, errorCode: code });
    if (!ch || !ch.open) return error(Sv2ErrorCode.INVALID_CHANNEL);
    let en2: string;
    if (extranonce !== null) {
      if (ch.kind !== 'extended') return error(Sv2ErrorCode.INVALID_CHANNEL);
      if (extranonce.length !== ch.nonce2length * 2) return error(Sv2ErrorCode.BAD_EXTRANONCE_SIZE);
      en2 = extranonce;
    } else {
      if (ch.kind !== 'standard') return error(Sv2ErrorCode.INVALID_CHANNEL);
      en2 = ch.zeroNonce2;
    }
    const job = ch.jobOf(jobId);
    // an unknown SV2 job goes to the stratifier as an unknown V1 job, so it is counted
    // and logged as V1's "Invalid JobID" is
    const v1JobId = job?.v1JobId ?? `sv2-unknown-${jobId}`;
    // SV2 sends the full version; the stratifier takes BIP310 bits. Non-rollable bits
    // that differ from the job's are passed on as bits outside the mask (rejected there).
    const c = ch.state as { versionMask: number } | undefined;
    const mask = c?.versionMask ?? 0;
    const jobVersion = job?.version ?? version;
    const diffBits = (version ^ jobVersion) >>> 0;
    const vbits = (diffBits & ~mask) !== 0 ? diffBits : (version & mask) >>> 0;
    this.ctx.stratifier.message(ch, {
      id: ch.submitId(sequenceNumber), method: 'mining.submit',
      params: [(ch.state as { workername?: string } | undefined)?.workername ?? '', v1JobId, en2, hex8(ntime), hex8(nonce), hex8(vbits)],
    });
  }

  channelDropped(ch: Sv2Channel, reason: string): void {
    this.sendMsg({ type: 'CloseChannel', channelId: ch.channelId, reasonCode: reason.slice(0, 255) });
    this.#removeChannel(ch, reason);
    // a connection left with no channel after the stratifier dropped its last one goes too
    if (this.channels.size === 0) this.close(reason);
  }

  reconnect(host: string, port: number): void {
    if (this.#reconnectSent) return;
    this.#reconnectSent = true;
    this.sendMsg({ type: 'Reconnect', newHost: host, newPort: port });
  }

  #removeChannel(ch: Sv2Channel, reason: string): void {
    if (!this.channels.delete(ch.channelId)) return;
    ch.markClosed(reason);
    this.#group?.leave(ch);
    this.ctx.stratifier.disconnect(ch, reason);
    if (this.channels.size === 0 && !this.#closed) this.#armNoChannelTimer();
  }

  /** A connection that holds no channel is closed after a while, as an unauthorised V1 one. */
  #armNoChannelTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.channels.size === 0) this.close('no SV2 channel opened in time');
    }, this.ctx.noChannelTimeoutMs);
    this.#timer.unref();
  }

  close(reason: string, destroy = false): void {
    if (this.#closed) return;
    for (const ch of [...this.channels.values()]) this.#removeChannel(ch, reason);
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (destroy) this.socket.destroy();
    else {
      this.#flush();
      this.socket.end();
      // a peer that never reads would keep an ended socket open for ever
      setTimeout(() => this.socket.destroy(), 5_000).unref();
    }
    this.ctx.closed(this);
  }
}
