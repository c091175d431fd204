/** The pure OCI spec builder: options over a fresh draft, Docker/Incus defaults, seccomp. No I/O. */
export * from "./build.js";
export * from "./from-description.js";
export * from "./oci.js";
export * from "./seccomp.js";
export { dockerDefaultSeccompProfile } from "./seccomp-default.js";
