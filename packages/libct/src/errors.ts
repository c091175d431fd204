/** The closed set of error kinds shared by libct, the daemon and the API (errdefs in TypeScript). */
export type ErrorKind = "not-found" | "conflict" | "invalid" | "precondition" | "unavailable" | "internal";

export class LibctError extends Error {
  override readonly name: string = this.constructor.name;
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** One failed validation check: the field path and a message that says what to do about it. */
export interface ValidationIssue {
  readonly field: string;
  readonly message: string;
}

/** Thrown when a description fails validation; `issues` lists every failed check, not just the first. */
export class ValidationError extends LibctError {
  constructor(readonly issues: readonly ValidationIssue[]) {
    super("invalid", issues.map((i) => `${i.field}: ${i.message}`).join("; "));
  }
}

export const isLibctError = (err: unknown, kind?: ErrorKind): err is LibctError =>
  err instanceof LibctError && (kind === undefined || err.kind === kind);
