/**
 * console (Incus): attach the local terminal to a system container's console through
 * `POST /1.0/containers/{id}/attach` (an HTTP upgrade to a raw stream). The TTY goes raw, window size
 * changes are forwarded (POST /resize), and the detach keys (ctrl-a q, Incus's, or --detach-keys) leave
 * the console running.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { defineCommand } from "../framework/command.js";
import { CliError } from "../framework/errors.js";
import { parseHost } from "../transport.js";
import { DetachMatcher, parseDetachKeys } from "../tty.js";

export { DetachMatcher, parseDetachKeys };

export const DEFAULT_CONSOLE_DETACH_KEYS = "ctrl-a,q";

export const consoleCommand = defineCommand({
  name: "console",
  summary: "Attach to a system container's console (Incus style)",
  usage: "console [OPTIONS] NAME",
  description: "Type ctrl-a q to detach (the console keeps running); --detach-keys changes the sequence.",
  examples: ["berth console c1", "berth console --detach-keys ctrl-p,ctrl-q c1", "berth console --show-log c1"],
  args: { min: 1, max: 1, complete: "container" },
  flags: {
    "show-log": { type: "boolean", description: "Print the container's console log instead of attaching" },
    "detach-keys": {
      type: "string",
      placeholder: "KEYS",
      description: `Key sequence to detach (default "${DEFAULT_CONSOLE_DETACH_KEYS}")`,
    },
  },
  async run({ args, flags }, ctx) {
    const name = args[0]!;
    if (flags["show-log"]) {
      const stream = await ctx.api.containerLogs({ params: { id: name }, query: {} });
      for await (const line of stream) ctx.out.stdout(line.text.endsWith("\n") ? line.text : `${line.text}\n`);
      return 0;
    }
    const keys = parseDetachKeys(flags["detach-keys"] ?? DEFAULT_CONSOLE_DETACH_KEYS);
    const target = parseHost(ctx.host);
    const http = target.kind === "tcp" && target.tls ? await import("node:https") : await import("node:http");
    const token = ctx.env.BERTH_TOKEN;
    const path = `/1.0/containers/${encodeURIComponent(name)}`;
    const base =
      target.kind === "unix"
        ? { socketPath: target.socketPath, headers: { host: "berthd" } }
        : {
            host: target.hostname,
            port: target.port,
            headers: token ? { authorization: `Bearer ${token}` } : ({} as Record<string, string>),
          };

    const socket = await new Promise<Duplex>((resolve, reject) => {
      const req = http.request({
        ...base,
        method: "POST",
        path: `${path}/attach`,
        headers: { ...base.headers, connection: "Upgrade", upgrade: "tcp" },
      });
      req.on("upgrade", (_res: IncomingMessage, sock: Duplex, head: Buffer) => {
        if (head.length) process.stdout.write(head);
        resolve(sock);
      });
      req.on("response", (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          let detail = Buffer.concat(chunks).toString("utf8");
          try {
            detail = (JSON.parse(detail) as { detail?: string }).detail ?? detail;
          } catch {}
          reject(new CliError(detail || `attach failed with HTTP ${res.statusCode}`));
        });
      });
      req.on("error", (err) => reject(new CliError(`cannot reach berthd at ${target.display}: ${err.message}`)));
      req.end();
    });

    const resize = () => {
      const { rows, columns } = process.stdout;
      if (!rows || !columns) return;
      const r = http.request({ ...base, method: "POST", path: `${path}/resize?h=${rows}&w=${columns}` });
      r.on("response", (res: IncomingMessage) => res.resume());
      r.on("error", () => {});
      r.end();
    };
    const stdin = process.stdin;
    const tty = stdin.isTTY === true;
    if (tty) stdin.setRawMode(true);
    if (process.stdout.isTTY) {
      resize();
      process.stdout.on("resize", resize);
    } else if (!tty) {
      ctx.out.stderr(`To detach from the console, press: ${flags["detach-keys"] ?? "<ctrl>+a q"}\n`);
    }

    const matcher = new DetachMatcher(keys);
    return await new Promise<number>((resolve) => {
      let done = false;
      const finish = (code: number) => {
        if (done) return;
        done = true;
        stdin.off("data", onData);
        stdin.off("end", onEnd);
        stdin.pause();
        if (tty) stdin.setRawMode(false);
        process.stdout.off("resize", resize);
        socket.destroy();
        resolve(code);
      };
      const onData = (chunk: Buffer) => {
        const { forward, matched } = matcher.push(chunk);
        if (forward.length) socket.write(forward);
        if (matched) {
          if (tty) process.stdout.write("\r\n");
          finish(0);
        }
      };
      // Piped input: keep showing output a moment after the last line, then detach.
      const onEnd = () => setTimeout(() => finish(0), 500).unref();
      socket.on("data", (b: Buffer) => process.stdout.write(b));
      socket.on("end", () => finish(0));
      socket.on("close", () => finish(0));
      socket.on("error", () => finish(1));
      stdin.on("data", onData);
      stdin.on("end", onEnd);
      stdin.resume();
    });
  },
});

export { consoleCommand as console };
