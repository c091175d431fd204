#!/usr/bin/env node
// The `berth` executable: turn on Node's compile cache where it exists (Node >= 22.1), then load the CLI.
import * as nodeModule from "node:module";

(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
void import("./cli.js")
  .then(({ main }) => main(process.argv.slice(2)))
  .then((code) => {
    process.exitCode = code;
    // Streams a command left open (a cancelled follow, say) must not keep the CLI alive.
    setTimeout(() => process.exit(code), 500).unref();
  });
