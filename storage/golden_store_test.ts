import assert from "node:assert/strict";
import { join } from "node:path";
import { importAesKey } from "./crypto.ts";
import { openHomeStore, openHomeVault, STORE_FILE } from "./home.ts";
import { summarizeRecord } from "../service/summary.ts";

// The golden store was written by `./authsome login` (store format 2) with AUTHSOME_MASTER_KEY =
// bytes 0..31: openai/default, openai/work and resend/default (see docs/STORAGE.md). If this
// test breaks, the on-disk format changed: bump the format version, migrate, and document it.
Deno.test("golden store v2 opens to the known records and summaries", async () => {
  const home = await Deno.makeTempDir();
  await Deno.copyFile(
    new URL("../tests/fixtures/golden_store_v2.db", import.meta.url),
    join(home, STORE_FILE),
  );
  const store = openHomeStore(home);
  try {
    const master = {
      source: "env" as const,
      key: await importAesKey(new Uint8Array(Array.from({ length: 32 }, (_, i) => i))),
    };
    const vault = openHomeVault({
      home,
      store,
      name: "default",
      masterKey: () => Promise.resolve(master),
      summarize: summarizeRecord,
    });
    assert.deepEqual(await store.vaults(), ["default"]);
    assert.deepEqual(await vault.keys("connection/"), [
      "connection/openai/default",
      "connection/openai/work",
      "connection/resend/default",
    ]);
    const work = await vault.get<Record<string, unknown>>("connection/openai/work");
    assert.equal(work?.auth_type, "api_key");
    assert.deepEqual(work?.api_url, ["api.openai.com"]);
    assert.deepEqual(work?.secrets, { api_key: "sk-golden-work-11111111111111111111" });
    assert.deepEqual(await vault.get("provider/openai"), { default_connection: "default" });
    const resend = await vault.get<{ secrets: unknown }>("connection/resend/default");
    assert.deepEqual(resend?.secrets, { api_key: "re_golden_key" });
    const summaries = await vault.summaries<Record<string, unknown>>("connection/openai");
    assert.deepEqual([...summaries.keys()], ["default", "work"]);
    assert.deepEqual(summaries.get("work")?.secret_fields, ["api_key"]);
    // Index entries are compact: no provider or name (their place says them), no null or empty
    // field, and never a secret value.
    assert.deepEqual(Object.keys(summaries.get("work")!).sort(), [
      "api_url",
      "auth_type",
      "created_at",
      "obtained_at",
      "secret_fields",
      "status",
    ]);
    assert.equal(summaries.get("work")?.secrets, undefined, "no secret in an index");
  } finally {
    store.close();
    await Deno.remove(home, { recursive: true });
  }
});
