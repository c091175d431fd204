/**
 * The built-in networks, which need no set-up on the host: "none" (a namespace of the container's own with
 * only loopback, Docker's `--network none`) and "host" (the host's namespace, `--network host`).
 */
import type { NetworkAttachment, NetworkDriver, NetworkInterface } from "./driver.js";

/** A driver serving one network whose attachment is the same for every container: nothing to set up or undo. */
function fixedNetwork(
  name: string,
  namespace: NetworkAttachment["namespace"],
  interfaces: readonly NetworkInterface[],
): NetworkDriver {
  return {
    name,
    serves: (network) => network === name,
    networks: () => [name],
    attach: async (req) => ({ driver: name, network: name, containerId: req.containerId, namespace, interfaces }),
    detach: async () => {},
  };
}

export const noneNetwork = fixedNetwork("none", "private", [{ name: "lo", addresses: ["127.0.0.1/8", "::1/128"] }]);
export const hostNetwork = fixedNetwork("host", "host", []);
