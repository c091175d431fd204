/**
 * `berth build` end to end: the real CLI bundle against a real berthd on temp roots. A context with a
 * wildcard COPY, `--chown=nobody:nogroup`, an ADD of a .tar.gz and a script as CMD builds, runs with
 * `berth run --rm`, and rebuilds from the cache.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cliSkipReason, TestBerthd } from "./testing/berthd.js";

describe("berth build through the CLI bundle and berthd", { skip: cliSkipReason(), timeout: 180_000 }, () => {
  let d: TestBerthd;
  const berth = (...args: string[]) => d.berth(...args);

  before(async () => {
    d = await TestBerthd.start("bb-", 120_000);
  });

  after(async () => {
    await d?.stop();
  });

  it("builds a wildcard COPY, --chown names and an ADDed .tar.gz; runs it; rebuilds from the cache", async () => {
    const boot = await berth("image", "bootstrap", "busybox");
    assert.equal(boot.code, 0, boot.err);

    const dir = join(d.base, "ctx");
    await mkdir(join(dir, "payload", "data"), { recursive: true });
    await writeFile(join(dir, "payload", "data", "greeting.txt"), "hello from the archive\n");
    assert.equal(spawnSync("tar", ["-czf", join(dir, "payload.tar.gz"), "-C", join(dir, "payload"), "."]).status, 0);
    await rm(join(dir, "payload"), { recursive: true });
    await mkdir(join(dir, "scripts"));
    await writeFile(
      join(dir, "scripts", "main.sh"),
      '#!/bin/sh\necho "script says hi"\nhelper.sh\ncat /srv/data/greeting.txt\nstat -c "owner %U:%G" /app/main.sh\n',
      { mode: 0o755 },
    );
    await writeFile(join(dir, "scripts", "helper.sh"), "#!/bin/sh\necho helper too\n", { mode: 0o755 });
    await writeFile(join(dir, "scripts", "notes.md"), "not copied\n");
    await writeFile(
      join(dir, "Containerfile"),
      [
        "FROM busybox",
        "COPY --chown=nobody:nogroup scripts/*.sh /app/",
        "ADD payload.tar.gz /srv/",
        "ENV PATH=/app:/bin",
        'CMD ["/app/main.sh"]',
        "",
      ].join("\n"),
    );

    const first = await berth("build", "-t", "t1:1", dir);
    assert.equal(first.code, 0, first.err + first.out);
    assert.match(first.out, /Successfully tagged/);

    const run = await berth("run", "--rm", "t1:1");
    assert.equal(run.code, 0, run.err);
    assert.equal(
      run.out,
      "script says hi\nhelper too\nhello from the archive\nowner nobody:nogroup\n",
      run.out + run.err,
    );
    const ls = await berth("run", "--rm", "t1:1", "ls", "/app");
    assert.doesNotMatch(ls.out, /notes\.md/);

    const again = await berth("build", "-t", "t1:1", dir);
    assert.equal(again.code, 0, again.err);
    assert.equal((again.out.match(/Using cache/g) ?? []).length, 4, again.out);
  });
});
