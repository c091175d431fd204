/**
 * `berth login` / `berth logout`: credentials in a Docker-style config.json (~/.config/berth/config.json,
 * mode 0600) owned by the CLI user. The CLI checks them against the registry itself; berthd only ever
 * sees them in the body of a pull or push.
 */
import { defineCommand, formatLongFlag } from "../framework/command.js";
import { CliError } from "../framework/errors.js";
import { isLoopback, normalizeRegistry, removeCredentials, storeCredentials, verifyLogin } from "./image-auth.js";
import { authFile, readCa, registryFlags } from "./image-progress.js";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

async function promptLine(question: string): Promise<string> {
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

export const login = defineCommand({
  name: "login",
  summary: "Log in to a registry",
  usage: "login [OPTIONS] REGISTRY",
  examples: [
    "berth login -u alice registry.example.com",
    'echo "$TOKEN" | berth login -u alice --password-stdin registry.example.com',
    "berth login -u alice -p secret --ca-file ca.pem 127.0.0.1:5000",
  ],
  args: { min: 1, max: 1 },
  flags: {
    username: { type: "string", short: "u", placeholder: "string", description: "Username" },
    password: { type: "string", short: "p", placeholder: "string", description: "Password" },
    "password-stdin": { type: "boolean", description: "Take the password from stdin" },
    ...registryFlags,
    ...formatLongFlag,
  },
  async run({ args, flags, set }, ctx) {
    const registry = normalizeRegistry(args[0]!);
    if (flags.password && flags["password-stdin"])
      throw new CliError("--password and --password-stdin are mutually exclusive");
    let username = flags.username;
    if (!username) {
      if (!process.stdin.isTTY) throw new CliError("say who you are: berth login -u USER REGISTRY");
      username = await promptLine("Username: ");
    }
    let password = flags.password;
    if (flags["password-stdin"]) password = await readStdin();
    if (password === undefined) {
      if (!process.stdin.isTTY) throw new CliError("give a password: -p PASS or --password-stdin");
      password = await promptLine("Password: ");
    }
    if (!username || !password) throw new CliError("username and password must not be empty");
    if (flags.password) ctx.out.stderr("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
    const ca = await readCa(flags);
    const tlsVerify = set.has("tls-verify") ? flags["tls-verify"] : !(isLoopback(registry) && !ca);
    await verifyLogin(registry, username, password, { verify: tlsVerify, ...(ca ? { ca } : {}) });
    await storeCredentials(authFile(flags, ctx.env), registry, username, password);
    if (ctx.out.format) await ctx.out.records([{ registry, username, loggedIn: true }]);
    else ctx.out.stdout("Login Succeeded\n");
    return 0;
  },
});

export const logout = defineCommand({
  name: "logout",
  summary: "Log out from a registry",
  usage: "logout [OPTIONS] REGISTRY",
  examples: ["berth logout registry.example.com"],
  args: { min: 1, max: 1 },
  flags: { "auth-file": registryFlags["auth-file"], ...formatLongFlag },
  async run({ args, flags }, ctx) {
    const registry = normalizeRegistry(args[0]!);
    const removed = await removeCredentials(authFile(flags, ctx.env), registry);
    if (ctx.out.format) await ctx.out.records([{ registry, removed }]);
    else ctx.out.stdout(removed ? `Removing login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
    return 0;
  },
});
