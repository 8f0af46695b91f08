/**
 * `ckpool -H`, the new process's side: take over from the running same-named instance,
 * a C ckpool 0.9.9 or ckpool-ts alike, with ckpool's own sequence on its `listener`
 * socket (ckpool.c:main, the `if (ckp.handover)` block; each step a new connection):
 *
 *   ping        → "pong"          (no answer: nothing is taken over; start as with -k)
 *   getxfd<i>   → listening socket i over SCM_RIGHTS, for each serverurl in order;
 *                 the first that fails ends the loop (as in ckpool)
 *   reject      → "rejecting"     the old process stops accepting; the sockets stay open
 *   reconnect   → "reconnecting"  it sends client.reconnect to all its miners
 *   shutdown    → "exiting"       it exits by itself
 *
 * Both ends share the listening sockets from getxfd on, so the ports never close and no
 * connection attempt is refused: until the new process accepts, connections wait in
 * the kernel's backlog. One sequence for both kinds of old process: ckpool's answers are
 * the only thing ckpool understands (it replies "unknown" to anything else), and a
 * ckpool-ts old process answers the same commands the same way. An earlier ckpool-ts
 * `handover` command did nothing beyond reject + reconnect + shutdown (no session state
 * or stats were passed on), so nothing is lost by speaking only ckpool's sequence; the
 * miners' sessions resume on the new process from their extranonce as after any reconnect.
 *
 * One deliberate difference in timing: ckpool sends reject/reconnect/shutdown as soon as
 * it has the descriptors, before its own connector accepts. ckpool-ts sends them only
 * once its pool serves on the inherited sockets (bitcoind answered, threads up): until
 * then the old process keeps serving, miners told to reconnect are accepted at once, and
 * a new process that fails to start leaves the old one running untouched.
 */
import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { requestListenFd } from '../native/handover.js';
import { sendControl } from './framing.js';
import { isAlive, readPidFile, socketAnswers } from './instance.js';
import { SOCKET_NAMES, serverSocketPath } from './paths.js';

/** The commands sent after the descriptors, in ckpool's order. */
export const DISMISS_SEQUENCE = ['reject', 'reconnect', 'shutdown'] as const;

/**
 * The pause between `reject` and `reconnect` (ckpool sends the three back to back).
 * ckpool's `reject` is not immediate: the listener answers "rejecting" and queues the
 * message to its connector, whose accept loop looks at the flag only between
 * epoll_wait calls of up to 1 s — meanwhile it goes on accepting. Without the pause the
 * miners told to reconnect were, in a check against ckpool 0.9.9, accepted again by the
 * old ckpool and then cut off by its shutdown. After it, ckpool accepts nothing more.
 * The price: a rejecting ckpool also stops reading its miners (the same loop serves the
 * listening and the client sockets), so their submissions in these 1.2 s go unanswered,
 * and the one connection its pending epoll_wait may still accept is never served and is
 * reset at its exit (ckpool → ckpool handovers have the same). ckpool-ts stops accepting
 * at once and keeps serving its miners; its `ping` answer is ckpool's, so both get the
 * pause.
 */
export const REJECT_SETTLE_MS = 1_200;

/**
 * The pause between `reconnect` and `shutdown`: the old process's writer (ckpool's
 * sender thread, a tick in ckpool-ts) delivers client.reconnect before `shutdown` closes
 * the connections. A miner that misses it is dropped and reconnects anyway, less neatly.
 */
export const RECONNECT_SETTLE_MS = 100;

/** How long a step's reply may take (ckpool's send_recv_path uses its default unix timeouts). */
const STEP_TIMEOUT_MS = 10_000;

export interface Takeover {
  /** The old instance's pid (from its main.pid). */
  readonly oldPid: number;
  /** The inherited listening sockets by serverIndex; shorter than asked when getxfd failed. */
  readonly fds: number[];
}

export interface TakeoverOptions {
  readonly sockdir: string;
  /** How many listening sockets to ask for (serverurl, then nodeserver: ckpool's order). */
  readonly count: number;
  readonly logger: Logger;
}

/**
 * ping, then getxfd<i> for each listening socket. Null when there is no live instance, it
 * does not answer the ping or gives no socket: then this one starts as with -k (the old
 * one is terminated when the control sockets are claimed).
 */
export async function inheritListeners(o: TakeoverOptions): Promise<Takeover | null> {
  const oldPid = readPidFile(join(o.sockdir, 'main.pid'));
  const listener = serverSocketPath(o.sockdir, 'listener');
  if (oldPid === null || !isAlive(oldPid) || !existsSync(listener)) {
    o.logger.notice('Handover (-H): no running instance to take over from; starting normally');
    return null;
  }
  const pong = await sendControl(listener, 'ping', { timeoutMs: STEP_TIMEOUT_MS }).catch((e: Error) => `(${e.message})`);
  if (pong !== 'pong') {
    o.logger.warning(`Handover (-H): process ${oldPid} did not answer ping (${JSON.stringify(pong)}); it will be terminated instead`);
    return null;
  }
  const fds: number[] = [];
  for (let i = 0; i < o.count; i++) {
    try {
      fds.push(requestListenFd(listener, i));
    } catch (e) {
      o.logger.warning(`Handover (-H): process ${oldPid} gave no server socket ${i}: ${(e as Error).message}`);
      break;
    }
    o.logger.notice(`Inherited old server socket ${i} (fd ${fds[i]}) from process ${oldPid}`);
  }
  if (fds.length === 0 && o.count > 0) {
    // Nothing shared: binding while the old process holds the ports would fail, so it is
    // terminated first (-k), which leaves a short gap with the ports closed.
    o.logger.warning(`Handover (-H): no server socket inherited from process ${oldPid}; it will be terminated instead`);
    return null;
  }
  return { oldPid, fds };
}

/**
 * reject, reconnect, shutdown (ckpool's order), logging each reply, then wait up to
 * `waitMs` for the old process to exit by itself. Returns whether it did; if not, the
 * caller's claim of the sockdir terminates it (ckpool: 500 ms, then the -k way).
 */
export async function dismissOld(o: { sockdir: string; logger: Logger }, oldPid: number, waitMs = 10_000): Promise<boolean> {
  const listener = serverSocketPath(o.sockdir, 'listener');
  for (const cmd of DISMISS_SEQUENCE) {
    const reply = await sendControl(listener, cmd, { timeoutMs: STEP_TIMEOUT_MS }).catch((e: Error) => `failed: ${e.message}`);
    o.logger.notice(`Handover: sent ${cmd} to old process ${oldPid}, it answered "${reply}"`);
    const pause = cmd === 'reject' ? REJECT_SETTLE_MS : cmd === 'reconnect' ? RECONNECT_SETTLE_MS : 0;
    if (pause > 0) await new Promise((r) => setTimeout(r, pause));
  }
  const deadline = Date.now() + waitMs;
  while (isAlive(oldPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const gone = !isAlive(oldPid);
  if (gone) {
    o.logger.notice(`Handover: old process ${oldPid} exited by itself`);
    await socketsReleased(o.sockdir, Math.max(0, deadline - Date.now()));
  } else {
    o.logger.warning(`Handover: old process ${oldPid} still runs ${waitMs} ms after shutdown; terminating it`);
  }
  return gone;
}

/**
 * Wait until nothing answers on the old process's control sockets. Its main thread can
 * already be a zombie (what isAlive looks at) while its other threads — ckpool's
 * stratifier, connector… — are still being torn down with the sockets open, and the
 * sockdir claim that follows refuses a socket that answers. Seen with ckpool 0.9.9.
 */
async function socketsReleased(sockdir: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + Math.min(waitMs, 5_000);
  for (const name of SOCKET_NAMES) {
    const path = serverSocketPath(sockdir, name);
    const isSocket = (): boolean => {
      try {
        return lstatSync(path).isSocket();
      } catch {
        return false;
      }
    };
    while (isSocket() && (await socketAnswers(path, 200)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}
