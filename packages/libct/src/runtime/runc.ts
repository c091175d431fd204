import { LibctError } from "../errors.js";
import type { OciResources } from "../spec/oci.js";
import { CommandFailedError, type CommandRunner } from "../system/command.js";
import type { ExecOptions, OciRuntime, RuntimeState } from "./runtime.js";

export interface RuncOptions {
  readonly name?: "runc" | "crun";
  readonly binary: string;
  /** The runtime's state directory (`--root`), one per libct root so two hosts never mix. */
  readonly stateRoot: string;
  readonly cmd: CommandRunner;
}

const NOT_FOUND = /does not exist|not found|no such file|container .* not exist/i;

/** runc and crun share a command line; one driver serves both. */
export class RuncRuntime implements OciRuntime {
  readonly name: "runc" | "crun";
  readonly binary: string;
  private readonly stateRoot: string;
  private readonly cmd: CommandRunner;

  constructor(opts: RuncOptions) {
    this.name = opts.name ?? "runc";
    this.binary = opts.binary;
    this.stateRoot = opts.stateRoot;
    this.cmd = opts.cmd;
  }

  globalArgs(): string[] {
    return ["--root", this.stateRoot];
  }

  private async call(args: string[], what: string, id?: string): Promise<string> {
    try {
      return (await this.cmd.run(this.binary, [...this.globalArgs(), ...args])).stdout;
    } catch (err) {
      if (err instanceof CommandFailedError) {
        if (id && NOT_FOUND.test(err.stderr))
          throw new LibctError("not-found", `no such container '${id}' in ${this.name}`, { cause: err });
        const detail = err.stderr.trim().split("\n").pop() ?? "";
        throw new LibctError("internal", `${this.name} ${what} failed: ${detail}`, { cause: err });
      }
      throw err;
    }
  }

  async create(id: string, bundle: string, opts: { pidFile?: string } = {}): Promise<void> {
    await this.call(
      ["create", "--bundle", bundle, ...(opts.pidFile ? ["--pid-file", opts.pidFile] : []), id],
      "create",
    );
  }
  async start(id: string): Promise<void> {
    await this.call(["start", id], "start", id);
  }
  async kill(id: string, signal: string | number, opts: { all?: boolean } = {}): Promise<void> {
    await this.call(["kill", ...(opts.all ? ["--all"] : []), id, String(signal)], "kill", id);
  }
  async pause(id: string): Promise<void> {
    await this.call(["pause", id], "pause", id);
  }
  async resume(id: string): Promise<void> {
    await this.call(["resume", id], "resume", id);
  }
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.call(["delete", ...(opts.force ? ["--force"] : []), id], "delete", id);
  }
  async state(id: string): Promise<RuntimeState | undefined> {
    try {
      return JSON.parse(await this.call(["state", id], "state", id)) as RuntimeState;
    } catch (err) {
      if (err instanceof LibctError && err.kind === "not-found") return undefined;
      throw err;
    }
  }
  async list(): Promise<RuntimeState[]> {
    const out = await this.call(["list", "--format", "json"], "list");
    return (JSON.parse(out || "[]") as RuntimeState[] | null) ?? [];
  }
  execArgs(id: string, opts: ExecOptions): string[] {
    return [
      ...this.globalArgs(),
      "exec",
      "--process",
      opts.processFile,
      ...(opts.tty ? ["--tty"] : []),
      ...(opts.detach ? ["--detach"] : []),
      ...(opts.pidFile ? ["--pid-file", opts.pidFile] : []),
      id,
    ];
  }
  async update(id: string, resources: OciResources): Promise<void> {
    await this.cmd.run(this.binary, [...this.globalArgs(), "update", "--resources", "-", id], {
      stdin: JSON.stringify(resources),
    });
  }
}
