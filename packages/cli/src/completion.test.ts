import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { bashCompletion, zshCompletion } from "./completion.js";
import { loadAll } from "./registry.js";

const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

describe("shell completion", async () => {
  const all = await loadAll();
  const bash = bashCompletion(all);
  const zsh = zshCompletion(all);

  it("bash: lists every top-level command and group", () => {
    for (const w of ["run", "ps", "exec", "logs", "launch", "image", "images", "completion", "config"]) {
      assert.match(bash, new RegExp(`\\b${w}\\b`), w);
    }
    assert.match(bash, /complete -F _berth berth/);
  });
  it("bash: per-command flags, short and long, and value completions", () => {
    assert.match(bash, /"run"\)/);
    assert.match(bash, /--memory-swap/);
    assert.match(bash, /--health-start-period/);
    assert.match(bash, /-it?\b|-i /);
    assert.match(bash, /--network\) COMPREPLY=\(\$\(compgen -W "none host"/);
    assert.match(bash, /berth ps -a --format '\{\{\.Names\}\}'/);
    assert.match(bash, /image\) COMPREPLY=\(\$\(compgen -W "ls [^"]*bootstrap/);
  });
  it("bash: the script parses", { skip: !has("bash") && "no bash" }, () => {
    const r = spawnSync("bash", ["-n"], { input: bash });
    assert.equal(r.status, 0, r.stderr.toString());
  });
  it("bash: completes flags and sub-commands when sourced", { skip: !has("bash") && "no bash" }, () => {
    const script = `${bash}
COMP_WORDS=(berth run --mem); COMP_CWORD=2; _berth; echo "\${COMPREPLY[*]}"
COMP_WORDS=(berth image boo); COMP_CWORD=2; _berth; echo "\${COMPREPLY[*]}"
COMP_WORDS=(berth ru); COMP_CWORD=1; _berth; echo "\${COMPREPLY[*]}"
COMP_WORDS=(berth run --network ""); COMP_CWORD=3; _berth; echo "\${COMPREPLY[*]}"`;
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
    const [mem, boo, ru, net] = r.stdout.split("\n");
    assert.deepEqual(mem?.split(" ").sort(), ["--memory", "--memory-reservation", "--memory-swap"]);
    assert.equal(boo, "bootstrap");
    assert.equal(ru, "run");
    assert.equal(net, "none host");
  });
  it("zsh: compdef header, commands with descriptions, _arguments per command", () => {
    assert.match(zsh, /^#compdef berth/);
    assert.match(zsh, /'run:Create and run a new container from an image'/);
    assert.match(zsh, /_berth_run\(\) \{/);
    assert.match(zsh, /'\(-m --memory\)'\{-m,--memory\}'\[Memory limit/);
    assert.match(zsh, /\*\(-e --env\)/);
    assert.match(zsh, /_berth_image_bootstrap/);
  });
  it("zsh: the script parses", { skip: !has("zsh") && "no zsh installed" }, () => {
    const r = spawnSync("zsh", ["-n"], { input: zsh });
    assert.equal(r.status, 0, r.stderr.toString());
  });
});
