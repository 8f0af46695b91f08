#!/usr/bin/env node
// `notifier` launcher: the compiled CLI (dist/) when the package is built, else the
// TypeScript source through tsx (a source checkout, where tsx is installed).
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/notifier.js', import.meta.url);
let cli;
if (existsSync(built)) {
  cli = await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../ts/cli/notifier.ts', import.meta.url).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
