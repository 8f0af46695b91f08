/**
 * SIGHUP re-reads the TLS certificate and key (certbot's deploy hook: `kill -HUP
 * $(cat <sockdir>/main.pid)`). New TLS connections get the new certificate; miners
 * already connected keep their session. Unusable files are logged and the running
 * certificate stays — a half-written renewal must never take the pool down.
 *
 * Installed only when a listener is TLS: without one, SIGHUP keeps Node's default
 * (terminate), as before.
 */
import type { Logger } from '../log/logger.js';
import { describeCert, type TlsCredentials } from './credentials.js';

/** "subject …, valid until …" for log lines; a warning when expired or close to it. */
export function logCertificate(logger: Logger, what: string, c: TlsCredentials, now = Date.now()): void {
  const d = describeCert(c);
  const days = Math.floor((d.validTo.getTime() - now) / 86_400_000);
  const text = `${what}: ${c.certPath} (${d.subject}, valid until ${d.validTo.toISOString()}, sha256 ${d.fingerprint})`;
  if (d.validTo.getTime() <= now) logger.warning(`${text} HAS EXPIRED: miners that verify certificates will refuse it`);
  else if (days < 7) logger.warning(`${text} expires in ${days} day(s)`);
  else logger.notice(text);
}

/**
 * Run `reload` on every SIGHUP (it re-reads the files and applies them; null means
 * nothing is TLS). Returns the uninstaller.
 */
export function reloadTlsOnSighup(reload: () => TlsCredentials | null, logger: Logger): () => void {
  const onHup = (): void => {
    try {
      const c = reload();
      if (c) logCertificate(logger, 'SIGHUP: reloaded TLS certificate', c);
    } catch (e) {
      logger.err(`SIGHUP: TLS certificate reload failed, still serving the previous one: ${(e as Error).message}`);
    }
  };
  process.on('SIGHUP', onHup);
  return () => void process.off('SIGHUP', onHup);
}
