/**
 * Crash safety of the embedded store: a writer process is killed with SIGKILL at random
 * moments, over and over, in one home. After every kill the store must open with the same
 * key and hold every transaction the writer reported as done, each one whole (no torn
 * multi-record commit, summaries equal to the records), and leave no stray files behind.
 * `AUTHSOME_CRASH_ROUNDS` sets the number of rounds (default 100).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openHomeStore, openHomeVault } from "../storage/home.ts";
import { loadMasterKey } from "../storage/master_key.ts";
import { summarizeRecord } from "../service/summary.ts";
import { cliEnv, ROOT } from "./helpers.ts";

const ROUNDS = Number(Deno.env.get("AUTHSOME_CRASH_ROUNDS") ?? 100);
const MASTER_KEY = new Uint8Array(32).fill(7).toBase64();

/**
 * Starts the writer at transaction `first` and kills it `delayMs` after its first acknowledgement
 * (so every round kills a writer that is busy writing, however slow the machine is to start it);
 * returns the acknowledged transactions.
 */
async function writeUntilKilled(home: string, first: number, delayMs: number): Promise<number[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      join(ROOT, "tests", "support", "crash_writer.ts"),
      String(first),
    ],
    env: cliEnv(home, { AUTHSOME_MASTER_KEY: MASTER_KEY }),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        out += chunk;
        if (timer === undefined && out.includes("ack ")) {
          timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
        }
      },
    }),
  );
  const [err, status] = await Promise.all([new Response(child.stderr).text(), child.status]);
  await stdout;
  clearTimeout(timer);
  assert.equal(status.signal, "SIGKILL", `the writer stopped by itself: ${err}`);
  return out.split("\n").filter((l) => /^ack \d+$/.test(l)).map((l) => Number(l.slice(4)));
}

Deno.test(`kill -9 during writes, ${ROUNDS} rounds: every acknowledged commit survives whole`, async () => {
  const home = await Deno.makeTempDir({ prefix: "authsome-crash-" });
  let next = 0;
  let acknowledged = -1;
  let killedMidWrite = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const acked = await writeUntilKilled(home, next, Math.floor(Math.random() * 120));
      if (acked.length > 0) acknowledged = acked.at(-1)!;
      const store = openHomeStore(home);
      try {
        const vault = openHomeVault({
          home,
          store,
          name: "default",
          masterKey: (create) => loadMasterKey({ home, masterKey: MASTER_KEY }, { create }),
          summarize: summarizeRecord,
        });
        const state = await vault.get<{ default_connection: string; last: number }>(
          "provider/acme",
        );
        if (acknowledged < 0) {
          next = state === undefined ? 0 : state.last + 1;
          continue;
        }
        assert.ok(state !== undefined, `round ${round}: the provider record is there`);
        // The last commit is the acknowledged one, or the one in flight when the kill came.
        assert.ok(
          state.last === acknowledged || state.last === acknowledged + 1,
          `round ${round}: last commit ${state.last}, acknowledged ${acknowledged}`,
        );
        if (state.last === acknowledged + 1) killedMidWrite++;
        const names = (await vault.keys("connection/acme/")).map((k) => k.split("/")[2]!);
        const expected = [];
        for (let n = Math.max(0, state.last - 6); n <= state.last; n++) expected.push(`c${n}`);
        assert.deepEqual(
          names.sort(),
          expected.sort(),
          `round ${round}: exactly the live connections`,
        );
        for (const name of names) {
          const record = await vault.get<{ secrets: { api_key: string } }>(
            `connection/acme/${name}`,
          );
          assert.ok(record?.secrets.api_key.startsWith(`key-${name.slice(1)}-`));
        }
        assert.deepEqual(
          [...(await vault.summaries("connection/acme")).keys()].sort(),
          names.sort(),
        );
        next = state.last + 1;
      } finally {
        store.close();
      }
      const files = [];
      for await (const entry of Deno.readDir(home)) files.push(entry.name);
      const stray = files.filter((f) => !/^(authsome\.db(-wal|-shm)?|master\.key|locks)$/.test(f));
      assert.deepEqual(stray, [], `round ${round}: no stray files`);
    }
    assert.ok(
      acknowledged > ROUNDS,
      `the writer made progress (${acknowledged} commits acknowledged)`,
    );
    console.log(
      `${ROUNDS} kills, ${
        acknowledged + 1
      } commits acknowledged, ${killedMidWrite} kills after a commit and before its acknowledgement`,
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
