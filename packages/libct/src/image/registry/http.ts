/**
 * The HTTP layer of the registry client: node:http/node:https with one keep-alive agent per client, so a custom
 * CA or `tlsVerify: false` applies to that client's requests only. Network failures become "unavailable",
 * untrusted certificates "precondition" with a hint.
 */
import { readFile } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import type { Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import { LibctError } from "../../errors.js";

export interface TransportOptions {
  /** A PEM file with the CA(s) that signed the registry's certificate, trusted besides the system CAs. */
  readonly caFile?: string;
  /** false: accept any certificate (insecure registries). Default true. */
  readonly tlsVerify?: boolean;
  /** Milliseconds without any socket activity before a request fails as "unavailable". Default 30 s. */
  readonly idleTimeoutMs?: number;
}

export interface RequestOptions {
  readonly method: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A Buffer is sent with Content-Length; a stream needs Content-Length in `headers`. */
  readonly body?: Buffer | Readable;
  readonly signal?: AbortSignal;
}

const TLS_TRUST_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_UNTRUSTED",
]);

export class HttpTransport {
  readonly #http: http.Agent;
  readonly #https: https.Agent;
  readonly #idleTimeoutMs: number;

  private constructor(ca: Buffer | undefined, opts: TransportOptions) {
    this.#http = new http.Agent({ keepAlive: true, maxSockets: 16 });
    this.#https = new https.Agent({
      keepAlive: true,
      maxSockets: 16,
      rejectUnauthorized: opts.tlsVerify !== false,
      ...(ca ? { ca: [...rootCertificates, ca.toString("utf8")] } : {}),
    });
    this.#idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
  }

  static async create(opts: TransportOptions = {}): Promise<HttpTransport> {
    let ca: Buffer | undefined;
    if (opts.caFile) {
      try {
        ca = await readFile(opts.caFile);
      } catch (err) {
        throw new LibctError("invalid", `cannot read CA file ${opts.caFile}; check the path`, { cause: err });
      }
    }
    return new HttpTransport(ca, opts);
  }

  /** Sends one request; resolves with the response head (the body is left to the caller to read or discard). */
  request(url: URL, opts: RequestOptions): Promise<http.IncomingMessage> {
    const mod = url.protocol === "https:" ? https : http;
    const agent = url.protocol === "https:" ? this.#https : this.#http;
    const headers: Record<string, string> = { "user-agent": "berth", ...opts.headers };
    if (Buffer.isBuffer(opts.body)) headers["content-length"] = String(opts.body.length);
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method: opts.method, headers, agent, signal: opts.signal }, resolve);
      req.setTimeout(this.#idleTimeoutMs, () =>
        req.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })),
      );
      req.on("error", (err) => reject(networkError(url, err)));
      if (opts.body === undefined || Buffer.isBuffer(opts.body)) req.end(opts.body);
      else {
        opts.body.on("error", (err) => req.destroy(err));
        opts.body.pipe(req);
      }
    });
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}

/** Maps a socket or TLS failure to a LibctError; already-mapped errors pass through. */
export function networkError(url: URL, err: unknown): LibctError {
  if (err instanceof LibctError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? "";
  if (TLS_TRUST_CODES.has(code)) {
    return new LibctError(
      "precondition",
      `the TLS certificate of ${url.host} is not trusted (${code}): pass the registry's CA file, or use --tls-verify=false for an insecure registry`,
      { cause: err },
    );
  }
  if ((err as Error).name === "AbortError")
    return new LibctError("unavailable", `request to ${url.host} aborted`, { cause: err });
  return new LibctError("unavailable", `cannot reach registry ${url.host}: ${(err as Error).message}`, { cause: err });
}

/** Reads a whole response body, rejecting with "invalid" beyond `limit` bytes. */
export async function readBody(res: http.IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limit) {
        res.destroy();
        throw new LibctError("invalid", `${what} is larger than ${limit} bytes; refusing it`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof LibctError) throw err;
    throw new LibctError("unavailable", `connection lost while reading ${what}`, { cause: err });
  }
  return Buffer.concat(chunks);
}
