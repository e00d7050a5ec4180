import { createMemoryStore } from "./memory_store.ts";
import { openSqliteStore } from "./sqlite_store.ts";
import { testStoreContract } from "./store_contract.ts";

testStoreContract("memory", () => {
  const store = createMemoryStore();
  return Promise.resolve({ open: () => store, cleanup: () => Promise.resolve() });
});

testStoreContract("sqlite", async () => {
  const dir = await Deno.makeTempDir();
  return {
    open: () => openSqliteStore({ path: `${dir}/authsome.db`, lockDir: `${dir}/locks` }),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
});
