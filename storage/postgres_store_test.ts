/**
 * The `Store` contract against a real PostgreSQL server (see tests/support/postgres.ts), one new
 * database per test, plus what only a server store has: a schema created once by racing
 * processes, a newer schema refused, and errors that never show the password.
 */
import assert from "node:assert/strict";
import { AuthsomeError } from "../errors.ts";
import { openPostgresStore, PG_SCHEMA_VERSION } from "./postgres_store.ts";
import type { Store } from "./store.ts";
import { testStoreContract } from "./store_contract.ts";
import { PG_PASSWORD, startPostgres } from "../tests/support/postgres.ts";

const server = await startPostgres();

/** Opens stores on `url` and closes every one of them at cleanup. */
function handles(url: string) {
  const opened: Store[] = [];
  return {
    open: () => {
      const store = openPostgresStore({ url });
      opened.push(store);
      return store;
    },
    cleanup: async () => void await Promise.all(opened.map((store) => store.close())),
  };
}

testStoreContract("postgres", async () => handles(server.url(await server.createDatabase())));

const header = (name: string) => ({
  name,
  keySource: "env" as const,
  keyId: "k1",
  dataKey: { nonce: "bm9uY2U=", ciphertext: "d3JhcHBlZA==" },
});

/** Asserts a one-line exit-10 error whose message matches `pattern` and holds no password. */
async function assertStoreError(promise: Promise<unknown>, pattern: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof AuthsomeError, String(error));
    assert.equal(error.code, "VAULT_UNAVAILABLE");
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), error.message);
    assert.ok(!`${error.message} ${error.hint}`.includes(PG_PASSWORD), error.message);
    return true;
  });
}

Deno.test("postgres store: eight handles writing first at once create the schema once", async () => {
  const url = server.url(await server.createDatabase());
  const f = handles(url);
  try {
    await Promise.all(
      Array.from(
        { length: 8 },
        (_, i) => f.open().transaction((tx) => tx.putHeader(header(`v${i}`))),
      ),
    );
    assert.deepEqual(await f.open().vaults(), ["v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7"]);
  } finally {
    await f.cleanup();
  }
  const db = new URL(url).pathname.slice(1);
  assert.equal(
    (await server.psql(db, "SELECT name || '=' || value FROM authsome.meta")).trim(),
    `schema_version=${PG_SCHEMA_VERSION}`,
  );
});

Deno.test("postgres store: reads of a database without the schema answer empty and create nothing", async () => {
  const db = await server.createDatabase();
  const f = handles(server.url(db));
  try {
    const store = f.open();
    assert.deepEqual(await store.vaults(), []);
    assert.equal(await store.get("default", "provider/openai"), undefined);
  } finally {
    await f.cleanup();
  }
  assert.equal((await server.psql(db, "SELECT to_regnamespace('authsome') IS NULL")).trim(), "t");
});

Deno.test("postgres store: a schema newer than this code is refused (exit 10) and left as it is", async () => {
  const db = await server.createDatabase();
  const f = handles(server.url(db));
  try {
    await f.open().transaction((tx) => tx.putHeader(header("default")));
    await server.psql(db, "UPDATE authsome.meta SET value = '99' WHERE name = 'schema_version'");
    const store = f.open();
    await assertStoreError(
      store.get("default", "x"),
      /schema version 99 is newer than this authsome reads \(2\)/,
    );
    await assertStoreError(
      store.transaction((tx) => tx.putHeader(header("other"))),
      /schema version 99 is newer/,
    );
  } finally {
    await f.cleanup();
  }
  assert.equal(
    (await server.psql(db, "SELECT string_agg(name, ',') FROM authsome.vaults")).trim(),
    "default",
  );
});

Deno.test("postgres store: a wrong password, a missing database and a closed port are one-line errors without the password", async () => {
  const wrong = server.url().replace(PG_PASSWORD, `${PG_PASSWORD}-wrong`);
  const closed = (() => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    return port;
  })();
  const cases: [string, RegExp][] = [
    [
      wrong,
      /^The store postgres:\/\/authsome@127\.0\.0\.1:\d+\/postgres refused the login: password authentication failed/,
    ],
    [server.url("nosuchdb"), /database "nosuchdb" does not exist/],
    [
      `postgres://authsome:${PG_PASSWORD}@127.0.0.1:${closed}/x`,
      /^Cannot reach the store postgres:\/\/authsome@127\.0\.0\.1:\d+\/x: /,
    ],
  ];
  for (const [url, pattern] of cases) {
    const store = openPostgresStore({ url });
    try {
      await assertStoreError(store.vaults(), pattern);
      await assertStoreError(store.withLock("x", () => Promise.resolve()), pattern);
    } finally {
      await store.close();
    }
  }
});

Deno.test("postgres store: a user without CREATE on the database gets a clear error, and works in a schema made for it", async () => {
  const db = await server.createDatabase();
  const role = `limited_${db}`;
  await server.psql(db, `CREATE ROLE ${role} LOGIN PASSWORD 'limited-pw'`);
  const url = server.url(db).replace(`authsome:${PG_PASSWORD}`, `${role}:limited-pw`);
  const f = handles(url);
  try {
    await assertStoreError(
      f.open().transaction((tx) => tx.putHeader(header("default"))),
      /^Cannot use the store .*: permission denied for database/,
    );
    await server.psql(db, `CREATE SCHEMA authsome AUTHORIZATION ${role}`);
    await f.open().transaction((tx) => tx.putHeader(header("default")));
    assert.deepEqual(await f.open().vaults(), ["default"]);
  } finally {
    await f.cleanup();
  }
});

Deno.test("postgres store: a version-1 schema is upgraded to version 2 by the first use, records kept", async () => {
  const db = await server.createDatabase();
  await server.psql(
    db,
    `CREATE SCHEMA authsome;
     CREATE TABLE authsome.meta (name text PRIMARY KEY, value text NOT NULL);
     CREATE TABLE authsome.vaults (name text COLLATE "C" PRIMARY KEY, key_source text NOT NULL,
       key_id text NOT NULL, data_key_nonce text NOT NULL, data_key text NOT NULL);
     CREATE TABLE authsome.records (vault text COLLATE "C" NOT NULL REFERENCES authsome.vaults (name),
       key text COLLATE "C" NOT NULL, nonce text NOT NULL, ciphertext text NOT NULL,
       PRIMARY KEY (vault, key));
     INSERT INTO authsome.meta VALUES ('schema_version', '1');
     INSERT INTO authsome.vaults VALUES ('default', 'env', 'k1', 'bm9uY2U=', 'd3JhcHBlZA==');
     INSERT INTO authsome.records VALUES ('default', 'provider/openai', 'bg==', 'Yw==');`,
  );
  const f = handles(server.url(db));
  try {
    const store = f.open();
    assert.deepEqual(await store.get("default", "provider/openai"), {
      nonce: "bg==",
      ciphertext: "Yw==",
    });
    await store.appendAudit!({ action: "login", vault: "default" });
    assert.deepEqual((await store.readAudit!(10)).map((e) => e.entry.action), ["login"]);
  } finally {
    await f.cleanup();
  }
  assert.equal(
    (await server.psql(db, "SELECT value FROM authsome.meta WHERE name = 'schema_version'")).trim(),
    String(PG_SCHEMA_VERSION),
  );
});

Deno.test("postgres store: the test server stops", async () => {
  await server[Symbol.asyncDispose]();
});
