import { LibctError } from "../errors.js";
import { hostNetwork, noneNetwork } from "./basic.js";
import type { NetworkAttachment, NetworkAttachRequest, NetworkDriver } from "./driver.js";

export { hostNetwork, noneNetwork } from "./basic.js";
export * from "./driver.js";

/**
 * The host's networks: each request goes to the driver that serves the network it names. berthd holds one
 * (main.ts); a driver added later (CNI bridges) joins the list it is built with.
 */
export class Networks {
  private readonly drivers: readonly NetworkDriver[];

  constructor(drivers: readonly NetworkDriver[] = [noneNetwork, hostNetwork]) {
    this.drivers = drivers;
  }

  /** Every network name any driver serves. */
  names(): string[] {
    return this.drivers.flatMap((d) => d.networks());
  }

  async attach(req: NetworkAttachRequest): Promise<NetworkAttachment> {
    const driver = this.drivers.find((d) => d.serves(req.network));
    if (!driver) {
      throw new LibctError(
        "not-found",
        `no network '${req.network}' on this host; use one of: ${this.names().join(", ")}`,
      );
    }
    return driver.attach(req);
  }

  /** Undoes an attachment through the driver that made it; rejects (unavailable) if that driver is not loaded. */
  async detach(attachment: NetworkAttachment): Promise<void> {
    const driver = this.drivers.find((d) => d.name === attachment.driver);
    if (!driver) {
      throw new LibctError(
        "unavailable",
        `network driver '${attachment.driver}' of container ${attachment.containerId} is not loaded; it cannot be detached`,
      );
    }
    await driver.detach(attachment);
  }
}
