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

  it("starts work on an idle key within the call, and queued work only after the earlier work settles", async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const first = lock.run("a", async () => {
      log.push("first began");
      await tick(10);
      log.push("first ended");
    });
    log.push("run returned");
    const second = lock.run("a", async () => {
      log.push("second began");
    });
    log.push("second queued");
    await Promise.all([first, second]);
    assert.deepEqual(log, ["first began", "run returned", "second queued", "first ended", "second began"]);
    // Work that the first one's synchronous part queues on its own key waits for it all the same.
    const order: string[] = [];
    let inner: Promise<void> | undefined;
    await lock.run("c", async () => {
      inner = lock.run("c", async () => {
        order.push("inner");
      });
      await tick(5);
      order.push("outer");
    });
    await inner;
    assert.deepEqual(order, ["outer", "inner"]);
    // A function that throws before returning its promise is a rejection, as it was when it ran later.
    await assert.rejects(
      lock.run("b", () => {
        throw new Error("at once");
      }),
      /at once/,
    );
    assert.equal(lock.size, 0);
  });
});
