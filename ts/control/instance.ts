/**
 * One instance per name (sockdir): the pid file and what to do about an old instance
 * (ckpool.c manage_old_instance / terminate_oldpid, behaviour §3).
 *
 * - `<sockdir>main.pid` names the running instance. If that process is alive, a new
 *   start is refused with ckpool's message, unless -k: SIGTERM, a grace period (a few
 *   seconds here; ckpool waits 500 ms, too short for a clean stats flush), then SIGKILL.
 * - A pid file whose process is gone, and socket files nobody answers on, are what a
 *   crashed (SIGKILLed) instance leaves behind: they are removed, not obeyed.
 * - Our own pid file is removed on release only while it still names us, so an
 *   instance that was replaced never deletes its successor's file.
 */
import { lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { ensurePrivateDir, writeNewFile } from '../safe-files.js';
import net from 'node:net';
import { join } from 'node:path';
import { ckError, ckErrorCause } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { PID_FILE, SOCKET_NAMES, serverSocketPath } from './paths.js';

export interface InstanceOptions {
  /** Instance name, for messages. */
  readonly name: string;
  /** ckpool's -s, used as is. */
  readonly sockdir: string;
  /** -k (also implied by -H): terminate a live old instance instead of refusing. */
  readonly killold: boolean;
  readonly logger: Logger;
  /** How long the old instance gets to exit after SIGTERM before SIGKILL (default 5 s). */
  readonly killGraceMs?: number;
}

export interface InstanceClaim {
  readonly pidFile: string;
  /** Remove the pid file if it is still ours. Idempotent. */
  release(): void;
}

export const DEFAULT_KILL_GRACE_MS = 5_000;
const POLL_MS = 25;

/** Alive and not a zombie. EPERM means it exists but belongs to someone else: alive. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers kill(0) until its parent reaps it; it will never exit "more".
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
  } catch {
    // no /proc (not Linux) or it just went away: trust kill(0)
  }
  return true;
}

/** The pid in `file`, or null when there is no usable one. */
export function readPidFile(file: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return true;
}

/** -k: SIGTERM, grace, SIGKILL (ckpool's terminate_oldpid, with its log lines). */
async function terminate(pid: number, graceMs: number, logger: Logger): Promise<void> {
  logger.warning(`Terminating old process main pid ${pid}`);
  try {
    process.kill(pid, 'SIGTERM');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return;
    throw ckErrorCause('CKP_ERR_CONTROL_KILL', e, pid, (e as Error).message);
  }
  if (await waitGone(pid, graceMs)) return;
  logger.warning(`Old process main pid ${pid} failed to respond to terminate request, killing`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return;
    throw ckErrorCause('CKP_ERR_CONTROL_KILL', e, pid, (e as Error).message);
  }
  if (!(await waitGone(pid, 2_000))) throw ckError('CKP_ERR_CONTROL_KILL', pid, 'still alive after SIGKILL');
}

/** Does anything answer on this unix socket? (A crashed instance's file refuses.) */
export function socketAnswers(path: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ path });
    const done = (alive: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => done(true), timeoutMs); // accepted into a backlog but slow: someone is there
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Remove socket files nobody listens on; refuse when one is answered. */
async function removeStaleSockets(sockdir: string, logger: Logger): Promise<void> {
  for (const name of SOCKET_NAMES) {
    const path = serverSocketPath(sockdir, name);
    let isSocket: boolean;
    try {
      isSocket = lstatSync(path).isSocket();
    } catch {
      continue; // not there
    }
    if (!isSocket) throw ckError('CKP_ERR_CONTROL_SOCKDIR', sockdir, `${path} exists and is not a socket`);
    if (await socketAnswers(path)) throw ckError('CKP_ERR_CONTROL_SOCKET_IN_USE', path, sockdir);
    logger.notice(`Removing stale socket ${path}`);
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ckErrorCause('CKP_ERR_CONTROL_SOCKDIR', e, sockdir, (e as Error).message);
    }
  }
}

/**
 * Make the sockdir, deal with an old instance (refuse, or -k), clean up after a
 * crashed one, and write our pid file. Throws CKP_ERR_CONTROL_RUNNING (ckpool's
 * message; the CLI exits 1), _KILL, _SOCKDIR, _SOCKET_IN_USE or _PIDFILE.
 */
export async function claimInstance(opts: InstanceOptions): Promise<InstanceClaim> {
  const { sockdir, logger } = opts;
  // ours, 0750, not writable by anyone else: nobody can plant a main.pid link (safe-files.ts)
  ensurePrivateDir(sockdir, 'sockdir');
  const pidFile = join(sockdir, PID_FILE);
  const old = readPidFile(pidFile);
  if (old !== null && old !== process.pid) {
    if (isAlive(old)) {
      if (!opts.killold) throw ckError('CKP_ERR_CONTROL_RUNNING', old);
      await terminate(old, opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS, logger);
    } else {
      logger.notice(`Removing stale pid file ${pidFile}: process ${old} is gone`);
    }
  }
  await removeStaleSockets(sockdir, logger);
  try {
    // ckpool writes the bare number, no newline
    writeNewFile(pidFile, String(process.pid), 0o640);
  } catch (e) {
    throw ckErrorCause('CKP_ERR_CONTROL_PIDFILE', e, pidFile, (e as Error).message);
  }
  let released = false;
  return {
    pidFile,
    release() {
      if (released) return;
      released = true;
      if (readPidFile(pidFile) !== process.pid) return;
      try {
        unlinkSync(pidFile);
      } catch {
        // already gone
      }
    },
  };
}
