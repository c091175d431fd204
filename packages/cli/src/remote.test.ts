/**
 * The CLI against berthd's TCP API: `berth token create|ls|rm` over the unix socket, then BERTH_HOST=tcp://,
 * BERTH_TOKEN and BERTH_TLS_CA from "another machine" (the same CLI with a different environment).
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BUNDLE, cliSkipReason, type Result, TestBerthd } from "./testing/berthd.js";

const skip = cliSkipReason();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe("berth over TCP with TLS and a bearer token", { skip, timeout: 300_000 }, () => {
  let d: TestBerthd;
  let remote: Record<string, string>;

  before(async () => {
    const port = await freePort();
    d = await TestBerthd.start("bt-", 120_000, ["--tcp", `127.0.0.1:${port}`]);
    remote = { BERTH_HOST: `tcp://127.0.0.1:${port}`, BERTH_TLS_CA: join(d.base, "r", "tls", "server.crt") };
    const boot = await d.berth("image", "bootstrap", "busybox");
    assert.equal(boot.code, 0, boot.err);
  });
  after(async () => {
    await d?.stop();
  });

  it("token create prints the token once; ls shows it; the remote CLI runs containers with it", async () => {
    const made = await d.berth("token", "create", "--name", "laptop");
    assert.equal(made.code, 0, made.err);
    const token = made.out.trim();
    assert.match(token, /^bth_[0-9a-f]{12}_\S{43}$/);
    assert.match(made.err, /shown only now/);

    const ls = await d.berth("token", "ls", "--format", "json");
    assert.equal(ls.code, 0, ls.err);
    const rows = ls.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      rows.map((r) => r.Name),
      ["laptop"],
    );
    assert.ok(!ls.out.includes(token.slice(-43)), "ls never shows a secret");
    assert.equal((await d.berth("token", "ls", "--format", "{{.Name}}")).out, "laptop\n");

    const env = { ...remote, BERTH_TOKEN: token };
    const run = await d.berthWith(
      env,
      "run",
      "--rm",
      "--network",
      "none",
      "busybox",
      "sh",
      "-c",
      "echo over-tls; echo err-over-tls >&2; exit 7",
    );
    assert.equal(run.code, 7, run.err);
    assert.equal(run.out, "over-tls\n");
    assert.equal(run.err, "err-over-tls\n", "stdout and stderr apart over TLS too");
    // stdin over TLS: the client's end of input reaches the container and its output still comes back.
    const cat = await d.berthIn(env, "piped\n", "run", "-i", "--rm", "--network", "none", "busybox", "cat");
    assert.equal(cat.code, 0, cat.err);
    assert.equal(cat.out, "piped\n");
    const ps = await d.berthWith(env, "ps", "-a", "--format", "{{.Names}}");
    assert.equal(ps.code, 0, ps.err);
  });

  it("run through its shebang line, berth trusts NODE_EXTRA_CA_CERTS for TLS although Node skipped it at start", async () => {
    const token = (await d.berth("token", "create", "--name", "extra-ca")).out.trim();
    // The bundle executed as the installed `berth` is: the shebang line moves NODE_EXTRA_CA_CERTS aside
    // (so Node does not parse it at start-up) and the CLI trusts it when it connects over TLS.
    const viaShebang = (env: Record<string, string>, ...args: string[]) =>
      new Promise<Result>((resolve) => {
        const { BERTH_TLS_CA: _ca, NODE_EXTRA_CA_CERTS: _extra, ...base } = process.env;
        execFile(BUNDLE, args, { env: { ...base, ...env } }, (err, out, errOut) =>
          resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, out, err: errOut }),
        );
      });
    const env = { BERTH_HOST: remote.BERTH_HOST!, BERTH_TOKEN: token };
    const trusted = await viaShebang({ ...env, NODE_EXTRA_CA_CERTS: remote.BERTH_TLS_CA! }, "ps", "-a");
    assert.equal(trusted.code, 0, trusted.err);
    assert.match(trusted.out, /CONTAINER ID/);
    const untrusted = await viaShebang(env, "ps", "-a");
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.err, /BERTH_TLS_CA/);
    // Inside, the CLI sees the variable again (for the processes it starts) and Node did not load it.
    const probe = await viaShebang({ NODE_EXTRA_CA_CERTS: "/nonexistent/ca.pem" }, "version", "--format", "json");
    assert.doesNotMatch(probe.err, /Ignoring extra certs/, "Node must not read NODE_EXTRA_CA_CERTS at start-up");
    assert.equal((await d.berth("token", "rm", "extra-ca")).code, 0);
  });

  it("without the CA, a bad token, or a revoked one, the CLI fails and says what to do", async () => {
    const token = (await d.berth("token", "create", "--name", "tmp")).out.trim();
    const noCa = await d.berthWith({ BERTH_HOST: remote.BERTH_HOST!, BERTH_TOKEN: token }, "ps");
    assert.notEqual(noCa.code, 0);
    assert.match(noCa.err, /BERTH_TLS_CA/);
    const bad = await d.berthWith({ ...remote, BERTH_TOKEN: `${token.slice(0, -3)}abc` }, "ps");
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /token is not valid/);
    const none = await d.berthWith(remote, "ps");
    assert.notEqual(none.code, 0);
    assert.match(none.err, /berth token create/);
    const overTcp = await d.berthWith({ ...remote, BERTH_TOKEN: token }, "token", "create");
    assert.notEqual(overTcp.code, 0);
    assert.match(overTcp.err, /unix socket/);

    assert.equal((await d.berth("token", "rm", "tmp")).code, 0);
    const revoked = await d.berthWith({ ...remote, BERTH_TOKEN: token }, "ps");
    assert.notEqual(revoked.code, 0);
    const missing = await d.berth("token", "rm", "tmp");
    assert.notEqual(missing.code, 0);
    assert.match(missing.err, /no such token 'tmp'/);
    const short = await d.berth("token", "create", "--expiry", "10s");
    assert.equal(short.code, 125);
    assert.match(short.err, /at least 1m/);
  });
});
