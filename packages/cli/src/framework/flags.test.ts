import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { containerFlags } from "../commands/container-flags.js";
import { CliError } from "./errors.js";
import { type FlagSpecs, parseFlags } from "./flags.js";

const runFlags = {
  detach: { type: "boolean", short: "d", description: "" },
  rm: { type: "boolean", description: "" },
  ...containerFlags,
} as const satisfies FlagSpecs;

const rmFlags = {
  force: { type: "boolean", short: "f", description: "" },
  volumes: { type: "boolean", short: "v", description: "" },
} as const satisfies FlagSpecs;

const stopFlags = { time: { type: "int", short: "t", description: "" } } as const satisfies FlagSpecs;

type Case = {
  name: string;
  argv: string[];
  specs?: FlagSpecs;
  interspersed?: boolean;
  flags?: Record<string, unknown>;
  args?: string[];
  help?: boolean;
  error?: RegExp;
  hint?: RegExp;
};

const run = (argv: string[]) => ({ argv, interspersed: false });

const cases: Case[] = [
  { name: "long boolean", ...run(["--rm", "busybox"]), flags: { rm: true }, args: ["busybox"] },
  { name: "short boolean", ...run(["-d", "busybox"]), flags: { detach: true } },
  {
    name: "combined -it",
    ...run(["-it", "busybox", "sh"]),
    flags: { interactive: true, tty: true },
    args: ["busybox", "sh"],
  },
  { name: "combined -dit", ...run(["-dit", "busybox"]), flags: { detach: true, interactive: true, tty: true } },
  { name: "--flag=value", ...run(["--name=web", "busybox"]), flags: { name: "web" } },
  { name: "--flag value", ...run(["--name", "web", "busybox"]), flags: { name: "web" } },
  { name: "short with space", ...run(["-e", "A=1", "busybox"]), flags: { env: ["A=1"] } },
  { name: "short attached value", ...run(["-eA=1", "busybox"]), flags: { env: ["A=1"] } },
  { name: "short with =", ...run(["-e=A=1", "busybox"]), flags: { env: ["A=1"] } },
  {
    name: "repeatable collects",
    ...run(["-e", "A=1", "--env", "B=2", "-eC=3", "busybox"]),
    flags: { env: ["A=1", "B=2", "C=3"] },
  },
  {
    name: "booleans then value flag in a group",
    ...run(["-de", "X=1", "busybox"]),
    flags: { detach: true, env: ["X=1"] },
  },
  { name: "size 256m", ...run(["--memory", "256m", "busybox"]), flags: { memory: 256 * 1024 * 1024 } },
  { name: "size -m 1g", ...run(["-m", "1g", "busybox"]), flags: { memory: 1024 ** 3 } },
  { name: "size 1.5g", ...run(["--memory=1.5g", "busybox"]), flags: { memory: 1.5 * 1024 ** 3 } },
  { name: "memory-swap -1", ...run(["--memory-swap", "-1", "busybox"]), flags: { "memory-swap": -1 } },
  { name: "cpus decimal", ...run(["--cpus", "1.5", "busybox"]), flags: { cpus: 1.5 } },
  { name: "int pids-limit", ...run(["--pids-limit", "100", "busybox"]), flags: { "pids-limit": 100 } },
  { name: "duration", ...run(["--health-interval", "1m30s", "busybox"]), flags: { "health-interval": 90_000 } },
  { name: "stop-timeout int", ...run(["--stop-timeout", "5", "busybox"]), flags: { "stop-timeout": 5 } },
  { name: "boolean =false", ...run(["--rm=false", "busybox"]), flags: { rm: false } },
  {
    name: "flags stop at the image for run",
    ...run(["busybox", "ls", "-la", "--rm"]),
    flags: { rm: false },
    args: ["busybox", "ls", "-la", "--rm"],
  },
  { name: "-- ends flags", ...run(["--rm", "--", "busybox", "-x"]), flags: { rm: true }, args: ["busybox", "-x"] },
  { name: "-h is hostname for run", ...run(["-h", "box", "busybox"]), flags: { hostname: "box" } },
  { name: "--help", ...run(["--help"]), help: true },
  { name: "choices accepted", ...run(["--network", "none", "busybox"]), flags: { network: "none" } },
  {
    name: "interspersed rm flags",
    argv: ["web", "-f", "db"],
    specs: rmFlags,
    flags: { force: true },
    args: ["web", "db"],
  },
  { name: "combined -fv", argv: ["-fv", "web"], specs: rmFlags, flags: { force: true, volumes: true } },
  { name: "-h is help where free", argv: ["-h"], specs: rmFlags, help: true },
  { name: "stop -t 3", argv: ["-t", "3", "web"], specs: stopFlags, flags: { time: 3 }, args: ["web"] },
  { name: "stop -t3", argv: ["-t3", "web"], specs: stopFlags, flags: { time: 3 } },
  { name: "a lone - is positional", argv: ["-"], specs: rmFlags, args: ["-"] },
  { name: "negative number is positional", argv: ["-1"], specs: rmFlags, args: ["-1"] },
  // errors
  {
    name: "unknown long flag suggests",
    ...run(["--memroy", "256m", "busybox"]),
    error: /unknown flag: --memroy/,
    hint: /did you mean --memory\?/,
  },
  {
    name: "unknown flag near --detach",
    ...run(["--detatch", "busybox"]),
    error: /unknown flag: --detatch/,
    hint: /--detach/,
  },
  {
    name: "unknown flag near --restart",
    ...run(["--restrat=always", "busybox"]),
    error: /unknown flag/,
    hint: /--restart/,
  },
  {
    name: "unknown flag without a guess",
    ...run(["--zzzzzzzz", "busybox"]),
    error: /unknown flag: --zzzzzzzz/,
    hint: /^See 'berth run --help'/,
  },
  { name: "unknown shorthand", ...run(["-Z", "busybox"]), error: /unknown shorthand flag: 'Z' in -Z/ },
  {
    name: "single-dash long name suggests",
    ...run(["-rm", "busybox"]),
    error: /unknown shorthand flag: 'r' in -rm/,
    hint: /did you mean --rm\?/,
  },
  {
    name: "-memory is -m emory, as pflag",
    ...run(["-memory", "1g", "busybox"]),
    error: /invalid argument "emory" for "--memory"/,
  },
  { name: "missing value", ...run(["--name"]), error: /flag needs an argument: --name/ },
  { name: "missing short value", ...run(["-e"]), error: /flag needs an argument: 'e' in -e/ },
  {
    name: "bad size",
    ...run(["--memory", "lots", "busybox"]),
    error: /invalid argument "lots" for "--memory" flag/,
    hint: /256m/,
  },
  { name: "negative size", ...run(["--memory", "-5m", "busybox"]), error: /invalid argument "-5m" for "--memory"/ },
  {
    name: "bad number",
    ...run(["--cpus", "two", "busybox"]),
    error: /invalid argument "two" for "--cpus" flag: not a number/,
  },
  { name: "int rejects decimals", ...run(["--pids-limit", "1.5", "busybox"]), error: /not an integer/ },
  { name: "duration needs a unit", ...run(["--health-interval", "5", "busybox"]), error: /missing unit/, hint: /5s/ },
  { name: "bad duration", ...run(["--health-timeout", "soon", "busybox"]), error: /invalid duration/ },
  { name: "bad choice", ...run(["--network", "bridge", "busybox"]), error: /must be one of none, host/ },
  { name: "bad boolean", ...run(["--rm=maybe", "busybox"]), error: /not a boolean/ },
];

describe("flag parser", () => {
  for (const c of cases) {
    it(c.name, () => {
      const parse = () =>
        parseFlags(c.specs ?? runFlags, c.argv, {
          interspersed: c.interspersed ?? true,
          commandPath: "berth run",
        });
      if (c.error) {
        assert.throws(parse, (err: unknown) => {
          assert.ok(err instanceof CliError, `expected CliError, got ${err}`);
          assert.match(err.message, c.error!);
          if (c.hint) assert.match(err.hint ?? "", c.hint);
          assert.equal(err.exitCode, 125);
          return true;
        });
        return;
      }
      const r = parse();
      for (const [k, v] of Object.entries(c.flags ?? {}))
        assert.deepEqual((r.flags as Record<string, unknown>)[k], v, k);
      if (c.args) assert.deepEqual(r.args, c.args);
      assert.equal(r.help, c.help ?? false);
    });
  }

  it("defaults: booleans false, repeatables empty, others undefined", () => {
    const r = parseFlags(runFlags, ["busybox"], { interspersed: false });
    assert.equal(r.flags.rm, false);
    assert.deepEqual(r.flags.env, []);
    assert.equal(r.flags.memory, undefined);
    assert.equal(r.set.size, 0);
  });

  it("the last value wins for a non-repeatable flag, as pflag", () => {
    const r = parseFlags(runFlags, ["--name", "a", "--name", "b", "img"], { interspersed: false });
    assert.equal(r.flags.name, "b");
    assert.ok(r.set.has("name"));
  });
});
