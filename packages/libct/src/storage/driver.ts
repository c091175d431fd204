/**
 * Storage drivers, containerd-snapshotter style: layers are snapshots; `prepare` makes a writable
 * one on top of a committed parent and returns the mounts that make it a root filesystem, as data.
 * The caller performs them (system/mount.ts). Drivers are chosen by name from `storageDrivers`.
 */
import type { Mount } from "../system/mount.js";

export type SnapshotKind = "active" | "committed";

export interface SnapshotInfo {
  readonly key: string;
  readonly kind: SnapshotKind;
  /** Key of the committed parent, if any. */
  readonly parent?: string;
  readonly createdAt: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface StorageDriver {
  readonly name: string;
  /**
   * Creates writable snapshot `key` on top of committed snapshot `parent` (or empty) and returns its
   * mounts. Rejects with "conflict" if `key` exists and "not-found" if `parent` does not.
   */
  prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  /** The mounts of an existing snapshot (read-only for a committed one). */
  mounts(key: string): Promise<Mount[]>;
  /** Turns active snapshot `key` into committed snapshot `name`; `key` is gone afterwards. */
  commit(name: string, key: string, labels?: Record<string, string>): Promise<void>;
  /** Removes a snapshot. Rejects with "precondition" when it has children. */
  remove(key: string): Promise<void>;
  stat(key: string): Promise<SnapshotInfo>;
  list(): Promise<SnapshotInfo[]>;
  /** Bytes used by the snapshot's own layer (not its parents). */
  usage(key: string): Promise<bigint>;
  /**
   * The directory where a layer is written before `commit` when the caller applies a tar without
   * mounting (overlay: the upper dir; whiteouts must then be in overlay form).
   */
  writableDir?(key: string): Promise<string>;
}
