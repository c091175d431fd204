/**
 * `berth token create|ls|rm`: bearer tokens for berthd's TCP API. Tokens are made and revoked over the
 * unix socket on the host; a client elsewhere then sets BERTH_HOST=tcp://HOST:PORT, BERTH_TOKEN and
 * BERTH_TLS_CA (berthd's certificate).
 */
import type { TokenInfo } from "@berth/api/client";
import { defineCommand, formatLongFlag } from "../framework/command.js";
import { CliError } from "../framework/errors.js";
import { humanDuration, parseDuration } from "../framework/units.js";
import { formatList, formatObject } from "../output/format.js";

export const tokenCreate = defineCommand({
  name: "token create",
  summary: "Create a bearer token for the TCP API (prints it once)",
  usage: "token create [OPTIONS]",
  examples: [
    "berth token create --name ci",
    "berth token create --name laptop --expiry 720h",
    "export BERTH_TOKEN=$(berth token create --name ci --format '{{.Token}}')",
  ],
  args: { max: 0 },
  flags: {
    name: { type: "string", placeholder: "string", description: "A name to recognise the token by (unique)" },
    expiry: {
      type: "string",
      placeholder: "duration",
      description: "Lifetime, e.g. 24h or 30m (at least 1m); default: no expiry",
    },
    ...formatLongFlag,
  },
  async run({ flags }, { api, out }) {
    let expiresInSeconds: number | undefined;
    if (flags.expiry !== undefined) {
      const ms = parseDuration(flags.expiry);
      if (ms < 60_000) throw new CliError(`--expiry ${flags.expiry} is too short`, { hint: "give at least 1m" });
      expiresInSeconds = Math.round(ms / 1000);
    }
    const t = await api.createToken({
      body: { ...(flags.name ? { name: flags.name } : {}), ...(expiresInSeconds ? { expiresInSeconds } : {}) },
    });
    if (flags.format) {
      out.stdout(formatObject({ ...t, Token: t.token, ID: t.id, Name: t.name }, flags.format));
      return 0;
    }
    out.stdout(`${t.token}\n`);
    out.stderr(
      `Token '${t.name}' (id ${t.id}${t.expiresAt ? `, expires ${t.expiresAt}` : ""}) is shown only now.\n` +
        "Use it from another machine with BERTH_HOST=tcp://HOST:PORT BERTH_TOKEN=<token> BERTH_TLS_CA=<berthd's server.crt>.\n",
    );
    return 0;
  },
});

interface TokenRow extends TokenInfo {
  ID: string;
  Name: string;
  Created: string;
  Expires: string;
  LastUsed: string;
}

const ago = (iso: string | undefined, now: number) =>
  iso ? `${humanDuration(Math.max(0, now - Date.parse(iso)))} ago` : "never";

export const tokenLs = defineCommand({
  name: "token ls",
  aliases: ["token list"],
  summary: "List bearer tokens (never their secrets)",
  usage: "token ls [OPTIONS]",
  examples: ["berth token ls", "berth token ls --format json", "berth token ls -q"],
  args: { max: 0 },
  flags: {
    quiet: { type: "boolean", short: "q", description: "Only show token IDs" },
    ...formatLongFlag,
  },
  async run({ flags }, { api, out }) {
    const now = Date.now();
    const rows: TokenRow[] = (await api.listTokens()).map((t) => ({
      ...t,
      ID: t.id,
      Name: t.name,
      Created: ago(t.createdAt, now),
      Expires: t.expiresAt ?? "never",
      LastUsed: ago(t.lastUsedAt, now),
    }));
    if (flags.quiet) {
      out.stdout(rows.map((r) => `${r.ID}\n`).join(""));
      return 0;
    }
    out.stdout(
      formatList(rows, flags.format, {
        headers: ["ID", "NAME", "CREATED", "EXPIRES", "LAST USED"],
        row: (r) => [r.ID, r.Name, r.Created, r.Expires, r.LastUsed],
        fieldHeaders: { LastUsed: "LAST USED" },
      }),
    );
    return 0;
  },
});

export const tokenRm = defineCommand({
  name: "token rm",
  aliases: ["token revoke", "token delete"],
  summary: "Revoke one or more bearer tokens (by id or name)",
  usage: "token rm TOKEN [TOKEN...]",
  examples: ["berth token rm ci", "berth token rm 3f2a9c1b7d04"],
  args: { min: 1 },
  flags: { ...formatLongFlag },
  async run({ args }, { api, out }) {
    return out.report(
      args,
      (id) => api.deleteToken({ params: { id } }),
      (id) => id,
      (id) => ({ revoked: id }),
    );
  },
});
