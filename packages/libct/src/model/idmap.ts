/** User-namespace id map helpers shared by validation, the spec builder and the runtime layer. */
import type { ContainerDescription, IdMapping, IdMapSpec } from "./description.js";

/** The classic subordinate-id map: container ids 0..size-1 -> host ids base..base+size-1 (users and groups). */
export function defaultSystemIdMap(base: number, size = 65536): IdMapSpec {
  return {
    uidMappings: [{ containerID: 0, hostID: base, size }],
    gidMappings: [{ containerID: 0, hostID: base, size }],
  };
}

/** The host id that container id `id` maps to, or undefined when no range covers it. */
export function mapToHost(mappings: readonly IdMapping[], id: number): number | undefined {
  for (const m of mappings) {
    if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + (id - m.containerID);
  }
  return undefined;
}

/** True when the description runs in a user namespace of its own (an id map and not privileged). */
export function usesUserNamespace(desc: ContainerDescription): boolean {
  const mode = desc.namespaces?.user;
  if (mode === "host") return false;
  if (mode === "private") return true;
  return desc.idMap !== undefined && !(desc.kind === "system" && desc.privileged === true);
}

/**
 * Host uid/gid of the container's root when a user namespace is used (the owner the rootfs and, on
 * cgroup v1, the container's cgroup directories must be chowned to); undefined without a user namespace
 * or when root is not mapped.
 */
export function mappedRoot(desc: ContainerDescription): { uid: number; gid: number } | undefined {
  if (!usesUserNamespace(desc) || !desc.idMap) return undefined;
  const uid = mapToHost(desc.idMap.uidMappings, 0);
  const gid = mapToHost(desc.idMap.gidMappings, 0);
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}
