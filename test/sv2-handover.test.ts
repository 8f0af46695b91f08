/**
 * `ckpool -H` carries the SV2 listeners too (issue 17): the new process inherits the
 * sv2url socket after the serverurl one (getxfd), its SV2 miners are sent an SV2
 * Reconnect by the old process, and the port keeps serving SV2 with the same authority
 * key (kept in the sockdir). Real processes (bin/ckpool.js), a real bcoin node, the
 * reference-crate SV2 client.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../ts/node/ports.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS } from './helpers/bcoin.js';
import { killAllCkpools, startCkpool } from './helpers/ckpool-proc.js';
import { buildSv2Client, Sv2TestClient } from './helpers/sv2-client.js';

const clients: Sv2TestClient[] = [];
test.after.always(async () => {
  for (const c of clients) c.kill();
  killAllCkpools();
  await stopAllBcoins();
});

async function openChannel(port: number, pubkey: string, user: string): Promise<Sv2TestClient> {
  const { client, first } = await Sv2TestClient.connect(port, pubkey);
  clients.push(client);
  if (first.event !== 'connected') throw new Error(JSON.stringify(first));
  await client.request({ send: 'SetupConnection' }, client.msg('SetupConnectionSuccess'));
  await client.request({ send: 'OpenStandardMiningChannel', requestId: 1, user, maxTarget: 'ff'.repeat(32) }, client.msg('OpenStandardMiningChannelSuccess'));
  await client.next(client.msg('SetNewPrevHash'));
  return client;
}

test('-H hands the SV2 listener over: SV2 miners get Reconnect, the port and authority key stay', async (t) => {
  const [node] = await Promise.all([startTestBcoin({ walletEnabled: false }), buildSv2Client()]);
  await node.generateToAddress(2, REGTEST_ADDRESS);
  const sv2port = await freePort();
  const conf = {
    btcd: [{ url: `${node.host}:${node.port}`, auth: node.user, pass: node.pass, notify: false }],
    btcaddress: REGTEST_ADDRESS, sv2url: `127.0.0.1:${sv2port}`, startdiff: 1e-8, mindiff: 1e-8, update_interval: 600,
  };
  const old = await startCkpool(['-q'], conf, { name: 'sv2ho' });
  const pubkey = readFileSync(path.join(old.sockdir, 'sv2_authority.pub'), 'utf8').trim();
  const printed = new RegExp(`stratum2\\+tcp://127\\.0\\.0\\.1:${sv2port}/${pubkey}`);
  for (let i = 0; i < 100 && !printed.test(old.out()); i++) await new Promise((r) => setTimeout(r, 50));
  t.regex(old.out(), printed, 'the miner url with the key is printed');
  const before = await openChannel(sv2port, pubkey, 'ho.before');

  const fresh = await startCkpool(['-q', '-H'], conf, { name: 'sv2ho', dir: old.dir, port: old.port });
  t.regex(fresh.log() + fresh.out(), /Inherited old server socket 1/);
  const rc = await before.next(before.msg('Reconnect'), 20_000);
  t.is(rc.newHost, '');
  t.is(rc.newPort, 0);
  const deadline = Date.now() + 20_000;
  while (old.child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.not(old.child.exitCode, null, 'the old process exited');

  // same port, same key, served by the new process
  t.is(readFileSync(path.join(fresh.sockdir, 'sv2_authority.pub'), 'utf8').trim(), pubkey);
  const after = await openChannel(sv2port, pubkey, 'ho.after');
  t.truthy(after.events.find((e) => e.type === 'NewMiningJob'));
});
