/**
 * Attached exec sessions (`berth exec`, `exec -i`, `exec -it`): each runs under its own conmon (libct
 * `execAttached`: the streams are attached before the process runs), its stdio bridged to the client's upgrade
 * stream by http/attach.ts, its pty resized through its ctl fifo, and its exit code read with libct `waitExec`
 * (GET /1.0/containers/{id}/exec/{session}).
 */
import { rm } from "node:fs/promises";
import type { ExecCreate } from "@berth/api";
import { type AttachSession, type AttachStreams, type Libct, LibctError } from "@berth/libct";
import { type ContainerService, readImageEtc } from "./containers.js";
import { resolveUser } from "./describe.js";

export interface ExecSession {
  readonly containerId: string;
  readonly sessionId: string;
  readonly bundle: string;
  /** The streams given to start, attached since before the process ran. */
  readonly attached: AttachSession;
}

const SESSION = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export class ExecSessions {
  constructor(
    private readonly containers: ContainerService,
    private readonly libct: Libct,
  ) {}

  /** Starts `req` with `streams` attached (stdin only with `attachStdin` or `tty`). */
  async start(ref: string, req: ExecCreate, streams: AttachStreams): Promise<ExecSession> {
    if (req.detach)
      throw new LibctError("invalid", "a detached exec (detach: true) is a plain POST, not an upgrade; leave out one");
    const { row, rootfs } = await this.containers.mountedRootfs(ref);
    let user: { uid: number; gid: number } | undefined;
    if (req.user) {
      user = resolveUser(req.user, readImageEtc(rootfs, "passwd"), readImageEtc(rootfs, "group"));
    }
    const st = await this.libct.state(row.id).catch(() => undefined);
    if (st?.status !== "running")
      throw new LibctError(
        "precondition",
        `container '${row.name}' is not running; start it with berth start ${row.name}`,
      );
    const s = await this.libct.execAttached(
      row.id,
      {
        args: req.cmd,
        ...(req.env ? { env: req.env } : {}),
        ...(req.workingDir ? { cwd: req.workingDir } : {}),
        ...(user ? { user } : {}),
        ...(req.privileged ? { privileged: true } : {}),
        terminal: req.tty === true,
        ...(req.tty && req.consoleSize ? { consoleSize: req.consoleSize } : {}),
        ...(req.attachStdin ? { stdin: true } : {}),
      },
      streams,
    );
    return { containerId: row.id, sessionId: s.sessionId, bundle: s.bundle, attached: s.session };
  }

  /** The session's bundle (attach socket and ctl fifo). */
  bundle(ref: string, sessionId: string): { containerId: string; bundle: string } {
    const row = this.containers.find(ref);
    if (!SESSION.test(sessionId) || !sessionId.startsWith(`${row.id}-exec-`))
      throw new LibctError("not-found", `no exec session '${sessionId}' in container '${row.name}'`);
    return { containerId: row.id, bundle: this.libct.execSessionPath(row.id, sessionId) };
  }

  /** Waits for the session to end and returns its exit code. */
  async exitCode(ref: string, sessionId: string, signal?: AbortSignal): Promise<number> {
    const { containerId, bundle } = this.bundle(ref, sessionId);
    const code = await this.libct.waitExec(containerId, sessionId, signal ? { signal } : {});
    // The session is over and its code delivered: its bundle (conmon's socket, fifo, exit file) can go.
    await rm(bundle, { recursive: true, force: true }).catch(() => {});
    return code;
  }
}
