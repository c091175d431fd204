/**
 * Docker's /etc/hostname, /etc/hosts and /etc/resolv.conf for an application container: written into the
 * container's directory in berthd's run root (a tmpfs, as Podman keeps them; made again at a start that finds
 * them gone) and bind-mounted over the image's, so that the name the container has, the addresses its network
 * driver gave it and the host's DNS are what it sees, and the image stays as it was.
 * With the host's network the container gets the host's hosts and resolv.conf, as Docker does. System
 * containers manage their own /etc (their init and DHCP do), so they get none of these.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MountSpec, NetworkAttachment } from "@berth/libct";

/** The lines Docker's hosts file starts with. */
const DEFAULT_HOSTS = [
  "127.0.0.1\tlocalhost",
  "::1\tlocalhost ip6-localhost ip6-loopback",
  "fe00::0\tip6-localnet",
  "ff00::0\tip6-mcastprefix",
  "ff02::1\tip6-allnodes",
  "ff02::2\tip6-allrouters",
];

const readHost = (path: string): string => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
};

/** /etc/hosts: the host's with the host's network; else localhost and the container's own addresses. */
export function hostsFile(
  hostname: string,
  network: Pick<NetworkAttachment, "namespace" | "interfaces">,
  host: string,
) {
  if (network.namespace === "host") return host;
  const own = network.interfaces
    .filter((i) => i.name !== "lo")
    .flatMap((i) => i.addresses.map((a) => `${a.split("/")[0]}\t${hostname}`));
  return `${[...DEFAULT_HOSTS, ...own].join("\n")}\n`;
}

/**
 * /etc/resolv.conf: the driver's DNS if it gave one; else the host's, with loopback nameservers left out when
 * the container has a namespace of its own (127.0.0.53 would be its own loopback, where nothing answers).
 */
export function resolvConf(network: Pick<NetworkAttachment, "namespace" | "dns">, host: string): string {
  const dns = network.dns;
  if (dns) {
    return [
      ...dns.nameservers.map((n) => `nameserver ${n}`),
      ...(dns.search.length ? [`search ${dns.search.join(" ")}`] : []),
      ...(dns.options.length ? [`options ${dns.options.join(" ")}`] : []),
      "",
    ].join("\n");
  }
  if (network.namespace === "host") return host;
  return host
    .split("\n")
    .filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$)/.test(l))
    .join("\n");
}

/**
 * Writes the three files into `dir` and returns their bind mounts. `hostEtc` is where the host's files are
 * read from (tests point it elsewhere).
 */
export function writeEtcFiles(
  dir: string,
  hostname: string,
  network: Pick<NetworkAttachment, "namespace" | "interfaces" | "dns">,
  hostEtc = "/etc",
): MountSpec[] {
  const files = {
    hostname: `${hostname}\n`,
    hosts: hostsFile(hostname, network, readHost(join(hostEtc, "hosts"))),
    "resolv.conf": resolvConf(network, readHost(join(hostEtc, "resolv.conf"))),
  };
  return Object.entries(files).map(([name, text]) => {
    const source = join(dir, name);
    writeFileSync(source, text, { mode: 0o644 });
    return { type: "bind", source, destination: `/etc/${name}` };
  });
}
