/** The registry client (OCI distribution-spec v1.1, HTTP API v2): references, auth, pull and push. */
export { type ConnectOptions, RegistryClient } from "./client.js";
export {
  type Credentials,
  defaultAuthFile,
  readCredentials,
  removeCredentials,
  storeCredentials,
} from "./credentials.js";
export { type LoginOptions, login } from "./login.js";
export { OciDirBlobs } from "./oci-dir.js";
export { choosePlatform, hostPlatform } from "./platform.js";
export { type PullOptions, type PullResult, pullImage } from "./pull.js";
export { type PushOptions, type PushResult, pushImage } from "./push.js";
export { formatReference, parseReference, type Reference } from "./reference.js";
export { storeBlobs } from "./store-blobs.js";
export * from "./types.js";
