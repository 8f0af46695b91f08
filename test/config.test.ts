import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CONFIG_KEYS,
  embeddedDemoConfig,
  loadConfig,
  parseConfig,
  parseHostPort,
  type CkpoolConfig,
  type ConfigError,
  type Mode,
} from '../ts/config/index.js';
import { JsonSyntaxError, parseJsonPrefix } from '../ts/config/json.js';
import { suggestKey } from '../ts/config/suggest.js';
import { autoWorkers } from '../ts/config/defaults.js';
import type { ErrorCode } from '../ts/errors.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A fresh temporary directory, removed when the test ends. */
function tempDir(t: ExecutionContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
const ADDR = 'bcrt1qlk935ze2fsu86zjp395uvtegztrkaezawxx0wf';
/** Fixed so maxclients does not depend on the machine running the tests. */
const LIMIT = { openFileLimit: 10000 };

function parse(text: string, mode: Mode = 'pool', opts: { trusted?: boolean; openFileLimit?: number } = {}): CkpoolConfig {
  return parseConfig(text, mode, 'test.conf', { ...LIMIT, ...opts });
}

/** A pool config whose lines are exactly `lines` inside braces: line 1 is "{". */
function confLines(...lines: string[]): string {
  return ['{', ...lines.map((l, i) => (i < lines.length - 1 ? `${l},` : l)), '}'].join('\n');
}

function fail(text: string, mode: Mode = 'pool', opts: { trusted?: boolean } = {}): ConfigError {
  try {
    parse(text, mode, opts);
  } catch (e) {
    return e as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to fail in ${mode} mode`);
}

// --- defaults ------------------------------------------------------------------------

test('pool mode: every key gets ckpool 0.9.9 defaults', (t) => {
  const c = parse(`{"btcaddress": "${ADDR}"}`);
  t.is(c.mode, 'pool');
  t.false(c.embeddedDemo);
  t.is(c.source, 'test.conf');
  t.deepEqual(c.btcd, [{ url: 'localhost:8332', auth: 'user', pass: 'pass', notify: false, line: 0 }]);
  t.is(c.btcaddress, ADDR);
  t.is(c.btcsig, '');
  t.is(c.blockpoll, 100);
  t.is(c.donation, 0);
  t.is(c.nonce1length, 4);
  t.is(c.nonce2length, 8);
  t.is(c.updateInterval, 30);
  t.is(c.versionMask, 0x1fffe000);
  t.deepEqual(c.serverurl, ['0.0.0.0:3333']);
  t.deepEqual(c.nodeserver, []);
  t.deepEqual(c.trusted, []);
  t.is(c.upstream, undefined);
  t.is(c.mindiff, 1);
  t.is(c.startdiff, 42);
  t.is(c.highdiff, 1000000);
  t.is(c.maxdiff, 0);
  t.is(c.logdir, 'logs');
  t.is(c.maxclients, 9000); // 90% of the open-file limit
  t.deepEqual(c.proxy, []);
  t.deepEqual(c.redirecturl, []);
  t.is(c.zmqblock, 'tcp://127.0.0.1:28332');
  t.deepEqual(c.warnings, []);
  t.deepEqual(c.lines, { btcaddress: 1 });
});

test('proxy modes: nonce2length defaults to 0 and serverurl to port 3334', (t) => {
  for (const mode of ['proxy', 'userproxy', 'passthrough', 'node', 'redirector'] as const) {
    const extra = mode === 'redirector' ? ', "redirecturl": ["a.example:3333"]' : '';
    const c = parse(`{"proxy": [{"url": "up.example:3333", "auth": "u"}]${extra}}`, mode);
    t.is(c.nonce2length, 0, mode);
    t.deepEqual(c.serverurl, ['0.0.0.0:3334'], mode);
    t.deepEqual(c.proxy, [{ url: 'up.example:3333', auth: 'u', pass: '', line: 1 }], mode);
  }
});

test('solo mode needs no btcaddress and keeps pool defaults', (t) => {
  const c = parse('{}', 'solo');
  t.is(c.btcaddress, undefined);
  t.is(c.nonce2length, 8);
  t.deepEqual(c.serverurl, ['0.0.0.0:3333']);
});

test('every key with an explicit value, and the line it is on', (t) => {
  const text = confLines(
    '"btcd": [{"url": "10.0.0.1:8332", "auth": "ru", "pass": "rp", "notify": true}, {"url": "http://10.0.0.2:18443", "cookie": "/var/lib/bitcoind/.cookie"}]',
    `"btcaddress": "${ADDR}"`,
    '"btcsig": "/test sig/"',
    '"blockpoll": 250',
    '"donation": 1.5',
    '"nonce1length": 6',
    '"nonce2length": 4',
    '"update_interval": 10',
    '"version_mask": "1FFFE000"',
    '"serverurl": ["127.0.0.1:3333", "[::1]:4444"]',
    '"nodeserver": ["0.0.0.0:3335"]',
    '"tlscert": "/etc/ckpool/fullchain.pem"',
    '"tlskey": "/etc/ckpool/privkey.pem"',
    '"trusted": "0.0.0.0:3336"',
    '"upstream": "up.example.com:3336"',
    '"mindiff": 0.5',
    '"startdiff": 1024.25',
    '"highdiff": 2000000',
    '"maxdiff": 1e6',
    '"logdir": "/var/log/ckpool"',
    '"maxclients": 500',
    '"dropidle": 300',
    '"workers": 3',
    '"proxy": [{"url": "stratum+tcp://p.example:3333", "auth": "me", "pass": "x"}]',
    '"redirecturl": ["r1.example:3333", "r2.example:3334"]',
    '"zmqblock": "tcp://10.0.0.1:28332"',
    '"apiurl": "127.0.0.1:8080"',
    '"apitoken": "0123456789abcdef0123"',
    '"notifications": [{"url": "https://hooks.example/x", "format": "slack", "events": ["block_found", "worker_offline"], "offlineminutes": 2.5, "timeout": 3}]',
    '"notifyqueue": 50',
    '"metricsmaxworkers": 250',
    '"floodrate": 20000',
    '"floodburst": 100',
    '"invalidburst": 0',
    '"maxpending": 65536',
    '"linkmaxpending": 1048576',
    '"linkminers": 50000',
    '"notifyfanout": false',
    '"sv2url": ["0.0.0.0", "127.0.0.1:3337"]',
    '"sv2_authority_key": "/var/lib/ckpool/sv2_authority.key"',
    '"sv2_static_key": "/var/lib/ckpool/sv2_static.key"',
  );
  const c = parse(text);
  t.deepEqual(c.btcd, [
    { url: '10.0.0.1:8332', auth: 'ru', pass: 'rp', notify: true, line: 2 },
    { url: 'http://10.0.0.2:18443', cookie: '/var/lib/bitcoind/.cookie', notify: false, line: 2 },
  ]);
  t.is(c.btcaddress, ADDR);
  t.is(c.btcsig, '/test sig/');
  t.is(c.blockpoll, 250);
  t.is(c.donation, 1.5);
  t.is(c.nonce1length, 6);
  t.is(c.nonce2length, 4);
  t.is(c.updateInterval, 10);
  t.is(c.versionMask, 0x1fffe000);
  t.deepEqual(c.serverurl, ['127.0.0.1:3333', '[::1]:4444']);
  t.deepEqual(c.nodeserver, ['0.0.0.0:3335']);
  t.is(c.tlscert, '/etc/ckpool/fullchain.pem');
  t.is(c.tlskey, '/etc/ckpool/privkey.pem');
  t.deepEqual(c.trusted, ['0.0.0.0:3336']);
  t.is(c.upstream, 'up.example.com:3336');
  t.is(c.mindiff, 0.5);
  t.is(c.startdiff, 1024.25);
  t.is(c.highdiff, 2000000);
  t.is(c.maxdiff, 1000000);
  t.is(c.logdir, '/var/log/ckpool');
  t.is(c.maxclients, 500);
  t.is(c.dropidle, 300);
  t.is(c.workers, 3);
  t.deepEqual(c.proxy, [{ url: 'stratum+tcp://p.example:3333', auth: 'me', pass: 'x', line: 25 }]);
  t.deepEqual(c.redirecturl, ['r1.example:3333', 'r2.example:3334']);
  t.is(c.zmqblock, 'tcp://10.0.0.1:28332');
  t.deepEqual(c.notifications, [{ url: 'https://hooks.example/x', format: 'slack', events: ['block_found', 'worker_offline'], offlineMinutes: 2.5, timeout: 3, line: 30 }]);
  t.is(c.notifyqueue, 50);
  t.is(c.apiurl, '127.0.0.1:8080');
  t.is(c.apitoken, '0123456789abcdef0123');
  t.is(c.metricsmaxworkers, 250);
  t.like(c, { floodrate: 20000, floodburst: 100, invalidburst: 0, maxpending: 65536, linkmaxpending: 1048576, linkminers: 50000, notifyfanout: false });
  t.deepEqual(c.sv2url, ['0.0.0.0:3336', '127.0.0.1:3337']);
  t.is(c.sv2AuthorityKey, '/var/lib/ckpool/sv2_authority.key');
  t.is(c.sv2StaticKey, '/var/lib/ckpool/sv2_static.key');
  t.deepEqual(c.warnings, []);
  // Every key of the file, each on its own line, in file order.
  t.deepEqual(Object.keys(c.lines).sort(), [...CONFIG_KEYS].sort());
  CONFIG_KEYS.forEach((k, i) => t.is(c.lines[k], i + 2, k));
});

test('0 means the default where ckpool reads it so (maxclients, blockpoll, diffs, lengths, update_interval)', (t) => {
  const c = parse(confLines(`"btcaddress": "${ADDR}"`, '"maxclients": 0', '"blockpoll": 0', '"nonce1length": 0', '"nonce2length": 0',
    '"update_interval": 0', '"mindiff": 0', '"startdiff": 0', '"highdiff": 0'));
  t.is(c.maxclients, 9000); // 90% of the open-file limit
  t.is(c.blockpoll, 100);
  t.is(c.nonce1length, 4);
  t.is(c.nonce2length, 8);
  t.is(c.updateInterval, 30);
  t.is(c.mindiff, 1);
  t.is(c.startdiff, 42);
  t.is(c.highdiff, 1000000);
  t.deepEqual(c.warnings, []);
  // dropidle: absent and 0 both mean never
  t.is(parse(`{"btcaddress": "${ADDR}"}`).dropidle, 0);
  t.is(parse(`{"btcaddress": "${ADDR}", "dropidle": 0}`).dropidle, 0);
  t.is(parse(`{"btcaddress": "${ADDR}", "dropidle": 120}`).dropidle, 120);
});

test('the same serverurl twice is bound once, with a warning saying what ckpool does', (t) => {
  const c = parse([`{"btcaddress": "${ADDR}",`, '"serverurl": [', '"127.0.0.1:3333",', '"0.0.0.0:4000",', '"127.0.0.1:3333"', ']}'].join('\n'));
  t.deepEqual(c.serverurl, ['127.0.0.1:3333', '0.0.0.0:4000']);
  t.is(c.warnings.length, 1);
  t.is(c.warnings[0]!.key, 'serverurl[2]');
  t.is(c.warnings[0]!.line, 5);
  t.regex(c.warnings[0]!.message, /^test\.conf line 5: serverurl\[2\] "127\.0\.0\.1:3333" repeats serverurl\[0\]: bound once \(ckpool 0\.9\.9 would bind it once, retry/);
});

test('every config error says what ckpool would have done', (t) => {
  const cases: [string, RegExp][] = [
    ['{"btcaddress": 5}', /; ckpool would ignore it, then stop with "Non solo mining must have a btcaddress in config" \(exit 0\) in pool mode$/],
    [`{"btcaddress": "${ADDR}", "blockpoll": "100"}`, /; ckpool would ignore it and use 100 ms$/],
    [`{"btcaddress": "${ADDR}", "maxclients": 10.5}`, /; ckpool would ignore it and use 90% of the open-file limit$/],
    [`{"btcaddress": "${ADDR}", "nonce1length": 9}`, /; ckpool would stop with "Invalid nonce1length specified, must be 2~8" \(exit 0\)$/],
    [`{"btcaddress": "${ADDR}", "donation": 150}`, /; ckpool would clamp it to 0 \.\. 99\.9/],
    [`{"btcaddress": "${ADDR}", "version_mask": "xyz"}`, /; ckpool would ignore it and use 1fffe000$/],
    [`{"btcaddress": "${ADDR}", "serverurl": ["nohost"]}`, /; ckpool would log "Failed to extract resolved url" and run without a listening socket/],
    [`{"btcaddress": "${ADDR}", "btcd": [{"url": "a:1", "auth": "u", "pass": 5}]}`, /; ckpool would stop with "Invalid config string or missing object for pass" \(exit 1\)$/],
    [`{"btcaddress": "${ADDR}", "dropidle": "60"}`, /; ckpool would ignore it and use 0 \(never drop idle clients/],
    [`{"btcaddress": "${ADDR}", "btcaddress": "${ADDR}"}`, /; ckpool 0\.9\.9 \(jansson\) would silently use the later one$/],
    [`{"btcaddress": "${ADDR}",}`, /; ckpool would warn "Json decode error" and start with every key at its default$/],
    ['[]', /; ckpool would warn "Json decode error" and start with every key at its default$/],
    ['{}', /; ckpool would stop with "Non solo mining must have a btcaddress in config, aborting!" and exit status 0$/],
  ];
  for (const [text, re] of cases) t.regex(fail(text).message, re, text);
  const px = fail('{}', 'proxy');
  t.regex(px.message, /; ckpool would stop with "No proxy entries found in config file" and exit status 0$/);
});

test('serverurl may be a single string, like ckpool', (t) => {
  t.deepEqual(parse(`{"btcaddress": "${ADDR}", "serverurl": "0.0.0.0:3000"}`).serverurl, ['0.0.0.0:3000']);
});

test('donation: integer accepted, dust becomes 0 with a warning, 99.9 is the top', (t) => {
  const d = (v: string) => parse(`{"btcaddress": "${ADDR}", "donation": ${v}}`);
  t.is(d('2').donation, 2);
  t.is(d('0').donation, 0);
  t.deepEqual(d('0').warnings, []);
  t.is(d('99.9').donation, 99.9);
  const dust = d('0.05');
  t.is(dust.donation, 0);
  t.is(dust.warnings.length, 1);
  t.is(dust.warnings[0]!.key, 'donation');
  t.is(dust.warnings[0]!.line, 1);
  t.regex(dust.warnings[0]!.message, /test\.conf line 1: donation 0\.05% is below 0\.1%, using 0/);
});

test('btcsig over 38 bytes is truncated with a warning, never inside a character', (t) => {
  const long = 'x'.repeat(40);
  const c = parse(confLines(`"btcaddress": "${ADDR}"`, `"btcsig": "${long}"`));
  t.is(c.btcsig, 'x'.repeat(38));
  t.is(c.warnings.length, 1);
  t.is(c.warnings[0]!.line, 3);
  t.regex(c.warnings[0]!.message, /too long, truncating to 38 bytes/);
  // 37 ASCII bytes + a 3-byte character: 40 bytes; cutting at 38 would split "€".
  const euro = parse(`{"btcaddress": "${ADDR}", "btcsig": "${'a'.repeat(37)}€"}`);
  t.is(euro.btcsig, 'a'.repeat(37));
  const exact = parse(`{"btcaddress": "${ADDR}", "btcsig": "${'b'.repeat(38)}"}`);
  t.is(exact.btcsig, 'b'.repeat(38));
  t.deepEqual(exact.warnings, []);
});

test('version_mask is hex, read as an unsigned 32-bit number', (t) => {
  t.is(parse(`{"btcaddress": "${ADDR}", "version_mask": "ffffffff"}`).versionMask, 0xffffffff);
  t.is(parse(`{"btcaddress": "${ADDR}", "version_mask": "00000000"}`).versionMask, 0);
});

test('nonce lengths: 2 and 8 are the limits; nonce2length 0 only in proxy modes', (t) => {
  const c = parse(`{"btcaddress": "${ADDR}", "nonce1length": 2, "nonce2length": 8}`);
  t.is(c.nonce1length, 2);
  t.is(c.nonce2length, 8);
  t.is(parse(`{"btcaddress": "${ADDR}", "nonce1length": 8, "nonce2length": 2}`).nonce1length, 8);
  t.is(parse('{"proxy": [{"url": "u.example:1", "auth": "a"}], "nonce2length": 0}', 'proxy').nonce2length, 0);
  t.is(parse('{"proxy": [{"url": "u.example:1", "auth": "a"}], "nonce2length": 3}', 'proxy').nonce2length, 3);
  t.is(parse(`{"btcaddress": "${ADDR}", "nonce2length": 4.0}`).nonce2length, 4, 'an integral real is accepted');
});

test('maxclients above 90% of the open-file limit is reduced, with ckpool\'s warning', (t) => {
  const c = parse(`{"btcaddress": "${ADDR}",\n"maxclients": 100000}`, 'pool', { openFileLimit: 1024 });
  t.is(c.maxclients, 921);
  t.is(c.warnings.length, 1);
  t.is(c.warnings[0]!.line, 2);
  t.regex(c.warnings[0]!.message, /Cannot set maxclients to 100000 due to max open file limit of 1024, reducing to 921/);
});

test('text after the closing brace is ignored, as by ckpool', (t) => {
  const c = parse(`{"btcaddress": "${ADDR}"}\n# a comment\n} { "btcaddress": 5, garbage ]]]\n`);
  t.is(c.btcaddress, ADDR);
  t.deepEqual(c.warnings, []);
  t.is(parse(`{"btcaddress": "${ADDR}"}trailing`).btcaddress, ADDR);
});

test('a byte order mark at the start is accepted', (t) => {
  t.is(parse(`\uFEFF{"btcaddress": "${ADDR}"}`).btcaddress, ADDR);
});

test('unknown keys are warnings with the line and a suggestion, not errors', (t) => {
  const c = parse(confLines(
    `"btcaddress": "${ADDR}"`,
    '"startdiff": 64',
    '"stratdiff": 128',
    '"passthroughserver": ["0.0.0.0:3337"]',
    '"btcd": [{"url": "h.example:8332", "auth": "a", "pass": "b", "notfy": true}]',
  ));
  t.is(c.startdiff, 64);
  t.is(c.warnings.length, 3);
  t.deepEqual(c.warnings.map((w) => [w.key, w.line]), [['stratdiff', 4], ['passthroughserver', 5], ['btcd[0].notfy', 6]]);
  t.regex(c.warnings[0]!.message, /^test\.conf line 4: unknown key "stratdiff" ignored \(did you mean "startdiff"\?\)$/);
  t.regex(c.warnings[1]!.message, /unknown key "passthroughserver" ignored$/);
  t.regex(c.warnings[2]!.message, /did you mean "btcd\[0\]\.notify"/);
  t.false(c.btcd[0]!.notify);
});

test('startdiff below mindiff is a warning', (t) => {
  const c = parse(confLines(`"btcaddress": "${ADDR}"`, '"mindiff": 100', '"startdiff": 10'));
  t.is(c.warnings.length, 1);
  t.is(c.warnings[0]!.key, 'startdiff');
  t.is(c.warnings[0]!.line, 4);
});

test('trusted remote (-t) mode takes upstream', (t) => {
  const c = parse(`{"btcaddress": "${ADDR}", "upstream": "up.example:3336"}`, 'pool', { trusted: true });
  t.is(c.upstream, 'up.example:3336');
});

// --- errors --------------------------------------------------------------------------

function assertError(t: ExecutionContext, e: ConfigError, code: ErrorCode, key: string, line: number, msg?: RegExp): void {
  t.is(e.code, code, e.message);
  t.is(e.key, key, e.message);
  t.is(e.line, line, e.message);
  t.is(e.file, 'test.conf');
  if (line > 0) t.true(e.message.startsWith(`test.conf line ${line}`), e.message);
  if (key) t.true(e.message.includes(key), e.message);
  if (msg) t.regex(e.message, msg);
}

test('JSON syntax errors name the line and column', (t) => {
  const cases: [string, number, RegExp][] = [
    [`{\n"btcaddress": "${ADDR}"\n"blockpoll": 100\n}`, 3, /expected ',' or '}' after the value of "btcaddress".*missing comma/],
    [`{\n"btcaddress": "${ADDR}",\n}`, 3, /trailing comma before '}'/],
    [`{\n"btcaddress": "${ADDR}", // payout\n}`, 2, /comments are not allowed inside the JSON/],
    ['', 1, /the file is empty/],
    ['{\n"btcsig": "unterminated\n}', 2, /line break or control character inside a string/],
    ["{\n'btcaddress': 'x'\n}", 2, /double quotes/],
    ['{\n"serverurl": ["a:1",]\n}', 2, /trailing comma before '\]'/],
    ['{\n\n"blockpoll": 0100\n}', 3, /invalid number/],
    ['{\n"btcaddress" "x"\n}', 2, /expected ':' after key "btcaddress"/],
    ['{"btcsig": "bad \\q escape"}', 1, /invalid escape/],
    ['{"notify": yes}', 1, /expected a value/],
  ];
  for (const [text, line, re] of cases) {
    const e = fail(text);
    t.is(e.code, 'CKP_ERR_CONFIG_SYNTAX', text);
    t.is(e.line, line, text);
    t.regex(e.message, new RegExp(`^test\\.conf line ${line} column \\d+: JSON syntax error: `), text);
    t.regex(e.message, re, text);
  }
});

test('the config must be an object', (t) => {
  assertError(t, fail('\n[1, 2]'), 'CKP_ERR_CONFIG_NOT_OBJECT', '', 2, /must be a JSON object \{\.\.\.\}, not an array/);
  assertError(t, fail('"x"'), 'CKP_ERR_CONFIG_NOT_OBJECT', '', 1, /not a string/);
});

test('a key given twice is an error naming both lines', (t) => {
  const e = fail(confLines(`"btcaddress": "${ADDR}"`, '"mindiff": 1', `"btcaddress": "${ADDR}"`));
  assertError(t, e, 'CKP_ERR_CONFIG_DUPLICATE', 'btcaddress', 4, /btcaddress appears twice \(first on line 2\)/);
});

test('a wrong type is an error for every key, naming the key and the line', (t) => {
  const cases: [string, string, RegExp][] = [
    ['"btcd": {"url": "a:1"}', 'btcd', /must be an array/],
    ['"btcd": ["a:1"]', 'btcd[0]', /must be an object/],
    ['"btcd": [{"url": 8332, "auth": "a", "pass": "b"}]', 'btcd[0].url', /must be a string, not an integer \(8332\)/],
    ['"btcd": [{"url": "a:1", "auth": 1, "pass": "b"}]', 'btcd[0].auth', /must be a string/],
    ['"btcd": [{"url": "a:1", "auth": "a", "pass": null}]', 'btcd[0].pass', /must be a string, not null/],
    ['"btcd": [{"url": "a:1", "cookie": true}]', 'btcd[0].cookie', /must be a string, not true/],
    ['"btcd": [{"url": "a:1", "auth": "a", "pass": "b", "notify": "yes"}]', 'btcd[0].notify', /must be true or false, not a string/],
    ['"btcaddress": 12345', 'btcaddress', /must be a string, not an integer/],
    ['"btcsig": ["x"]', 'btcsig', /must be a string, not an array/],
    ['"blockpoll": "100"', 'blockpoll', /must be an integer, not a string/],
    ['"blockpoll": 100.5', 'blockpoll', /must be an integer, not a real number \(100\.5\)/],
    ['"donation": "2.0"', 'donation', /must be a number, not a string/],
    ['"nonce1length": 4.5', 'nonce1length', /must be an integer/],
    ['"nonce2length": "8"', 'nonce2length', /must be an integer/],
    ['"update_interval": true', 'update_interval', /must be an integer, not true/],
    ['"version_mask": 536862720', 'version_mask', /must be a string, not an integer/],
    ['"serverurl": 3333', 'serverurl', /must be a "host:port" string or an array of them/],
    ['"serverurl": [3333]', 'serverurl[0]', /must be a string/],
    ['"nodeserver": {}', 'nodeserver', /must be a "host:port" string or an array/],
    ['"trusted": false', 'trusted', /must be a "host:port" string or an array/],
    ['"upstream": ["a:1"]', 'upstream', /must be a string, not an array/],
    ['"mindiff": "1"', 'mindiff', /must be a number, not a string/],
    ['"startdiff": null', 'startdiff', /must be a number, not null/],
    ['"highdiff": [1]', 'highdiff', /must be a number/],
    ['"maxdiff": "0"', 'maxdiff', /must be a number/],
    ['"logdir": 1', 'logdir', /must be a string/],
    ['"maxclients": 10.5', 'maxclients', /must be an integer/],
    ['"proxy": "a:1"', 'proxy', /must be an array/],
    ['"proxy": [1]', 'proxy[0]', /must be an object/],
    ['"proxy": [{"url": "a:1", "auth": "u", "pass": 5}]', 'proxy[0].pass', /must be a string/],
    ['"redirecturl": 5', 'redirecturl', /must be a "host:port" string or an array/],
    ['"zmqblock": {"url": "x"}', 'zmqblock', /must be a string, not an object/],
  ];
  for (const [entry, key, re] of cases) {
    // The bad key is on line 3, after a valid line 2.
    const first = key === 'btcaddress' ? '"blockpoll": 100' : `"btcaddress": "${ADDR}"`;
    const e = fail(confLines(first, entry));
    assertError(t, e, 'CKP_ERR_CONFIG_TYPE', key, 3, re);
  }
});

test('out-of-range values are errors naming the key and the line', (t) => {
  const cases: [string, string, RegExp, Mode?][] = [
    ['"nonce1length": 1', 'nonce1length', /must be between 2 and 8 \(or 0: the default\), got 1/],
    ['"nonce1length": 9', 'nonce1length', /must be between 2 and 8 \(or 0: the default\), got 9/],
    ['"nonce2length": 1', 'nonce2length', /must be between 2 and 8 \(or 0: the default\), got 1/],
    ['"nonce2length": 9', 'nonce2length', /must be between 2 and 8 \(or 0: the default\), got 9/],
    ['"nonce2length": -1', 'nonce2length', /must be between 2 and 8 \(or 0: the default\), got -1/],
    ['"blockpoll": -5', 'blockpoll', /positive number of milliseconds \(or 0: the default\), got -5; ckpool would sleep a negative time between polls/],
    ['"update_interval": -5', 'update_interval', /positive number of seconds \(or 0: the default\), got -5/],
    ['"donation": -1', 'donation', /percentage from 0 to 99\.9, got -1/],
    ['"donation": 100', 'donation', /percentage from 0 to 99\.9, got 100/],
    ['"mindiff": -1', 'mindiff', /greater than 0 \(or 0: the default\), got -1/],
    ['"mindiff": 1e400', 'mindiff', /greater than 0 \(or 0: the default\), got 1e400/],
    ['"startdiff": -5', 'startdiff', /greater than 0 \(or 0: the default\), got -5/],
    ['"highdiff": -3', 'highdiff', /greater than 0 \(or 0: the default\), got -3/],
    ['"maxdiff": -1', 'maxdiff', /0 \(no maximum\) or greater, got -1/],
    ['"maxclients": -1', 'maxclients', /maxclients must be a positive number of clients \(or 0: the default\), got -1; ckpool would keep it and refuse every connection/],
    ['"dropidle": -5', 'dropidle', /a number of seconds from 0 \(never drop idle clients\), got -5; ckpool would use it unchecked/],
    ['"btcaddress": ""', 'btcaddress', /must be a bitcoin address, got ""/],
    ['"logdir": " "', 'logdir', /must be a directory path/],
    ['"zmqblock": "127.0.0.1:28332"', 'zmqblock', /ZeroMQ endpoint/],
    ['"serverurl": []', 'serverurl', /non-empty list/],
    ['"btcd": []', 'btcd', /non-empty array/],
  ];
  for (const [entry, key, re] of cases) {
    const text = key === 'btcaddress' ? confLines('"blockpoll": 100', entry) : confLines(`"btcaddress": "${ADDR}"`, entry);
    assertError(t, fail(text), 'CKP_ERR_CONFIG_RANGE', key, 3, re);
  }
  // In proxy modes 0 is allowed (derive from upstream) but 9 is not, and the message says so.
  const e = fail(confLines('"proxy": [{"url": "u.example:1", "auth": "a"}]', '"nonce2length": 9'), 'proxy');
  assertError(t, e, 'CKP_ERR_CONFIG_RANGE', 'nonce2length', 3, /between 2 and 8 \(or 0: derive it from the upstream\), got 9/);
});

test('maxdiff below mindiff is an error', (t) => {
  const e = fail(confLines(`"btcaddress": "${ADDR}"`, '"mindiff": 100', '"maxdiff": 50'));
  assertError(t, e, 'CKP_ERR_CONFIG_RANGE', 'maxdiff', 4, /at least mindiff \(100\), got 50/);
});

test('version_mask must be 8 hex digits', (t) => {
  for (const bad of ['1fffe00', '0x1fffe000', 'zzzzzzzz', '1fffe0000', '']) {
    const e = fail(confLines(`"btcaddress": "${ADDR}"`, `"version_mask": "${bad}"`));
    assertError(t, e, 'CKP_ERR_CONFIG_HEX', 'version_mask', 3, new RegExp(`8 hex digits like "1fffe000", got "${bad}"`));
  }
});

test('bad host:port urls are errors, and never echo credentials', (t) => {
  const cases: [string, string, RegExp][] = [
    ['"serverurl": "0.0.0.0"', 'serverurl', /missing ":port"/],
    ['"serverurl": ["0.0.0.0:3333", "h:99999"]', 'serverurl[1]', /port 99999 is out of range/],
    ['"serverurl": "::1:3333"', 'serverurl', /IPv6 addresses must be written in brackets/],
    ['"nodeserver": ["h:port"]', 'nodeserver[0]', /invalid port "port"/],
    ['"upstream": ":3336"', 'upstream', /missing host/],
    ['"redirecturl": ["https://r.example:3333"]', 'redirecturl[0]', /no "https:\/\/" prefix/],
    ['"btcd": [{"url": "ftp://h:8332", "auth": "a", "pass": "b"}]', 'btcd[0].url', /unsupported scheme "ftp:\/\/" \(use http:\/\/ or none\)/],
    ['"proxy": [{"url": "p.example", "auth": "a"}]', 'proxy[0].url', /missing ":port"/],
  ];
  for (const [entry, key, re] of cases) {
    assertError(t, fail(confLines(`"btcaddress": "${ADDR}"`, entry)), 'CKP_ERR_CONFIG_URL', key, 3, re);
  }
  const e = fail(confLines(`"btcaddress": "${ADDR}"`, '"btcd": [{"url": "http://rpc:hunter22@h:8332", "auth": "a", "pass": "b"}]'));
  assertError(t, e, 'CKP_ERR_CONFIG_URL', 'btcd[0].url', 3, /credentials in the url are not supported/);
  t.false(e.message.includes('hunter22'), e.message);
});

test('missing btcaddress in pool mode is fatal (ckpool exits 0 here)', (t) => {
  const e = fail('{"blockpoll": 100}');
  assertError(t, e, 'CKP_ERR_CONFIG_MISSING', 'btcaddress', 0, /^test\.conf: btcaddress is required in pool mode .*-B/);
  t.notThrows(() => parse('{}', 'solo'));
  t.notThrows(() => parse('{"proxy": [{"url": "u.example:1", "auth": "a"}]}', 'proxy'));
});

test('proxy entries are required in every proxy mode', (t) => {
  for (const mode of ['proxy', 'userproxy', 'passthrough', 'node', 'redirector'] as const) {
    const e = fail(`{"btcaddress": "${ADDR}", "redirecturl": ["r.example:1"]}`, mode);
    assertError(t, e, 'CKP_ERR_CONFIG_MISSING', 'proxy', 0, new RegExp(`proxy is required in ${mode} mode`));
    const empty = fail('{\n"redirecturl": ["r.example:1"],\n"proxy": []\n}', mode);
    assertError(t, empty, 'CKP_ERR_CONFIG_RANGE', 'proxy', 3, new RegExp(`at least one entry in ${mode} mode, got \\[\\]`));
  }
});

test('redirecturl is required with -R', (t) => {
  const e = fail('{"proxy": [{"url": "u.example:1", "auth": "a"}]}', 'redirector');
  assertError(t, e, 'CKP_ERR_CONFIG_MISSING', 'redirecturl', 0, /redirecturl is required in redirector mode \(-R\)/);
  const empty = fail('{"proxy": [{"url": "u.example:1", "auth": "a"}],\n"redirecturl": []}', 'redirector');
  assertError(t, empty, 'CKP_ERR_CONFIG_RANGE', 'redirecturl', 2, /at least one "host:port"/);
});

test('upstream is required in trusted remote mode', (t) => {
  const e = fail(`{"btcaddress": "${ADDR}"}`, 'pool', { trusted: true });
  assertError(t, e, 'CKP_ERR_CONFIG_MISSING', 'upstream', 0, /upstream is required in trusted remote mode \(-t\)/);
});

test('a btcd entry without url names the entry and its line', (t) => {
  const e = fail([
    '{',
    `"btcaddress": "${ADDR}",`,
    '"btcd": [',
    '  {"url": "a:1", "auth": "a", "pass": "b"},',
    '  {"auth": "a", "pass": "b"}',
    ']}',
  ].join('\n'));
  t.is(e.code, 'CKP_ERR_CONFIG_ENTRY_FIELD');
  t.is(e.key, 'btcd[1].url');
  t.is(e.line, 5);
  t.is(e.message, 'test.conf line 5: btcd[1] has no "url" (required); ' +
    'ckpool would stop with "Invalid config string or missing object for url" (exit 1)');
});

test('a btcd entry needs auth and pass, or cookie', (t) => {
  const cases: [string, RegExp][] = [
    ['{"url": "a:1"}', /btcd\[0\] needs either "auth" and "pass", or "cookie"; ckpool would stop with "Invalid config string or missing object for auth" \(exit 1\)$/],
    ['{"url": "a:1", "auth": "u"}', /it has "auth" but no "pass"/],
    ['{"url": "a:1", "pass": "p"}', /it has "pass" but no "auth"/],
    ['{"url": "a:1", "auth": "u", "pass": "p", "cookie": "/c"}', /or "cookie", not both/],
  ];
  for (const [entry, re] of cases) {
    const e = fail(confLines(`"btcaddress": "${ADDR}"`, `"btcd": [${entry}]`));
    assertError(t, e, 'CKP_ERR_CONFIG_BTCD_AUTH', 'btcd[0]', 3, re);
  }
});

test('a proxy entry needs url and auth; pass is optional', (t) => {
  const e = fail('{\n"proxy": [\n{"url": "u.example:1"}]}', 'proxy');
  t.is(e.code, 'CKP_ERR_CONFIG_ENTRY_FIELD');
  t.is(e.key, 'proxy[0].auth');
  t.is(e.line, 3);
  const noUrl = fail('{"proxy": [{"auth": "a"}]}', 'proxy');
  t.is(noUrl.code, 'CKP_ERR_CONFIG_ENTRY_FIELD');
  t.is(noUrl.key, 'proxy[0].url');
});

test('the first problem in the file is the one reported', (t) => {
  const e = fail(confLines('"nonce1length": 99', '"btcaddress": 5'));
  t.is(e.key, 'nonce1length');
  t.is(e.line, 2);
});

// --- loading files ---------------------------------------------------------------------

test('loadConfig reads a file and names it in errors', (t) => {
  const dir = tempDir(t, 'ckpool-conf-');
  const good = join(dir, 'good.conf');
  writeFileSync(good, `{"btcaddress": "${ADDR}", "logdir": "here"}\n`);
  const c = loadConfig(good, 'pool', LIMIT);
  t.is(c.source, good);
  t.is(c.logdir, 'here');
  const bad = join(dir, 'bad.conf');
  writeFileSync(bad, `{\n"btcaddress": "${ADDR}",\n"mindiff": -1\n}\n`);
  const e = t.throws(() => loadConfig(bad, 'pool')) as ConfigError;
  t.is(e.code, 'CKP_ERR_CONFIG_RANGE');
  t.is(e.message, `${bad} line 3: mindiff must be greater than 0 (or 0: the default), got -1; ` +
    'ckpool would use it unchecked as the vardiff floor, which then never holds');
});

test('loadConfig: a missing -c file is an error; a missing default file means the embedded demo', (t) => {
  const dir = tempDir(t, 'ckpool-conf-');
  const missing = join(dir, 'ckpool.conf');
  const e = t.throws(() => loadConfig(missing, 'pool')) as ConfigError;
  t.is(e.code, 'CKP_ERR_CONFIG_NOT_FOUND');
  t.regex(e.message, /not found: check the -c\/--config path/);

  for (const mode of ['pool', 'solo'] as const) {
    const demo = loadConfig(missing, mode, { optional: true, ...LIMIT });
    t.true(demo.embeddedDemo);
    t.is(demo.source, '<embedded demo>');
    t.is(demo.mode, mode);
    t.deepEqual(demo.btcd, [], 'the demo starter supplies the node');
    t.is(demo.btcaddress, undefined);
    t.is(demo.startdiff, 42);
    t.deepEqual(demo.serverurl, ['0.0.0.0:3333']);
  }
  t.deepEqual(embeddedDemoConfig('pool', LIMIT), loadConfig(missing, 'pool', { optional: true, ...LIMIT }));

  const px = t.throws(() => loadConfig(join(dir, 'ckproxy.conf'), 'proxy', { optional: true })) as ConfigError;
  t.is(px.code, 'CKP_ERR_CONFIG_NOT_FOUND');
  t.regex(px.message, /proxy mode needs a config file with a "proxy" list/);

  mkdirSync(join(dir, 'adir.conf'));
  const rd = t.throws(() => loadConfig(join(dir, 'adir.conf'), 'pool')) as ConfigError;
  t.is(rd.code, 'CKP_ERR_CONFIG_READ');
  t.regex(rd.message, /EISDIR/);
});

test('every sample in conf/ loads in its mode without warnings', (t) => {
  const samples: [string, Mode][] = [
    ['ckpool.conf', 'pool'],
    ['ckpool-solo.conf', 'solo'],
    ['ckproxy.conf', 'proxy'],
    ['ckproxy.conf', 'userproxy'],
    ['ckpassthrough.conf', 'passthrough'],
    ['cknode.conf', 'node'],
    ['ckredirector.conf', 'redirector'],
  ];
  for (const [file, mode] of samples) {
    const c = loadConfig(join(ROOT, 'conf', file), mode, LIMIT);
    t.is(c.mode, mode);
    t.deepEqual(c.warnings, [], file);
  }
  const pool = loadConfig(join(ROOT, 'conf', 'ckpool.conf'), 'pool', LIMIT);
  t.is(pool.btcd.length, 2);
  t.is(pool.btcd[1]!.cookie, '/home/bitcoin/.bitcoin/regtest/.cookie');
  t.deepEqual(pool.serverurl, ['0.0.0.0:3333', '0.0.0.0:4333']);
  // The pool sample documents every key except the proxy-mode ones.
  const absent = CONFIG_KEYS.filter((k) => pool.lines[k] === undefined);
  t.deepEqual(absent, ['proxy', 'redirecturl']);
  t.deepEqual(loadConfig(join(ROOT, 'conf', 'ckredirector.conf'), 'redirector', LIMIT).redirecturl,
    ['pool1.example.com:3333', 'pool2.example.com:3333']);
  t.is(loadConfig(join(ROOT, 'conf', 'cknode.conf'), 'node', LIMIT).proxy[0]!.url, 'pool.example.com:3335');
});

// --- building blocks ---------------------------------------------------------------------

test('parseHostPort', (t) => {
  t.deepEqual(parseHostPort('127.0.0.1:8332'), { host: '127.0.0.1', port: 8332 });
  t.deepEqual(parseHostPort('http://node.example:8332/', ['http']), { host: 'node.example', port: 8332 });
  t.deepEqual(parseHostPort('[2001:db8::1]:3333'), { host: '2001:db8::1', port: 3333 });
  t.is(parseHostPort('h:0'), 'port 0 is out of range 1..65535');
  t.is(parseHostPort('h'), 'missing ":port"');
});

test('the JSON reader reports positions and where the value ends', (t) => {
  const text = '{\n  "a": [1, {"b": true}],\n  "c": "d"\n} tail';
  const { root, end } = parseJsonPrefix(text);
  t.is(text.slice(end), ' tail');
  t.is(root.kind, 'object');
  if (root.kind !== 'object') return;
  t.deepEqual(root.entries.map((e) => [e.key, e.keyPos.line, e.keyPos.col]), [['a', 2, 3], ['c', 3, 3]]);
  const err = t.throws(() => parseJsonPrefix('{\n  "a": 1\n  "b": 2}'), { instanceOf: JsonSyntaxError });
  t.deepEqual(err.pos, { line: 3, col: 3 });
});

test('suggestKey finds near misses only', (t) => {
  t.is(suggestKey('blockpol', CONFIG_KEYS), 'blockpoll');
  t.is(suggestKey('update-interval', CONFIG_KEYS), 'update_interval');
  t.is(suggestKey('versionmask', CONFIG_KEYS), 'version_mask');
  t.is(suggestKey('ipcmining', CONFIG_KEYS), undefined);
});

test('workers "auto": one thread per CPU, none on a single CPU', (t) => {
  t.is(autoWorkers(1), 0);
  t.is(autoWorkers(2), 2);
  t.is(autoWorkers(16), 16);
  t.is(autoWorkers(), autoWorkers(availableParallelism()));
});
