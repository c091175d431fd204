/** The shipped systemd unit: systemd accepts it, it starts the berthd that setup.sh installs, and stopping it leaves containers running. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const unitPath = fileURLToPath(new URL("../../../packaging/systemd/berthd.service", import.meta.url));
const setupPath = fileURLToPath(new URL("../../../scripts/setup.sh", import.meta.url));

function parseUnit(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const sec = /^\[(\w+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!;
      continue;
    }
    const eq = line.indexOf("=");
    const key = `${section}.${line.slice(0, eq)}`;
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

describe("packaging/systemd/berthd.service", () => {
  const unit = parseUnit(readFileSync(unitPath, "utf8"));

  it("starts the berthd setup.sh links onto PATH, on the default roots", () => {
    const exec = unit.get("Service.ExecStart")?.[0] ?? "";
    const bin = exec.split(" ")[0];
    assert.equal(bin, "/usr/local/bin/berthd");
    assert.match(readFileSync(setupPath, "utf8"), /\/usr\/local\/bin\/berthd/);
    assert.match(exec, /--root \/var\/lib\/berth/);
    assert.match(exec, /--run-root \/run\/berth/);
  });

  it("stops berthd alone (KillMode=process), so containers and their conmons outlive it", () => {
    assert.deepEqual(unit.get("Service.KillMode"), ["process"]);
    assert.deepEqual(unit.get("Service.KillSignal"), ["SIGTERM"]);
    assert.deepEqual(unit.get("Install.WantedBy"), ["multi-user.target"]);
  });

  const analyze = spawnSync("sh", ["-c", "command -v systemd-analyze"]).status === 0;
  it("passes systemd-analyze verify", { skip: analyze ? false : "systemd-analyze is not installed" }, () => {
    const r = spawnSync("systemd-analyze", ["verify", unitPath], { encoding: "utf8" });
    // verify checks that ExecStart exists: on a machine without setup.sh's link it says so, nothing else.
    const problems = (r.stderr ?? "")
      .split("\n")
      .filter((l) => l.trim() && !/\/usr\/local\/bin\/berthd.*(No such file|not executable)/.test(l));
    assert.deepEqual(problems, []);
  });
});

describe("berthd's entry point", () => {
  const main = fileURLToPath(new URL("./main.js", import.meta.url));

  it("is executable after the build and runs through its own shebang line (what the PATH link and the unit use)", () => {
    assert.ok(statSync(main).mode & 0o100, `${main} is not executable: npm run build makes it so`);
    assert.match(
      readFileSync(main, "utf8").split("\n")[0]!,
      /^#!\/usr\/bin\/env -S MALLOC_ARENA_MAX=1 node --max-semi-space-size=1 --no-sparkplug$/,
    );
    const r = spawnSync(main, ["--help"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /usage: berthd .*--tcp HOST:PORT/s);
  });
});
