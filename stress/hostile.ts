/**
 * The `hostile` part of the adversarial suite: hostile local clients against the `run` proxy,
 * the login form, the OAuth callback and the device page (served by stress/hostile_servers.ts
 * in a process of their own). Every hostile request must be refused and none may get the
 * credential injected, while a legitimate proxy client (stress/legit_client.ts, in a worker)
 * keeps being served: its median latency under attack must stay within 2× the one before.
 *
 * @module
 */
import { join } from "node:path";
import type { StressContext, StressPart, StressReport } from "./part.ts";
import { secondsSince } from "./part.ts";
import { ROOT } from "./harness.ts";
import type { Answer } from "./wire.ts";
import { flood, pageAttacks, proxyAttacks, slowLoris, type Targets } from "./hostile_attacks.ts";
import type { ServerStats } from "./hostile_servers.ts";

/** Sizes: parallel connections, slow-loris connections, and how long latency is measured. */
export const HOSTILE_SIZES = {
  slice: { flood: 100, loris: 10, baselineMs: 1500 },
  full: { flood: 1000, loris: 100, baselineMs: 4000 },
} as const;

/** One hostile request: what it is, and its answer. */
interface Shot {
  what: string;
  answer: Answer;
}

/**
 * The hostile part: `deno task stress hostile`.
 *
 * @example
 * ```ts ignore
 * import { hostilePart } from "./hostile.ts";
 * const report = await hostilePart.run({ size: "slice", scratch: "/tmp/x", log: console.error });
 * ```
 */
export const hostilePart: StressPart = { name: "hostile", run: runHostile };

async function runHostile(ctx: StressContext): Promise<StressReport> {
  const started = performance.now();
  const sizes = HOSTILE_SIZES[ctx.size];
  const servers = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", join(ROOT, "stress", "hostile_servers.ts")],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = servers.stdin.getWriter();
  const lines = lineReader(servers.stdout);
  const problems: string[] = [];
  try {
    const targets = JSON.parse(await lines()) as Targets;
    const legit = await LegitClient.start(targets);
    const before = await legit.measure(() => sleep(sizes.baselineMs));
    const shots: Shot[] = [];
    const fire = async (what: string, answer: Promise<Answer>) => {
      shots.push({ what, answer: await answer.catch(() => ({ status: 0, head: "", body: "" })) });
    };
    const under = await legit.measure(async () => {
      await Promise.all([
        proxyAttacks(targets, fire),
        flood(targets, sizes.flood, fire),
        slowLoris(targets, sizes.loris, sizes.baselineMs, fire),
      ]);
    });
    legit.stop();
    const legitForm = await pageAttacks(targets, fire);
    await writer.write(new TextEncoder().encode("stats\n"));
    const stats = JSON.parse(await lines()) as ServerStats;

    const served = shots.filter((shot) => shot.answer.status >= 200 && shot.answer.status < 300);
    for (const shot of served.slice(0, 20)) {
      problems.push(`hostile request served (${shot.answer.status}): ${shot.what}`);
    }
    if (stats.upstream.hostileInjected + stats.upstream.unmarkedInjected > 0) {
      problems.push(
        `credential injected into ${
          stats.upstream.hostileInjected + stats.upstream.unmarkedInjected
        } hostile request(s)`,
      );
    }
    if (stats.upstream.hostile > 0) {
      problems.push(`${stats.upstream.hostile} hostile request(s) reached the upstream`);
    }
    if (JSON.stringify(stats.form) !== JSON.stringify(legitForm)) {
      problems.push(
        `the form took ${JSON.stringify(stats.form)}, not the user's ${JSON.stringify(legitForm)}`,
      );
    }
    if (stats.callback?.code !== "legit-code" || stats.callback?.state !== targets.state) {
      problems.push(`the callback server took another callback: ${JSON.stringify(stats.callback)}`);
    }
    const medianBefore = median(before.latencies);
    const medianUnder = median(under.latencies);
    if (before.latencies.length < 5 || under.latencies.length < 5) {
      problems.push(
        `too few legitimate requests measured (${before.latencies.length} before, ${under.latencies.length} under attack)`,
      );
    }
    if (under.failures > 0 || before.failures > 0) {
      problems.push(
        `legitimate requests failed: ${before.failures} before, ${under.failures} under attack`,
      );
    }
    if (medianUnder > 2 * medianBefore) {
      problems.push(
        `legitimate median latency ${ms(medianUnder)} under attack is over 2× ${ms(medianBefore)}`,
      );
    }
    const statuses = new Map<number, number>();
    for (const shot of shots) {
      statuses.set(shot.answer.status, (statuses.get(shot.answer.status) ?? 0) + 1);
    }
    if (Deno.env.get("AUTHSOME_STRESS_DEBUG")) {
      for (const shot of shots) {
        if (!shot.what.startsWith("parallel")) ctx.log(`${shot.answer.status} ${shot.what}`);
      }
    }
    ctx.log(`hostile: ${shots.length} requests, legit ${ms(medianBefore)} → ${ms(medianUnder)}`);
    return {
      title: "Hostile local clients",
      figures: [
        ["hostile requests sent", shots.length],
        ["hostile requests refused", shots.length - served.length],
        [
          "refusals by status (0: connection closed)",
          [...statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${status}: ${n}`).join(
            ", ",
          ),
        ],
        ["parallel connections / slow-loris connections", `${sizes.flood} / ${sizes.loris}`],
        [
          "credentials injected into hostile requests",
          stats.upstream.hostileInjected + stats.upstream.unmarkedInjected,
        ],
        [
          "legitimate requests served (before / under attack)",
          `${before.latencies.length} / ${under.latencies.length}`,
        ],
        ["legitimate median latency before attack", ms(medianBefore)],
        ["legitimate median latency under attack", ms(medianUnder)],
      ],
      problems,
      seconds: secondsSince(started),
    };
  } finally {
    await writer.write(new TextEncoder().encode("close\n")).catch(() => {});
    await writer.close().catch(() => {});
    const timer = setTimeout(() => servers.kill("SIGKILL"), 5000);
    await servers.status;
    clearTimeout(timer);
  }
}

/** The legitimate client in its worker, started (and warmed up) once. */
class LegitClient {
  readonly #worker: Worker;
  #answers: Array<(data: unknown) => void> = [];
  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (event) => this.#answers.shift()?.(event.data);
  }

  /** Starts the worker; resolves after its first (untimed) request went through. */
  static async start(targets: Targets): Promise<LegitClient> {
    const worker = new Worker(new URL("./legit_client.ts", import.meta.url).href, {
      type: "module",
    });
    const client = new LegitClient(worker);
    const ready = client.#next();
    worker.postMessage({
      init: { port: targets.proxyPort, secret: targets.secret, caPem: targets.proxyCaPem },
    });
    await ready;
    return client;
  }

  #next(): Promise<unknown> {
    return new Promise((resolve) => this.#answers.push(resolve));
  }

  /** Runs the client while `during` runs; its latencies (ms) and failures. */
  async measure(during: () => Promise<void>): Promise<{ latencies: number[]; failures: number }> {
    const result = this.#next();
    this.#worker.postMessage({ start: true });
    await during();
    this.#worker.postMessage({ stop: true });
    return await result as { latencies: number[]; failures: number };
  }

  /** Ends the worker. */
  stop(): void {
    this.#worker.terminate();
  }
}

function lineReader(stream: ReadableStream<Uint8Array>): () => Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return async () => {
    for (;;) {
      const at = buffer.indexOf("\n");
      if (at >= 0) {
        const line = buffer.slice(0, at);
        buffer = buffer.slice(at + 1);
        return line;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error("the hostile servers ended");
      buffer += value;
    }
  };
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function ms(value: number): string {
  return `${value.toFixed(1)} ms`;
}

function sleep(msValue: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, msValue));
}
