/**
 * TLS termination for the stratum server's `stratum+ssl://` listeners.
 *
 * Connections are accepted as plain TCP (by the main thread's net.Server, or adopted
 * as a descriptor by a worker thread — see ts/pool/workers.ts) and wrapped here, on
 * the thread that serves the miner: the handshake and every record's crypto run on
 * the worker threads, not on the main thread that accepts for all of them. Plain
 * listeners never come here.
 *
 * The secure context is one object per thread, replaced as a whole by update(): a
 * connection keeps the context it started with, new connections get the new one — a
 * renewed certificate needs no miner to reconnect (the same effect as
 * tls.Server#setSecureContext, which is for servers that accept TLS themselves).
 */
import type net from 'node:net';
import tls from 'node:tls';
import { ckErrorCause } from '../errors.js';
import { TLS_MIN_VERSION, type TlsCredentials } from './credentials.js';

function contextOf(c: TlsCredentials): tls.SecureContext {
  try {
    return tls.createSecureContext({ cert: c.cert, key: c.key, minVersion: TLS_MIN_VERSION });
  } catch (e) {
    throw ckErrorCause('CKP_ERR_TLS_CONTEXT', e, c.certPath, c.keyPath, (e as Error).message);
  }
}

export class TlsTerminator {
  #context: tls.SecureContext;
  #credentials: TlsCredentials;

  constructor(credentials: TlsCredentials) {
    this.#context = contextOf(credentials);
    this.#credentials = credentials;
  }

  get credentials(): TlsCredentials {
    return this.#credentials;
  }

  /** Serve new connections with these (throws CKP_ERR_TLS_CONTEXT and keeps the old ones if OpenSSL refuses them). */
  update(credentials: TlsCredentials): void {
    this.#context = contextOf(credentials);
    this.#credentials = credentials;
  }

  /**
   * The server side of TLS over an accepted TCP socket. Handshake failures (a plain-TCP
   * client, an old protocol version, a client that refuses the certificate) arrive as
   * the TLS socket's 'error', like any socket error.
   */
  wrap(socket: net.Socket): tls.TLSSocket {
    return new tls.TLSSocket(socket, { isServer: true, secureContext: this.#context });
  }
}
