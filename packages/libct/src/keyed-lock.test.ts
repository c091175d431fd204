import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { KeyedLock } from "./keyed-lock.js";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("KeyedLock", () => {
  it("runs work on one key one at a time, in the order it came, whatever fails", async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    let inside = 0;
    const job = (name: string, ms: number, fail = false) =>
      lock.run("a", async () => {
        inside++;
        assert.equal(inside, 1, `${name} overlapped another job on the same key`);
        log.push(`${name}<`);
        await tick(ms);
        log.push(`>${name}`);
        inside--;
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([job("one", 30), job("two", 5, true), job("three", 1)]);
    assert.deepEqual(log, ["one<", ">one", "two<", ">two", "three<", ">three"]);
    assert.deepEqual(
      results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message)),
      ["one", "two", "three"],
    );
    assert.equal(lock.size, 0, "a key with nothing queued is forgotten");
  });

  it("runs different keys in parallel", async () => {
    const lock = new KeyedLock();
    let both = false;
    let running = 0;
    const job = (key: string) =>
      lock.run(key, async () => {
        running++;
        await tick(20);
        if (running === 2) both = true;
        running--;
      });
    await Promise.all([job("a"), job("b")]);
    assert.ok(both, "the two keys' jobs overlapped");
  });
});
