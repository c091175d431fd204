/** update (Docker) and config set (Incus): read the container, merge, PUT /1.0/containers/{id}. */
import type { Container, ContainerPut } from "@berth/api";
import { defineCommand, formatLongFlag } from "../framework/command.js";
import { CliError } from "../framework/errors.js";
import { applyConfig, checkKey, configOf, unsetConfig } from "./config-keys.js";
import { parseRestart } from "./container-flags.js";

export const update = defineCommand({
  name: "update",
  summary: "Update configuration of one or more containers (limits apply live)",
  usage: "update [OPTIONS] CONTAINER [CONTAINER...]",
  examples: [
    "berth update --memory 512m --memory-swap 1g web",
    "berth update --cpus 1.5 --pids-limit 200 web db",
    "berth update --restart always web",
  ],
  args: { min: 1, complete: "container" },
  flags: {
    memory: { type: "size", short: "m", placeholder: "bytes", description: "Memory limit" },
    "memory-swap": {
      type: "size",
      allowMinusOne: true,
      placeholder: "bytes",
      description: "Swap limit equal to memory plus swap: -1 to enable unlimited swap",
    },
    "memory-reservation": { type: "size", placeholder: "bytes", description: "Memory soft limit" },
    cpus: { type: "number", placeholder: "decimal", description: "Number of CPUs" },
    "cpu-shares": { type: "int", short: "c", placeholder: "int", description: "CPU shares (relative weight)" },
    "cpuset-cpus": {
      type: "string",
      placeholder: "string",
      description: "CPUs in which to allow execution (0-3, 0,1)",
    },
    "cpuset-mems": {
      type: "string",
      placeholder: "string",
      description: "MEMs in which to allow execution (0-3, 0,1)",
    },
    "pids-limit": { type: "int", placeholder: "int", description: "Tune container pids limit (-1 for unlimited)" },
    "blkio-weight": {
      type: "int",
      placeholder: "uint16",
      description: "Block IO (relative weight), between 10 and 1000, or 0 to disable",
    },
    restart: { type: "string", placeholder: "string", description: "Restart policy to apply when a container exits" },
    ...formatLongFlag,
  },
  async run({ args, flags: f }, { api, out }) {
    const resources: NonNullable<ContainerPut["resources"]> = {};
    if (f.memory !== undefined) resources.memory = f.memory;
    if (f["memory-swap"] !== undefined) resources.memorySwap = f["memory-swap"];
    if (f["memory-reservation"] !== undefined) resources.memoryReservation = f["memory-reservation"];
    if (f.cpus !== undefined) resources.cpus = f.cpus;
    if (f["cpu-shares"] !== undefined) resources.cpuShares = f["cpu-shares"];
    if (f["cpuset-cpus"] !== undefined) resources.cpusetCpus = f["cpuset-cpus"];
    if (f["cpuset-mems"] !== undefined) resources.cpusetMems = f["cpuset-mems"];
    if (f["pids-limit"] !== undefined) resources.pidsLimit = f["pids-limit"];
    if (f["blkio-weight"] !== undefined) resources.blkioWeight = f["blkio-weight"];
    const restartPolicy = f.restart !== undefined ? parseRestart(f.restart) : undefined;
    if (Object.keys(resources).length === 0 && !restartPolicy) {
      throw new CliError("you must provide one or more flags when using this command", {
        hint: "e.g. berth update --memory 512m web",
      });
    }
    return out.report(
      args,
      async (id) => {
        const c = await api.getContainer({ params: { id } });
        const body: ContainerPut = {
          labels: c.labels,
          restartPolicy: restartPolicy ?? c.restartPolicy,
          resources: { ...c.resources, ...resources },
          autostart: c.autostart,
        };
        return api.updateContainer({ params: { id: c.id }, body });
      },
      undefined,
      (name, c) => ({ name, id: c.id, resources: c.resources, restartPolicy: c.restartPolicy }),
    );
  },
});

/** The ContainerPut a `config` verb starts from: the container's current one. */
const putOf = (c: Container): ContainerPut => ({
  labels: { ...c.labels },
  restartPolicy: c.restartPolicy,
  resources: { ...c.resources },
  autostart: c.autostart,
});

export const configGet = defineCommand({
  name: "config get",
  summary: "Get the value of an instance configuration key (Incus style)",
  usage: "config get NAME KEY",
  examples: ["berth config get c1 limits.memory", "berth config get c1 user.owner"],
  args: { min: 2, max: 2, complete: "container" },
  flags: { ...formatLongFlag },
  async run({ args }, { api, out }) {
    const [id, key] = args as [string, string];
    checkKey(key);
    const value = configOf(await api.getContainer({ params: { id } }))[key] ?? "";
    if (out.format) await out.records([{ key, value }]);
    else out.stdout(`${value}\n`);
    return 0;
  },
});

export const configShow = defineCommand({
  name: "config show",
  summary: "Show an instance's configuration keys (Incus style)",
  usage: "config show NAME",
  examples: ["berth config show c1", "berth config show c1 --format json"],
  args: { min: 1, max: 1, complete: "container" },
  flags: { ...formatLongFlag },
  async run({ args }, { api, out }) {
    const c = await api.getContainer({ params: { id: args[0]! } });
    const config = configOf(c);
    if (out.format) {
      await out.records([{ name: c.name, config }]);
      return 0;
    }
    const entries = Object.entries(config);
    const yaml = (v: string) => (/^[\w./%-]+$/.test(v) && !/^(true|false|[\d.]+)$/.test(v) ? v : JSON.stringify(v));
    out.stdout(
      `name: ${c.name}\nconfig:${entries.length ? "" : " {}"}\n${entries.map(([k, v]) => `  ${k}: ${yaml(v)}\n`).join("")}`,
    );
    return 0;
  },
});

export const configUnset = defineCommand({
  name: "config unset",
  summary: "Unset instance configuration keys (Incus style; limits are lifted live)",
  usage: "config unset NAME KEY...",
  examples: ["berth config unset c1 limits.memory", "berth config unset c1 limits.cpu user.owner"],
  args: { min: 2, complete: "container" },
  flags: { ...formatLongFlag },
  async run({ args }, { api, out }) {
    const [id, ...names] = args as [string, ...string[]];
    const c = await api.getContainer({ params: { id } });
    const after = await api.updateContainer({ params: { id: c.id }, body: unsetConfig(putOf(c), names) });
    if (out.format) await out.records([{ name: after.name, id: after.id, config: configOf(after) }]);
    return 0;
  },
});

export const configSet = defineCommand({
  name: "config set",
  summary: "Set instance configuration keys (Incus style; limits apply live)",
  usage: "config set NAME KEY=VALUE...",
  examples: ["berth config set c1 limits.memory=512MiB", "berth config set c1 limits.cpu=2 boot.autostart=true"],
  args: { min: 2, complete: "container" },
  flags: { ...formatLongFlag },
  async run({ args }, { api, out }) {
    const [id, ...pairs] = args as [string, ...string[]];
    const c = await api.getContainer({ params: { id } });
    const body = applyConfig(putOf(c), pairs);
    const after = await api.updateContainer({ params: { id: c.id }, body });
    if (out.format)
      await out.records([
        {
          name: after.name,
          id: after.id,
          resources: after.resources,
          autostart: after.autostart,
          labels: after.labels,
        },
      ]);
    return 0;
  },
});
