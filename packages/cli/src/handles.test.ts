import { strict as assert } from "node:assert";
import { closeSync, constants, openSync } from "node:fs";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { isatty as ttyIsatty } from "node:tty";
import { isatty } from "./handles.js";

describe("handles", () => {
  it("isatty answers as node:tty does: a pty master is a terminal, /dev/null and a socket are not", async () => {
    const pty = openSync("/dev/ptmx", constants.O_RDWR | constants.O_NOCTTY);
    const devnull = openSync("/dev/null", "r");
    const server = createServer();
    try {
      assert.deepEqual([isatty(pty), ttyIsatty(pty)], [true, true]);
      assert.deepEqual([isatty(devnull), ttyIsatty(devnull)], [false, false]);
      await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
      const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
      assert.ok(fd > 2);
      assert.deepEqual([isatty(fd), ttyIsatty(fd)], [false, false]);
      assert.equal(isatty(1 << 20), false, "a closed fd is no terminal");
    } finally {
      closeSync(pty);
      closeSync(devnull);
      server.close();
    }
  });
});
