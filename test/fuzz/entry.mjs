// jazzer.js only loads targets named *.js/*.mjs/*.cjs: this entry imports the TypeScript
// target named by CKP_FUZZ_TARGET (through tsx, registered before jazzer's own ESM hook,
// so jazzer instruments the compiled code) and re-exports its fuzz function.
const name = process.env.CKP_FUZZ_TARGET;
if (!name || !/^[a-z0-9-]+$/.test(name)) throw new Error(`CKP_FUZZ_TARGET must name a target in test/fuzz/, got ${name}`);
const target = await import(`./${name}.ts`);
export const fuzz = target.fuzz;
