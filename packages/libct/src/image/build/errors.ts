import { LibctError } from "../../errors.js";

/**
 * A Containerfile that cannot be built as written. `line` is 1-based; the message names the file and
 * line, says what is wrong and how to fix it:
 * `Containerfile line 7: unknown instruction "RUNN"; did you mean RUN?`
 */
export class ContainerfileError extends LibctError {
  constructor(
    readonly line: number,
    readonly problem: string,
    readonly fileName = "Containerfile",
    options?: ErrorOptions,
  ) {
    super("invalid", `${fileName} line ${line}: ${problem}`, options);
  }
}

/** Something Docker accepts but that is probably a mistake or deprecated; the build goes on. */
export interface ContainerfileWarning {
  readonly line: number;
  readonly message: string;
}
