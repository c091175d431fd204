#!/usr/bin/env node
// Layering check beyond biome's noNodejsModules: pure folders import nothing impure of ours,
// libct imports no other workspace package, and cli/web never import libct or daemon.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const pure = [
  "packages/libct/src/model",
  "packages/libct/src/spec",
  "packages/libct/src/cgroups/parse",
  "packages/api/src",
];
const problems = [];

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".ts")) out.push(p);
  }
  return out;
}
const importsOf = (text) =>
  [...text.matchAll(/(?:import|export)[^"';]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)].map(
    (m) => m[1] ?? m[2],
  );

for (const file of walk(join(root, "packages"))) {
  if (file.includes("/dist/") || file.includes("/node_modules/")) continue;
  const rel = relative(root, file);
  const text = readFileSync(file, "utf8");
  const isTest = rel.endsWith(".test.ts");
  for (const spec of importsOf(text)) {
    if (!isTest && pure.some((d) => rel.startsWith(d + "/"))) {
      if (spec.startsWith("node:")) problems.push(`${rel}: pure folder imports ${spec}`);
      if (spec.startsWith(".")) {
        const target = relative(root, join(file, "..", spec)).replace(/\.js$/, "");
        const ok = pure.some((d) => target.startsWith(d)) || /packages\/libct\/src\/errors$/.test(target);
        if (!ok && rel.startsWith("packages/libct")) problems.push(`${rel}: pure folder imports impure ${spec}`);
      }
    }
    if (rel.startsWith("packages/libct/") && spec.startsWith("@berth/")) problems.push(`${rel}: libct imports ${spec}`);
    if ((rel.startsWith("packages/cli/") || rel.startsWith("packages/web/")) && /^@berth\/(libct|daemon)/.test(spec))
      problems.push(`${rel}: ${spec} is off limits (cli and web talk to the API only)`);
  }
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("layering: ok");
