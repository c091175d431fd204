import { strict as assert } from "node:assert";
import { access, readFile } from "node:fs/promises";
import { after, describe, it } from "node:test";
import { applyLayer } from "./index.js";
import { makeTar, scratch, type TarEntry } from "./tartest.js";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

const ABS = `/tmp/berth-unpack-abs-escape-${process.pid}`;

/** Each case: lower layers (applied first, must succeed), the hostile layer, the entry named and the reason. */
interface Case {
  readonly title: string;
  readonly lower?: (outside: string) => TarEntry[];
  readonly layer: (outside: string) => TarEntry[];
  readonly entry: string;
  readonly why: RegExp;
  readonly devices?: "reject";
}

const cases: Case[] = [
  { title: "a ../ path", layer: () => [{ name: "../escape", body: "x" }], entry: "../escape", why: /'\.\.' component/ },
  {
    title: "a ../ path in the middle",
    layer: () => [{ name: "a/../../escape", body: "x" }],
    entry: "a/../../escape",
    why: /'\.\.' component/,
  },
  { title: "an absolute path", layer: () => [{ name: ABS, body: "x" }], entry: ABS, why: /path is absolute/ },
  {
    title: "a file written through a symlink pointing out",
    layer: (out) => [
      { name: "evil", type: "symlink", linkname: out },
      { name: "evil/canary", body: "pwned" },
    ],
    entry: "evil/canary",
    why: /parent 'evil' is a symlink/,
  },
  {
    title: "a file written through a relative symlink to ..",
    layer: () => [
      { name: "up", type: "symlink", linkname: "../outside" },
      { name: "up/new", body: "pwned" },
    ],
    entry: "up/new",
    why: /parent 'up' is a symlink/,
  },
  {
    title: "a file written through a symlink from a lower layer",
    lower: (out) => [{ name: "lib", type: "symlink", linkname: out }],
    layer: () => [{ name: "lib/canary", body: "pwned" }],
    entry: "lib/canary",
    why: /parent 'lib' is a symlink/,
  },
  {
    title: "a directory created through a symlink",
    layer: (out) => [
      { name: "d", type: "symlink", linkname: out },
      { name: "d/sub/", type: "directory" },
    ],
    entry: "d/sub/",
    why: /parent 'd' is a symlink/,
  },
  {
    title: "a hard link to a file outside",
    layer: () => [{ name: "hl", type: "link", linkname: "../outside/canary" }],
    entry: "hl",
    why: /hard link target has a '\.\.' component/,
  },
  {
    title: "a hard link to an absolute path",
    layer: (out) => [{ name: "hl", type: "link", linkname: `${out}/canary` }],
    entry: "hl",
    why: /hard link target is absolute/,
  },
  {
    title: "a hard link through a symlink",
    layer: (out) => [
      { name: "s", type: "symlink", linkname: out },
      { name: "hl", type: "link", linkname: "s/canary" },
    ],
    entry: "hl",
    why: /hard link target 's\/canary': parent 's' is a symlink/,
  },
  {
    title: "a hard link to a missing file",
    layer: () => [{ name: "hl", type: "link", linkname: "nope" }],
    entry: "hl",
    why: /does not exist/,
  },
  {
    title: "a whiteout through a symlink (would delete outside)",
    layer: (out) => [{ name: "s", type: "symlink", linkname: out }, { name: "s/.wh.canary" }],
    entry: "s/.wh.canary",
    why: /parent 's' is a symlink/,
  },
  {
    title: "an opaque marker through a symlink (would empty outside)",
    layer: (out) => [{ name: "s", type: "symlink", linkname: out }, { name: "s/.wh..wh..opq" }],
    entry: "s/.wh..wh..opq",
    why: /parent 's' is a symlink/,
  },
  { title: "a whiteout of ..", layer: () => [{ name: "a/.wh.." }], entry: "a/.wh..", why: /whiteout of '\.'/ },
  {
    title: "a device node when devices are not allowed",
    layer: () => [{ name: "mem", type: "character-device", devmajor: 1, devminor: 1 }],
    entry: "mem",
    why: /device nodes are not allowed/,
    devices: "reject",
  },
  {
    title: "an entry named . that is not a directory",
    layer: () => [{ name: ".", body: "x" }],
    entry: ".",
    why: /target root/,
  },
  {
    title: "a NUL in the name",
    layer: () => [{ name: "a\0/../../escape", body: "x", pax: {} }],
    entry: "a\0/../../escape",
    why: /NUL byte/,
  },
];

describe("applyLayer refuses hostile layers and touches nothing outside", () => {
  for (const c of cases) {
    it(c.title, async () => {
      const s = await scratch();
      cleanups.push(s.cleanup);
      const before = await s.outsideListing();
      if (c.lower) await applyLayer(s.target, [await makeTar(c.lower(s.outside))], { compression: "none" });
      const tar = await makeTar(c.layer(s.outside));
      await assert.rejects(
        applyLayer(s.target, [tar], { compression: "none", ...(c.devices ? { devices: c.devices } : {}) }),
        (e: Error & { kind?: string }) => {
          assert.equal(e.kind, "invalid");
          assert.ok(
            e.message.startsWith(`layer entry '${c.entry}': `) &&
              e.message.endsWith("; the layer is hostile or corrupt, refusing it"),
            e.message,
          );
          assert.match(e.message, c.why);
          return true;
        },
      );
      assert.equal(await readFile(s.canary, "utf8"), "canary\n");
      assert.deepEqual(await s.outsideListing(), before);
      await assert.rejects(access(ABS), { code: "ENOENT" });
    });
  }
});
