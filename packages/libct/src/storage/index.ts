import type { CommandRunner } from "../system/command.js";
import type { StorageDriver } from "./driver.js";
import { OverlayDriver } from "./overlay/overlay.js";

export * from "./driver.js";
export { OverlayDriver } from "./overlay/overlay.js";

/** Storage drivers by name (incus `load.go` style); btrfs and loop-image join later. */
export const storageDrivers = {
  overlay: (root: string, cmd: CommandRunner) => OverlayDriver.open(root, cmd),
} satisfies Record<string, (root: string, cmd: CommandRunner) => Promise<StorageDriver>>;

export type StorageDriverName = keyof typeof storageDrivers;
