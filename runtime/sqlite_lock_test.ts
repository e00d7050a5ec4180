/**
 * The SQLite file lock (runtime/sqlite_lock.ts) as a killed process leaves it: released by the
 * kernel, and nothing beside the lock file (no `-journal` to pile up in `locks/`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { trySqliteLock } from "./sqlite_lock.ts";

Deno.test("a lock holder killed with SIGKILL leaves only the lock file, and the lock is free again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "authsome-lock-" });
  try {
    const path = join(dir, "x.lock");
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { trySqliteLock } from ${JSON.stringify(import.meta.resolve("./sqlite_lock.ts"))};
         await trySqliteLock(${JSON.stringify(path)}, Deno.chmod);
         console.log("held");
         await new Promise((resolve) => setTimeout(resolve, 60_000));`,
      ],
      stdout: "piped",
    }).spawn();
    const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal((await reader.read()).value?.trim(), "held");
    assert.equal(await trySqliteLock(path, Deno.chmod), undefined, "held by the other process");
    holder.kill("SIGKILL");
    await holder.status;
    reader.releaseLock();
    await holder.stdout.cancel().catch(() => {});
    const files = [...Deno.readDirSync(dir)].map((entry) => entry.name);
    assert.deepEqual(files, ["x.lock"]);
    const again = await trySqliteLock(path, Deno.chmod);
    assert.ok(again !== undefined, "the kernel released the lock");
    again.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
