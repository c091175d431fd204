/** logs: GET /1.0/containers/{id}/logs (NDJSON of LogLine; follow streams until the container exits). */
import { defineCommand } from "../framework/command.js";
import { CliError } from "../framework/errors.js";

export const logs = defineCommand({
  name: "logs",
  summary: "Fetch the logs of a container",
  usage: "logs [OPTIONS] CONTAINER",
  examples: ["berth logs web", "berth logs -f --tail 10 web", "berth logs --since 10m -t web"],
  args: { min: 1, max: 1, complete: "container" },
  flags: {
    follow: { type: "boolean", short: "f", description: "Follow log output" },
    since: {
      type: "string",
      placeholder: "string",
      description: "Show logs since a timestamp (2024-01-02T13:23:37Z) or relative (42m)",
    },
    until: {
      type: "string",
      placeholder: "string",
      description: "Show logs before a timestamp (2024-01-02T13:23:37Z) or relative (42m for 42 minutes)",
    },
    tail: {
      type: "string",
      short: "n",
      placeholder: "string",
      description: 'Number of lines to show from the end of the logs (default "all")',
    },
    timestamps: { type: "boolean", short: "t", description: "Show timestamps" },
    format: {
      type: "string",
      placeholder: "string",
      description: "Each line as 'json' (time, stream, text) or through a template such as '{{.Time}} {{.Text}}'",
    },
  },
  async run({ args, flags }, { api, out }) {
    const line = flags.format
      ? (await import("../output/format.js")).streamFormatter(
          flags.format,
          "berth logs --format '{{.Stream}} {{.Text}}' web",
        )
      : undefined;
    if (flags.tail !== undefined && flags.tail !== "all" && !/^\d+$/.test(flags.tail)) {
      throw new CliError(`invalid argument "${flags.tail}" for "--tail" flag: a number of lines or "all"`);
    }
    const stream = await api.containerLogs({
      params: { id: args[0]! },
      query: {
        ...(flags.follow ? { follow: true } : {}),
        ...(flags.since !== undefined ? { since: flags.since } : {}),
        ...(flags.until !== undefined ? { until: flags.until } : {}),
        ...(flags.tail !== undefined ? { tail: flags.tail } : {}),
        ...(flags.timestamps ? { timestamps: true } : {}),
      },
    });
    const stop = () => stream.cancel();
    process.once("SIGINT", stop);
    try {
      for await (const l of stream) {
        if (line) {
          out.stdout(line(l as unknown as Record<string, unknown>));
          continue;
        }
        const text = `${flags.timestamps ? `${l.time} ` : ""}${l.text}${l.text.endsWith("\n") ? "" : "\n"}`;
        if (l.stream === "stderr") out.stderr(text);
        else out.stdout(text);
      }
    } catch (err) {
      if (!(err instanceof Error && /aborted|socket hang up|premature close/i.test(err.message))) throw err;
    } finally {
      process.off("SIGINT", stop);
    }
    return 0;
  },
});
