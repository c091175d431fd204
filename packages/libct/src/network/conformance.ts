/**
 * The one test suite every NetworkDriver runs (shared/ARCHITECTURE.md: one conformance suite per driver
 * interface): attach then detach, idempotence, and a container really running on what attach returned.
 * A driver's test file is one call: networkDriverSuite(hostNetwork, "host").
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { openTestLibct } from "../testing/libct-env.js";
import { needsRoot } from "../testing/slow.js";
import type { NetworkDriver } from "./driver.js";

export const networkDriverSuite = (driver: NetworkDriver, network: string) =>
  describe(`${driver.name} satisfies NetworkDriver (network ${network})`, () => {
    it("serves the network it lists, and only what it lists", () => {
      assert.ok(driver.networks().includes(network));
      assert.ok(driver.serves(network));
      assert.ok(!driver.serves(`${network}-no-such`));
    });

    it("attaches with what a spec needs, the same again for the same id, and detaches twice", async () => {
      const a = await driver.attach({ containerId: "c0ffee", network, hostname: "web" });
      assert.equal(a.driver, driver.name);
      assert.equal(a.network, network);
      assert.equal(a.containerId, "c0ffee");
      assert.ok(a.namespace === "private" || a.namespace === "host" || a.namespace.path.startsWith("/"));
      for (const i of a.interfaces) for (const addr of i.addresses) assert.match(addr, /\/\d+$/, "CIDR form");
      assert.deepEqual(await driver.attach({ containerId: "c0ffee", network, hostname: "web" }), a);
      await driver.detach(a);
      await driver.detach(a);
    });

    it("a container on the attachment sees its interfaces", needsRoot, async (t) => {
      const env = await openTestLibct(t);
      const id = env.id(`net-${driver.name}`);
      const a = await driver.attach({ containerId: id, network });
      t.after(() => driver.detach(a));
      const namespaces = a.namespace === "private" ? {} : { network: a.namespace };
      await env.lib.create({
        id,
        description: env.app({ namespaces, process: { args: ["/bin/cat", "/proc/net/dev"] } }),
      });
      await env.lib.start(id);
      assert.equal((await env.lib.wait(id)).exitCode, 0);
      const seen = (await env.lib.logs(id))
        .filter((l) => l.stream === "stdout")
        .map((l) => l.text.trim().split(":")[0])
        .filter((n): n is string => n !== undefined && !n.includes("|"));
      if (a.namespace === "host") {
        // The host's own interfaces, all of them.
        const host = readFileSync("/proc/net/dev", "utf8")
          .split("\n")
          .slice(2)
          .map((l) => l.trim().split(":")[0])
          .filter(Boolean);
        assert.deepEqual([...seen].sort(), [...host].sort());
      } else {
        // Its own namespace: exactly the interfaces attach reported.
        assert.deepEqual([...seen].sort(), a.interfaces.map((i) => i.name).sort());
      }
    });
  });
