/** Run the ckpool-bench CLI (bin/ckpool-bench.js) as a child process, as a user would. */
import { spawn } from 'node:child_process';

const BIN = new URL('../../bin/ckpool-bench.js', import.meta.url).pathname;

export interface BenchRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** the last stdout line (ckpool-bench's JSON summary), parsed; {} when it is not JSON */
  summary: Record<string, any>;
}

export function benchCli(args: string[]): Promise<BenchRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('error', reject);
    child.on('exit', (code) => {
      let summary: Record<string, any> = {};
      try {
        summary = JSON.parse(stdout.trimEnd().split('\n').pop() ?? '');
      } catch {
        /* left empty: the assertions say what is missing */
      }
      resolve({ code, stdout, stderr, summary });
    });
  });
}
