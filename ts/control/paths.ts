/**
 * Where the control sockets live (behaviour §2.1, §3, §11).
 *
 * ckpool uses its `-s` sockdir as is (default `/tmp/<name>/`) and creates one socket
 * per historical module in it, plus `main.pid`. ckpmsg and notifier take `-s` as the
 * PARENT directory and always append the name: `ckpool -s /x/y` is reached with
 * `ckpmsg -s /x -n y`.
 */
import { join } from 'node:path';

/** The socket names ckpool creates; `listener` accepts every command. */
export const SOCKET_NAMES = ['listener', 'stratifier', 'generator', 'connector'] as const;
export type SocketName = (typeof SOCKET_NAMES)[number];

export const PID_FILE = 'main.pid';

export function isSocketName(s: string): s is SocketName {
  return (SOCKET_NAMES as readonly string[]).includes(s);
}

/** `<sockdir>/<socket>` for the server side (sockdir as given to ckpool -s). */
export function serverSocketPath(sockdir: string, socket: SocketName): string {
  return join(sockdir, socket);
}

export interface ClientTarget {
  /** -s: parent directory (default /tmp). */
  readonly parentDir?: string;
  /** -n: instance name (default ckpool, or ckproxy with -p). */
  readonly name?: string;
  /** -p: ckpool's "proxy" flag, which only changes the default name. */
  readonly proxy?: boolean;
  /** -N: socket name (default listener; notifier uses stratifier). */
  readonly sockname?: string;
}

/** `<parent or /tmp>/<name or ckpool>/<sockname or listener>`, exactly as ckpmsg builds it. */
export function clientSocketPath(t: ClientTarget): string {
  const name = t.name ?? (t.proxy ? 'ckproxy' : 'ckpool');
  return join(t.parentDir ?? '/tmp', name, t.sockname ?? 'listener');
}
