/**
 * The CLI's `Transport`: HTTP/1.1 over the daemon's unix socket (BERTH_HOST=unix:///path, the default
 * unix:///run/berth/berth.sock) with node:net (`UnixTransport`, unix-http.ts), or node:http(s) over TCP with
 * TLS (tcp://host:port or https://host:port; berthd serves TCP only with TLS) with BERTH_TOKEN as a bearer
 * token. BERTH_TLS_CA names the PEM file to trust (berthd's <root>/tls/server.crt when it made its own),
 * BERTH_TLS_VERIFY=0 skips verification. node:http loads only for TCP hosts: one keep-alive agent per process.
 */

import { readFileSync } from "node:fs";
import type { Agent, ClientRequest, IncomingMessage, RequestOptions } from "node:http";
import type { RequestOptions as TlsRequestOptions } from "node:https";
import type { Transport, TransportRequest, TransportResponse, UpgradeStream } from "@berth/api/client";
import { CliError, DaemonUnreachableError } from "./framework/errors.js";
import type { UnixConn } from "./handles.js";
import { ConnUpgrade, unixRequest, unixUpgrade } from "./unix-http.js";

export const DEFAULT_HOST = "unix:///run/berth/berth.sock";

export type Target =
  | { kind: "unix"; socketPath: string; display: string }
  | { kind: "tcp"; hostname: string; port: number; tls: boolean; display: string };

/** Parses BERTH_HOST / -H: unix:///path, /path, tcp://host:port, https://host:port. */
export function parseHost(host: string): Target {
  if (host.startsWith("unix://")) {
    const socketPath = host.slice("unix://".length);
    if (!socketPath)
      throw new CliError(`invalid host ${host}: no socket path`, { hint: "e.g. unix:///run/berth/berth.sock" });
    return { kind: "unix", socketPath, display: socketPath };
  }
  if (host.startsWith("/")) return { kind: "unix", socketPath: host, display: host };
  const m = /^(tcp|https|http|tls):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(host);
  if (!m) {
    throw new CliError(`invalid host '${host}'`, { hint: "use unix:///path/to/berth.sock or tcp://HOST:PORT" });
  }
  const tls = m[1] !== "http";
  const hostname = m[2]!.replace(/^\[|\]$/g, "");
  return { kind: "tcp", hostname, port: m[3] ? Number(m[3]) : tls ? 8443 : 8080, tls, display: host };
}

const unreachableCodes = new Set([
  "ENOENT",
  "ECONNREFUSED",
  "EACCES",
  "EPERM",
  "ENOTSOCK",
  "EHOSTUNREACH",
  "ETIMEDOUT",
]);

type HttpModule = typeof import("node:http");

export interface TlsClientOptions {
  readonly ca?: Buffer | string[];
  readonly rejectUnauthorized: boolean;
}

/**
 * BERTH_TLS_CA (a PEM file) and BERTH_TLS_VERIFY (0/false skips verification). Without BERTH_TLS_CA, the
 * certificates of NODE_EXTRA_CA_CERTS, which berth's shebang line kept from Node's start-up as
 * BERTH_EXTRA_CA_CERTS (bin.ts), are trusted next to Node's own `roots`, as Node itself would have.
 */
export function tlsClientOptions(
  env: Readonly<Record<string, string | undefined>>,
  roots: readonly string[] = [],
): TlsClientOptions {
  const verify = !/^(0|false|no)$/i.test(env.BERTH_TLS_VERIFY ?? "");
  const file = env.BERTH_TLS_CA;
  if (!file) {
    const extra = env.BERTH_EXTRA_CA_CERTS;
    let pem: string | undefined;
    try {
      pem = extra ? readFileSync(extra, "utf8") : undefined;
    } catch {
      // Node, too, only warns about an unreadable NODE_EXTRA_CA_CERTS and goes on with its own roots.
    }
    return pem ? { ca: [...roots, pem], rejectUnauthorized: verify } : { rejectUnauthorized: verify };
  }
  let ca: Buffer;
  try {
    ca = readFileSync(file);
  } catch (err) {
    throw new CliError(`cannot read BERTH_TLS_CA=${file}: ${(err as NodeJS.ErrnoException).code ?? err}`, {
      hint: "point it at berthd's certificate (on the host: /var/lib/berth/tls/server.crt)",
    });
  }
  return { ca, rejectUnauthorized: verify };
}

const TLS_TRUST_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_HAS_EXPIRED",
]);

/** A TLS verification failure as a CliError that says how to trust berthd; other errors unchanged. */
export function explainTlsError(err: NodeJS.ErrnoException, display: string): Error {
  if (!err.code || !TLS_TRUST_CODES.has(err.code)) return err;
  return new CliError(`cannot verify berthd's TLS certificate at ${display}: ${err.message}`, {
    hint: "set BERTH_TLS_CA to berthd's certificate (on the host: /var/lib/berth/tls/server.crt), or BERTH_TLS_VERIFY=0 to skip the check",
  });
}

/** Connection failures as DaemonUnreachableError (ENOENT: no socket, ECONNREFUSED: no berthd on it, ...). */
function unreachable(err: unknown, display: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  return code && unreachableCodes.has(code) ? new DaemonUnreachableError(display, code, { cause: err }) : err;
}

/** Requests to berthd's unix socket, one connection each (unix-http.ts). */
export class UnixTransport implements Transport {
  private readonly open = new Set<UnixConn>();

  constructor(private readonly target: Extract<Target, { kind: "unix" }>) {}

  async request(req: TransportRequest): Promise<TransportResponse> {
    try {
      return await unixRequest(this.target.socketPath, req, this.open);
    } catch (err) {
      throw unreachable(err, this.target.display);
    }
  }

  async upgrade(req: TransportRequest): Promise<UpgradeStream | TransportResponse> {
    try {
      return await unixUpgrade(this.target.socketPath, req);
    } catch (err) {
      throw unreachable(err, this.target.display);
    }
  }

  close(): void {
    for (const s of this.open) s.destroy();
    this.open.clear();
  }
}

/** The transport for BERTH_HOST / -H: `UnixTransport` for a unix socket, `HttpTransport` for TCP. */
export async function createTransport(
  host: string,
  token?: string,
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<Transport> {
  const target = parseHost(host);
  return target.kind === "unix" ? new UnixTransport(target) : HttpTransport.create(host, token, env);
}

export class HttpTransport implements Transport {
  private agent: Agent | undefined;
  private readonly open = new Set<ClientRequest>();

  constructor(
    private readonly target: Target,
    private readonly http: HttpModule,
    private readonly token?: string,
    private readonly tls: TlsClientOptions = { rejectUnauthorized: true },
  ) {}

  /** node:https (and with it node:tls) loads only for https:// hosts. */
  static async create(
    host: string,
    token?: string,
    env: Readonly<Record<string, string | undefined>> = {},
  ): Promise<HttpTransport> {
    const target = parseHost(host);
    const tls = target.kind === "tcp" && target.tls;
    const http = (tls ? await import("node:https") : await import("node:http")) as HttpModule;
    const roots = tls ? (await import("node:tls")).rootCertificates : [];
    return new HttpTransport(target, http, token, tls ? tlsClientOptions(env, roots) : undefined);
  }

  /** Request options and headers for `req` on this target (no agent). */
  private options(req: TransportRequest): RequestOptions & Pick<TlsRequestOptions, "servername"> {
    const t = this.target;
    const headers: Record<string, string> = {
      host: t.kind === "unix" ? "berthd" : `${t.hostname}:${t.port}`,
      ...req.headers,
    };
    if (this.token && t.kind === "tcp") headers.authorization = `Bearer ${this.token}`;
    const base: RequestOptions & Pick<TlsRequestOptions, "servername"> =
      t.kind === "unix" ? { socketPath: t.socketPath } : { host: t.hostname, port: t.port };
    // setHost/servername given: node's agent then skips an isIP() check whose regex costs ~3 ms at start-up
    base.setHost = false;
    // (SNI carries host names only: an IP literal gets the empty name, which node:tls leaves out)
    base.servername = t.kind === "unix" ? "berthd" : /^[\d.]+$|:/.test(t.hostname) ? "" : t.hostname;
    return { ...base, method: req.method, path: req.path, headers };
  }

  request(req: TransportRequest): Promise<TransportResponse> {
    this.agent ??= new this.http.Agent({ keepAlive: true, ...this.tls });
    const t = this.target;
    const opts = this.options(req);
    return new Promise((resolve, reject) => {
      const r = this.http.request({ ...opts, agent: this.agent }, (res: IncomingMessage) => {
        const flat: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(res.headers)) flat[k] = Array.isArray(v) ? v.join(", ") : v;
        res.on("close", () => this.open.delete(r));
        resolve({
          status: res.statusCode ?? 0,
          headers: flat,
          body: res,
          cancel: () => {
            res.destroy();
            r.destroy();
          },
        });
      });
      this.open.add(r);
      r.on("error", (err: NodeJS.ErrnoException) => {
        this.open.delete(r);
        const e = unreachable(err, t.display);
        reject(e === err ? explainTlsError(err, t.display) : e);
      });
      if (req.signal) {
        if (req.signal.aborted) r.destroy(new Error("aborted"));
        req.signal.addEventListener("abort", () => r.destroy(new Error("aborted")), { once: true });
      }
      const body = req.body;
      if (body === undefined) r.end();
      else if (typeof body === "string" || body instanceof Uint8Array) r.end(body);
      else {
        (async () => {
          for await (const chunk of body) if (!r.write(chunk)) await new Promise((ok) => r.once("drain", ok));
          r.end();
        })().catch((err: Error) => r.destroy(err));
      }
    });
  }

  /** An upgrade on a connection of its own (no agent: it never goes back to a pool). */
  upgrade(req: TransportRequest): Promise<UpgradeStream | TransportResponse> {
    const t = this.target;
    return new Promise((resolve, reject) => {
      const r = this.http.request({ ...this.options(req), agent: false, ...this.tls });
      r.on("upgrade", (res: IncomingMessage, socket, head: Buffer) => {
        const flat: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(res.headers)) flat[k] = Array.isArray(v) ? v.join(", ") : v;
        resolve(new ConnUpgrade(socket as unknown as UnixConn, flat, head));
      });
      r.on("response", (res: IncomingMessage) => {
        const flat: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(res.headers)) flat[k] = Array.isArray(v) ? v.join(", ") : v;
        resolve({ status: res.statusCode ?? 0, headers: flat, body: res, cancel: () => res.destroy() });
      });
      r.on("error", (err: NodeJS.ErrnoException) => {
        const e = unreachable(err, t.display);
        reject(e === err ? explainTlsError(err, t.display) : e);
      });
      const body = req.body;
      if (body !== undefined && typeof body !== "string" && !(body instanceof Uint8Array)) {
        r.destroy();
        reject(new TypeError("an upgrade request's body is a string or bytes"));
        return;
      }
      if (body !== undefined) r.setHeader("content-length", Buffer.byteLength(body));
      r.end(body);
    });
  }

  close(): void {
    for (const r of this.open) r.destroy();
    this.open.clear();
    this.agent?.destroy();
  }
}
