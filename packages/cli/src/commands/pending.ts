/**
 * Verbs whose daemon side is not there yet (port comes with the networking issue; console here is the
 * fallback kept for reference, console.ts serves it). Their flags parse, so scripts fail
 * with a clear message rather than a flag error.
 */
import { defineCommand } from "../framework/command.js";
import { CliError } from "../framework/errors.js";

const notYet = (what: string, hint: string) => {
  throw new CliError(`${what} is not implemented yet`, { hint });
};

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
