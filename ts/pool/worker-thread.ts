/**
 * Entry point of one pool worker thread (started by ts/pool/workers.ts). The thread owns
 * the miners handed to it: their sockets (a StratumServer with no listeners of its own),
 * their protocol state, vardiff, duplicate checks and share validation (a Stratifier),
 * passthrough links that land here, and Stratum V2 connections handed to it (an Sv2Host:
 * the Noise session, a native Sv2Session per connection, loads in this thread; its
 * channels are miners of this thread's stratifier). Pool-wide state stays on the main thread:
 * workbases arrive from its generator, stats events and log lines go back in batches,
 * solved blocks and get_transactions go back at once.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { BaseLogger } from '../log/logger.js';
import { LinkHub } from '../modes/links.js';
import { native } from '../native/binding.js';
import { StatsForwarder } from '../stats/forward.js';
import { ShareLog } from '../stats/sharelog.js';
import { StratumServer, type StratumConnection } from '../stratum/server.js';
import type { Client } from './client.js';
import { RemoteWorkSource } from './remote-source.js';
import { Stratifier, type SessionEntry } from './stratifier.js';
import { enonce1SlotIndex } from './enonce1.js';
import { Sv2Host, type Sv2HostSettings } from '../sv2/host.js';
import type { ClientFilter, ClientRecord, FromWorker, ThreadCommand, ThreadCounts, ToWorker, WorkerInit } from './thread-protocol.js';

/** How often stats events and log lines go to the main thread, ms. */
const FLUSH_MS = 50;
/** How often the thread's event-loop delay goes to the main thread (metrics), ms. */
const PERF_MS = 2000;

const port = parentPort;
if (!port) throw new Error('ts/pool/worker-thread.ts runs only as a worker thread (ts/pool/workers.ts starts it)');
const init = workerData as WorkerInit;
const post = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);

/** Log lines go to the main thread's logger, which owns the log file and stderr. */
class ForwardLogger extends BaseLogger {
  lines: (number | string)[] = [];
  protected write(level: number, msg: string): void {
    this.lines.push(level, msg);
    if (this.lines.length > 2000) flush();
  }
}

const logger = new ForwardLogger(init.logLevel);
const source = new RemoteWorkSource(init.network, (m) => post(m));
const stats = new StatsForwarder(() => flush());
const shareLog = init.shareLogDir ? new ShareLog(init.shareLogDir, logger) : null;
const server = new StratumServer({ ...init.server, logger });
server.serve();
if (init.current) source.update(init.current);
const slot = { index: init.index, count: init.count };
// every thread keeps a copy of the pool's disconnected sessions, so a miner resumes its
// session (and extranonce1) whichever thread it lands on when it reconnects
const sessionEvents = {
  saved: (id: string, entry: SessionEntry) => post({ t: 'session', id, entry }),
  taken: (id: string) => post({ t: 'session', id, entry: null }),
};
const stratifier = new Stratifier({ ...init.stratifier, generator: source, stats, shareLog, enonce1Slot: slot, sessionEvents, logger });
/**
 * The thread whose slot (index mod count, as the stratifier hands them out) holds an
 * extranonce1 of this pool (no prefix in pool mode), or -1 if it is not one of ours.
 */
function enonce1Owner(hex: string): number {
  return enonce1SlotIndex(hex, '', init.stratifier.nonce1length, slot.count);
}

/**
 * A passthrough link coming back after its old link was lost (this pool restarted with
 * -H, or a failover) names one of the extranonce1s of the miners it carries over. Only
 * the thread owning that slot can grant them again: another thread cannot know whether
 * the owner is handing the same value to a new miner right now. So the link goes to that
 * thread, which handles its handshake as if it had come straight there, rather than
 * making every extranonce1 grant a round trip between threads. The move is one event-loop
 * turn later, once the handshake line has been handled here (the passthrough sends nothing
 * else before its answer); if the connection cannot move (TLS, or lines already behind
 * the handshake: StratumServer.release), it is served here and its miners that cannot
 * keep their extranonce1 are sent client.reconnect, as before.
 */
function placeLink(c: StratumConnection, handshake: Record<string, unknown>, resumeEnonce1: string): boolean {
  const to = enonce1Owner(resumeEnonce1);
  // slot 0 is the main thread's own stratifier, which serves only node links
  if (to <= 0 || to === slot.index || stopping) return false;
  setImmediate(() => {
    if (c.closed) return;
    const fd = server.release(c);
    if (fd === null) return links.keepLink(c, handshake);
    stratifier.disconnect(c, `passthrough link moved to worker thread ${to}`);
    logger.info(`Passthrough link ${c.id} ${c.address} resumes extranonce1s of worker thread ${to}: moving it there`);
    post({ t: 'link', to, fd, serverIndex: c.serverIndex, highdiff: c.highdiff, handshake: JSON.stringify(handshake) });
  });
  return true;
}

// passthrough links may land on any serverurl; node links only on nodeserver urls, which
// the main thread keeps for itself
const links = new LinkHub({ server, stratifier, generator: source, nodeServers: new Set(), idSlot: slot, placeLink, logger });
links.attach();
/** SV2 connections handed here (null until the pool serves SV2: WorkerInit.sv2 or an 'sv2' message) */
let sv2: Sv2Host | null = null;
function enableSv2(settings: Sv2HostSettings): void {
  // channel ids come from this thread's residue class, as its passthrough miners' do
  sv2 ??= new Sv2Host(settings, stratifier, () => links.nextSubId(), logger);
}
if (init.sv2) enableSv2(init.sv2);
let sharesJudged = 0;
stratifier.on('share', () => { sharesJudged++; });
// for the pool's metrics: the block-change fan-out at once, the event-loop delay every PERF_MS
stratifier.on('fanout', (fanout) => post({ t: 'perf', fanout }));
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const perfTimer = setInterval(() => {
  const s = (ns: number) => (Number.isFinite(ns) ? ns * 1e-9 : 0); // NaN before the first sample
  post({ t: 'perf', lag: { mean: s(loopDelay.mean), p99: s(loopDelay.percentile(99)), max: s(loopDelay.max) } });
  loopDelay.reset();
}, PERF_MS);
perfTimer.unref();

let lastCount = -1;
/** handed-over descriptors taken so far (the main thread counts the rest as in flight) */
let adopted = 0;
let lastAdopted = 0;
function flush(): void {
  const clients = server.connections.size + (sv2?.connections.size ?? 0);
  if (stats.size === 0 && logger.lines.length === 0 && clients === lastCount && adopted === lastAdopted) return;
  lastCount = clients;
  lastAdopted = adopted;
  const log = logger.lines;
  logger.lines = [];
  post({ t: 'ev', ev: stats.take(), log, clients, adopted });
}
const flushTimer = setInterval(flush, FLUSH_MS);

function select(filter: ClientFilter | undefined): Client[] {
  const out: Client[] = [];
  if (filter?.clientId !== undefined) {
    const c = stratifier.clients.get(filter.clientId);
    if (c) out.push(c);
    return out;
  }
  for (const c of stratifier.clients.values()) if (filter?.user === undefined || c.username === filter.user) out.push(c);
  return out;
}

function record(c: Client): ClientRecord {
  return {
    id: c.id,
    conn: {
      address: c.conn.address, port: c.conn.port, serverIndex: c.conn.serverIndex, connectedAt: c.conn.connectedAt,
      protocol: (c.conn as { protocol?: string }).protocol,
    },
    agent: c.agent, subscribed: c.subscribed, authorised: c.authorised, workername: c.workername, username: c.username,
    sessionId: c.sessionId, enonce1Hex: c.enonce1Hex, vd: { diff: c.vd.diff }, accepted: c.accepted, rejected: c.rejected,
    bestDiff: c.bestDiff,
  };
}

function command(cmd: ThreadCommand): unknown {
  switch (cmd.op) {
    case 'clients': return select(cmd.filter).map(record);
    case 'drop': {
      const victims = select(cmd.filter);
      for (const c of victims) c.conn.close('dropped by operator', true);
      return victims.length;
    }
    case 'reconnect':
      if (cmd.filter?.clientId !== undefined && !stratifier.clients.has(cmd.filter.clientId)) return 0;
      return stratifier.reconnectClients(cmd.host, cmd.port, cmd.filter);
    case 'show': return stratifier.showMessage(cmd.text, cmd.filter);
    case 'send': {
      const c = stratifier.clients.get(cmd.clientId);
      return c ? (c.conn.sendJson(cmd.msg) ? 1 : 0) : -1;
    }
    case 'resetBest':
      for (const c of stratifier.clients.values()) c.bestDiff = 0;
      return 0;
    case 'counts': {
      const s = server.stats();
      const v2 = sv2?.stats() ?? { connections: 0, channels: 0 };
      const counts: ThreadCounts = {
        clients: stratifier.clients.size, connections: s.clients, shares: sharesJudged,
        sessions: stratifier.disconnectedSessions, accepted: s.accepted, dropped: s.dropped,
        bytesIn: s.bytesIn, bytesOut: s.bytesOut, closing: s.closing, blocked: s.blocked,
        sv2Connections: v2.connections, sv2Channels: v2.channels,
        perThread: [{ thread: init.index, clients: stratifier.clients.size, sv2Connections: v2.connections, sv2Channels: v2.channels }],
      };
      return counts;
    }
  }
}

let stopping = false;
function closeQuietly(fd: number): void {
  try {
    native.closeFd(fd);
  } catch {
    // already gone
  }
}
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  // SV2 connections first: their channels leave the stratifier as they close
  sv2?.closeAll('server closing');
  stratifier.close();
  await server.close();
  source.failAll('worker thread stopping');
  await shareLog?.close();
  clearInterval(flushTimer);
  clearInterval(perfTimer);
  loopDelay.disable();
  lastCount = -1;
  flush();
  post({ t: 'stopped' });
  port!.close();
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'conns': {
      const list = m.list;
      for (let i = 0; i + 2 < list.length; i += 3) {
        const fd = list[i]!;
        adopted++;
        if (stopping) {
          try {
            native.closeFd(fd);
          } catch {
            // already gone
          }
          continue;
        }
        try {
          server.adoptFd(fd, list[i + 1]!, list[i + 2] === 1);
        } catch (e) {
          logger.err(`Could not adopt a connection (fd ${fd}): ${(e as Error).message}`);
          try {
            native.closeFd(fd);
          } catch {
            // already gone
          }
        }
      }
      return;
    }
    case 'sv2conns': {
      const list = m.list;
      for (let i = 0; i + 1 < list.length; i += 2) {
        const fd = list[i]!;
        adopted++;
        if (stopping || !sv2) {
          // no SV2 settings here yet cannot happen (the main thread sends them before any socket); never leak the descriptor
          if (!stopping) logger.err(`Worker thread ${init.index}: an SV2 connection arrived before the SV2 settings; closing it`);
          closeQuietly(fd);
          continue;
        }
        try {
          sv2.adoptFd(fd, list[i + 1]!);
        } catch (e) {
          logger.err(`Could not adopt an SV2 connection (fd ${fd}): ${(e as Error).message}`);
          closeQuietly(fd);
        }
      }
      return;
    }
    case 'sv2': return enableSv2(m.settings);
    case 'wb': return source.update(m);
    case 'blockDone': return source.settle(m.id, m.result);
    case 'txns': return source.settle(m.id, m.result);
    case 'cmd': {
      let result: unknown;
      try {
        result = command(m.cmd);
      } catch (e) {
        result = { error: (e as Error).message };
      }
      post({ t: 'cmdDone', id: m.id, result });
      return;
    }
    case 'level': logger.level = m.level; return;
    case 'session':
      if (m.entry) stratifier.sessionSaved(m.id, m.entry);
      else stratifier.sessionTaken(m.id);
      return;
    case 'tls':
      try {
        server.setTlsCredentials(m.credentials);
      } catch (e) {
        logger.err(`Worker thread ${init.index}: TLS reload failed, keeping the old certificate: ${(e as Error).message}`);
      }
      return;
    case 'link':
      // a passthrough link another thread gave up for this one (placeLink): its handshake
      // is handled first, then what it sends from now on
      if (stopping) return void native.closeFd(m.fd);
      try {
        server.adoptFd(m.fd, m.serverIndex, m.highdiff, Buffer.from(m.handshake + '\n'));
      } catch (e) {
        logger.err(`Could not adopt a passthrough link (fd ${m.fd}): ${(e as Error).message}`);
        try {
          native.closeFd(m.fd);
        } catch {
          // already gone
        }
      }
      return;
    case 'stop': void stop(); return;
  }
});

post({ t: 'ready' });
