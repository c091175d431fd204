/**
 * Network drivers: `attach` gives a container its network before the runtime creates it, and `detach` takes
 * it away once the container is gone. What attach returns is data (the namespace the spec uses, the
 * interfaces and DNS the container sees), stored with the container and handed back to `detach`, so that a
 * restarted berthd can undo what an earlier one did. Drivers are chosen by network name through `Networks`
 * (index.ts). "none" and "host" are built in (basic.ts); a bridge driver on CNI plugs in here, returning a
 * namespace it made and configured as `{ path }` (shared/ARCHITECTURE.md: `network.attach`).
 */

export interface NetworkAttachRequest {
  /** The container's id: the key of its attachment (CNI's CNI_CONTAINERID). */
  readonly containerId: string;
  /** The network as the user named it (`--network NAME`). */
  readonly network: string;
  /** The container's hostname, for drivers that publish it (DNS). */
  readonly hostname?: string;
}

export interface NetworkInterface {
  /** The interface's name inside the container, e.g. "lo" or "eth0". */
  readonly name: string;
  readonly mac?: string;
  /** Addresses in CIDR form, e.g. "127.0.0.1/8". */
  readonly addresses: readonly string[];
  readonly gateway?: string;
}

export interface NetworkDns {
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
  readonly options: readonly string[];
}

/** Where a container's network namespace comes from. */
export type NetworkNamespace =
  /** A new one that the runtime makes: loopback only. */
  | "private"
  /** The host's. */
  | "host"
  /** One the driver made and configured (a bind-mounted netns), which the runtime joins. */
  | { readonly path: string };

export interface NetworkAttachment {
  /** The driver that made it (the one `detach` goes to). */
  readonly driver: string;
  readonly network: string;
  readonly containerId: string;
  readonly namespace: NetworkNamespace;
  /** The interfaces inside the container, for inspect (with the host's network: none listed). */
  readonly interfaces: readonly NetworkInterface[];
  /** The DNS the container should use; left out: the host's resolv.conf applies. */
  readonly dns?: NetworkDns;
}

export interface NetworkDriver {
  readonly name: string;
  /** Whether this driver serves the network named `network`. */
  serves(network: string): boolean;
  /** The names of the networks it serves, for listings and error messages. */
  networks(): readonly string[];
  /**
   * Connects a container to a network it serves. A failure leaves nothing behind. Attaching an id that is
   * attached already gives the same attachment (berthd may call it again after a crash).
   */
  attach(req: NetworkAttachRequest): Promise<NetworkAttachment>;
  /** Undoes `attach`. Idempotent: detaching twice, or what is already gone, succeeds. */
  detach(attachment: NetworkAttachment): Promise<void>;
}
