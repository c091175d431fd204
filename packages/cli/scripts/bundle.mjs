#!/usr/bin/env node
// Bundles the compiled CLI (dist/bin.js) with esbuild for a fast start:
// - dist/berth.cjs: one CommonJS file. Command modules stay lazily evaluated (esbuild wraps each dynamically
//   imported module in an init function), and node: built-ins become lazy require()s inside them, so
//   `berth version` loads node:http and little else. On Node 20, CommonJS also skips the ESM loader's
//   per-module resolve/translate work, which costs ~5 ms for an ESM bundle with the same content.
// - berth.cjs's shebang line sets NODE_EXTRA_CA_CERTS aside (as BERTH_EXTRA_CA_CERTS) before node starts: Node
//   reads and parses that whole bundle (often all of /etc/ssl/certs, ~140 certificates) at start-up, which costs
//   ~30 ms on every run, although the CLI needs it only for TLS to a remote berthd. bin.ts puts it back for the
//   processes berth starts, and transport.ts adds it to the trusted CAs when it connects over TLS.
// - dist/berth.mjs: an ESM entry for `node dist/berth.mjs ...`; it loads berth.cjs.
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

const dist = new URL("../dist/", import.meta.url).pathname;
rmSync(`${dist}chunks`, { recursive: true, force: true });
await build({
  entryPoints: [`${dist}bin.js`],
  outfile: `${dist}berth.cjs`,
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: "none",
  logLevel: "warning",
});
// biome-ignore lint/suspicious/noTemplateCurlyInString: env(1) -S expands ${NAME} itself
const SHEBANG = "#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS BERTH_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node";
const bundled = readFileSync(`${dist}berth.cjs`, "utf8");
writeFileSync(
  `${dist}berth.cjs`,
  `${SHEBANG}\n${bundled.startsWith("#!") ? bundled.slice(bundled.indexOf("\n") + 1) : bundled}`,
);
writeFileSync(
  `${dist}berth.mjs`,
  '#!/usr/bin/env node\nimport { createRequire } from "node:module";\ncreateRequire(import.meta.url)("./berth.cjs");\n',
);
chmodSync(`${dist}berth.cjs`, 0o755);
chmodSync(`${dist}berth.mjs`, 0o755);
