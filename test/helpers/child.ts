/**
 * A node script run as a child process (the ckpool binaries in the CLI tests), its
 * output collected and its exit awaitable. Registered in `children` so the file's
 * teardown can kill whatever is still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export interface Child {
  child: ChildProcess;
  exited: Promise<[number | null, string | null]>;
  out: () => string;
  err: () => string;
}

export function spawnNode(script: string, args: string[], cwd: string, children: ChildProcess[]): Child {
  const child = spawn(process.execPath, [script, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  return { child, exited, out: () => out, err: () => err };
}
