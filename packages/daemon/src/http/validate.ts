/** Request bodies are validated with ajv against the api schemas; failures name the field and what to do. */
import { type SchemaName, schemas } from "@berth/api/schemas";
import { ValidationError, type ValidationIssue } from "@berth/libct";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, verbose: true });
const compiled = new Map<string, ValidateFunction>();

function validator(name: string): ValidateFunction {
  let v = compiled.get(name);
  if (!v) {
    const schema = schemas[name as SchemaName];
    if (!schema) throw new Error(`no schema named ${name}`);
    v = ajv.compile(schema);
    compiled.set(name, v);
  }
  return v;
}

const fieldOf = (e: ErrorObject): string => {
  const path = e.instancePath
    .split("/")
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p.replace(/~1/g, "/").replace(/~0/g, "~")}`))
    .join("")
    .replace(/^\./, "");
  return path || "(body)";
};

function issueOf(e: ErrorObject): ValidationIssue {
  const field = fieldOf(e);
  const p = e.params as Record<string, unknown>;
  const join = (f: string, k: string) => (f === "(body)" ? k : `${f}.${k}`);
  switch (e.keyword) {
    case "additionalProperties": {
      const allowed = Object.keys(
        ((e.parentSchema as { properties?: object } | undefined)?.properties ?? {}) as object,
      );
      return {
        field: join(field, String(p.additionalProperty)),
        message: `unknown field '${String(p.additionalProperty)}'; remove it${allowed.length ? ` (known fields: ${allowed.join(", ")})` : ""}`,
      };
    }
    case "required":
      return { field: join(field, String(p.missingProperty)), message: `'${String(p.missingProperty)}' is required` };
    case "enum":
      return {
        field,
        message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`,
      };
    case "type":
      return { field, message: `must be ${String(p.type)}` };
    case "minimum":
    case "maximum":
      return { field, message: `must be ${e.keyword === "minimum" ? ">=" : "<="} ${String(p.limit)}` };
    case "pattern": {
      // a schema's x-pattern-rule says in words what the expression wants
      const rule = (e.parentSchema as { "x-pattern-rule"?: string } | undefined)?.["x-pattern-rule"];
      const got =
        typeof e.data === "string" ? ` (got '${e.data.length > 80 ? `${e.data.slice(0, 80)}…` : e.data}')` : "";
      const msg = rule ?? `does not match ${String(p.pattern)}`;
      const at = msg.indexOf("; e.g.");
      return { field, message: at < 0 ? `${msg}${got}` : `${msg.slice(0, at)}${got}${msg.slice(at)}` };
    }
    default:
      return { field, message: e.message ?? "is invalid" };
  }
}

/** Validates `body` against schema `name`; throws ValidationError (400) listing every issue. */
export function validateBody<T>(name: string, body: unknown): T {
  const v = validator(name);
  if (!v(body)) {
    const issues = (v.errors ?? []).filter((e) => e.keyword !== "if").map(issueOf);
    const unique = [...new Map(issues.map((i) => [`${i.field}\0${i.message}`, i])).values()];
    throw new ValidationError(unique);
  }
  return body as T;
}
