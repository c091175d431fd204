import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { hostsFile, resolvConf, writeEtcFiles } from "./etc-files.js";

const lo = { name: "lo", addresses: ["127.0.0.1/8", "::1/128"] };

describe("etc files (Docker's hostname, hosts, resolv.conf)", () => {
  it("hosts: the host's with the host's network, else localhost and the container's own addresses", () => {
    assert.equal(hostsFile("web", { namespace: "host", interfaces: [] }, "10.0.0.1 h\n"), "10.0.0.1 h\n");
    const own = hostsFile(
      "web",
      { namespace: { path: "/run/netns/x" }, interfaces: [lo, { name: "eth0", addresses: ["10.88.0.5/16"] }] },
      "ignored",
    );
    assert.match(own, /^127\.0\.0\.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n/);
    assert.match(own, /\n10\.88\.0\.5\tweb\n$/);
    assert.doesNotMatch(own, /127\.0\.0\.1\tweb/, "loopback is not the container's address");
  });

  it("resolv.conf: the driver's DNS, else the host's, without loopback servers in a namespace of its own", () => {
    const host = "# from the host\nnameserver 127.0.0.53\nnameserver 10.1.1.1\nnameserver ::1\nsearch lan\n";
    assert.equal(resolvConf({ namespace: "host" }, host), host);
    assert.equal(resolvConf({ namespace: "private" }, host), "# from the host\nnameserver 10.1.1.1\nsearch lan\n");
    assert.equal(
      resolvConf(
        { namespace: "private", dns: { nameservers: ["10.88.0.1"], search: ["a.b"], options: ["ndots:2"] } },
        host,
      ),
      "nameserver 10.88.0.1\nsearch a.b\noptions ndots:2\n",
    );
  });

  it("writes the three files into the container's directory and mounts them over /etc", () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-etc-"));
    try {
      const hostEtc = join(dir, "host");
      const mounts = writeEtcFiles(dir, "web", { namespace: "private", interfaces: [lo] }, hostEtc);
      assert.deepEqual(
        mounts.map((m) => m.type === "bind" && [m.source, m.destination]),
        ["hostname", "hosts", "resolv.conf"].map((n) => [join(dir, n), `/etc/${n}`]),
      );
      assert.equal(readFileSync(join(dir, "hostname"), "utf8"), "web\n");
      assert.equal(readFileSync(join(dir, "resolv.conf"), "utf8"), "", "no host resolv.conf: an empty one");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
