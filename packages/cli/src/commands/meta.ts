/** help and completion: both read every command's definition, so they load all command modules. */
import { bashCompletion, zshCompletion } from "../completion.js";
import { defineCommand, renderHelp } from "../framework/command.js";
import { CliError } from "../framework/errors.js";
import { closest } from "../framework/suggest.js";
import { loadAll, resolve } from "../registry.js";

export const completion = defineCommand({
  name: "completion",
  summary: "Print a shell completion script (bash or zsh)",
  usage: "completion bash|zsh",
  examples: [
    "berth completion bash > /etc/bash_completion.d/berth",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a zsh expression, shown as is
    'berth completion zsh > "${fpath[1]}/_berth"',
    "source <(berth completion bash)",
  ],
  args: { min: 1, max: 1 },
  flags: {},
  async run({ args }, { out }) {
    const shell = args[0]!;
    const all = await loadAll();
    if (shell === "bash") out.stdout(bashCompletion(all));
    else if (shell === "zsh") out.stdout(zshCompletion(all));
    else {
      const guess = closest(shell, ["bash", "zsh"]);
      throw new CliError(`unsupported shell '${shell}'`, {
        hint: guess ? `did you mean ${guess}?` : "use bash or zsh",
      });
    }
    return 0;
  },
});

const sections: [string, string[]][] = [
  [
    "Application containers (Docker's verbs)",
    [
      "run",
      "create",
      "start",
      "stop",
      "restart",
      "kill",
      "pause",
      "unpause",
      "rm",
      "ps",
      "logs",
      "exec",
      "attach",
      "inspect",
      "stats",
      "top",
      "cp",
      "wait",
      "port",
      "rename",
      "update",
      "commit",
      "events",
    ],
  ],
  [
    "System containers (Incus's verbs)",
    ["launch", "list", "info", "console", "config set", "config get", "config show", "config unset"],
  ],
  [
    "Images",
    [
      "image ls",
      "image pull",
      "image push",
      "image build",
      "image bootstrap",
      "image inspect",
      "image tag",
      "image rm",
      "image prune",
      "image save",
      "image load",
      "image import",
      "login",
      "logout",
    ],
  ],
  [
    "Other",
    [
      "version",
      "system info",
      "system df",
      "daemon start",
      "token create",
      "token ls",
      "token rm",
      "completion",
      "help",
    ],
  ],
];

export const help = defineCommand({
  name: "help",
  summary: "Show help for berth or for a command",
  usage: "help [COMMAND]",
  examples: ["berth help", "berth help run"],
  flags: {},
  async run({ args }, { out }) {
    if (args.length) {
      const found = resolve(args);
      if (!found) throw new CliError(`unknown help topic '${args.join(" ")}'`, { hint: "See 'berth help'." });
      out.stdout(renderHelp(await found.entry.load()));
      return 0;
    }
    const all = await loadAll();
    const byName = new Map(all.map((c) => [c.name, c]));
    let s = "Usage:  berth [OPTIONS] COMMAND\n\nOne daemon, one CLI for application and system containers.\n";
    for (const [title, names] of sections) {
      s += `\n${title}:\n`;
      for (const n of names) {
        const c = byName.get(n);
        if (c) s += `  ${n.padEnd(17)}${c.summary}\n`;
      }
    }
    s +=
      "\nGlobal options:\n  -H, --host string   Daemon socket or tcp://HOST:PORT (env BERTH_HOST; token in BERTH_TOKEN)\n  -v, --version       Print version information and quit\n";
    s += "\nRun 'berth COMMAND --help' for more information on a command.\n";
    out.stdout(s);
    return 0;
  },
});
