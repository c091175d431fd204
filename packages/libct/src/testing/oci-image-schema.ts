/**
 * Validates OCI image documents (layout, index, manifest, config) against the image-spec 1.1.1 JSON
 * schemas in testdata/, for tests of everything berth writes.
 */
import { strict as assert } from "node:assert";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import AjvDraft04 from "ajv-draft-04";

const SCHEMA_DIR = fileURLToPath(new URL("../../testdata/oci-image-spec-1.1.1/", import.meta.url));
const SCHEMA_BASE = "https://opencontainers.org/schema/";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type ImageDocKind = "layout" | "index" | "manifest" | "config";

/**
 * The OCI schemas refer to each other by relative file names ("defs.json#/...") under nested `id`s, which
 * makes the same ref resolve to different URIs in different files. Make every file ref absolute under one
 * base and drop nested ids, so ajv resolves each file exactly once.
 */
function normalizeSchema(node: Json, top = true): Json {
  if (Array.isArray(node)) return node.map((n) => normalizeSchema(n, false));
  if (node === null || typeof node !== "object") return node;
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "id" && !top && typeof value === "string") continue;
    if (key === "$ref" && typeof value === "string" && /^[a-z-]+\.json/.test(value)) out[key] = SCHEMA_BASE + value;
    else out[key] = normalizeSchema(value, false);
  }
  return out;
}

/** Returns `check(kind, doc, what)`, which fails the test with ajv's errors when `doc` does not validate. */
export async function loadImageSpecValidator(): Promise<(kind: ImageDocKind, doc: unknown, what: string) => void> {
  // ajv-draft-04 is CommonJS (`module.exports = Ajv; exports.default = Ajv`): under NodeNext the default
  // import is module.exports, typed as the module, so the class is its `.default`.
  const Ajv = AjvDraft04.default;
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addFormat("date-time", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i);
  ajv.addFormat("uri", /^[a-z][a-z0-9+.-]*:[^\s]*$/i);
  const load = async (file: string) => normalizeSchema(JSON.parse(await readFile(join(SCHEMA_DIR, file), "utf8")));
  for (const file of ["defs.json", "defs-descriptor.json", "content-descriptor.json"]) {
    const schema = (await load(file)) as Record<string, Json>;
    delete schema["id"];
    ajv.addSchema(schema as object, SCHEMA_BASE + file);
  }
  const schemas = {
    layout: ajv.compile((await load("image-layout-schema.json")) as object),
    index: ajv.compile((await load("image-index-schema.json")) as object),
    manifest: ajv.compile((await load("image-manifest-schema.json")) as object),
    config: ajv.compile((await load("config-schema.json")) as object),
  };
  return (kind, doc, what) => {
    const validate = schemas[kind];
    assert.ok(validate(doc), `${what} fails the ${kind} schema: ${ajv.errorsText(validate.errors)}`);
  };
}
