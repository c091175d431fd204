/**
 * The TCP API: TLS with berthd's own certificate (kept across restarts), bearer tokens made over the unix
 * socket, 401 without a valid token on every route including upgrades, 403 for token management over TCP.
 */
import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "@berth/libct/testing/registry";
import { TokenService } from "./services/tokens.js";
import { openDb } from "./store/db.js";
import { TokenRepo } from "./store/tokens.js";
import { startTestDaemon, type TestDaemon } from "./testing/daemon.js";

const needsRoot = { skip: process.getuid?.() === 0 ? false : "needs root (integration test)" };

interface TcpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read replies field by field
  json: any;
  text: string;
}

describe("berthd on TCP: TLS and bearer tokens", needsRoot, () => {
  let d: TestDaemon;
  let port: number;
  let ca: Buffer;

  before(async () => {
    port = await freePort();
    d = await startTestDaemon({ args: ["--tcp", `127.0.0.1:${port}`] });
    ca = readFileSync(join(d.root, "tls", "server.crt"));
  });
  after(async () => {
    if (!d) return;
    const problems = await d.cleanup();
    assert.deepEqual(problems, [], `leaked after the tests (log: ${d.logFile})`);
  });

  const tcp = (
    method: string,
    path: string,
    opts: { token?: string; body?: unknown; headers?: Record<string, string>; ca?: Buffer | null } = {},
  ): Promise<TcpReply> =>
    new Promise((resolve, reject) => {
      const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port,
          method,
          path,
          ...(opts.ca === null ? {} : { ca: opts.ca ?? ca }),
          headers: {
            ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
            ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}),
            ...opts.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {}
            resolve({ status: res.statusCode ?? 0, headers: res.headers, json, text });
          });
        },
      );
      req.on("error", reject);
      req.end(payload);
    });

  const newToken = async (body: Record<string, unknown> = {}) => {
    const r = await d.request("POST", "/1.0/tokens", body);
    assert.equal(r.status, 201, r.text);
    return r.json as { id: string; name: string; token: string; createdAt: string; expiresAt?: string };
  };

  it("serves TLS with a self-signed certificate for 127.0.0.1, and no plaintext", async () => {
    const cert = new X509Certificate(ca);
    assert.match(cert.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
    assert.match(cert.subject, /O=berth/);
    const key = readFileSync(join(d.root, "tls", "server.key"));
    assert.ok(cert.checkPrivateKey((await import("node:crypto")).createPrivateKey(key)));
    // Without the CA, verification fails: the client must trust berthd's certificate explicitly.
    await assert.rejects(tcp("GET", "/1.0", { ca: null }), /self-signed certificate/);
    // Plain HTTP on the TLS port gets no API answer.
    const plain = await new Promise<number | string>((resolve) => {
      const req = httpRequest({ host: "127.0.0.1", port, path: "/1.0" }, (res) => resolve(res.statusCode ?? 0));
      req.on("error", (err) => resolve(err.message));
      req.end();
    });
    assert.notEqual(plain, 200);
  });

  it("answers 401 problem+json without a token, with a malformed one, and with an unknown one", async () => {
    for (const token of [undefined, "nope", `bth_000000000000_${"x".repeat(43)}`]) {
      const r = await tcp("GET", "/1.0/containers", token ? { token } : {});
      assert.equal(r.status, 401, `token ${token}: ${r.text}`);
      assert.match(String(r.headers["content-type"]), /application\/problem\+json/);
      assert.match(String(r.headers["www-authenticate"]), /^Bearer/);
      assert.match(r.json.detail, /berth token create/);
    }
    // Upgrades (attach, exec) are guarded too: no 101 without a token.
    const upgrade = await tcp("POST", "/1.0/containers/x/attach?stdin=1", {
      headers: { connection: "Upgrade", upgrade: "tcp" },
    });
    assert.equal(upgrade.status, 401);
  });

  it("a token made over the unix socket opens the TCP API; list shows it without its secret", async () => {
    const t = await newToken({ name: "ci" });
    assert.match(t.token, /^bth_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    assert.equal(t.name, "ci");
    const info = await tcp("GET", "/1.0", { token: t.token });
    assert.equal(info.status, 200, info.text);
    assert.equal(info.json.apiVersion, "1.0");
    const list = await tcp("GET", "/1.0/tokens", { token: t.token });
    assert.equal(list.status, 200);
    const mine = list.json.find((x: { id: string }) => x.id === t.id);
    assert.ok(mine, list.text);
    assert.equal(mine.token, undefined, "the secret is never listed");
    assert.ok(mine.lastUsedAt, "last use is recorded");
    assert.ok(!readFileSync(join(d.root, "berth.db")).includes(t.token), "the database does not hold the secret");
  });

  it("token management is refused over TCP (403) and bad token requests over the socket (4xx)", async () => {
    const t = await newToken();
    const create = await tcp("POST", "/1.0/tokens", { token: t.token, body: {} });
    assert.equal(create.status, 403, create.text);
    assert.match(create.json.detail, /unix socket/);
    const del = await tcp("DELETE", `/1.0/tokens/${t.id}`, { token: t.token });
    assert.equal(del.status, 403);
    const bad = [
      [{ name: "ci" }, 409, /already|exists/],
      [{ name: "../x" }, 400, /name/],
      [{ expiresInSeconds: 5 }, 400, /expiresInSeconds/],
      [{ nope: 1 }, 400, /nope/],
    ] as const;
    const before = (await d.request("GET", "/1.0/tokens")).json.length;
    for (const [body, status, re] of bad) {
      const r = await d.request("POST", "/1.0/tokens", body);
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
      assert.match(r.text, re);
    }
    assert.equal((await d.request("GET", "/1.0/tokens")).json.length, before, "bad requests made no token");
    assert.equal((await d.request("DELETE", "/1.0/tokens/nope")).status, 404);
  });

  it("a revoked token stops working at once", async () => {
    const t = await newToken({ name: "short" });
    assert.equal((await tcp("GET", "/1.0/containers", { token: t.token })).status, 200);
    assert.equal((await d.request("DELETE", "/1.0/tokens/short")).status, 204);
    const r = await tcp("GET", "/1.0/containers", { token: t.token });
    assert.equal(r.status, 401);
    const e = await newToken({ name: "expiring", expiresInSeconds: 60 });
    assert.ok(e.expiresAt && Date.parse(e.expiresAt) > Date.now());
  });

  it("keeps its certificate and tokens across a restart", async () => {
    const t = await newToken({ name: "durable" });
    const before = new X509Certificate(ca).fingerprint256;
    assert.equal(await d.terminate(), 0);
    await d.restart();
    const after = new X509Certificate(readFileSync(join(d.root, "tls", "server.crt"))).fingerprint256;
    assert.equal(after, before);
    assert.equal((await tcp("GET", "/1.0/containers", { token: t.token })).status, 200);
  });
});

describe("TokenService", () => {
  it("refuses an expired token, and keeps only the secret's hash", () => {
    const db = openDb(":memory:");
    const svc = new TokenService(new TokenRepo(db));
    const t = svc.create({ name: "old", expiresInSeconds: 60 });
    assert.equal(svc.verify(`Bearer ${t.token}`).name, "old");
    db.prepare("UPDATE tokens SET expires_at = ? WHERE id = ?").run(new Date(Date.now() - 1000).toISOString(), t.id);
    assert.throws(
      () => svc.verify(`Bearer ${t.token}`),
      (err: Error & { status?: number }) => {
        return err.status === 401 && /expired/.test(err.message);
      },
    );
    const stored = db.prepare("SELECT hash FROM tokens").all() as { hash: string }[];
    assert.deepEqual(
      stored.map((r) => r.hash.length),
      [64],
    );
    assert.ok(!JSON.stringify(stored).includes(t.token.slice(-43)));
    db.close();
  });
});
