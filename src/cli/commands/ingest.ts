/**
 * `vigil ingest --config CENTRAL [--batch-size N] [--ack-wait S] [--metrics-port P]`: read the
 * NATS JetStream stream named by `vigil.ingest.source` into the backends of the central
 * configuration (SPEC §10, docs/scale-out.md). Runs until SIGTERM or SIGINT, which finish and
 * acknowledge the batch in hand: exit status 0. A NATS server away at start is waited for
 * (metrics served meanwhile, `vigil_ingest_source_up` 0); a signal ends the wait, status 0.
 *
 * @module
 */
import { createServer, type Server } from "node:http";
import type { Command } from "commander";
import { loadConfig } from "../../config/load.js";
import { AuditEngine } from "../../engine.js";
import { Ingestor } from "../../ingest/ingest.js";
import { formatIngestMetrics } from "../../ingest/metrics.js";
import { type CliContext, configPath, notice } from "../context.js";
import { UsageError } from "../errors.js";
import { addConfigOption, nonNegativeInteger, positiveInteger } from "../options.js";

interface IngestFlags {
  readonly config?: string;
  readonly batchSize: number;
  readonly ackWait: number;
  readonly metricsPort?: number;
  readonly metricsHost: string;
}

/** Registers `ingest` on `program`. */
export function ingestCommand(program: Command, ctx: CliContext): Command {
  const command = program
    .command("ingest")
    .description(
      "carry the events producers publish on NATS JetStream (vigil.ingest.source) into this configuration's backends; runs until SIGTERM",
    )
    .option(
      "--batch-size <n>",
      "messages per pull, committed and acknowledged together",
      positiveInteger,
      2000,
    )
    .option(
      "--ack-wait <seconds>",
      "when this worker creates the consumer: a batch not acknowledged within this time is delivered again",
      positiveInteger,
      30,
    )
    .option(
      "--metrics-port <port>",
      "serve Prometheus metrics (lag, rate, errors) on this port at /metrics (0: any free port)",
      nonNegativeInteger,
    )
    .option("--metrics-host <address>", "address of the metrics server", "127.0.0.1");
  addConfigOption(command);
  command.addHelpText(
    "after",
    `
Examples:
  vigil ingest --config central.yaml
  vigil ingest --config central.yaml --metrics-port 9464

Several workers with the same vigil.ingest.source.durable share the work. Each event is
stored once (by its id) and acknowledged only after the commit; checkpoints go to the
central <table>_checkpoints, so vigil verify --config central.yaml proves every producer's
chain. Messages that are not vigil events go to <subject_prefix>.dead.`,
  );
  command.action(async (flags: IngestFlags) => {
    const file = configPath(ctx, flags.config);
    if (file === undefined)
      throw new UsageError(
        "vigil ingest needs a central configuration: --config FILE with vigil.ingest.source",
      );
    const env = { ...ctx.env, VIGIL_ENABLED: "true" };
    const config = loadConfig(file, { env, cwd: ctx.cwd });
    let reporter: AuditEngine | undefined;
    const ingestor = new Ingestor(config, {
      batchSize: flags.batchSize,
      ackWaitSeconds: flags.ackWait,
      onWarning: (m) => notice(ctx, `warning: ${m}`),
      onError: (e) => notice(ctx, e instanceof Error ? e.message : String(e)),
      onRejected: (r) =>
        reporter?.log({
          action: "INGEST_MESSAGE_REJECTED",
          category: "AUDIT",
          status: "FAILURE",
          severity: "ERROR",
          metadata: {
            stream: r.stream,
            subject: r.subject,
            stream_seq: r.streamSeq,
            reason: r.reason,
            dead_letter_subject: r.deadLetterSubject,
          },
        }),
    });
    const stop = () => ingestor.stop();
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    let server: Server | undefined;
    try {
      // metrics first: a worker waiting for its NATS server shows itself unhealthy (source_up 0)
      if (flags.metricsPort !== undefined) {
        server = await serveMetrics(flags.metricsHost, flags.metricsPort, () =>
          formatIngestMetrics(ingestor.metrics(), config.ingest!.source.durable),
        );
        const address = server.address();
        const port = typeof address === "object" && address ? address.port : flags.metricsPort;
        notice(ctx, `metrics on http://${flags.metricsHost}:${port}/metrics`);
      }
      await ingestor.start();
      if (ingestor.metrics().source_up) {
        try {
          // records what this worker rejects, in the central store, as its own chain
          reporter = new AuditEngine({ configFile: file, env });
          reporter.on("error", (err) => notice(ctx, err.message));
        } catch (error) {
          notice(
            ctx,
            `warning: rejected messages are reported here only, not recorded as events: ${(error as Error).message}`,
          );
        }
        notice(
          ctx,
          `ingesting stream ${config.ingest!.source.stream} as consumer ${config.ingest!.source.durable} (pid ${process.pid})`,
        );
      }
      await ingestor.run(); // ends at once when stopped before the server answered
    } finally {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      server?.close();
      await reporter?.close();
    }
    const m = ingestor.metrics();
    notice(
      ctx,
      `stopped: ${m.events_written} event(s), ${m.records_written} signed record(s) stored, ${m.dead_lettered} message(s) dead-lettered`,
    );
  });
  return command;
}

function serveMetrics(host: string, port: number, body: () => string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.statusCode = 404;
      res.end("not found: try /metrics\n");
      return;
    }
    res.setHeader("content-type", "text/plain; version=0.0.4; charset=utf-8");
    res.end(body());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
