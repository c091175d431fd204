import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { DaemonUnreachableError } from "./framework/errors.js";
import { connectWithHandle, connectWithNet, type UnixConnector } from "./handles.js";
import { UnixTransport } from "./transport.js";
import { HttpParseError, type ResponseHead, ResponseParser, unixRequest, unixUpgrade } from "./unix-http.js";

/** Both ways to the socket: Node's bare pipe handle (what the CLI uses) and node:net (its fallback). */
const connectors: [string, UnixConnector][] = [
  [
    "pipe handle",
    connectWithHandle ?? assert.fail("this Node has no pipe_wrap handle: handles.ts falls back to node:net"),
  ],
  ["node:net", connectWithNet],
];

/** Feeds `text` to a parser in pieces of `step` bytes; returns what it reported. */
function parse(text: string, step: number, method = "GET", close = false) {
  const got = { head: undefined as ResponseHead | undefined, body: "", ended: 0 };
  const p = new ResponseParser(method, {
    head: (h) => {
      got.head = h;
    },
    data: (c) => {
      got.body += c.toString("latin1");
    },
    end: () => {
      got.ended++;
    },
  });
  const bytes = Buffer.from(text, "latin1");
  for (let i = 0; i < bytes.length; i += step) p.push(bytes.subarray(i, i + step));
  if (close) p.end();
  return got;
}

describe("ResponseParser", () => {
  const chunked =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n" +
    "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\n";
  it("reads chunked bodies whatever the pieces they arrive in, and joins repeated headers", () => {
    for (const step of [1, 2, 3, 7, 1000]) {
      const got = parse(chunked, step);
      assert.equal(got.head?.status, 200);
      assert.equal(got.head?.headers["x-a"], "1, 2");
      assert.equal(got.body, "hello 0123456789", `step ${step}`);
      assert.equal(got.ended, 1);
    }
  });
  it("reads Content-Length bodies and ignores bytes after them", () => {
    const got = parse("HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nabcdEXTRA", 3);
    assert.deepEqual([got.head?.status, got.body, got.ended], [201, "abcd", 1]);
    const empty = parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1);
    assert.deepEqual([empty.body, empty.ended], ["", 1]);
  });
  it("skips interim 1xx answers; 204, 304 and HEAD answers have no body", () => {
    const got = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 5);
    assert.deepEqual([got.head?.status, got.body, got.ended], [200, "ok", 1]);
    assert.equal(parse("HTTP/1.1 204 No Content\r\n\r\n", 4).ended, 1);
    assert.equal(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 4).ended, 1);
    const head = parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", 4, "HEAD");
    assert.deepEqual([head.body, head.ended], ["", 1]);
  });
  it("reads an unframed body to the end of the connection", () => {
    const got = parse("HTTP/1.0 200 OK\r\n\r\nall of it", 2, "GET", true);
    assert.deepEqual([got.body, got.ended], ["all of it", 1]);
  });
  it("fails on a response cut short, and on framing it cannot trust", () => {
    assert.throws(() => parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 1, "GET", true), HttpParseError);
    assert.throws(() => parse("HTTP/1.1 200 OK\r\nCont", 1, "GET", true), /without answering/);
    assert.throws(() => parse("SSH-2.0-OpenSSH\r\n\r\n", 4), /not an HTTP\/1.x response/);
    assert.throws(() => parse("HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n", 4), /bad content-length/);
    assert.throws(() => parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 4), /bad content-length/);
    assert.throws(() => parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 4), /transfer-encoding/);
    assert.throws(() => parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 4), /chunk size/);
    assert.throws(() => parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n", 8), /CRLF/);
    assert.throws(() => parse("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", 4), /bad header line/);
    assert.throws(() => parse("HTTP/1.1 101 Switching\r\n\r\n", 4), /protocol switch/);
    assert.throws(() => parse(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(70_000)}`, 4096), /larger than/);
  });
  it("keeps header names out of the object's prototype", () => {
    const got = parse("HTTP/1.1 200 OK\r\n__proto__: x\r\nContent-Length: 0\r\n\r\n", 64);
    assert.equal(Object.getOwnPropertyDescriptor(got.head?.headers, "__proto__")?.value, "x");
    assert.equal(Object.getPrototypeOf(got.head?.headers), null);
  });
});

for (const [kind, connect] of connectors)
  describe(`unixRequest (${kind}) against node:http's server`, () => {
    const request = (r: Parameters<typeof unixRequest>[1]) => unixRequest(sock, r, undefined, connect);
    let dir: string;
    let sock: string;
    let server: Server;
    const closed: string[] = [];
    const handlers = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();

    const readAll = async (req: IncomingMessage) => {
      const parts: Buffer[] = [];
      for await (const c of req) parts.push(c as Buffer);
      return Buffer.concat(parts);
    };
    const text = async (body: AsyncIterable<Uint8Array>) => {
      const parts: Buffer[] = [];
      for await (const c of body) parts.push(Buffer.from(c));
      return Buffer.concat(parts).toString("utf8");
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "berth-unix-http-"));
      sock = join(dir, "s.sock");
      server = createServer((req, res) => {
        req.socket.once("close", () => closed.push(req.url ?? ""));
        const h = handlers.get(new URL(req.url ?? "/", "http://x").pathname);
        if (h) h(req, res);
        else res.writeHead(404, { "content-type": "application/problem+json" }).end('{"detail":"no such route"}');
      });
      await new Promise<void>((ok) => server.listen(sock, ok));
      handlers.set("/echo", async (req, res) => {
        const body = await readAll(req);
        res.setHeader("set-cookie", ["a=1", "b=2"]);
        res.end(
          JSON.stringify({
            method: req.method,
            url: req.url,
            te: req.headers["transfer-encoding"] ?? null,
            cl: req.headers["content-length"] ?? null,
            type: req.headers["content-type"] ?? null,
            sha: createHash("sha256").update(body).digest("hex"),
            size: body.length,
          }),
        );
      });
      handlers.set("/stream", async (_req, res) => {
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        for (let i = 0; i < 5; i++) {
          res.write(`{"n":${i}}\n`);
          await sleep(5);
        }
        res.end();
      });
      handlers.set("/big", (_req, res) => {
        const block = Buffer.alloc(64 * 1024, "x");
        res.writeHead(200, { "content-length": String(block.length * 80) });
        let n = 0;
        const pump = () => {
          while (n < 80) {
            n++;
            if (!res.write(block)) return void res.once("drain", pump);
          }
          res.end();
        };
        pump();
      });
      handlers.set("/forever", (_req, res) => {
        res.writeHead(200);
        const t = setInterval(() => res.write("tick\n"), 5);
        res.on("close", () => clearInterval(t));
      });
      handlers.set("/cut", (req, res) => {
        res.writeHead(200, { "content-length": "100" });
        res.write("only part");
        setTimeout(() => req.socket.destroy(), 10);
      });
      handlers.set("/early", (_req, res) => {
        // answers without reading the upload, as berthd does for a missing container
        res.writeHead(404, { "content-type": "application/problem+json" }).end('{"detail":"no such container"}');
      });
      // An upgrade: 101 with a first piece of output in the same write, then the input echoed upper-case until
      // the client half-closes, then a last piece and the end. /refuse answers 404 instead.
      server.on("upgrade", (req: IncomingMessage, socket, head: Buffer) => {
        if (req.url !== "/up") {
          socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 16\r\n\r\n{"detail":"no"}\n');
          return;
        }
        socket.write(
          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nX-Session: s1\r\n\r\n" +
            `body=${head.toString()};`,
        );
        socket.on("data", (b: Buffer) => socket.write(b.toString().toUpperCase()));
        socket.on("end", () => socket.end(";bye"));
      });
      handlers.set("/empty", (req, res) => {
        res
          .writeHead(req.method === "DELETE" ? 204 : 200, { "content-length": "5" })
          .end(req.method === "HEAD" ? "" : "abcde");
      });
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
      rmSync(dir, { recursive: true, force: true });
    });

    it("sends JSON bodies with Content-Length and reads the answer", async () => {
      const res = await request({
        method: "POST",
        path: "/echo?a=1&b=%2F",
        headers: { "content-type": "application/json" },
        body: '{"name":"wéb"}',
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers["set-cookie"], "a=1, b=2");
      const echo = JSON.parse(await text(res.body));
      assert.deepEqual(
        [echo.method, echo.url, echo.cl, echo.te, echo.type],
        ["POST", "/echo?a=1&b=%2F", String(Buffer.byteLength('{"name":"wéb"}')), null, "application/json"],
      );
    });
    it("sends a bodiless POST with Content-Length 0 and a GET with none", async () => {
      const post = JSON.parse(await text((await request({ method: "POST", path: "/echo", headers: {} })).body));
      assert.deepEqual([post.cl, post.te, post.size], ["0", null, 0]);
      const get = JSON.parse(await text((await request({ method: "GET", path: "/echo", headers: {} })).body));
      assert.deepEqual([get.cl, get.te, get.size], [null, null, 0]);
    });
    it("streams an upload chunked, with backpressure, and it arrives whole", async () => {
      const hash = createHash("sha256");
      async function* upload() {
        for (let i = 0; i < 64; i++) {
          const piece = Buffer.alloc(64 * 1024 + i, i);
          hash.update(piece);
          yield piece;
          if (i % 16 === 0) yield new Uint8Array(0); // must not end the chunked body early
        }
      }
      const warnings: Error[] = [];
      const onWarning = (w: Error) => warnings.push(w);
      process.on("warning", onWarning);
      const res = await request({ method: "PUT", path: "/echo", headers: {}, body: upload() });
      const echo = JSON.parse(await text(res.body));
      await sleep(10); // warnings are emitted on the next tick
      process.off("warning", onWarning);
      assert.deepEqual(warnings.map(String), [], "no listener piles up on the socket while it drains");
      assert.equal(echo.te, "chunked");
      assert.equal(echo.size, 64 * 64 * 1024 + (63 * 64) / 2);
      assert.equal(echo.sha, hash.digest("hex"));
    });
    it("reads a streamed answer piece by piece as it comes", async () => {
      const res = await request({ method: "GET", path: "/stream", headers: {} });
      assert.equal(res.headers["transfer-encoding"], "chunked");
      const lines: unknown[] = [];
      for await (const c of res.body)
        lines.push(
          ...Buffer.from(c)
            .toString()
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l)),
        );
      assert.deepEqual(
        lines,
        [0, 1, 2, 3, 4].map((n) => ({ n })),
      );
    });
    it("reads a large answer to a slow reader without losing bytes", async () => {
      const res = await request({ method: "GET", path: "/big", headers: {} });
      let size = 0;
      let odd = 0;
      for await (const c of res.body) {
        size += c.length;
        for (const b of c) if (b !== 0x78) odd++;
        if (size < 1 << 20) await sleep(1);
      }
      assert.deepEqual([size, odd], [80 * 64 * 1024, 0]);
    });
    it("takes an early answer while the upload is still going", async () => {
      let sent = 0;
      async function* slow() {
        for (let i = 0; i < 20; i++) {
          sent++;
          yield Buffer.from("data\n");
          await sleep(5);
        }
      }
      const res = await request({ method: "PUT", path: "/early", headers: {}, body: slow() });
      assert.equal(res.status, 404);
      assert.match(await text(res.body), /no such container/);
      await sleep(30);
      assert.ok(sent < 20, `the upload stopped once the answer was in (sent ${sent} of 20)`);
    });
    it("unixUpgrade: a 101 gives a paused stream, the bytes that came with it first; input and a half-close reach the server", async () => {
      const up = await unixUpgrade(
        sock,
        { method: "POST", path: "/up", headers: { connection: "Upgrade", upgrade: "tcp" }, body: "{}" },
        connect,
      );
      assert.ok(!("status" in up), "an upgraded stream");
      assert.equal(up.headers["x-session"], "s1");
      await sleep(20); // paused: nothing is lost while no one listens
      let got = "";
      const ended = new Promise<void>((ok) => up.on("end", ok));
      up.on("data", (c) => {
        got += Buffer.from(c).toString();
      });
      up.resume();
      up.write(Buffer.from("abc"));
      await sleep(20);
      up.end();
      await ended;
      assert.equal(got, "body={};ABC;bye");
      const refused = await unixUpgrade(
        sock,
        { method: "POST", path: "/nope", headers: { connection: "Upgrade", upgrade: "tcp" } },
        connect,
      );
      assert.ok("status" in refused);
      assert.equal(refused.status, 404);
      assert.equal(await text(refused.body), '{"detail":"no"}\n');
    });
    it("HEAD and 204 answers end without a body", async () => {
      const head = await request({ method: "HEAD", path: "/empty", headers: {} });
      assert.deepEqual([head.status, head.headers["content-length"], await text(head.body)], [200, "5", ""]);
      const del = await request({ method: "DELETE", path: "/empty", headers: {} });
      assert.deepEqual([del.status, await text(del.body)], [204, ""]);
    });
    it("leaving the body early, or cancel, closes the connection; the reader sees the end", async () => {
      const before = closed.length;
      const res = await request({ method: "GET", path: "/forever", headers: {} });
      for await (const c of res.body) {
        assert.match(Buffer.from(c).toString(), /tick/);
        break;
      }
      const res2 = await request({ method: "GET", path: "/forever", headers: {} });
      const it2 = res2.body[Symbol.asyncIterator]();
      await it2.next();
      res2.cancel();
      for (;;) if ((await it2.next()).done) break;
      for (let i = 0; i < 100 && closed.length < before + 2; i++) await sleep(10);
      assert.equal(closed.length, before + 2);
    });
    it("an answer cut short fails the body's reader", async () => {
      const res = await request({ method: "GET", path: "/cut", headers: {} });
      await assert.rejects(text(res.body), /before the response was complete/);
    });
    it("an abort signal fails the request", async () => {
      const ac = new AbortController();
      const res = await request({ method: "GET", path: "/forever", headers: {}, signal: ac.signal });
      const reading = text(res.body);
      ac.abort();
      await assert.rejects(reading, /aborted/);
      const pre = new AbortController();
      pre.abort();
      await assert.rejects(request({ method: "GET", path: "/echo", headers: {}, signal: pre.signal }), /aborted/);
    });
    it("refuses header values that would start a header of their own", async () => {
      await assert.rejects(
        request({ method: "GET", path: "/echo", headers: { "x-a": "1\r\nx-b: 2" } }),
        /bad header 'x-a'/,
      );
      await assert.rejects(
        request({ method: "GET", path: "/echo", headers: { "x-a": "snowman \u2603" } }),
        /bad header 'x-a'/,
      );
      await assert.rejects(request({ method: "GET", path: "/a b", headers: {} }), /bad request path/);
    });
    it("a missing socket and a socket nobody listens on fail as node:net's connect does", async () => {
      const none = join(dir, "none.sock");
      await assert.rejects(
        unixRequest(none, { method: "GET", path: "/", headers: {} }, undefined, connect),
        (e: NodeJS.ErrnoException) => {
          assert.deepEqual([e.code, e.syscall, e.message], ["ENOENT", "connect", `connect ENOENT ${none}`]);
          return true;
        },
      );
      const plain = join(dir, "plain.sock");
      writeFileSync(plain, "");
      await assert.rejects(unixRequest(plain, { method: "GET", path: "/", headers: {} }, undefined, connect), {
        code: "ECONNREFUSED",
      });
    });
    it("UnixTransport says berthd is unreachable when no socket or nobody listens", async () => {
      const missing = new UnixTransport({ kind: "unix", socketPath: join(dir, "none.sock"), display: "none.sock" });
      await assert.rejects(missing.request({ method: "GET", path: "/1.0", headers: {} }), (e: unknown) => {
        assert.ok(e instanceof DaemonUnreachableError);
        assert.match(e.message, /none\.sock/);
        return true;
      });
      const stale = join(dir, "stale.sock");
      const s2 = createServer();
      await new Promise<void>((ok) => s2.listen(stale, ok));
      await new Promise((ok) => s2.close(ok)); // node removes the socket file on close: put a plain file there
      writeFileSync(stale, "");
      const refused = new UnixTransport({ kind: "unix", socketPath: stale, display: stale });
      await assert.rejects(refused.request({ method: "GET", path: "/1.0", headers: {} }), DaemonUnreachableError);
    });
  });
