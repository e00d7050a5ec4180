/**
 * A writer for the crash-safety test: commits transactions into the `default` vault of
 * AUTHSOME_HOME as fast as it can and prints `ack N` after transaction N resolved. Each
 * transaction adds connection `acme/cN`, moves the provider record to `{default_connection:
 * "cN", last: N}` and logs out `acme/c(N-7)`, so a torn commit shows up as a broken invariant.
 * The test kills it with SIGKILL at random moments.
 *
 * Usage: deno run -A tests/support/crash_writer.ts FIRST
 */
import { loadMasterKey } from "../../storage/master_key.ts";
import { openHomeStore, openHomeVault } from "../../storage/home.ts";
import { summarizeRecord } from "../../service/summary.ts";

const home = Deno.env.get("AUTHSOME_HOME")!;
const masterKey = Deno.env.get("AUTHSOME_MASTER_KEY");
const store = openHomeStore(home);
const vault = openHomeVault({
  home,
  store,
  name: "default",
  masterKey: (create) => loadMasterKey({ home, masterKey }, { create }),
  summarize: summarizeRecord,
});
const encoder = new TextEncoder();
for (let n = Number(Deno.args[0]);; n++) {
  await vault.update((tx) => {
    tx.set(`connection/acme/c${n}`, {
      provider: "acme",
      connection: `c${n}`,
      status: "connected",
      secrets: { api_key: `key-${n}-${"x".repeat(n % 300)}` },
    });
    tx.set("provider/acme", { default_connection: `c${n}`, last: n });
    tx.delete(`connection/acme/c${n - 7}`);
  });
  Deno.stdout.writeSync(encoder.encode(`ack ${n}\n`));
}
