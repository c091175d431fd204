/**
 * The registry client against real registries: Debian's docker-registry (plain, and htpasswd + TLS), skopeo for
 * interoperability, and a loopback proxy in this file that counts, delays, cuts or corrupts responses and can
 * play a bearer-token server.
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { isLibctError } from "../../errors.js";
import { startRegistry, type TestRegistry, writeIndex, writeRandomImage } from "../../testing/registry.js";
import { defaultBusyboxCacheDir, ensureBusyboxImage } from "../busybox.js";
import { ContentStore } from "../store/content-store.js";
import { login } from "./login.js";
import { OciDirBlobs } from "./oci-dir.js";
import { pullImage } from "./pull.js";
import { pushImage } from "./push.js";
import { storeBlobs } from "./store-blobs.js";
import type { Descriptor, ProgressEvent } from "./types.js";

const run = promisify(execFile);
const insecure = { tlsVerify: false } as const;

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "berth-regtest-"));
  dirs.push(d);
  return d;
}
const freshSink = async () => new OciDirBlobs(await tempDir());

const rejectsWith = (kind: string, message: RegExp) => (err: unknown) => {
  assert.ok(isLibctError(err), `expected a LibctError, got ${err}`);
  assert.equal(err.kind, kind, err.message);
  assert.match(err.message, message);
  return true;
};

interface ProxyRequest {
  readonly method: string;
  readonly url: string;
  readonly range?: string;
  readonly authorization?: string;
}

/** A loopback HTTP proxy in front of a plain registry, with knobs to misbehave. */
class MisbehavingProxy {
  readonly requests: ProxyRequest[] = [];
  /** Cut the body of the next GET of this digest after `bytes` bytes (once). */
  cut: { digest: string; bytes: number } | undefined;
  /** Flip one byte in every GET of this blob digest. */
  corrupt: string | undefined;
  /** Delay blob responses, to see how many are in flight at once. */
  delayMs = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** Play a bearer-token registry: require this token, served by /token for these credentials. */
  bearer: { token: string; user: string; password: string } | undefined;
  tokenRequests: URL[] = [];
  #server: http.Server;
  port = 0;

  constructor(readonly target: string) {
    this.#server = http.createServer((req, res) => this.#handle(req, res));
  }

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  stop(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? "/";
    this.requests.push({
      method: req.method ?? "",
      url,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    if (this.bearer && url.startsWith("/token")) {
      const u = new URL(url, `http://${this.url}`);
      this.tokenRequests.push(u);
      const expected = `Basic ${Buffer.from(`${this.bearer.user}:${this.bearer.password}`).toString("base64")}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401).end();
        return;
      }
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ token: this.bearer.token, expires_in: 300 }));
      return;
    }
    if (this.bearer && req.headers.authorization !== `Bearer ${this.bearer.token}`) {
      res.writeHead(401, {
        "www-authenticate": `Bearer realm="http://${this.url}/token",service="berth-test",scope="repository:x:pull"`,
        "content-type": "application/json",
      });
      res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
      return;
    }
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url)?.[1];
    const { authorization: _drop, ...headers } = req.headers;
    const upstream = http.request(
      { host: "127.0.0.1", port: Number(this.target.split(":")[1]), method: req.method, path: url, headers },
      async (up) => {
        if (blob && req.method === "GET") {
          this.inFlight++;
          this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
          if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
        }
        res.writeHead(up.statusCode ?? 502, up.headers);
        const cut = blob && this.cut?.digest === blob ? this.cut : undefined;
        if (cut) this.cut = undefined;
        let sent = 0;
        let flipped = false;
        up.on("data", (chunk: Buffer) => {
          let out = chunk;
          if (blob && this.corrupt === blob && !flipped) {
            out = Buffer.from(chunk);
            out[0] = (out[0] ?? 0) ^ 0xff;
            flipped = true;
          }
          if (cut && sent + out.length >= cut.bytes) {
            // Stall, then drop: the client has consumed what came before the connection goes.
            res.write(out.subarray(0, cut.bytes - sent), () => setTimeout(() => res.socket?.destroy(), 150));
            up.destroy();
            return;
          }
          sent += out.length;
          res.write(out);
        });
        up.on("end", () => res.end());
        res.on("close", () => {
          if (blob && req.method === "GET") this.inFlight--;
        });
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  }
}

const indexRoot = async (layout: string): Promise<Descriptor> => {
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: Descriptor[] };
  return index.manifests[0]!;
};

describe("registry client against docker-registry", () => {
  let reg: TestRegistry;
  let secure: TestRegistry;
  let proxy: MisbehavingProxy;
  let busybox: Awaited<ReturnType<typeof ensureBusyboxImage>>;

  before(async () => {
    // Assigned as each starts, so `after` stops whatever did start when another fails.
    await Promise.all([
      startRegistry().then((r) => {
        reg = r;
      }),
      startRegistry({ auth: "htpasswd", tls: true }).then((r) => {
        secure = r;
      }),
      ensureBusyboxImage(defaultBusyboxCacheDir()).then((b) => {
        busybox = b;
      }),
    ]);
    proxy = await new MisbehavingProxy(reg.url).start();
  });

  after(async () => {
    await Promise.all([reg?.stop(), secure?.stop(), proxy?.stop()]);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it("pushes the busybox layout and pulls it back with the same digests", async () => {
    const src = new OciDirBlobs(busybox.layout);
    const pushed = await pushImage(`${reg.url}/berth/busybox:1`, src, await indexRoot(busybox.layout), insecure);
    assert.equal(pushed.digest, busybox.manifestDigest);
    const sink = await freshSink();
    const pulled = await pullImage(`${reg.url}/berth/busybox:1`, sink, insecure);
    assert.equal(pulled.manifestDigest, busybox.manifestDigest);
    assert.deepEqual(
      pulled.manifest.layers.map((l) => l.digest),
      [busybox.layerDigest],
    );
    assert.equal(pulled.config.os, "linux");
    assert.deepEqual(
      await readFile(sink.blobPath(busybox.layerDigest)),
      await readFile(src.blobPath(busybox.layerDigest)),
    );
    assert.ok(await sink.has(busybox.manifestDigest));
  });

  it("pushes a multi-layer image in chunks, pulls it through a proxy with 3 downloads at once", async () => {
    const img = await writeRandomImage(await freshSink(), [300_000, 200_000, 250_000, 150_000, 100_000]);
    const events: ProgressEvent[] = [];
    await pushImage(`${reg.url}/berth/multi:1`, img.blobs, img.root, {
      ...insecure,
      chunkSize: 64 * 1024,
      onProgress: (e) => events.push(e),
    });
    assert.ok(
      events.some(
        (e) => e.type === "blob" && e.status === "uploading" && e.bytesDone > 0 && e.bytesDone < e.bytesTotal,
      ),
    );
    proxy.delayMs = 150;
    proxy.maxInFlight = 0;
    const pullEvents: ProgressEvent[] = [];
    const sink = await freshSink();
    try {
      const pulled = await pullImage(`${proxy.url}/berth/multi:1`, sink, {
        plainHttp: true,
        concurrency: 3,
        onProgress: (e) => pullEvents.push(e),
      });
      assert.equal(pulled.manifestDigest, img.root.digest);
    } finally {
      proxy.delayMs = 0;
    }
    assert.equal(proxy.maxInFlight, 3);
    for (const layer of img.layers) {
      assert.ok(await sink.has(layer.digest));
      assert.ok(pullEvents.some((e) => e.type === "blob" && e.digest === layer.digest && e.status === "done"));
    }
    // A second push finds every blob present.
    const again: ProgressEvent[] = [];
    await pushImage(`${reg.url}/berth/multi:2`, img.blobs, img.root, { ...insecure, onProgress: (e) => again.push(e) });
    assert.equal(again.filter((e) => e.type === "blob" && e.status === "exists").length, 6);
  });

  it("mounts blobs from another repository instead of uploading them", async () => {
    const img = await writeRandomImage(await freshSink(), [50_000, 60_000]);
    await pushImage(`${reg.url}/team/base:1`, img.blobs, img.root, insecure);
    const events: ProgressEvent[] = [];
    await pushImage(`${reg.url}/team/app:1`, img.blobs, img.root, {
      ...insecure,
      mountFrom: ["team/base"],
      onProgress: (e) => events.push(e),
    });
    const statuses = events.filter((e) => e.type === "blob").map((e) => (e as { status: string }).status);
    assert.deepEqual(statuses.sort(), ["mounted", "mounted", "mounted"]);
    const pulled = await pullImage(`${reg.url}/team/app:1`, await freshSink(), insecure);
    assert.equal(pulled.manifestDigest, img.root.digest);
  });

  it("pulls what skopeo copied, and skopeo inspects what berth pushed", async () => {
    await run("skopeo", [
      ...["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"],
      `oci:${busybox.layout}:latest`,
      `docker://${reg.url}/skopeo/busybox:1`,
    ]);
    const pulled = await pullImage(`${reg.url}/skopeo/busybox:1`, await freshSink(), insecure);
    assert.deepEqual(
      pulled.manifest.layers.map((l) => l.digest),
      [busybox.layerDigest],
    );
    const img = await writeRandomImage(await freshSink(), [10_000, 20_000]);
    await pushImage(`${reg.url}/berth/for-skopeo:1`, img.blobs, img.root, insecure);
    const { stdout } = await run("skopeo", ["inspect", "--tls-verify=false", `docker://${reg.url}/berth/for-skopeo:1`]);
    const info = JSON.parse(stdout) as { Digest: string; Layers: string[]; Architecture: string };
    assert.equal(info.Digest, img.root.digest);
    assert.deepEqual(
      info.Layers,
      img.layers.map((l) => l.digest),
    );
    assert.equal(info.Architecture, "amd64");
  });

  it("chooses linux/amd64 from a manifest list with two platforms", async () => {
    const blobs = await freshSink();
    const arm = await writeRandomImage(blobs, [1000], { os: "linux", architecture: "arm64", variant: "v8" });
    const amd = await writeRandomImage(blobs, [1000], { os: "linux", architecture: "amd64" });
    const index = await writeIndex(blobs, [
      { ...arm.root, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
      { ...amd.root, platform: { os: "linux", architecture: "amd64" } },
    ]);
    const pushed = await pushImage(`${reg.url}/berth/multiarch:1`, blobs, index, insecure);
    assert.equal(pushed.digest, index.digest);
    const sink = await freshSink();
    const pulled = await pullImage(`${reg.url}/berth/multiarch:1`, sink, {
      ...insecure,
      platform: { os: "linux", architecture: "amd64" },
    });
    assert.equal(pulled.manifestDigest, amd.root.digest);
    assert.equal(pulled.index?.digest, index.digest);
    assert.ok(await sink.has(index.digest));
    assert.equal(await sink.has(arm.layers[0]!.digest), false);
    const armPull = await pullImage(`${reg.url}/berth/multiarch:1`, await freshSink(), {
      ...insecure,
      platform: { os: "linux", architecture: "arm64" },
    });
    assert.equal(armPull.manifestDigest, arm.root.digest);
    await assert.rejects(
      pullImage(`${reg.url}/berth/multiarch:1`, await freshSink(), {
        ...insecure,
        platform: { os: "linux", architecture: "s390x" },
      }),
      rejectsWith("not-found", /no image for linux\/s390x; it has linux\/arm64\/v8, linux\/amd64/),
    );
  });

  it("resumes a layer whose connection dropped mid-way with a Range request", async () => {
    const img = await writeRandomImage(await freshSink(), [400_000]);
    await pushImage(`${reg.url}/berth/resume:1`, img.blobs, img.root, insecure);
    const layer = img.layers[0]!;
    proxy.cut = { digest: layer.digest, bytes: 150_000 };
    const before = proxy.requests.length;
    const events: ProgressEvent[] = [];
    const sink = await freshSink();
    const pulled = await pullImage(`${proxy.url}/berth/resume:1`, sink, {
      plainHttp: true,
      onProgress: (e) => events.push(e),
    });
    assert.equal(pulled.manifestDigest, img.root.digest);
    const gets = proxy.requests.slice(before).filter((r) => r.method === "GET" && r.url.endsWith(layer.digest));
    assert.equal(gets.length, 2);
    assert.equal(gets[0]!.range, undefined);
    const start = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? "")?.[1]);
    assert.ok(start > 0 && start <= 150_000, `resumed at ${gets[1]!.range}`);
    assert.ok(events.some((e) => e.type === "blob" && e.status === "retrying"));
    assert.deepEqual(await readFile(sink.blobPath(layer.digest)), await readFile(img.blobs.blobPath(layer.digest)));
  });

  it("pulls into the content store, resuming there too, and pushes from it", async () => {
    const img = await writeRandomImage(await freshSink(), [300_000, 5_000]);
    await pushImage(`${reg.url}/berth/store:1`, img.blobs, img.root, insecure);
    const store = await ContentStore.open(await tempDir());
    const layer = img.layers[0]!;
    proxy.cut = { digest: layer.digest, bytes: 100_000 };
    const before = proxy.requests.length;
    const pulled = await pullImage(`${proxy.url}/berth/store:1`, storeBlobs(store), { plainHttp: true });
    assert.equal(pulled.manifestDigest, img.root.digest);
    const ranged = proxy.requests.slice(before).filter((r) => r.url.endsWith(layer.digest) && r.range);
    assert.equal(ranged.length, 1);
    assert.deepEqual(await store.readBlob(layer.digest), await readFile(img.blobs.blobPath(layer.digest)));
    const pushed = await pushImage(`${reg.url}/berth/from-store:1`, storeBlobs(store), img.root, insecure);
    assert.equal(pushed.digest, img.root.digest);
  });

  it("rejects a corrupted layer and stores nothing of it", async () => {
    const img = await writeRandomImage(await freshSink(), [100_000]);
    await pushImage(`${reg.url}/berth/corrupt:1`, img.blobs, img.root, insecure);
    const layer = img.layers[0]!;
    proxy.corrupt = layer.digest;
    const sink = await freshSink();
    try {
      await assert.rejects(
        pullImage(`${proxy.url}/berth/corrupt:1`, sink, { plainHttp: true }),
        rejectsWith("invalid", /digest mismatch/),
      );
    } finally {
      proxy.corrupt = undefined;
    }
    assert.equal(await sink.has(layer.digest), false);
    assert.equal(await sink.ingestedBytes(layer.digest), 0);
    assert.equal(await sink.has(img.root.digest), false);
  });

  it("rejects an unknown layer media type before downloading, and a missing tag as not-found", async () => {
    const img = await writeRandomImage(await freshSink(), [1000], undefined, "application/x-berth-unknown");
    await pushImage(`${reg.url}/berth/odd:1`, img.blobs, img.root, insecure);
    await assert.rejects(
      pullImage(`${reg.url}/berth/odd:1`, await freshSink(), insecure),
      rejectsWith("invalid", /unknown media type "application\/x-berth-unknown"/),
    );
    await assert.rejects(
      pullImage(`${reg.url}/berth/nothing:here`, await freshSink(), insecure),
      rejectsWith("not-found", /image not found: check the name and tag/),
    );
  });

  it("speaks the bearer-token flow and caches the token", async () => {
    proxy.bearer = { token: "tok-123", user: "alice", password: "pw" };
    proxy.tokenRequests = [];
    try {
      await assert.rejects(
        pullImage(`${proxy.url}/berth/busybox:1`, await freshSink(), { plainHttp: true, authFile: "/nonexistent" }),
        rejectsWith("precondition", new RegExp(`run berth login ${proxy.url}`)),
      );
      proxy.tokenRequests = [];
      const pulled = await pullImage(`${proxy.url}/berth/busybox:1`, await freshSink(), {
        plainHttp: true,
        credentials: { username: "alice", password: "pw" },
      });
      assert.equal(pulled.manifestDigest, busybox.manifestDigest);
      assert.equal(proxy.tokenRequests.length, 1);
      assert.equal(proxy.tokenRequests[0]!.searchParams.get("scope"), "repository:berth/busybox:pull");
      assert.equal(proxy.tokenRequests[0]!.searchParams.get("service"), "berth-test");
    } finally {
      proxy.bearer = undefined;
    }
  });

  describe("htpasswd + TLS", () => {
    let authFile: string;
    before(async () => {
      authFile = join(await tempDir(), "config.json");
    });

    it("refuses anonymous access with a login hint, and a wrong password", async () => {
      await assert.rejects(
        pullImage(`${secure.url}/x/y:1`, await freshSink(), { caFile: secure.caFile!, authFile }),
        rejectsWith("precondition", new RegExp(`authentication required.*run berth login ${secure.url}`)),
      );
      await assert.rejects(
        login(secure.url, secure.username!, "wrong", authFile, { caFile: secure.caFile! }),
        rejectsWith("precondition", /wrong username or password/),
      );
      await assert.rejects(stat(authFile), { code: "ENOENT" });
    });

    it("logs in, pushes and pulls with the CA file, and with tlsVerify false", async () => {
      await login(secure.url, secure.username!, secure.password!, authFile, { caFile: secure.caFile! });
      assert.equal((await stat(authFile)).mode & 0o777, 0o600);
      const stored = JSON.parse(await readFile(authFile, "utf8")) as { auths: Record<string, { auth: string }> };
      assert.equal(
        Buffer.from(stored.auths[secure.url]!.auth, "base64").toString(),
        `${secure.username}:${secure.password}`,
      );
      const img = await writeRandomImage(await freshSink(), [20_000, 30_000]);
      await pushImage(`${secure.url}/berth/secret:1`, img.blobs, img.root, { caFile: secure.caFile!, authFile });
      const withCa = await pullImage(`${secure.url}/berth/secret:1`, await freshSink(), {
        caFile: secure.caFile!,
        authFile,
      });
      assert.equal(withCa.manifestDigest, img.root.digest);
      const noVerify = await pullImage(`${secure.url}/berth/secret:1`, await freshSink(), {
        tlsVerify: false,
        authFile,
      });
      assert.equal(noVerify.manifestDigest, img.root.digest);
      await assert.rejects(
        pullImage(`${secure.url}/berth/secret:1`, await freshSink(), { authFile }),
        rejectsWith("precondition", /not trusted.*CA file.*--tls-verify=false/),
      );
    });
  });
});
