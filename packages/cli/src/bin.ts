#!/usr/bin/env node
// The `berth` executable's main (bundled into dist/berth-main.cjs, which dist/berth.cjs loads with V8's code
// cache: scripts/bundle.mjs). It requires no node:module: that alone loads the ESM loader's modules (0.4 ms).

// berth.cjs's shebang line moved NODE_EXTRA_CA_CERTS to BERTH_EXTRA_CA_CERTS so that Node does not parse the
// bundle at every start (scripts/bundle.mjs). Put it back for the processes berth starts (berthd, say);
// transport.ts trusts it when it connects over TLS.
const deferredCa = process.env.BERTH_EXTRA_CA_CERTS;
if (deferredCa !== undefined) {
  if (deferredCa === "") delete process.env.BERTH_EXTRA_CA_CERTS;
  else process.env.NODE_EXTRA_CA_CERTS ??= deferredCa;
}

// process.stdout and process.stderr are built on first use, and a pipe's loads node:net and node:stream (about
// 2 ms). Output goes out with writeSync (cli.ts), so most runs never build them: note the ones a run does build,
// so that the exit below waits for those alone.
const built = new Set<NodeJS.WriteStream>();
for (const name of ["stdout", "stderr"] as const) {
  const d = Object.getOwnPropertyDescriptor(process, name);
  const get = d?.get;
  if (get && d.configurable) {
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: d.enumerable,
      get() {
        const s = get.call(process) as NodeJS.WriteStream;
        built.add(s);
        return s;
      },
    });
  } else built.add(process[name]);
}

void import("./cli.js")
  .then(({ main }) => main(process.argv.slice(2)))
  .then((code) => {
    process.exitCode = code;
    // The command is done: exit now rather than tear the heap down with the event loop (about 1 ms), once
    // what it wrote has left (stdout and stderr are synchronous for files, pipes and terminals on Linux, so
    // this waits only where they are not). Streams a command left open (a cancelled follow) cannot hold it.
    const pending = [...built].filter((s) => s.writableLength > 0);
    if (pending.length === 0) process.exit(code);
    let left = pending.length;
    for (const s of pending) s.once("drain", () => --left === 0 && process.exit(code));
    setTimeout(() => process.exit(code), 500).unref();
  });
