import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { formatList, formatObject } from "./format.js";
import { compileTemplate, goString, TemplateError, templateFields } from "./template.js";

const web = {
  id: "abc123",
  name: "web",
  state: { status: "running", running: true, exitCode: 0 },
  labels: { app: "shop", tier: "front" },
  config: { cmd: ["sleep", "30"], env: [] as string[] },
  mounts: [
    { source: "/a", target: "/x" },
    { source: "/b", target: "/y" },
  ],
};
const t = (src: string, data: unknown = web) => compileTemplate(src)(data);

describe("template evaluator", () => {
  it("fields and nested fields, case-insensitive as a fallback", () => {
    assert.equal(t("{{.Name}} {{.State.Status}}"), "web running");
    assert.equal(t("{{.name}}/{{.ID}}"), "web/abc123");
  });
  it("json of the whole object and of a part", () => {
    assert.equal(t("{{json .State}}"), JSON.stringify(web.state));
    assert.deepEqual(JSON.parse(t("{{json .}}")), web);
  });
  it("missing fields print <no value>", () => assert.equal(t("{{.Nope}}"), "<no value>"));
  it("a field holding a function is a method with arguments (docker ps's .Label)", () => {
    const ctx = { Names: "web", Label: (k: unknown) => web.labels[String(k) as "app"] ?? "" };
    assert.equal(t('{{.Names}} {{.Label "tier"}} [{{.Label "nope"}}]', ctx), "web front []");
    assert.equal(t('{{.Label "app" | upper}}', ctx), "SHOP");
    assert.equal(t("{{.}}", ctx), "map[Names:web]", "methods are not printed as values");
    assert.throws(() => t('{{.Name "x"}}'), /not a method/);
    assert.throws(() => compileTemplate('{{. "x"}}'), TemplateError);
  });
  it("Go value printing", () => {
    assert.equal(t("{{.Config.Cmd}}"), "[sleep 30]");
    assert.equal(t("{{.Labels}}"), "map[app:shop tier:front]");
    assert.equal(goString(true), "true");
  });
  it("range over a list rebinds dot", () => {
    assert.equal(t("{{range .Mounts}}{{.Source}}:{{.Target}} {{end}}"), "/a:/x /b:/y ");
  });
  it("range with else on an empty list", () => assert.equal(t("{{range .Config.Env}}x{{else}}none{{end}}"), "none"));
  it("range over a map yields values by sorted key", () =>
    assert.equal(t("{{range .Labels}}{{.}},{{end}}"), "shop,front,"));
  it("if / else if / else", () => {
    const src = '{{if eq .State.Status "exited"}}down{{else if .State.Running}}up{{else}}?{{end}}';
    assert.equal(t(src), "up");
    assert.equal(t(src, { state: { status: "exited" } }), "down");
  });
  it("with", () => assert.equal(t("{{with .State}}{{.Status}}{{end}}"), "running"));
  it("functions: index, join, upper, lower, len, printf", () => {
    assert.equal(t('{{index .Labels "app"}}'), "shop");
    assert.equal(t('{{join .Config.Cmd " "}}'), "sleep 30");
    assert.equal(t("{{upper .Name}}"), "WEB");
    assert.equal(t("{{len .Mounts}}"), "2");
    assert.equal(t('{{printf "%-5s|%3d" .Name 7}}'), "web  |  7");
  });
  it("pipes pass the value as the last argument", () => {
    assert.equal(t("{{.Name | upper}}"), "WEB");
    assert.equal(t('{{.Name | printf "%s!"}}'), "web!");
  });
  it("trim markers", () => assert.equal(t("a  {{- .Name -}}  b"), "awebb"));
  it("literal \\t and \\n become tab and newline, as docker does", () =>
    assert.equal(t("{{.Name}}\\t{{.ID}}\\n"), "web\tabc123\n"));
  it("text outside actions is kept, braces in strings are fine", () => assert.equal(t('x {{"}}"}} y'), "x }} y"));
  it("errors: unclosed action, unknown function, stray end, missing end", () => {
    assert.throws(() => compileTemplate("{{.Name"), TemplateError);
    assert.throws(() => compileTemplate("{{nope .Name}}")(web), TemplateError);
    assert.throws(() => compileTemplate("{{end}}"), TemplateError);
    assert.throws(() => compileTemplate("{{range .Mounts}}x"), TemplateError);
  });
  it("field of a scalar is an error", () => assert.throws(() => t("{{.Name.Foo}}"), TemplateError));
  it("templateFields lists the top-level fields", () => {
    assert.deepEqual(templateFields("{{.ID}}\\t{{.Names}} {{json .State}}"), ["ID", "Names", "State"]);
  });
});

describe("--format output", () => {
  const view = {
    headers: ["ID", "NAME"],
    row: (x: typeof web) => [x.id, x.name],
    fieldHeaders: { ID: "CONTAINER ID" },
  };
  const db = { ...web, id: "def456", name: "db" };
  it("default table", () =>
    assert.equal(formatList([web, db], undefined, view), "ID       NAME\nabc123   web\ndef456   db\n"));
  it("json: one object per line", () => {
    const lines = formatList([web, db], "json", view).trim().split("\n");
    assert.equal(lines.length, 2);
    assert.equal(JSON.parse(lines[1]!).name, "db");
  });
  it("json for a view that asks for an array (Incus's list): one array, empty when nothing is listed", () => {
    const arrayView = { ...view, jsonArray: true };
    assert.deepEqual(
      (JSON.parse(formatList([web, db], "json", arrayView)) as { name: string }[]).map((x) => x.name),
      ["web", "db"],
    );
    assert.deepEqual(JSON.parse(formatList([], "json", arrayView)), []);
  });
  it("a template per item", () => assert.equal(formatList([web, db], "{{.Name}}", view), "web\ndb\n"));
  it("table template with headers", () => {
    assert.equal(
      formatList([web, db], "table {{.ID}}\\t{{.State.Status}}", view),
      "CONTAINER ID   STATUS\nabc123         running\ndef456         running\n",
    );
  });
  it("a single object: pretty JSON or a template", () => {
    assert.equal(JSON.parse(formatObject(web, undefined)).name, "web");
    assert.equal(formatObject(web, "{{.State.Status}}"), "running\n");
  });
});
