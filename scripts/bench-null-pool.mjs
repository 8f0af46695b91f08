#!/usr/bin/env node
// A "null pool" for measuring ckpool-bench's own ceiling: a stratum v1 responder that
// validates nothing. It answers subscribe and authorize, sends one notify, and answers
// every other request with ckpool's "Above target" rejection, copying the request id —
// no JSON parsing, one write per read. Whatever rate ckpool-bench reaches against it
// (with the null pool on another core) is the generator's limit, not a pool's.
//
//   node scripts/bench-null-pool.mjs [port]      prints {"port","pid"}; stops on SIGINT/SIGTERM
import net from 'node:net';

const NOTIFY = '{"id":null,"method":"mining.notify","params":["0000000100000001",' +
  '"' + '00'.repeat(32) + '","' + '01'.repeat(40) + '","' + '02'.repeat(40) + '",[],"20000000","17034219","6740f000",true]}\n';
const DIFF = '{"id":null,"method":"mining.set_difficulty","params":[1]}\n';
let nextEn1 = 1;

const server = net.createServer({ noDelay: true }, (sock) => {
  const en1 = (nextEn1++ >>> 0).toString(16).padStart(8, '0');
  let rest = '';
  sock.setNoDelay(true);
  sock.setEncoding('latin1');
  sock.on('error', () => undefined);
  sock.on('data', (chunk) => {
    const s = rest + chunk;
    let out = '';
    let a = 0;
    let nl;
    while ((nl = s.indexOf('\n', a)) !== -1) {
      // id: the digits after {"id":
      let p = s.indexOf('"id":', a) + 5;
      let id = '';
      while (p > 4 && p < nl && s.charCodeAt(p) >= 48 && s.charCodeAt(p) <= 57) id += s[p++];
      if (s.startsWith('"mining.subscribe"', s.indexOf('"method":', a) + 9)) {
        out += `{"id":${id},"result":[[["mining.set_difficulty","${en1}"],["mining.notify","${en1}"]],"${en1}",8],"error":null}\n` + DIFF + NOTIFY;
      } else if (s.startsWith('"mining.authorize"', s.indexOf('"method":', a) + 9)) {
        out += `{"id":${id},"result":true,"error":null}\n`;
      } else {
        out += `{"id":${id},"result":false,"error":[23,"Above target",null],"reject-reason":"Above target"}\n`;
      }
      a = nl + 1;
    }
    rest = s.slice(a);
    if (out) sock.write(out, 'latin1');
  });
});
server.maxConnections = 200_000;
server.listen({ port: Number(process.argv[2] ?? 0), host: '127.0.0.1', backlog: 8192 }, () => {
  process.stdout.write(JSON.stringify({ port: server.address().port, pid: process.pid }) + '\n');
});
process.once('SIGINT', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));
