import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { bashCompletion, zshCompletion } from "./completion.js";
import { loadAll } from "./registry.js";

const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

describe("shell completion", async () => {
  const all = await loadAll();
  const bash = bashCompletion(all);
  const zsh = zshCompletion(all);

  it("every command has --format, but the terminal sessions and the printers of scripts and help", () => {
    const streams = new Set(["attach", "console", "completion", "help"]);
    const missing = all.filter((c) => !c.hidden && !streams.has(c.name) && !("format" in c.flags)).map((c) => c.name);
    assert.deepEqual(missing, []);
    assert.deepEqual(
      all.filter((c) => !c.hidden && !c.examples?.length).map((c) => c.name),
      [],
      "every command's --help has examples",
    );
  });

  it("bash: lists every top-level command and group", () => {
    for (const w of ["run", "ps", "exec", "logs", "launch", "image", "images", "completion", "config"]) {
      assert.match(bash, new RegExp(`\\b${w}\\b`), w);
    }
    assert.match(bash, /complete -F _berth berth/);
  });
  it("bash: per-command flags, short and long, and value completions", () => {
    assert.match(bash, /"run"\|"container run"\)/);
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
COMP_WORDS=(berth run --network ""); COMP_CWORD=3; _berth; echo "\${COMPREPLY[*]}"
COMP_WORDS=(berth container st); COMP_CWORD=2; _berth; echo "\${COMPREPLY[*]}"
COMP_WORDS=(berth container rm --fo); COMP_CWORD=3; _berth; echo "\${COMPREPLY[*]}"`;
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
    const [mem, boo, ru, net, st, rmf] = r.stdout.split("\n");
    // Docker's management-command forms: berth container stop, berth container rm --force
    assert.deepEqual(st?.split(" ").sort(), ["start", "stats", "stop"]);
    assert.equal(rmf, "--force --format");
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
    assert.match(zsh, /'\*'\{-e,--env\}'\[Set environment/);
    assert.match(zsh, /_berth_image_bootstrap/);
  });
  it("zsh: the script parses", { skip: !has("zsh") && "no zsh installed" }, () => {
    const r = spawnSync("zsh", ["-n"], { input: zsh });
    assert.equal(r.status, 0, r.stderr.toString());
  });
  it("zsh: completes a command and a flag in an interactive zsh (zpty), after compinit", {
    skip: !has("zsh") && "no zsh installed",
  }, () => {
    const dir = mkdtempSync(join(tmpdir(), "bzsh-"));
    try {
      const file = join(dir, "_berth");
      writeFileSync(file, zsh);
      // An interactive zsh on a pty: load the script, type a partial line and TAB, then run it through a
      // berth function that prints its arguments, so the completed line shows up as plain text.
      const script = `
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'PS1="%% "; autoload -U compinit; compinit -u -D; source ${file}; berth() { print -r -- "ARGS:$*" }'
sleep 1
zpty -w -n z $'berth ru\t'
sleep 1
zpty -w -n z $'-e A=1 --env B=2 --pids-li\t'
sleep 1
zpty -w -n z $'100 busybox\n'
sleep 1
out=""
while zpty -r -t z chunk; do out+=$chunk; done
zpty -d z
print -r -- "$out"`;
      const r = spawnSync("zsh", ["-f", "-c", script], { encoding: "utf8", timeout: 20_000 });
      assert.match(r.stdout, /ARGS:run -e A=1 --env B=2 --pids-limit 100 busybox/, r.stdout + r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
