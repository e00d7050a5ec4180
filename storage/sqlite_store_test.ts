import assert from "node:assert/strict";
import { openSqliteStore } from "./sqlite_store.ts";

const CHILD = `
import { openSqliteStore } from ${
  JSON.stringify(new URL("./sqlite_store.ts", import.meta.url).href)
};
const [dir, n] = Deno.args;
const store = openSqliteStore({ path: dir + "/authsome.db", lockDir: dir + "/locks" });
await store.transaction((tx) => {
  tx.putHeader({ name: "v", keySource: "env", keyId: "k", dataKey: { nonce: "a", ciphertext: "b" } });
  tx.put("v", "r/" + n, { nonce: "n", ciphertext: "c" + n });
});
store.close();
`;

Deno.test("sqlite store: a long-lived handle sees commits of other processes, and a new home gets no file from reads", async () => {
  const dir = await Deno.makeTempDir();
  const child = `${dir}/child.ts`;
  await Deno.writeTextFile(child, CHILD);
  const store = openSqliteStore({ path: `${dir}/authsome.db`, lockDir: `${dir}/locks` });
  try {
    assert.deepEqual(await store.keys("v", "r/"), []);
    assert.equal(await Deno.stat(`${dir}/authsome.db`).then(() => true, () => false), false);
    for (const n of ["1", "2"]) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", child, dir, n],
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.deepEqual(await store.get("v", `r/${n}`), { nonce: "n", ciphertext: `c${n}` });
    }
    assert.deepEqual(await store.keys("v", "r/"), ["r/1", "r/2"]);
    assert.equal((await Deno.stat(`${dir}/authsome.db`)).mode! & 0o777, 0o600);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: a file that is not an authsome store is refused (10) and left as it is", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/authsome.db`;
  await Deno.writeTextFile(path, "this is not a database, just text".repeat(200));
  const before = await Deno.readTextFile(path);
  const store = openSqliteStore({ path, lockDir: `${dir}/locks` });
  try {
    await assert.rejects(
      store.keys("v", ""),
      (e: unknown) => (e as { exitCode?: number }).exitCode === 10,
    );
    await assert.rejects(
      store.transaction((tx) => tx.put("v", "k", { nonce: "n", ciphertext: "c" })),
      (e: unknown) => (e as { exitCode?: number }).exitCode === 10,
    );
    assert.equal(await Deno.readTextFile(path), before);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
