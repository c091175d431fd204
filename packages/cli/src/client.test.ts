import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ApiError, createClient, encodeQuery, parseLines, toProblem } from "@berth/api/client";
import { fakeDaemon, problem } from "./testing.js";

async function* chunks(...parts: string[]) {
  for (const p of parts) yield new TextEncoder().encode(p);
}

describe("api client", () => {
  it("encodes queries: arrays repeat, undefined is left out", () => {
    assert.equal(
      encodeQuery({ all: true, filter: ["a=1", "b=2"], t: undefined, n: 3 }),
      "?all=true&filter=a%3D1&filter=b%3D2&n=3",
    );
    assert.equal(encodeQuery({}), "");
  });
  it("parses NDJSON split across chunks, and SSE data lines", async () => {
    const got: unknown[] = [];
    for await (const x of parseLines(chunks('{"a":1}\n{"a"', ':2}\n\n{"a":3}'))) got.push(x);
    assert.deepEqual(got, [{ a: 1 }, { a: 2 }, { a: 3 }]);
    const sse: unknown[] = [];
    for await (const x of parseLines(chunks('event: x\ndata: {"type":"t"}\n\n: ping\n'), true)) sse.push(x);
    assert.deepEqual(sse, [{ type: "t" }]);
  });
  it("problem bodies, and plain-text errors made into problems", () => {
    assert.equal(
      toProblem(404, '{"detail":"no such container","kind":"not-found","title":"Not Found","status":404,"type":"x"}')
        .kind,
      "not-found",
    );
    const p = toProblem(502, "bad gateway");
    assert.deepEqual([p.kind, p.detail, p.status], ["internal", "bad gateway", 502]);
    assert.equal(toProblem(409, "").kind, "conflict");
  });
  it("calls routes by id with params, query and a JSON body", async () => {
    const d = fakeDaemon({
      stopContainer: () => ({}),
      createContainer: ({ body }) => ({ status: 201, body: { id: "1", ...(body as object) } }),
    });
    const api = createClient(d);
    assert.equal(await api.stopContainer({ params: { id: "a b" }, query: { t: 5 } }), undefined);
    assert.deepEqual(d.calls[0], { id: "stopContainer", params: { id: "a b" }, query: "?t=5", body: undefined });
    const c = await api.createContainer({ body: { image: "busybox" } });
    assert.equal(c.id, "1");
  });
  it("throws ApiError carrying the Problem", async () => {
    const api = createClient(fakeDaemon({ getContainer: () => problem(404, "not-found", "no such container 'x'") }));
    await assert.rejects(api.getContainer({ params: { id: "x" } }), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 404);
      assert.equal(e.kind, "not-found");
      assert.equal(e.message, "no such container 'x'");
      return true;
    });
  });
  it("stream routes yield parsed lines", async () => {
    const api = createClient(fakeDaemon({ containerLogs: () => ({ lines: [{ text: "a" }, { text: "b" }] }) }));
    const texts: string[] = [];
    for await (const l of await api.containerLogs({ params: { id: "w" }, query: { follow: true } })) texts.push(l.text);
    assert.deepEqual(texts, ["a", "b"]);
  });
});
