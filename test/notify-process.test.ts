/**
 * Notifications with the real `ckpool` binary (bin/ckpool.js as a child process, miners
 * on worker threads, bcoin regtest with real bits): a block notification that could not
 * be delivered survives a SIGKILL of the pool and is delivered by the next process; a
 * test notification queued before a `-H` handover is delivered by the new process after
 * the old one has exited. The receiver is a local HTTPS server with a self-signed
 * certificate, trusted through the entry's "ca".
 */
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { sendControl } from '../ts/control/framing.js';
import type { StratumClient } from '../ts/miner/client.js';
import { freePort } from '../ts/node/ports.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { connectMiner, killAllCkpools, startCkpool } from './helpers/ckpool-proc.js';
import { removeTempDirs, submitUntilBlock, tempDir, waitFor } from './helpers/modes.js';
import { NotifyReceiver } from './helpers/notify-receiver.js';

let node: BcoinNode;
let receiver: NotifyReceiver;
const clients: StratumClient[] = [];

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(5, REGTEST_ADDRESS);
  receiver = await NotifyReceiver.start(tempDir('notify-proc-certs'));
});

test.after.always(async () => {
  for (const c of clients) c.close();
  killAllCkpools();
  await receiver?.close();
  await stopAllBcoins();
  removeTempDirs();
});

const pendingFiles = (dir: string): string[] => {
  const d = path.join(dir, 'logs', 'notify', 'outbox');
  return existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.json')) : [];
};

test.serial('ckpool binary: a block notification survives kill -9 and a -H handover passes queued notifications on', async (t) => {
  const dir = tempDir('notify-proc');
  const port = await freePort();
  const conf = {
    btcd: [{ url: `${node.host}:${node.port}`, auth: node.user, pass: node.pass }],
    // highdiff too: ports above 4000 are highdiff ports (ckpool's rule), and freePort's are
    btcaddress: REGTEST_ADDRESS, startdiff: 0.000001, highdiff: 0.000001, mindiff: 0.000000001, blockpoll: 50, workers: 1,
    notifications: [{ url: receiver.url('/proc'), format: 'json', events: ['block_found'], ca: receiver.caPath }],
  };
  await receiver.down();
  try {
    const a = await startCkpool(['-q'], conf, { name: 'notifyproc', dir, port });
    const c = await connectMiner(port, 'crash.rig');
    clients.push(c);
    await submitUntilBlock(c, 'crash.rig');
    // stored before the first (failing) attempt
    await waitFor(() => pendingFiles(dir).length === 1, 20_000, 'the outbox file');
    c.close();
    a.child.kill('SIGKILL');
    await waitFor(() => a.child.exitCode !== null || a.child.signalCode !== null, 10_000, 'the killed pool');
  } finally {
    await receiver.up();
  }
  t.is(receiver.at('/proc').length, 0);

  // the next process on the same logdir sends it
  const b = await startCkpool(['-q'], conf, { name: 'notifyproc', dir, port });
  await receiver.waitFor(() => receiver.at('/proc', 'block_found').length > 0, 30_000, 'block_found after the crash');
  const got = receiver.at('/proc', 'block_found')[0]!.body;
  const data = got.data as Record<string, unknown>;
  t.true((data.height as number) > 5);
  // the block the notification names is the one on bcoin's chain at that height
  t.is(data.hash, await node.rpc.call<string>('getblockhash', [data.height]));
  t.is(data.finder, 'crash');
  t.is(got.id, `block_found-${data.hash as string}`);
  await waitFor(() => pendingFiles(dir).length === 0, 10_000, 'the delivered file removed');

  // -H: a notification the old process could not deliver is delivered by the new one
  await receiver.down();
  try {
    const q = JSON.parse(await sendControl(path.join(b.sockdir, 'listener'), 'notifytest before the handover')) as { queued: string };
    await waitFor(() => pendingFiles(dir).length === 1, 10_000, 'the stored test notification');
    const c2 = await startCkpool(['-q', '-H'], conf, { name: 'notifyproc', dir, port });
    await waitFor(() => b.child.exitCode !== null || b.child.signalCode !== null, 20_000, 'the old process to exit');
    t.truthy(c2.child.pid);
    await receiver.up();
    await receiver.waitFor(() => receiver.at('/proc', 'test').length > 0, 60_000, 'the test notification after the handover');
    t.is(receiver.at('/proc', 'test')[0]!.body.id, q.queued);
    t.is(receiver.at('/proc', 'test')[0]!.body.text, '[notifyproc] Test notification: before the handover');
  } finally {
    await receiver.up().catch(() => undefined);
  }
});
