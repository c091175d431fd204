/**
 * Verbs whose daemon side is not there yet (attach/console need the upgrade route, cp the archive
 * routes with a tar on this side, port the networking issue). Their flags parse, so scripts fail
 * with a clear message rather than a flag error.
 */
import { defineCommand } from "../framework/command.js";
import { CliError } from "../framework/errors.js";

const notYet = (what: string, hint: string) => {
  throw new CliError(`${what} is not implemented yet`, { hint });
};

export const attach = defineCommand({
  name: "attach",
  summary: "Attach local standard input, output, and error streams to a running container",
  usage: "attach [OPTIONS] CONTAINER",
  examples: ["berth attach web", "berth attach --detach-keys ctrl-x web"],
  args: { min: 1, max: 1, complete: "container" },
  flags: {
    "detach-keys": {
      type: "string",
      placeholder: "string",
      description: "Override the key sequence for detaching a container",
    },
    "no-stdin": { type: "boolean", description: "Do not attach STDIN" },
    "sig-proxy": { type: "boolean", description: "Proxy all received signals to the process" },
  },
  async run() {
    return notYet("attach", "follow the output with `berth logs -f CONTAINER`");
  },
});

export const consoleCommand = defineCommand({
  name: "console",
  summary: "Attach to a system container's console (Incus style)",
  usage: "console [OPTIONS] NAME",
  examples: ["berth console c1", "berth console --show-log c1"],
  args: { min: 1, max: 1, complete: "container" },
  flags: {
    "show-log": { type: "boolean", description: "Retrieve the container's console log" },
    "detach-keys": { type: "string", placeholder: "string", description: "Key sequence to detach (default ctrl-a q)" },
  },
  async run() {
    return notYet("console", "use `berth exec NAME -- sh` or `berth logs NAME`");
  },
});
export { consoleCommand as console };

export const cp = defineCommand({
  name: "cp",
  summary: "Copy files/folders between a container and the local filesystem",
  usage: "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n        berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
  examples: ["berth cp web:/etc/hostname .", "berth cp ./config.json web:/etc/app/"],
  args: { min: 2, max: 2, complete: "file" },
  flags: {
    archive: { type: "boolean", short: "a", description: "Archive mode (copy all uid/gid information)" },
    "follow-link": { type: "boolean", short: "L", description: "Always follow symbol link in SRC_PATH" },
    quiet: { type: "boolean", short: "q", description: "Suppress progress output" },
  },
  async run({ args }) {
    const [a, b] = args as [string, string];
    if (!a.includes(":") && !b.includes(":")) {
      throw new CliError("must specify at least one container source", { hint: "e.g. berth cp web:/etc/hostname ." });
    }
    return notYet("cp", "use `berth exec CONTAINER cat FILE > FILE` for now");
  },
});

export const port = defineCommand({
  name: "port",
  summary: "List port mappings or a specific mapping for the container",
  usage: "port CONTAINER [PRIVATE_PORT[/PROTO]]",
  examples: ["berth port web", "berth port web 80/tcp"],
  args: { min: 1, max: 2, complete: "container" },
  flags: {},
  async run() {
    return notYet("port", "port publishing comes with networking; --network host shares the host's ports");
  },
});
