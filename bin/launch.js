// Shared by the bin/ launchers: load a CLI module and run its main().
//
// In a source checkout (ts/ present, tsx installed) the TypeScript source runs through
// tsx, so the binaries never run a stale build; an installed package ships only the
// compiled dist/ and runs that.
import { existsSync } from 'node:fs';

export async function launch(name, invokedAs) {
  const source = new URL(`../ts/cli/${name}.ts`, import.meta.url);
  let cli;
  if (existsSync(source)) {
    try {
      const { register } = await import('tsx/esm/api');
      register();
      cli = await import(source.href);
    } catch (e) {
      if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
    }
  }
  cli ??= await import(new URL(`../dist/cli/${name}.js`, import.meta.url).href);
  process.exitCode = await cli.main(process.argv.slice(2), invokedAs);
}
