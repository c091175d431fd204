/**
 * The TCP API's TLS identity: --tls-cert/--tls-key when given, else a self-signed certificate made once
 * under <root>/tls with openssl(1) (Node can sign but not build an X.509 certificate) and kept across
 * restarts, as Incus keeps server.crt. Clients trust it with BERTH_TLS_CA=<root>/tls/server.crt.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { type CommandRunner, LibctError } from "@berth/libct";

export interface TlsIdentity {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly certFile: string;
  /** SHA-256 fingerprint, as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprint: string;
}

async function load(certFile: string, keyFile: string): Promise<TlsIdentity> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new LibctError("invalid", `${certFile} is not a PEM certificate: ${(err as Error).message}`);
  }
  if (!x509.checkPrivateKey(createPrivateKey(key))) {
    throw new LibctError("invalid", `${keyFile} is not the private key of ${certFile}; give the matching pair`);
  }
  return { cert, key, certFile, fingerprint: x509.fingerprint256 };
}

export async function tlsIdentity(
  cmd: CommandRunner,
  root: string,
  given?: { cert: string; key: string },
): Promise<TlsIdentity> {
  if (given) {
    return load(given.cert, given.key).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT")
        throw new LibctError("invalid", `cannot read ${err.path}: no such file; check --tls-cert and --tls-key`);
      throw err;
    });
  }
  const dir = join(root, "tls");
  const certFile = join(dir, "server.crt");
  const keyFile = join(dir, "server.key");
  const existing = await load(certFile, keyFile).catch(() => undefined);
  if (existing) return existing;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmpCert = `${certFile}.tmp`;
  const tmpKey = `${keyFile}.tmp`;
  const host = hostname();
  try {
    await cmd.run("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-days", "3650", "-subj", `/O=berth/CN=berthd@${host}`,
      "-addext", `subjectAltName=DNS:localhost,DNS:${host},IP:127.0.0.1,IP:::1`,
      "-keyout", tmpKey, "-out", tmpCert,
    ]); // biome-ignore format: flag/value pairs
    await chmod(tmpKey, 0o600);
    await rename(tmpKey, keyFile);
    await rename(tmpCert, certFile);
  } finally {
    await rm(tmpKey, { force: true });
    await rm(tmpCert, { force: true });
  }
  return load(certFile, keyFile);
}
