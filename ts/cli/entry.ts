/**
 * Run a CLI module's main() when node was started with that module itself
 * (`node --import=tsx ts/cli/x.ts`, `node dist/cli/x.js`); the bin/ launchers import the
 * module and call main() themselves.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function runIfEntryPoint(moduleUrl: string, main: () => Promise<number>): void {
  const script = process.argv[1];
  if (!script) return;
  let isEntry = false;
  try {
    isEntry = realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return;
  }
  // No top-level await: the module must stay loadable from CommonJS (tsx may compile it so).
  if (isEntry) {
    void main().then((code) => {
      process.exitCode = code;
    });
  }
}
