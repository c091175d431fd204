import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { isLibctError } from "../errors.js";
import { networkDriverSuite } from "./conformance.js";
import { hostNetwork, Networks, noneNetwork } from "./index.js";

networkDriverSuite(noneNetwork, "none");
networkDriverSuite(hostNetwork, "host");

describe("Networks", () => {
  it("sends each attachment to the driver that serves its network and refuses unknown ones", async () => {
    const nets = new Networks();
    assert.deepEqual(nets.names(), ["none", "host"]);
    assert.equal((await nets.attach({ containerId: "a", network: "host" })).namespace, "host");
    const none = await nets.attach({ containerId: "a", network: "none" });
    assert.equal(none.namespace, "private");
    await nets.detach(none);
    await assert.rejects(
      nets.attach({ containerId: "a", network: "bridge0" }),
      (err) => isLibctError(err) && err.kind === "not-found" && /use one of: none, host/.test(err.message),
    );
    await assert.rejects(
      nets.detach({ ...none, driver: "cni" }),
      (err) => isLibctError(err) && err.kind === "unavailable",
    );
  });
});
