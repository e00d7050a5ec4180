/**
 * `checkConnections` and `renameConnection` in the library: an identity checks only what its
 * policy allows and cannot rename; the notices of a wait go to `onNotice`, never to the
 * terminal.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AuthsomeError } from "../errors.ts";
import { createAuthService } from "./auth_service.ts";

const KEY = "sk-status1111aaaaBBBBccccDDDD2222";

async function home() {
  const dir = await Deno.makeTempDir({ prefix: "authsome-status-" });
  const env = {
    AUTHSOME_MASTER_KEY: crypto.getRandomValues(new Uint8Array(32)).toBase64(),
    OPENAI_API_KEY: KEY,
  };
  const owner = await createAuthService({ home: join(dir, "h"), env });
  await owner.login("openai");
  await owner.login("openai", { connection: "work" });
  await owner.createIdentity("agent", { allow: ["openai/work"] });
  return {
    dir,
    env,
    owner,
    async [Symbol.asyncDispose]() {
      await owner.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const refused = (code: string) => (error: unknown) =>
  error instanceof AuthsomeError && error.code === code;

Deno.test("an identity checks only the connection its policy allows, and cannot rename one", async () => {
  await using h = await home();
  const agent = await createAuthService({ home: join(h.dir, "h"), env: h.env, identity: "agent" });
  try {
    const checks = await agent.checkConnections("openai");
    assert.deepEqual(checks.map((c) => [c.connection, c.result, c.usable]), [["work", "ok", true]]);
    await assert.rejects(agent.checkConnections(), refused("NOT_ALLOWED"));
    await assert.rejects(agent.checkConnections("github"), refused("NOT_ALLOWED"));
    await assert.rejects(
      agent.checkConnections("openai", { connection: "default" }),
      refused("NOT_ALLOWED"),
    );
    await assert.rejects(agent.renameConnection("openai", "work", "job"), refused("NOT_ALLOWED"));
  } finally {
    await agent.close();
  }
  // The owner sees both, and a rename moves the identity's grant with the connection.
  assert.deepEqual((await h.owner.checkConnections()).map((c) => c.connection), [
    "default",
    "work",
  ]);
  const r = await h.owner.renameConnection("openai", "work", "job");
  assert.deepEqual(r, {
    provider: "openai",
    from: "work",
    to: "job",
    default: false,
    identities: ["agent"],
  });
  assert.deepEqual((await h.owner.getIdentity("agent")).allow.map((a) => a.connection), ["job"]);
  assert.equal(await h.owner.getSecret("openai", "api_key", { connection: "job" }), KEY);
});

Deno.test("a wait for the vault's write lock is told to onNotice after a second, and the write then goes through", async () => {
  await using h = await home();
  const notices: string[] = [];
  const auth = await createAuthService({
    home: join(h.dir, "h"),
    env: h.env,
    onNotice: (m) => notices.push(m),
  });
  const path = join(h.dir, "h", "authsome.db");
  const holder = new Deno.Command("python3", {
    args: [
      "-c",
      `import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(1.6)
c.execute("ROLLBACK")`,
      path,
    ],
    stdout: "piped",
  }).spawn();
  const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
  assert.equal((await reader.read()).value?.trim(), "held");
  try {
    const started = performance.now();
    await auth.setDefaultConnection("openai", "work");
    const waited = performance.now() - started;
    assert.ok(waited >= 1000, `it waited for the other writer (${waited} ms)`);
    assert.deepEqual(notices, [
      `Waiting for another authsome process that is writing the store (${path})…`,
    ]);
    assert.equal((await auth.getConnection("openai")).connection, "work");
  } finally {
    reader.releaseLock();
    await holder.stdout.cancel().catch(() => {});
    await holder.status;
    await auth.close();
  }
});
