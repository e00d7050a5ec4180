import assert from "node:assert/strict";
import { type AuditEntry, auditPath, openAuditBatch, readAudit } from "./audit.ts";

const entry = (i: number): AuditEntry => ({
  time: new Date(0).toISOString(),
  action: "proxy",
  vault: "default",
  provider: i % 2 === 0 ? "acme" : "other",
  connection: i % 3 === 0 ? "work" : "default",
  outcome: "injected",
  detail: { program: "curl", host: "api.acme.test", path: `/v1/${i}`, status: 200, ms: 1 },
});

/** Write system calls this process has made so far (Linux /proc/self/io). */
async function writeCalls(): Promise<number> {
  const io = await Deno.readTextFile("/proc/self/io");
  return Number(/^syscw: (\d+)$/m.exec(io)![1]);
}

Deno.test("audit batch: 10,000 entries cost a few writes, not 10,000, and all arrive in order", async () => {
  const home = await Deno.makeTempDir();
  try {
    const before = await writeCalls();
    const batch = openAuditBatch(home);
    for (let i = 0; i < 10_000; i++) batch.add(entry(i));
    await batch.close();
    const writes = (await writeCalls()) - before;
    assert.ok(writes < 100, `${writes} write calls for 10,000 entries`);
    const read = await readAudit(home, 20_000);
    assert.equal(read.length, 10_000);
    assert.deepEqual(
      read.map((e) => e.detail?.path),
      Array.from({ length: 10_000 }, (_, i) => `/v1/${i}`),
    );
    assert.equal((await Deno.stat(auditPath(home))).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("audit batch: queued entries are written within the interval, without close()", async () => {
  const home = await Deno.makeTempDir();
  const batch = openAuditBatch(home, { everyMs: 50 });
  try {
    batch.add(entry(0));
    assert.deepEqual(await readAudit(home, 10), [], "add() wrote at once");
    const deadline = Date.now() + 2_000;
    while ((await readAudit(home, 10)).length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal((await readAudit(home, 10)).length, 1);
  } finally {
    await batch.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("readAudit filters by provider and connection, together with the limit", async () => {
  const home = await Deno.makeTempDir();
  try {
    const batch = openAuditBatch(home);
    for (let i = 0; i < 12; i++) batch.add(entry(i));
    await batch.close();
    const acme = await readAudit(home, 100, { provider: "acme" });
    assert.deepEqual(acme.map((e) => e.detail?.path), [
      "/v1/0",
      "/v1/2",
      "/v1/4",
      "/v1/6",
      "/v1/8",
      "/v1/10",
    ]);
    const acmeWork = await readAudit(home, 100, { provider: "acme", connection: "work" });
    assert.deepEqual(acmeWork.map((e) => e.detail?.path), ["/v1/0", "/v1/6"]);
    assert.deepEqual(
      (await readAudit(home, 1, { connection: "work" })).map((e) => e.detail?.path),
      ["/v1/9"],
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
