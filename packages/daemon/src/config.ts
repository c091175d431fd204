/** berthd's command line: every path derives from --root and --run-root, so daemons can run side by side. */
import { join, resolve } from "node:path";
import { LibctError } from "@berth/libct";
import { isLogLevel, type LogLevel } from "./log.js";

export interface DaemonConfig {
  readonly root: string;
  readonly runRoot: string;
  readonly socket: string;
  readonly tcp?: { host: string; port: number };
  /** The TCP API's certificate and key; without them berthd makes a self-signed pair under <root>/tls. */
  readonly tls?: { cert: string; key: string };
  readonly logLevel: LogLevel;
}

export const USAGE = `usage: berthd [--root DIR] [--run-root DIR] [--socket PATH] [--tcp HOST:PORT [--tls-cert FILE --tls-key FILE]]
              [--log-level debug|info|warn|error]

  --root       persistent state (SQLite, images, storage, containers); default /var/lib/berth
  --run-root   runtime state (socket, conmon files); default /run/berth
  --socket     the API's unix socket; default <run-root>/berth.sock
  --tcp        also serve the API on TCP, over TLS, to clients with a bearer token (berth token create)
  --tls-cert   PEM certificate for --tcp; default a self-signed one made once in <root>/tls/server.crt
  --tls-key    its PEM private key
  --log-level  default info; logs are JSON lines on stderr`;

/** Parses argv (without node and the script). Throws LibctError("invalid") with a message naming the flag. */
export function parseArgs(argv: readonly string[]): DaemonConfig | "help" {
  const values: Record<string, string> = {};
  const known = new Set(["--root", "--run-root", "--socket", "--tcp", "--tls-cert", "--tls-key", "--log-level"]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h" || arg === "--help") return "help";
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (!known.has(flag)) throw new LibctError("invalid", `unknown flag '${arg}'\n${USAGE}`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === "") throw new LibctError("invalid", `flag ${flag} needs a value`);
    values[flag] = value;
  }
  // Absolute and normalized: the run root is compared with mount points (run-root.ts).
  const root = resolve(values["--root"] ?? "/var/lib/berth");
  const runRoot = resolve(values["--run-root"] ?? "/run/berth");
  const logLevel = values["--log-level"] ?? "info";
  if (!isLogLevel(logLevel))
    throw new LibctError("invalid", `--log-level must be debug, info, warn or error, not '${logLevel}'`);
  let tcp: DaemonConfig["tcp"];
  if (values["--tcp"]) {
    const m = /^(.+):(\d+)$/.exec(values["--tcp"]);
    const port = m ? Number(m[2]) : Number.NaN;
    if (!m || port < 1 || port > 65535)
      throw new LibctError("invalid", `--tcp wants HOST:PORT, e.g. 127.0.0.1:8443, not '${values["--tcp"]}'`);
    tcp = { host: m[1]!.replace(/^\[|\]$/g, ""), port };
  }
  const cert = values["--tls-cert"];
  const key = values["--tls-key"];
  if ((cert === undefined) !== (key === undefined))
    throw new LibctError("invalid", "--tls-cert and --tls-key go together; give both or neither");
  if (cert && !tcp) throw new LibctError("invalid", "--tls-cert and --tls-key are for --tcp; add --tcp HOST:PORT");
  return {
    root,
    runRoot,
    ...(cert && key ? { tls: { cert, key } } : {}),
    socket: resolve(values["--socket"] ?? join(runRoot, "berth.sock")),
    logLevel,
    ...(tcp ? { tcp } : {}),
  };
}
