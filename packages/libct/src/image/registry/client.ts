/**
 * One registry, spoken to over the distribution-spec HTTP API v2, with authentication handled here: anonymous,
 * HTTP basic, or bearer tokens from the realm named in `WWW-Authenticate` (cached per scope until they expire).
 *
 * ```ts
 * const client = await RegistryClient.connect("127.0.0.1:5000", { caFile, credentials });
 * const { bytes, digest } = await client.getManifest("team/app", "1.0");
 * client.close();
 * ```
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { LibctError } from "../../errors.js";
import { type Challenge, parseChallenges, parseTokenResponse } from "./challenge.js";
import { type Credentials, defaultAuthFile, readCredentials } from "./credentials.js";
import { HttpTransport, readBody, type TransportOptions } from "./http.js";
import { registryHost } from "./reference.js";
import { MANIFEST_ACCEPT } from "./types.js";

export interface ConnectOptions extends TransportOptions {
  /** Explicit credentials; otherwise they are looked up in `authFile`. */
  readonly credentials?: Credentials;
  /** A Docker-style config.json. Default: defaultAuthFile(). */
  readonly authFile?: string;
  /** Speak plain http. Default: only when `tlsVerify` is false and the registry does not speak TLS. */
  readonly plainHttp?: boolean;
}

/** Largest manifest or index accepted (the spec suggests registries accept at least 4 MiB). */
export const MANIFEST_LIMIT = 4 * 1024 * 1024;

type Scope = readonly string[];
const pull = (repo: string): Scope => [`repository:${repo}:pull`];
const push = (repo: string, ...from: string[]): Scope => [
  `repository:${repo}:pull,push`,
  ...from.map((r) => `repository:${r}:pull`),
];

const loginHint = (registry: string) => `run berth login ${registry}`;

interface SendOptions {
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | Readable;
  readonly signal?: AbortSignal;
  /** What is being done, for error messages: "pull manifest of team/app:1.0". */
  readonly what: string;
}

export class RegistryClient {
  readonly #transport: HttpTransport;
  readonly #credentials: Credentials | undefined;
  #base: URL;
  #challenge: Challenge | undefined;
  readonly #tokens = new Map<string, { token: string; expiresAt: number }>();

  private constructor(
    readonly registry: string,
    transport: HttpTransport,
    base: URL,
    credentials: Credentials | undefined,
  ) {
    this.#transport = transport;
    this.#base = base;
    this.#credentials = credentials;
  }

  /** Opens a client and pings `/v2/` to learn the scheme (http or https) and the authentication challenge. */
  static async connect(registry: string, opts: ConnectOptions = {}): Promise<RegistryClient> {
    const credentials = opts.credentials ?? (await readCredentials(opts.authFile ?? defaultAuthFile(), registry));
    const transport = await HttpTransport.create(opts);
    const host = registryHost(registry);
    const client = new RegistryClient(
      registry,
      transport,
      new URL(`${opts.plainHttp ? "http" : "https"}://${host}`),
      credentials,
    );
    try {
      try {
        await client.#ping();
      } catch (err) {
        // Like Docker for insecure registries: with TLS verification off, fall back to plain http.
        if (opts.tlsVerify !== false || opts.plainHttp || !(err instanceof LibctError) || err.kind !== "unavailable") {
          throw err;
        }
        client.#base = new URL(`http://${host}`);
        await client.#ping();
      }
    } catch (err) {
      transport.close();
      throw err;
    }
    return client;
  }

  close(): void {
    this.#transport.close();
  }

  async #ping(): Promise<void> {
    const res = await this.#transport.request(new URL("/v2/", this.#base), { method: "GET" });
    res.resume();
    if (res.statusCode === 401) {
      this.#challenge = pickChallenge(res.headers["www-authenticate"]);
      if (!this.#challenge) {
        throw new LibctError(
          "unavailable",
          `registry ${this.registry} asks for an authentication scheme berth does not speak`,
        );
      }
    } else if (res.statusCode !== 200) {
      throw new LibctError(
        "unavailable",
        `${this.registry} does not look like an OCI registry: GET /v2/ answered ${res.statusCode}`,
      );
    }
  }

  /**
   * Checks that the client's credentials are accepted (what `berth login` verifies): basic auth is tried on
   * `/v2/`, a bearer realm is asked for a token with no scope.
   */
  async verifyLogin(): Promise<void> {
    if (!this.#credentials) throw new LibctError("invalid", "no credentials to verify");
    if (this.#challenge?.scheme === "bearer") {
      await this.#fetchToken(this.#challenge, []);
      return;
    }
    const res = await this.#transport.request(new URL("/v2/", this.#base), {
      method: "GET",
      headers: { authorization: basic(this.#credentials) },
    });
    res.resume();
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new LibctError("precondition", `login to ${this.registry} failed: wrong username or password`);
    }
    if (res.statusCode !== 200)
      throw new LibctError("unavailable", `login to ${this.registry}: GET /v2/ answered ${res.statusCode}`);
  }

  async #authorization(scope: Scope): Promise<string | undefined> {
    const challenge = this.#challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === "basic") return this.#credentials ? basic(this.#credentials) : undefined;
    const key = scope.join(" ");
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    const fresh = await this.#fetchToken(challenge, scope);
    this.#tokens.set(key, fresh);
    return `Bearer ${fresh.token}`;
  }

  async #fetchToken(challenge: Challenge, scope: Scope): Promise<{ token: string; expiresAt: number }> {
    const realm = challenge.params.realm;
    if (!realm)
      throw new LibctError("unavailable", `registry ${this.registry} sent a bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch (err) {
      throw new LibctError("unavailable", `registry ${this.registry} sent an invalid token realm ${realm}`, {
        cause: err,
      });
    }
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    for (const s of scope) url.searchParams.append("scope", s);
    if (this.#credentials) url.searchParams.set("account", this.#credentials.username);
    const res = await this.#transport.request(url, {
      method: "GET",
      headers: this.#credentials ? { authorization: basic(this.#credentials) } : {},
    });
    if (res.statusCode === 401 || res.statusCode === 403) {
      res.resume();
      throw new LibctError(
        "precondition",
        this.#credentials
          ? `login to ${this.registry} failed: wrong username or password`
          : `${this.registry} requires authentication: ${loginHint(this.registry)}`,
      );
    }
    if (res.statusCode !== 200) {
      res.resume();
      throw new LibctError("unavailable", `token server ${url.host} answered ${res.statusCode}`);
    }
    const body = await readBody(res, 1024 * 1024, "token response");
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {}
    const token = parseTokenResponse(parsed, Date.now());
    if (!token) throw new LibctError("unavailable", `token server ${url.host} answered without a token`);
    return token;
  }

  /**
   * Sends a request with authorization for `scope`, following redirects for GET and HEAD (without the
   * Authorization header when the host changes). On 401 a replayable request is retried once with a
   * fresh token or a new challenge. Returns the response whatever its status.
   */
  async send(method: string, path: string | URL, scope: Scope, opts: SendOptions): Promise<IncomingMessage> {
    let url = typeof path === "string" ? new URL(path, this.#base) : path;
    let retried = false;
    for (let redirects = 0; ; ) {
      const sameHost = url.host === this.#base.host;
      const auth = sameHost ? await this.#authorization(scope) : undefined;
      const res = await this.#transport.request(url, {
        method,
        headers: { ...opts.headers, ...(auth ? { authorization: auth } : {}) },
        ...(opts.body !== undefined ? { body: opts.body } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      const status = res.statusCode ?? 0;
      if (status === 401 && sameHost && !retried && (opts.body === undefined || Buffer.isBuffer(opts.body))) {
        res.resume();
        retried = true;
        this.#tokens.delete(scope.join(" "));
        this.#challenge = pickChallenge(res.headers["www-authenticate"]) ?? this.#challenge;
        continue;
      }
      if (
        (method === "GET" || method === "HEAD") &&
        [301, 302, 303, 307, 308].includes(status) &&
        res.headers.location
      ) {
        res.resume();
        if (++redirects > 5) throw new LibctError("unavailable", `${opts.what}: too many redirects`);
        url = new URL(res.headers.location, url);
        continue;
      }
      return res;
    }
  }

  /** Turns an unexpected response into a LibctError, reading the distribution error body for the message. */
  async fail(res: IncomingMessage, what: string, notFound?: string): Promise<LibctError> {
    const status = res.statusCode ?? 0;
    let detail = "";
    try {
      const body = JSON.parse((await readBody(res, 64 * 1024, "error body")).toString("utf8")) as {
        errors?: { code?: string; message?: string }[];
      };
      detail = (body.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(": ")).join("; ");
    } catch {}
    const suffix = detail ? ` (${detail})` : "";
    if (status === 401 || status === 403) {
      const why = this.#credentials ? "access denied with the stored credentials" : "authentication required";
      return new LibctError("precondition", `${what}: ${why}${suffix}: ${loginHint(this.registry)}`);
    }
    if (status === 404) return new LibctError("not-found", `${what}: ${notFound ?? "not found"}${suffix}`);
    if (status === 429 || status >= 500)
      return new LibctError("unavailable", `${what}: registry answered ${status}${suffix}`);
    return new LibctError("invalid", `${what}: registry answered ${status}${suffix}`);
  }

  /**
   * Fetches a manifest or index by tag or digest, checks its digest (against the digest asked for, else against
   * the registry's Docker-Content-Digest) and returns its bytes and media type.
   */
  async getManifest(
    repo: string,
    reference: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const what = `manifest ${repo}:${reference} on ${this.registry}`;
    const res = await this.send("GET", `/v2/${repo}/manifests/${reference}`, pull(repo), {
      what,
      headers: { accept: MANIFEST_ACCEPT },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (res.statusCode !== 200) throw await this.fail(res, `pull ${what}`, "image not found: check the name and tag");
    const bytes = await readBody(res, MANIFEST_LIMIT, what);
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    const expected = reference.startsWith("sha256:") ? reference : headerDigest(res);
    if (expected?.startsWith("sha256:") && expected !== digest) {
      throw new LibctError("invalid", `${what}: digest mismatch: expected ${expected}, got ${digest}`);
    }
    let bodyType: string | undefined;
    try {
      bodyType = (JSON.parse(bytes.toString("utf8")) as { mediaType?: string }).mediaType;
    } catch (err) {
      throw new LibctError("invalid", `${what} is not JSON`, { cause: err });
    }
    const headerType = (res.headers["content-type"] ?? "").split(";")[0]!.trim();
    return { bytes, mediaType: bodyType ?? headerType, digest };
  }

  /** Opens a blob for reading from byte `offset`; `start` says where the response body really begins. */
  async openBlob(
    repo: string,
    digest: string,
    offset: number,
    opts: { signal?: AbortSignal } = {},
  ): Promise<{ body: IncomingMessage; start: number }> {
    const what = `blob ${digest} of ${repo}`;
    const res = await this.send("GET", `/v2/${repo}/blobs/${digest}`, pull(repo), {
      what,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (res.statusCode === 206) {
      const m = /^bytes (\d+)-/.exec(res.headers["content-range"] ?? "");
      if (m && Number(m[1]) === offset) return { body: res, start: offset };
      res.resume();
      throw new LibctError("unavailable", `${what}: registry answered a range that was not asked for`);
    }
    if (res.statusCode === 200) return { body: res, start: 0 };
    throw await this.fail(res, `pull ${what}`, "blob not found in the repository");
  }

  async hasBlob(repo: string, digest: string, scope: Scope = push(repo)): Promise<boolean> {
    const what = `blob ${digest} of ${repo}`;
    const res = await this.send("HEAD", `/v2/${repo}/blobs/${digest}`, scope, { what });
    res.resume();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw await this.fail(res, `check ${what}`);
  }

  /**
   * Starts an upload; with `mountFrom`, asks the registry to mount the blob from that repository instead.
   * Resolves "mounted" when it did, else the upload URL to send the bytes to.
   */
  async startUpload(repo: string, mount?: { digest: string; from: string }): Promise<"mounted" | URL> {
    const query = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : "";
    const what = `upload to ${repo}`;
    const scope = mount ? push(repo, mount.from) : push(repo);
    const res = await this.send("POST", `/v2/${repo}/blobs/uploads/${query}`, scope, { what, body: Buffer.alloc(0) });
    res.resume();
    if (res.statusCode === 201 && mount) return "mounted";
    if (res.statusCode === 202 && res.headers.location) return new URL(res.headers.location, this.#base);
    throw await this.fail(res, `start ${what}`);
  }

  /**
   * Sends a blob to an upload URL: one PUT when it fits in `chunkSize`, else PATCH chunks and a closing PUT.
   * `open(start, end)` opens the source bytes [start, end) as a stream.
   */
  async uploadBlob(
    repo: string,
    location: URL,
    blob: { digest: string; size: number },
    open: (start: number, end: number) => Promise<Readable>,
    opts: { chunkSize: number; onBytes?: (done: number) => void },
  ): Promise<void> {
    const what = `upload of ${blob.digest} to ${repo}`;
    const scope = push(repo);
    let url = location;
    let offset = 0;
    if (blob.size > opts.chunkSize) {
      while (offset < blob.size) {
        const end = Math.min(offset + opts.chunkSize, blob.size);
        const res = await this.send("PATCH", url, scope, {
          what,
          body: await open(offset, end),
          headers: {
            "content-type": "application/octet-stream",
            "content-length": String(end - offset),
            "content-range": `${offset}-${end - 1}`,
          },
        });
        res.resume();
        if (res.statusCode !== 202 || !res.headers.location) throw await this.fail(res, what);
        url = new URL(res.headers.location, this.#base);
        offset = end;
        opts.onBytes?.(offset);
      }
    }
    url.searchParams.set("digest", blob.digest);
    const rest = blob.size - offset;
    const res = await this.send("PUT", url, scope, {
      what,
      body: rest > 0 ? await open(offset, blob.size) : Buffer.alloc(0),
      headers: { "content-type": "application/octet-stream", "content-length": String(rest) },
    });
    res.resume();
    if (res.statusCode !== 201) throw await this.fail(res, what);
    opts.onBytes?.(blob.size);
  }

  /** PUTs a manifest or index under a tag or its digest; resolves the digest the registry reports. */
  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const what = `push manifest ${repo}:${reference} to ${this.registry}`;
    const res = await this.send("PUT", `/v2/${repo}/manifests/${reference}`, push(repo), {
      what,
      body: bytes,
      headers: { "content-type": mediaType },
    });
    res.resume();
    if (res.statusCode !== 201) throw await this.fail(res, what);
    return headerDigest(res) ?? `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  }
}

const basic = (c: Credentials) => `Basic ${Buffer.from(`${c.username}:${c.password}`, "utf8").toString("base64")}`;

const headerDigest = (res: IncomingMessage): string | undefined => {
  const v = res.headers["docker-content-digest"];
  return typeof v === "string" && v ? v : undefined;
};

/** The challenge berth will answer: bearer preferred over basic. */
function pickChallenge(header: string | undefined): Challenge | undefined {
  const all = parseChallenges(header ?? "");
  return all.find((c) => c.scheme === "bearer") ?? all.find((c) => c.scheme === "basic");
}
