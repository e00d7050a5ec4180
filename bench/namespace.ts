/**
 * Benches that talk to a test host name (`api.acme.test`) run in a private mount namespace whose
 * /etc/hosts maps the name to 127.0.0.1: the machine's own /etc/hosts is never touched.
 *
 * @module
 */

/**
 * Re-runs the calling bench in a private mount namespace with `host` mapped to 127.0.0.1 (the
 * variables in `pass` go along) and exits with its status; returns at once when already inside.
 *
 * @example
 * ```ts ignore
 * import { reenterWithHost } from "./namespace.ts";
 * await reenterWithHost(import.meta.url, "api.acme.test", ["AUTHSOME_BENCH_ONLY"]);
 * ```
 */
export async function reenterWithHost(
  moduleUrl: string,
  host: string,
  pass: string[] = [],
): Promise<void> {
  if (Deno.env.get("AUTHSOME_BENCH_NS") === "1") return;
  const hosts = await Deno.makeTempFile({ prefix: "authsome-bench-hosts-" });
  await Deno.writeTextFile(hosts, `${await Deno.readTextFile("/etc/hosts")}\n127.0.0.1 ${host}\n`);
  const script = 'mount --bind "$0" /etc/hosts && exec "$@"';
  const self = new URL(moduleUrl).pathname;
  const env: Record<string, string> = { AUTHSOME_BENCH_NS: "1" };
  for (const name of pass) env[name] = Deno.env.get(name) ?? "";
  const { code } = await new Deno.Command("unshare", {
    args: ["-m", "sh", "-c", script, hosts, Deno.execPath(), "run", "-A", self, ...Deno.args],
    env,
  }).spawn().status;
  await Deno.remove(hosts);
  Deno.exit(code);
}
