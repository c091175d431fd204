/**
 * Every command by name, loaded lazily: only the module of the command being run is imported
 * (esbuild splits each into its own chunk), so `berth version` parses almost nothing.
 */
import type { AnyCommand } from "./framework/command.js";

export interface Entry {
  readonly name: string;
  readonly aliases?: readonly string[];
  load(): Promise<AnyCommand>;
}

type Loader = () => Promise<Record<string, unknown>>;
const run: Loader = () => import("./commands/run.js");
const lifecycle: Loader = () => import("./commands/lifecycle.js");
const ps: Loader = () => import("./commands/ps.js");
const inspect: Loader = () => import("./commands/inspect.js");
const logs: Loader = () => import("./commands/logs.js");
const exec: Loader = () => import("./commands/exec.js");
const stats: Loader = () => import("./commands/stats.js");
const update: Loader = () => import("./commands/update.js");
const version: Loader = () => import("./commands/version.js");
const eventsCmd: Loader = () => import("./commands/events.js");
const images: Loader = () => import("./commands/images.js");
const pull: Loader = () => import("./commands/pull.js");
const login: Loader = () => import("./commands/login.js");
const save: Loader = () => import("./commands/save.js");
const load: Loader = () => import("./commands/load.js");
const importCmd: Loader = () => import("./commands/import.js");
const portCmd: Loader = () => import("./commands/port.js");
const attachCmd: Loader = () => import("./commands/attach.js");
const cpCmd: Loader = () => import("./commands/cp.js");
const consoleCmd: Loader = () => import("./commands/console.js");
const meta: Loader = () => import("./commands/meta.js");
const daemon: Loader = () => import("./commands/daemon.js");
const build: Loader = () => import("./commands/build.js");
const commitCmd: Loader = () => import("./commands/commit.js");
const token: Loader = () => import("./commands/token.js");
const hostInfo: Loader = () => import("./commands/host-info.js");

const e = (name: string, from: Loader, key: string, aliases?: string[]): Entry => ({
  name,
  ...(aliases ? { aliases } : {}),
  load: async () => {
    const cmd = (await from())[key] as AnyCommand | undefined;
    if (!cmd) throw new Error(`command ${name}: module has no export ${key}`);
    return cmd;
  },
});

export const entries: readonly Entry[] = [
  e("run", run, "run", ["container run"]),
  e("create", run, "create", ["container create"]),
  e("launch", run, "launch"),
  e("start", lifecycle, "start", ["container start"]),
  e("stop", lifecycle, "stop", ["container stop"]),
  e("restart", lifecycle, "restart", ["container restart"]),
  e("kill", lifecycle, "kill", ["container kill"]),
  e("pause", lifecycle, "pause", ["container pause"]),
  e("unpause", lifecycle, "unpause", ["container unpause"]),
  e("rm", lifecycle, "rm", ["delete", "container rm"]),
  e("wait", lifecycle, "wait", ["container wait"]),
  e("rename", lifecycle, "rename", ["container rename"]),
  e("ps", ps, "ps", ["container ls", "container list"]),
  e("list", ps, "list"),
  e("inspect", inspect, "inspect", ["container inspect"]),
  e("info", inspect, "info"),
  e("logs", logs, "logs", ["container logs"]),
  e("exec", exec, "exec", ["container exec"]),
  e("stats", stats, "stats", ["container stats"]),
  e("top", stats, "top", ["container top"]),
  e("update", update, "update", ["container update"]),
  e("config set", update, "configSet"),
  e("config get", update, "configGet"),
  e("config show", update, "configShow"),
  e("config unset", update, "configUnset"),
  e("version", version, "version"),
  e("events", eventsCmd, "events", ["system events"]),
  e("image ls", images, "imageLs", ["images", "image list"]),
  e("image rm", images, "imageRm", ["rmi"]),
  e("image inspect", images, "imageInspect"),
  e("image tag", images, "imageTag", ["tag"]),
  e("image prune", images, "imagePrune"),
  e("system df", images, "systemDf"),
  e("system info", hostInfo, "systemInfo"),
  e("image bootstrap", images, "imageBootstrap"),
  e("image pull", pull, "imagePull", ["pull"]),
  e("image push", pull, "imagePush", ["push"]),
  e("image save", save, "save", ["save"]),
  e("image load", load, "load", ["load"]),
  e("image import", importCmd, "importImage", ["import"]),
  e("login", login, "login"),
  e("logout", login, "logout"),
  e("image build", build, "imageBuild", ["build"]),
  e("commit", commitCmd, "commit", ["container commit"]),
  e("attach", attachCmd, "attach", ["container attach"]),
  e("console", consoleCmd, "console"),
  e("cp", cpCmd, "cp", ["container cp"]),
  e("port", portCmd, "port", ["container port"]),
  e("daemon start", daemon, "daemonStart"),
  e("token create", token, "tokenCreate"),
  e("token ls", token, "tokenLs", ["token list"]),
  e("token rm", token, "tokenRm", ["token revoke", "token delete"]),
  e("completion", meta, "completion"),
  e("help", meta, "help"),
];

/** Names that take a sub-command ("image ls", and Docker's "container ls" among the aliases). */
export const groups: ReadonlySet<string> = new Set(
  entries.flatMap((x) => [x.name, ...(x.aliases ?? [])]).flatMap((n) => (n.includes(" ") ? [n.split(" ")[0]!] : [])),
);

/** The sub-commands of a group, with the entry each runs: [["ls", ps], ["rm", rm], ...]. */
export function groupMembers(group: string): [sub: string, entry: Entry][] {
  return entries.flatMap((x) =>
    [x.name, ...(x.aliases ?? [])]
      .filter((n) => n.startsWith(`${group} `))
      .map((n) => [n.slice(group.length + 1), x] as [string, Entry]),
  );
}

/** Finds the entry for argv's first words; returns how many words named it. */
export function resolve(words: readonly string[]): { entry: Entry; used: number } | undefined {
  const [a, b] = words;
  if (a === undefined) return undefined;
  if (b !== undefined) {
    const two = `${a} ${b}`;
    const hit = entries.find((x) => x.name === two || x.aliases?.includes(two));
    if (hit) return { entry: hit, used: 2 };
  }
  const one = entries.find((x) => x.name === a || x.aliases?.includes(a));
  return one ? { entry: one, used: 1 } : undefined;
}

/** Every command, with the registry's aliases ("container rm") merged into its own, for help and completion. */
export const loadAll = (): Promise<AnyCommand[]> =>
  Promise.all(
    entries.map(async (x) => {
      const c = await x.load();
      const aliases = [...new Set([...(c.aliases ?? []), ...(x.aliases ?? [])])];
      return aliases.length ? { ...c, aliases } : c;
    }),
  );
