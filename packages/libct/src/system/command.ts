import { spawn } from "node:child_process";
import { LibctError } from "../errors.js";

export interface RunOptions {
  readonly stdin?: string | Buffer;
  readonly signal?: AbortSignal;
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /**
   * stdin, stdout and stderr on /dev/null, for children that hand their stdio to long-lived
   * descendants (`runc create` gives it to the container's init): with pipes the call would only
   * return when those descendants exit. Such children report errors some other way (a log file).
   */
  readonly nullStdio?: boolean;
  /** Milliseconds before the child is killed with SIGKILL and the call rejects. */
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** The one door to child processes; runtime, CRIU, CNI and storage drivers get it via their constructor. */
export interface CommandRunner {
  run(file: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

/** A child process exited non-zero (or was killed). Carries the exit code and stderr for the caller's message. */
export class CommandFailedError extends LibctError {
  constructor(
    readonly file: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly signal: string | null = null,
  ) {
    const why = signal ? `killed by ${signal}` : `exited ${exitCode}`;
    super("internal", `${file} ${args.join(" ")} ${why}: ${stderr.trim().slice(-2000)}`);
  }
}

/** The real runner: spawns without a shell, collects stdout and stderr, rejects on non-zero exit. */
export class ProcessRunner implements CommandRunner {
  run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, {
        stdio: opts.nullStdio ? "ignore" : ["pipe", "pipe", "pipe"],
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        cwd: opts.cwd,
        signal: opts.signal,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout?.on("data", (b: Buffer) => out.push(b));
      child.stderr?.on("data", (b: Buffer) => err.push(b));
      const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
      child.on("error", (e) => {
        clearTimeout(timer);
        const code = (e as NodeJS.ErrnoException).code;
        reject(
          code === "ENOENT"
            ? new LibctError("unavailable", `${file} is not installed; run scripts/setup.sh`, { cause: e })
            : new LibctError("internal", `cannot run ${file}: ${e.message}`, { cause: e }),
        );
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        const stdout = Buffer.concat(out).toString("utf8");
        const stderr = Buffer.concat(err).toString("utf8");
        if (code === 0) resolve({ stdout, stderr });
        else reject(new CommandFailedError(file, args, code, stderr || stdout, signal));
      });
      child.stdin?.on("error", () => {}); // a child that exits without reading stdin is not our error
      child.stdin?.end(opts.stdin ?? "");
    });
  }
}

/** For unit tests: records calls and answers from a table instead of spawning. */
export class RecordingRunner implements CommandRunner {
  readonly calls: [string, string[]][] = [];
  readonly options: (RunOptions | undefined)[] = [];
  constructor(
    private readonly answer: (file: string, args: readonly string[]) => RunResult = () => ({ stdout: "", stderr: "" }),
  ) {}
  async run(file: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    this.calls.push([file, [...args]]);
    this.options.push(opts);
    return this.answer(file, args);
  }
}
