// Address → scriptPubKey for every output type on every network, including bcoin's
// regtest prefixes (rb1…, 0x3c, 0x26), and coded errors for invalid addresses.
import test from 'ava';
import { createBase58check } from '@scure/base';
import { createHash } from 'node:crypto';
import { addressToScript, decodeAddress, addressNetwork } from '../ts/index.js';

const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
const b58c = createBase58check(sha256);
const hash160 = Buffer.from('751e76e8199196d454941c45d1b3a323f1433bd6', 'hex');

const cases: [string, 'main' | 'testnet' | 'regtest', string, string][] = [
  ['1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa', 'main', 'p2pkh', '76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac'],
  ['3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy', 'main', 'p2sh', 'a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87'],
  ['bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', 'main', 'p2wpkh', '0014751e76e8199196d454941c45d1b3a323f1433bd6'],
  ['bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3', 'main', 'p2wsh', '00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262'],
  ['bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0', 'main', 'p2tr', '512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798'],
  ['tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx', 'testnet', 'p2wpkh', '0014751e76e8199196d454941c45d1b3a323f1433bd6'],
  ['tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7', 'testnet', 'p2wsh', '00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262'],
  ['bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', 'regtest', 'p2wpkh', '0014751e76e8199196d454941c45d1b3a323f1433bd6'],
  ['rb1qw508d6qejxtdg4y5r3zarvary0c5xw7k38f4sn', 'regtest', 'p2wpkh', '0014751e76e8199196d454941c45d1b3a323f1433bd6'],
];

for (const [addr, net, type, script] of cases) {
  test(`${net} ${type} ${addr.slice(0, 12)}…`, (t) => {
    const d = decodeAddress(addr, net);
    t.is(d.type, type as never);
    t.is(d.script.toString('hex'), script);
    t.is(addressToScript(addr, net).toString('hex'), script);
  });
}

test('base58 versions of testnet, Core regtest and bcoin regtest', (t) => {
  const enc = (v: number) => b58c.encode(Uint8Array.from([v, ...hash160]));
  t.is(addressToScript(enc(0x6f), 'testnet').toString('hex'), `76a914${hash160.toString('hex')}88ac`);
  t.is(addressToScript(enc(0xc4), 'testnet').toString('hex'), `a914${hash160.toString('hex')}87`);
  t.is(addressToScript(enc(0x6f), 'regtest').toString('hex'), `76a914${hash160.toString('hex')}88ac`);
  t.is(addressToScript(enc(0x3c), 'regtest').toString('hex'), `76a914${hash160.toString('hex')}88ac`, 'bcoin P2PKH');
  t.is(addressToScript(enc(0x26), 'regtest').toString('hex'), `a914${hash160.toString('hex')}87`, 'bcoin P2SH');
  t.is(addressNetwork(enc(0x3c)), 'regtest');
  t.is(addressNetwork('bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'), 'main');
  t.is(addressNetwork('nonsense'), undefined);
});

test('invalid addresses and networks give coded errors', (t) => {
  const code = (fn: () => unknown, c: string) => t.is((t.throws(fn) as { code?: string }).code, c);
  code(() => addressToScript('bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5', 'main'), 'CKP_ERR_ADDRESS_INVALID'); // checksum
  code(() => addressToScript('bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', 'testnet'), 'CKP_ERR_ADDRESS_INVALID'); // wrong network
  code(() => addressToScript('rb1qw508d6qejxtdg4y5r3zarvary0c5xw7k38f4sn', 'main'), 'CKP_ERR_ADDRESS_INVALID');
  code(() => addressToScript('', 'main'), 'CKP_ERR_ADDRESS_INVALID');
  code(() => addressToScript(42 as never, 'main'), 'CKP_ERR_ADDRESS_INVALID');
  code(() => addressToScript('1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa', 'moon' as never), 'CKP_ERR_NETWORK_UNKNOWN');
});
