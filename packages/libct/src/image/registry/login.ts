/** `berth login`: verify credentials against the registry, then store them in the Docker-style config.json. */
import { RegistryClient } from "./client.js";
import { defaultAuthFile, storeCredentials } from "./credentials.js";
import type { TransportOptions } from "./http.js";

export interface LoginOptions extends TransportOptions {
  readonly plainHttp?: boolean;
}

/**
 * Verifies `username`/`password` against `registry` (basic auth on `/v2/`, or a token from its bearer realm)
 * and stores them in `authFile` (mode 0600). Rejects with "precondition" on wrong credentials, storing nothing.
 */
export async function login(
  registry: string,
  username: string,
  password: string,
  authFile: string = defaultAuthFile(),
  opts: LoginOptions = {},
): Promise<void> {
  const credentials = { username, password };
  const client = await RegistryClient.connect(registry, { ...opts, credentials });
  try {
    await client.verifyLogin();
  } finally {
    client.close();
  }
  await storeCredentials(authFile, registry, credentials);
}
