import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { LibctError } from "../../errors.js";
import { goClean, makeIgnoreMatcher } from "./ignore.js";

/** [ignore file, path, isDir, ignored?] */
type Case = readonly [string, string, boolean, boolean];

const cases: Case[] = [
  // The example file in Docker's docs: # comment, */temp*, */*/temp*, temp?
  ["# comment\n*/temp*\n*/*/temp*\ntemp?", "somedir/temporary.txt", false, true],
  ["# comment\n*/temp*\n*/*/temp*\ntemp?", "somedir/temp", true, true],
  ["# comment\n*/temp*\n*/*/temp*\ntemp?", "somedir/subdir/temporary.txt", false, true],
  ["# comment\n*/temp*\n*/*/temp*\ntemp?", "tempa", false, true],
  ["# comment\n*/temp*\n*/*/temp*\ntemp?", "tempb", false, true],
  ["# comment\n*/temp*\n*/*/temp*\ntemp?", "temporary.txt", false, false],
  ["# comment\n*/temp*\n*/*/temp*\ntemp?", "tempab", false, false],
  ["# comment\n*/temp*\n*/*/temp*\ntemp?", "a/b/c/temp", false, false],
  ["# comment\n*/temp*\n*/*/temp*\ntemp?", "# comment", false, false],
  // "/foo/bar and foo/bar both exclude a file or directory named bar in the foo subdirectory. Neither excludes anything else."
  ["/foo/bar", "foo/bar", false, true],
  ["foo/bar", "foo/bar", false, true],
  ["/foo/bar", "bar", false, false],
  ["/foo/bar", "x/foo/bar", false, false],
  ["foo/bar", "foo/bar/inside.txt", false, true],
  // **/*.go excludes .go files in all directories, including the root.
  ["**/*.go", "main.go", false, true],
  ["**/*.go", "cmd/app/main.go", false, true],
  ["**/*.go", "main.go.txt", false, false],
  // *.md with !README.md: all markdown except README.md.
  ["*.md\n!README.md", "CHANGES.md", false, true],
  ["*.md\n!README.md", "README.md", false, false],
  ["*.md\n!README.md", "docs/x.md", false, false],
  // The last matching line wins.
  ["*.md\n!README*.md\nREADME-secret.md", "README-secret.md", false, true],
  ["*.md\n!README*.md\nREADME-secret.md", "README-public.md", false, false],
  ["*.md\nREADME-secret.md\n!README*.md", "README-secret.md", false, false],
  ["*.md\nREADME-secret.md\n!README*.md", "other.md", false, true],
  // Include-list style: * then exceptions.
  ["*\n!src\n!package.json", "src/index.ts", false, false],
  ["*\n!src\n!package.json", "package.json", false, false],
  ["*\n!src\n!package.json", "node_modules/x/index.js", false, true],
  ["*\n!src\n!package.json", "node_modules", true, true],
  // An ignored directory that an exception may reach into is not skipped whole.
  ["*\n!src/keep.txt", "src", true, false],
  ["*\n!src/keep.txt", "src/keep.txt", false, false],
  ["*\n!src/keep.txt", "src/other.txt", false, true],
  ["*\n!src/keep.txt", "other", true, true],
  ["build\n!build/**/*.so", "build", true, false],
  // ** forms.
  ["**", "anything/at/all", false, true],
  ["dir/**", "dir/file", false, true],
  ["dir/**", "dir/a/b", false, true],
  ["dir/**", "dirx/file", false, false],
  ["**/.git", ".git", true, true],
  ["**/.git", "sub/.git/config", false, true],
  ["a/**/b", "a/b", false, true],
  ["a/**/b", "a/x/y/b", false, true],
  ["a/**/b", "a/x/y/c", false, false],
  // Cleaning: leading / and ./, .., trailing /, surrounding spaces.
  ["./foo/../bar/", "bar", false, true],
  ["  /node_modules  ", "node_modules/pkg/index.js", false, true],
  ["node_modules", "./node_modules", true, true],
  ["node_modules", "/node_modules", true, true],
  // Literal characters that are special in regular expressions.
  ["abc.def", "abcXdef", false, false],
  ["abc.def", "abc.def", false, true],
  ["a(b)c+d", "a(b)c+d", false, true],
  ["a\\*b", "a*b", false, true],
  ["a\\*b", "axb", false, false],
  // Character classes and ?.
  ["file[0-9].txt", "file7.txt", false, true],
  ["file[^0-9].txt", "file7.txt", false, false],
  ["file?.txt", "file/.txt", false, false],
  // * does not cross /.
  ["*.log", "logs/app.log", false, false],
  ["*/*.log", "logs/app.log", false, true],
  // Comments only in column 1; blank lines skipped.
  [" # not a comment", "# not a comment", false, true],
  ["\n\n#*\n", "anything", false, false],
  // The context root is never ignored.
  ["*", ".", true, false],
];

describe("makeIgnoreMatcher", () => {
  for (const [text, path, isDir, expected] of cases)
    it(`${JSON.stringify(text)} ${expected ? "ignores" : "keeps"} ${path}${isDir ? "/" : ""}`, () => {
      assert.equal(makeIgnoreMatcher(text)(path, isDir), expected);
    });

  it("exposes the parsed patterns with their lines", () => {
    const m = makeIgnoreMatcher("# c\n/a/\n\n!b\n");
    assert.deepEqual(
      m.patterns.map((p) => [p.line, p.pattern, p.exclusion]),
      [
        [2, "a", false],
        [4, "b", true],
      ],
    );
  });

  it("rejects a bad pattern naming the line", () => {
    assert.throws(
      () => makeIgnoreMatcher("ok\n[abc", ".dockerignore"),
      (err: unknown) =>
        err instanceof LibctError &&
        err.kind === "invalid" &&
        /^\.dockerignore line 2: bad pattern "\[abc"/.test(err.message),
    );
    assert.throws(() => makeIgnoreMatcher("a\n!\n"), /line 2: "!" needs a pattern/);
    assert.throws(() => makeIgnoreMatcher("trailing\\"), /line 1: bad pattern/);
  });
});

describe("goClean", () => {
  for (const [input, out] of [
    ["", "."],
    ["a//b", "a/b"],
    ["./a/./b/", "a/b"],
    ["a/../..", ".."],
    ["/../a", "/a"],
    ["a/b/../../c", "c"],
  ] as const)
    it(`${JSON.stringify(input)} -> ${out}`, () => assert.equal(goClean(input), out));
});
