/**
 * The one place where errors become HTTP (incus SmartError): LibctError kinds map to status codes and an
 * application/problem+json body. Internal errors are logged with their cause; clients only learn that
 * something went wrong inside and where to look.
 */
import type { Problem } from "@berth/api";
import { type ErrorKind, LibctError, ValidationError } from "@berth/libct";
import type { Logger } from "../log.js";

/** An error whose HTTP status is not the kind's default (413, 405, 501). */
export class HttpError extends LibctError {
  constructor(
    readonly status: number,
    kind: ErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(kind, message, options);
  }
}

const statusOf: Record<ErrorKind, number> = {
  "not-found": 404,
  conflict: 409,
  invalid: 400,
  precondition: 409,
  unavailable: 503,
  internal: 500,
};

const titles: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Payload Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
};

export function toProblem(err: unknown, log?: Logger, context: Record<string, unknown> = {}): Problem {
  const kind: ErrorKind = err instanceof LibctError ? err.kind : "internal";
  const status = err instanceof HttpError ? err.status : statusOf[kind];
  if (kind === "internal") log?.error("internal error", { ...context, err });
  const detail = kind === "internal" ? "internal error (see daemon log)" : (err as Error).message;
  return {
    type: `https://berth.dev/problems/${kind}`,
    title: titles[status] ?? "Error",
    status,
    detail,
    kind,
    ...(err instanceof ValidationError
      ? { issues: err.issues.map((i) => ({ field: i.field, message: i.message })) }
      : {}),
  };
}
