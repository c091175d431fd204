/**
 * Bearer tokens for the TCP API (`berth token create`). A token is `bth_<id>_<secret>`: the id names it
 * in lists and `token rm`, the secret (32 random bytes) proves it. Only SHA-256(token) is stored, so a
 * copy of the database does not hand out access. Tokens are made over the unix socket only: whoever may
 * use the socket is already trusted with the host.
 */
import { createHash, randomBytes } from "node:crypto";
import { LibctError } from "@berth/libct";
import { HttpError } from "../http/problem.js";
import type { TokenRepo, TokenRow } from "../store/tokens.js";

export interface TokenInfo {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  readonly expiresAt?: string;
  readonly lastUsedAt?: string;
}

const TOKEN_RE = /^bth_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

const info = (r: TokenRow): TokenInfo => ({
  id: r.id,
  name: r.name,
  createdAt: r.createdAt,
  ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}),
  ...(r.lastUsedAt ? { lastUsedAt: r.lastUsedAt } : {}),
});

export class TokenService {
  /** Last-used times are written at most once a minute per token, not on every request. */
  private readonly touched = new Map<string, number>();

  constructor(private readonly repo: TokenRepo) {}

  create(req: { name?: string; expiresInSeconds?: number }): TokenInfo & { token: string } {
    const id = randomBytes(6).toString("hex");
    const name = req.name ?? `token-${id}`;
    if (this.repo.list().some((t) => t.name === name)) {
      throw new LibctError("conflict", `a token named '${name}' exists; pick another name or remove it first`);
    }
    const token = `bth_${id}_${randomBytes(32).toString("base64url")}`;
    const createdAt = new Date().toISOString();
    const expiresAt =
      req.expiresInSeconds !== undefined ? new Date(Date.now() + req.expiresInSeconds * 1000).toISOString() : null;
    this.repo.insert({ id, name, hash: sha256(token), createdAt, expiresAt });
    return { ...info({ id, name, hash: "", createdAt, expiresAt, lastUsedAt: null }), token };
  }

  list(): TokenInfo[] {
    return this.repo.list().map(info);
  }

  remove(ref: string): void {
    if (this.repo.delete(ref) === 0) {
      const known = this.repo.list().map((t) => `${t.id} (${t.name})`);
      throw new LibctError("not-found", `no such token '${ref}'${known.length ? `; tokens: ${known.join(", ")}` : ""}`);
    }
  }

  /**
   * The token's row when `authorization` carries a valid, unexpired bearer token; otherwise throws
   * LibctError("unauthorized") saying what to send.
   */
  verify(authorization: string | undefined): TokenInfo {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
    if (!m) {
      throw new HttpError(
        401,
        "invalid",
        "this endpoint needs a bearer token: send 'Authorization: Bearer TOKEN' (the CLI sends BERTH_TOKEN); create one on the host with `berth token create`",
      );
    }
    const token = m[1]!;
    const row = TOKEN_RE.test(token) ? this.repo.byHash(sha256(token)) : undefined;
    if (!row)
      throw new HttpError(401, "invalid", "the bearer token is not valid; create one with `berth token create`");
    if (row.expiresAt && Date.parse(row.expiresAt) <= Date.now()) {
      throw new HttpError(
        401,
        "invalid",
        `the bearer token '${row.name}' expired at ${row.expiresAt}; create a new one`,
      );
    }
    const now = Date.now();
    if ((this.touched.get(row.id) ?? 0) < now - 60_000) {
      this.touched.set(row.id, now);
      this.repo.touch(row.id, new Date(now).toISOString());
    }
    return info(row);
  }
}
