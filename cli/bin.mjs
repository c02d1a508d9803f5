#!/usr/bin/env node
// The installed `vnet-model` command: runs the compiled CLI (built by `npm run build`, which
// `npm ci` and `npm install` run through the `prepare` script).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`vnet-model: internal error: ${err instanceof Error ? err.stack : String(err)}`);
    process.exitCode = 1;
  },
);
