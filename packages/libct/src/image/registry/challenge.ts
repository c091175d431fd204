/** Parsing of `WWW-Authenticate` challenges (RFC 7235) and of bearer-token responses. Pure: no I/O. */

export interface Challenge {
  /** Lowercased: "basic" or "bearer" (others are kept so the caller can name them in an error). */
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parses a `WWW-Authenticate` header value, which may hold several challenges:
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"`.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: { scheme: string; params: Record<string, string> }[] = [];
  const token = /[\w!#$%&'*+.^`|~-]+/y;
  let i = 0;
  const skip = (chars: RegExp) => {
    while (i < header.length && chars.test(header[i]!)) i++;
  };
  while (i < header.length) {
    skip(/[\s,]/);
    token.lastIndex = i;
    const m = token.exec(header);
    if (!m) break;
    i = token.lastIndex;
    skip(/\s/);
    if (header[i] !== "=") {
      out.push({ scheme: m[0].toLowerCase(), params: {} });
      continue;
    }
    i++;
    skip(/\s/);
    let value = "";
    if (header[i] === '"') {
      for (i++; i < header.length && header[i] !== '"'; i++)
        value += header[i] === "\\" ? (header[++i] ?? "") : header[i];
      i++;
    } else {
      const start = i;
      while (i < header.length && !/[\s,]/.test(header[i]!)) i++;
      value = header.slice(start, i);
    }
    const current = out[out.length - 1];
    if (current) current.params[m[0].toLowerCase()] = value;
  }
  return out;
}

/** The token of a token-endpoint answer (`token` or the OAuth2 `access_token`) and when it expires. */
export function parseTokenResponse(body: unknown, now: number): { token: string; expiresAt: number } | undefined {
  if (body === null || typeof body !== "object") return undefined;
  const b = body as { token?: unknown; access_token?: unknown; expires_in?: unknown };
  const token = typeof b.token === "string" && b.token ? b.token : b.access_token;
  if (typeof token !== "string" || !token) return undefined;
  // The spec's default lifetime is 60 s; renew 10 s early.
  const seconds = typeof b.expires_in === "number" && b.expires_in > 0 ? b.expires_in : 60;
  return { token, expiresAt: now + Math.max(seconds - 10, 1) * 1000 };
}
