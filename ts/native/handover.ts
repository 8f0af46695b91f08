/**
 * Socket handover (`ckpool -H`) through the native binding: Node can neither send nor
 * receive file descriptors over a unix socket, so the two SCM_RIGHTS steps are in Rust
 * (src/fdpass.rs) and this module adapts them to Node's objects.
 */
import type net from 'node:net';
import { ckError } from '../errors.js';
import { native } from './binding.js';

/**
 * The OS descriptor behind a Node socket or server (libuv keeps it on the handle), or -1
 * when there is none (closed, not yet open, or a handle without one).
 */
export function handleFd(handleOwner: net.Socket | net.Server | undefined): number {
  const fd = (handleOwner as unknown as { _handle?: { fd?: number } | null } | undefined)?._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

/** handleFd, or a coded error when there is no descriptor. */
export function fdOf(handleOwner: net.Socket | net.Server): number {
  const fd = handleFd(handleOwner);
  if (fd < 0) throw ckError('CKP_ERR_NATIVE_IO', 'no file descriptor behind this socket');
  return fd;
}

/** Answer a `getxfd` request: pass `fd` to the peer of `conn` (one byte + SCM_RIGHTS). */
export function sendFd(conn: net.Socket, fd: number): void {
  native.sendFd(fdOf(conn), fd);
}

/** Ask the instance behind `listenerPath` for its listening socket `index`. */
export function requestListenFd(listenerPath: string, index: number, timeoutMs = 5000): number {
  return native.requestFd(listenerPath, `getxfd${index}`, timeoutMs);
}

/**
 * Take a connection away from its Node socket: a duplicate of its descriptor (close-on-
 * exec), and the socket destroyed — which closes only its own descriptor, so the
 * connection lives on under the copy (for a worker thread, or a re-open with `onread`).
 * Null, with the socket untouched, if it has no descriptor or the duplicate fails.
 */
export function detachDescriptor(socket: net.Socket): number | null {
  const fd = handleFd(socket);
  if (fd < 0) return null;
  let copy: number;
  try {
    copy = native.dupFd(fd);
  } catch {
    return null;
  }
  socket.destroy();
  return copy;
}
