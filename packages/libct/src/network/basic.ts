/**
 * The built-in networks, which need no set-up on the host: "none" (a namespace of the container's own with
 * only loopback, Docker's `--network none`) and "host" (the host's namespace, `--network host`).
 */
import type { NetworkAttachment, NetworkAttachRequest, NetworkDriver } from "./driver.js";

const LOOPBACK = { name: "lo", addresses: ["127.0.0.1/8", "::1/128"] } as const;

export const noneNetwork: NetworkDriver = {
  name: "none",
  serves: (network) => network === "none",
  networks: () => ["none"],
  attach: async (req: NetworkAttachRequest): Promise<NetworkAttachment> => ({
    driver: "none",
    network: "none",
    containerId: req.containerId,
    namespace: "private",
    interfaces: [LOOPBACK],
  }),
  detach: async () => {},
};

export const hostNetwork: NetworkDriver = {
  name: "host",
  serves: (network) => network === "host",
  networks: () => ["host"],
  attach: async (req: NetworkAttachRequest): Promise<NetworkAttachment> => ({
    driver: "host",
    network: "host",
    containerId: req.containerId,
    namespace: "host",
    interfaces: [],
  }),
  detach: async () => {},
};
