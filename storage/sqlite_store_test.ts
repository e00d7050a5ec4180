import assert from "node:assert/strict";
import { AuthsomeError } from "../errors.ts";
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

// ---- what a person meets when the store file is not as expected ---------------------------------

/** Runs python3's sqlite3 on `path` with the statements in `script` (one per line). */
async function pySqlite(path: string, script: string): Promise<string> {
  const code = `import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
out = []
for line in sys.stdin.read().splitlines():
    if line.strip():
        out.extend(str(v) for row in c.execute(line).fetchall() for v in row)
c.close()
print("\\n".join(out))`;
  const child = new Deno.Command("python3", {
    args: ["-c", code, path],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

/** A temp folder with `authsome.db` in it, removed afterwards. */
async function tempStore(options: { busyTimeoutMs?: number } = {}) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/authsome.db`;
  const store = openSqliteStore({ path, lockDir: `${dir}/locks`, ...options });
  return {
    dir,
    path,
    store,
    async [Symbol.asyncDispose]() {
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const HEADER = {
  name: "v",
  keySource: "env" as const,
  keyId: "k",
  dataKey: { nonce: "a", ciphertext: "b" },
};

/** Rejects with exit 10, exactly `message`, and `hint`. */
function storeFailure(message: string, hint: string) {
  return (e: unknown) => {
    assert.ok(e instanceof AuthsomeError, String(e));
    assert.equal(e.exitCode, 10);
    assert.equal(e.message, message);
    assert.equal(e.hint, hint);
    return true;
  };
}

Deno.test("sqlite store: a damaged file, another program's database and a newer format are each named", async () => {
  {
    await using t = await tempStore();
    await Deno.writeTextFile(t.path, "this is not a database, just text".repeat(200));
    await assert.rejects(
      t.store.keys("v", ""),
      storeFailure(
        `Cannot open the store ${t.path}: the file is damaged (file is not a database)`,
        "Restore the file from a backup",
      ),
    );
  }
  {
    await using t = await tempStore();
    await pySqlite(t.path, "CREATE TABLE notes (body TEXT)\nPRAGMA application_id = 42");
    await assert.rejects(
      t.store.vaults(),
      storeFailure(
        `Cannot open the store ${t.path}: it is not an authsome store`,
        "Move the file away, or point AUTHSOME_HOME at another folder",
      ),
    );
    assert.equal(await pySqlite(t.path, "SELECT name FROM sqlite_master"), "notes", "untouched");
  }
  {
    await using t = await tempStore();
    await t.store.transaction((tx) => tx.putHeader(HEADER));
    t.store.close();
    await pySqlite(t.path, "PRAGMA user_version = 3");
    const again = openSqliteStore({ path: t.path, lockDir: `${t.dir}/locks` });
    try {
      await assert.rejects(
        again.header("v"),
        storeFailure(
          `Cannot open the store ${t.path}: format version 3 is not supported (this authsome reads 2)`,
          "Use the authsome version that wrote this store, or a newer one",
        ),
      );
    } finally {
      again.close();
    }
  }
});

Deno.test("sqlite store: a restored copy not in WAL mode is switched back; an empty file is a new store, made private", async () => {
  {
    await using t = await tempStore();
    await t.store.transaction((tx) => tx.putHeader(HEADER));
    t.store.close();
    await pySqlite(t.path, "PRAGMA journal_mode = DELETE");
    const again = openSqliteStore({ path: t.path, lockDir: `${t.dir}/locks` });
    try {
      assert.equal((await again.header("v"))?.keyId, "k");
    } finally {
      again.close();
    }
    assert.equal(await pySqlite(t.path, "PRAGMA journal_mode"), "wal");
  }
  {
    await using t = await tempStore();
    await Deno.writeTextFile(t.path, "", { mode: 0o644 });
    await Deno.chmod(t.path, 0o644);
    assert.deepEqual(await t.store.vaults(), []);
    await t.store.transaction((tx) => tx.putHeader(HEADER));
    assert.deepEqual(await t.store.vaults(), ["v"]);
    assert.equal((await Deno.stat(t.path)).mode! & 0o777, 0o600);
    assert.equal(
      await pySqlite(t.path, "PRAGMA application_id\nPRAGMA user_version"),
      "1635087464\n2",
    );
  }
});

Deno.test("sqlite store: a write that waits longer than the busy timeout fails with a clear line, then works", async () => {
  await using t = await tempStore({ busyTimeoutMs: 300 });
  await t.store.transaction((tx) => tx.putHeader(HEADER));
  // Another process holds the write lock until its stdin closes.
  const holder = new Deno.Command("python3", {
    args: [
      "-c",
      `import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()
c.execute("ROLLBACK")`,
      t.path,
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
  assert.equal((await reader.read()).value?.trim(), "held");
  const started = performance.now();
  await assert.rejects(
    t.store.transaction((tx) => tx.put("v", "k/1", { nonce: "n", ciphertext: "c" })),
    storeFailure(
      `The store ${t.path} is busy: another authsome process kept it locked for 0.3 s`,
      "Try again; if it persists, look for a hung authsome process",
    ),
  );
  assert.ok(performance.now() - started >= 250, "the write waited for the busy timeout");
  assert.deepEqual(await t.store.keys("v", ""), [], "readers are not blocked, nothing was written");
  await holder.stdin.close();
  await holder.status;
  reader.releaseLock();
  await holder.stdout.cancel().catch(() => {});
  await t.store.transaction((tx) => tx.put("v", "k/1", { nonce: "n", ciphertext: "c" }));
  assert.deepEqual(await t.store.keys("v", ""), ["k/1"]);
});

Deno.test("sqlite store: a closed store refuses further use", async () => {
  await using t = await tempStore();
  t.store.close();
  await assert.rejects(t.store.keys("v", ""), /The store is closed/);
});

const FILL = `
import { openSqliteStore } from ${
  JSON.stringify(new URL("./sqlite_store.ts", import.meta.url).href)
};
const [dir] = Deno.args;
const store = openSqliteStore({ path: dir + "/authsome.db", lockDir: dir + "/locks" });
const header = { name: "v", keySource: "env", keyId: "k", dataKey: { nonce: "a", ciphertext: "b" } };
await store.transaction((tx) => {
  tx.putHeader(header);
  tx.put("v", "small", { nonce: "n", ciphertext: "small" });
});
let failure = null;
try {
  await store.transaction((tx) => tx.put("v", "big", { nonce: "n", ciphertext: "x".repeat(600_000) }));
} catch (e) {
  failure = { exitCode: e.exitCode, message: e.message, hint: e.hint };
}
console.log(JSON.stringify({ failure, keys: await store.keys("v", ""), small: await store.get("v", "small") }));
store.close();
`;

Deno.test("sqlite store: a full disk fails the write with a clear line and leaves the store as it was", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/fill.ts`;
    await Deno.writeTextFile(script, FILL);
    const data = `${dir}/data`;
    await Deno.mkdir(data);
    // A 256 KiB tmpfs in a private mount namespace (user namespace too, so no root is needed).
    const out = await new Deno.Command("unshare", {
      args: [
        "-rm",
        "sh",
        "-c",
        'mount -t tmpfs -o size=256k tmpfs "$2" && exec "$0" run -A --quiet "$1" "$2"',
        Deno.execPath(),
        script,
        data,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const report = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(report.failure, {
      exitCode: 10,
      message: `Cannot write the store ${data}/authsome.db: the disk is full`,
      hint: "Free some space and try again; nothing was changed",
    });
    assert.deepEqual(report.keys, ["small"]);
    assert.deepEqual(report.small, { nonce: "n", ciphertext: "small" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: a store whose pages were damaged, another program's file with our version, and a folder in its place", async () => {
  {
    await using t = await tempStore();
    await t.store.transaction((tx) => {
      tx.putHeader(HEADER);
      for (let i = 0; i < 200; i++) {
        tx.put("v", `k/${i}`, { nonce: "n", ciphertext: "c".repeat(200) });
      }
    });
    t.store.close();
    await pySqlite(t.path, "PRAGMA wal_checkpoint(TRUNCATE)");
    // Every page after the first (the header page) overwritten with garbage.
    const size = (await Deno.stat(t.path)).size;
    const file = await Deno.open(t.path, { write: true });
    await file.seek(4096, Deno.SeekMode.Start);
    await file.write(new Uint8Array(size - 4096).fill(0xa5));
    file.close();
    const again = openSqliteStore({ path: t.path, lockDir: `${t.dir}/locks` });
    try {
      await assert.rejects(
        again.keys("v", ""),
        storeFailure(
          `Cannot open the store ${t.path}: the file is damaged (database disk image is malformed)`,
          "Restore the file from a backup",
        ),
      );
    } finally {
      again.close();
    }
  }
  {
    await using t = await tempStore();
    await pySqlite(
      t.path,
      "CREATE TABLE notes (body TEXT)\nPRAGMA application_id = 42\nPRAGMA user_version = 2",
    );
    await assert.rejects(
      t.store.vaults(),
      storeFailure(
        `Cannot open the store ${t.path}: it is not an authsome store`,
        "Move the file away, or point AUTHSOME_HOME at another folder",
      ),
    );
  }
  {
    await using t = await tempStore();
    await Deno.mkdir(t.path);
    await assert.rejects(t.store.vaults(), (e: unknown) => {
      assert.ok(e instanceof AuthsomeError);
      assert.equal(e.exitCode, 10);
      assert.match(e.message, new RegExp(`^Cannot use the store ${t.path}: \\S`));
      assert.equal(e.hint, "Check that AUTHSOME_HOME points to a folder you own");
      return true;
    });
  }
});

Deno.test("sqlite store: reads of every kind on a new home create nothing; kind and location say what it is", async () => {
  await using t = await tempStore();
  assert.equal(t.store.kind, "sqlite");
  assert.equal(t.store.location, t.path);
  assert.equal(await t.store.header("v"), undefined);
  assert.equal(await t.store.get("v", "k"), undefined);
  assert.deepEqual(await t.store.vaults(), []);
  assert.deepEqual(await t.store.keys("v", ""), []);
  assert.deepEqual([...Deno.readDirSync(t.dir)], [], "no file was created");
});

Deno.test("sqlite store: a long-lived handle opens the database once (no descriptor leak), and reading never changes the file's mode", async () => {
  await using t = await tempStore();
  await t.store.transaction((tx) => tx.putHeader(HEADER));
  const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
  await t.store.header("v");
  const before = fds();
  for (let i = 0; i < 20; i++) {
    await t.store.header("v");
    await t.store.keys("v", "");
  }
  assert.equal(fds(), before);
  t.store.close();
  await Deno.chmod(t.path, 0o640);
  const again = openSqliteStore({ path: t.path, lockDir: `${t.dir}/locks` });
  try {
    assert.equal((await again.header("v"))?.keyId, "k");
    assert.equal((await Deno.stat(t.path)).mode! & 0o777, 0o640, "left for doctor to report");
  } finally {
    again.close();
  }
});

Deno.test("sqlite store: a database without our application id is not ours, whatever its version; a home under a file is refused", async () => {
  {
    await using t = await tempStore();
    await pySqlite(t.path, "CREATE TABLE notes (body TEXT)\nPRAGMA user_version = 5");
    await assert.rejects(
      t.store.vaults(),
      storeFailure(
        `Cannot open the store ${t.path}: it is not an authsome store`,
        "Move the file away, or point AUTHSOME_HOME at another folder",
      ),
    );
  }
  {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/file`, "x");
      const path = `${dir}/file/authsome.db`;
      const store = openSqliteStore({ path, lockDir: `${dir}/file/locks` });
      await assert.rejects(store.keys("v", ""), (e: unknown) => {
        assert.ok(e instanceof AuthsomeError);
        assert.equal(e.exitCode, 10);
        assert.match(e.message, new RegExp(`^Cannot use the store ${path}: `));
        return true;
      });
      store.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});
