#!/usr/bin/env node
// Bundles the compiled CLI (dist/bin.js) with esbuild for a fast start:
// - dist/berth-main.cjs: one CommonJS file. Command modules stay lazily evaluated (esbuild wraps each dynamically
//   imported module in an init function), and node: built-ins become lazy require()s inside them, so
//   `berth version` loads node:http and little else. On Node 20, CommonJS also skips the ESM loader's
//   per-module resolve/translate work, which costs ~5 ms for an ESM bundle with the same content.
// - dist/berth.cjs, the `berth` executable: a small loader that compiles berth-main.cjs with V8's code cache
//   (one per command, berth-main.cjs.<stamp>.<command>.v8cache, written by its first successful run, and a shared
//   one, berth-main.cjs.<stamp>.v8cache, used until then and written by this script and by any run that finds it
//   missing or stale; the stamp is the bundle's size, modification time and inode).
//   It is Node 22's module.enableCompileCache() for the one file that matters, on the Node 20 we support:
//   about 3 ms less CPU and wall time per run.
// - berth.cjs's shebang line sets NODE_EXTRA_CA_CERTS aside (as BERTH_EXTRA_CA_CERTS) before node starts: Node
//   reads and parses that whole bundle (often all of /etc/ssl/certs, ~140 certificates) at start-up, which costs
//   ~30 ms on every run, although the CLI needs it only for TLS to a remote berthd. bin.ts puts it back for the
//   processes berth starts, and transport.ts adds it to the trusted CAs when it connects over TLS.
// - dist/berth.mjs: an ESM entry for `node dist/berth.mjs ...`; it loads berth.cjs.
import { spawnSync } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

const dist = new URL("../dist/", import.meta.url).pathname;
rmSync(`${dist}chunks`, { recursive: true, force: true });
for (const f of readdirSync(dist)) if (f.includes(".v8cache")) rmSync(`${dist}${f}`, { force: true });
await build({
  entryPoints: [`${dist}bin.js`],
  outfile: `${dist}berth-main.cjs`,
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  // import() of a built-in becomes a require(): a vm.Script (the loader below) has no module loader for import().
  supported: { "dynamic-import": false },
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: "none",
  logLevel: "warning",
});
// bin.ts's own hashbang line would be a syntax error inside the loader's function wrapper.
const main = readFileSync(`${dist}berth-main.cjs`, "utf8");
if (main.startsWith("#!")) writeFileSync(`${dist}berth-main.cjs`, main.slice(main.indexOf("\n") + 1));
// One character outside ASCII anywhere makes V8 hold the whole bundle as a two-byte string, decoded from UTF-8
// on every run (0.1-0.2 ms here); esbuild escapes strings but not regular expression literals. Write \u escapes.
const nonAscii = /[^\x00-\x7f]/.exec(main);
if (nonAscii) {
  const line = main.slice(0, nonAscii.index).split("\n").length;
  throw new Error(`dist/berth-main.cjs line ${line} has '${nonAscii[0]}': write it as a \\u escape in the source`);
}
const SHEBANG =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: env(1) -S expands ${NAME} itself
  "#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS BERTH_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node --preserve-symlinks-main";
const LOADER = `${SHEBANG}
"use strict";
// berth: runs berth-main.cjs (the bundled CLI) with V8's code cache; see packages/cli/scripts/bundle.mjs.
const fs = require("node:fs");
const path = require("node:path");
// berth is started through a link (/usr/local/bin/berth) and node does not resolve it (--preserve-symlinks-main
// spares the realpath of the main script: a dozen lstat calls, 0.3 ms): follow the link to the bundle here.
let self = __filename;
for (let hops = 0; hops < 40; hops++) {
  let to;
  try {
    to = fs.readlinkSync(self);
  } catch {
    break;
  }
  self = path.resolve(path.dirname(self), to);
}
let file = path.join(path.dirname(self), "berth-main.cjs");
// Its size, modification time and inode name its code caches: taken before it is read, so that a bundle replaced
// in between is read under the old one's name, which no later run asks for.
let st;
try {
  st = fs.statSync(file);
} catch {
  file = path.join(path.dirname(fs.realpathSync(__filename)), "berth-main.cjs"); // a link relative to a linked dir
  st = fs.statSync(file);
}
const source = fs.readFileSync(file, "utf8");
// Each command has a cache of its own (berth-main.cjs.<stamp>.<command>.v8cache), written by its first successful
// run, so that it holds the functions that run compiled: \`run -d\` uses 0.7-1.2 ms less CPU with its own, \`version\`
// 0.3 ms. One cache holding every command's functions would be deserialized whole by every start. Until a command
// has its own, it uses the shared one (berth-main.cjs.<stamp>.v8cache), which any other run writes when missing.
const command = process.argv[2];
const own = command !== undefined && /^[a-z][a-z-]{0,30}$/.test(command);
// V8 takes a cache made for any source of the same length: the bundle's size, modification time and inode name
// its caches, so that a bundle replaced by another (an upgrade in place) never runs code cached from the old one.
const stamp = [st.size, Math.trunc(st.mtimeMs), st.ino].map((n) => n.toString(36)).join("-");
const ownFile = own ? \`\${file}.\${stamp}.\${command}.v8cache\` : undefined;
const sharedFile = \`\${file}.\${stamp}.v8cache\`;
let cachedData;
let from;
for (const f of [ownFile, sharedFile]) {
  if (f === undefined) continue;
  try {
    cachedData = fs.readFileSync(f);
    from = f;
    break;
  } catch {}
}
// Module.wrap's own wrapper, written out: requiring node:module would load the ESM loader's modules (0.4 ms).
const wrapped = \`(function (exports, require, module, __filename, __dirname) { \${source}\\n});\`;
const script = new (require("node:vm").Script)(wrapped, {
  filename: file,
  cachedData,
});
const needOwn = own && (from !== ownFile || script.cachedDataRejected);
const needShared = from === undefined || (from === sharedFile && script.cachedDataRejected);
if (needOwn || needShared) {
  // Written at exit, so that it holds the functions this run compiled too; only root's files are trusted code.
  process.once("exit", (code) => {
    // A failed run, or one that printed help, compiled only part of the command's path: a later one writes its
    // cache. (-h is help for ps and exec; a run given -h, its hostname, leaves the writing to another run.)
    const whole = code === 0 && !process.argv.includes("--help") && !process.argv.includes("-h");
    const cacheFile = needOwn && whole ? ownFile : needShared ? sharedFile : undefined;
    if (cacheFile === undefined) return;
    try {
      const tmp = \`\${cacheFile}.\${process.pid}\`;
      fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o644 });
      fs.renameSync(tmp, cacheFile);
      // The caches of a bundle that is gone would never be read again.
      const prefix = \`\${path.basename(file)}.\`;
      for (const f of fs.readdirSync(path.dirname(file)))
        if (f.startsWith(prefix) && f.includes(".v8cache") && !f.startsWith(\`\${prefix}\${stamp}.\`))
          fs.rmSync(path.join(path.dirname(file), f), { force: true });
    } catch {}
  });
}
const mod = { exports: {}, filename: file, id: file, loaded: false };
script.runInThisContext().call(mod.exports, mod.exports, require, mod, file, path.dirname(file));
`;
writeFileSync(`${dist}berth.cjs`, LOADER);
writeFileSync(
  `${dist}berth.mjs`,
  '#!/usr/bin/env node\nimport { createRequire } from "node:module";\ncreateRequire(import.meta.url)("./berth.cjs");\n',
);
chmodSync(`${dist}berth.cjs`, 0o755);
chmodSync(`${dist}berth.mjs`, 0o755);
// Warm the shared code cache with a run that parses flags and tries to reach a daemon (which is not there): it
// fails, so it writes the shared cache, and version's own is written by its first run that reaches a server.
spawnSync(process.execPath, [`${dist}berth.cjs`, "version"], {
  env: { ...process.env, BERTH_HOST: `unix://${dist}no-such-berthd.sock` },
  stdio: "ignore",
});
