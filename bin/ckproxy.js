#!/usr/bin/env node
// `ckproxy` launcher: the compiled CLI (dist/) when the package is built, else the
// TypeScript source through tsx (a source checkout, where tsx is installed).
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/ckpool.js', import.meta.url);
let cli;
if (existsSync(built)) {
  cli = await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../ts/cli/ckpool.ts', import.meta.url).href);
}
// ckproxy is ckpool -p (ckpool decides by its program name).
process.exitCode = await cli.main(process.argv.slice(2), 'ckproxy');
