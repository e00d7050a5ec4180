/**
 * The launcher runs the pre-built bundle (scripts/build_bundle.ts), builds it on first use, and
 * never runs stale code: after a source edit it runs the sources until the next build. Works on
 * a copy of the tree, so the repository's own files are never edited.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "./helpers.ts";

// Every part of the repository the CLI may load (a new top-level folder is copied without a
// change here); not the tests, docs, benches, built bundle or dependencies.
const LEFT_OUT = new Set([
  ".git",
  "node_modules",
  ".bundle",
  ".mutation",
  "tests",
  "bench",
  "docs",
  "stress",
]);
const TREE = [...Deno.readDirSync(ROOT)].map((entry) => entry.name).filter((name) =>
  !LEFT_OUT.has(name)
);

async function copyTree(from: string, to: string): Promise<void> {
  const info = await Deno.stat(from);
  if (info.isDirectory) {
    await Deno.mkdir(to, { recursive: true });
    for await (const entry of Deno.readDir(from)) {
      await copyTree(join(from, entry.name), join(to, entry.name));
    }
  } else {
    await Deno.copyFile(from, to);
    await Deno.chmod(to, info.mode! & 0o777);
  }
}

async function version(dir: string): Promise<{ stdout: string; entry: string }> {
  // `sh -x` shows which file the launcher ran.
  const out = await new Deno.Command("sh", {
    args: ["-x", join(dir, "authsome"), "--version"],
    env: { AUTHSOME_HOME: join(dir, "home"), NO_COLOR: "1" },
  }).output();
  const trace = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, trace);
  const exec = trace.split("\n").find((l) => l.includes(" run --quiet --no-prompt --config"))!;
  return {
    stdout: new TextDecoder().decode(out.stdout).trim(),
    entry: exec.includes("/.bundle/cli-") ? "bundle" : exec.includes("/cli.ts") ? "source" : exec,
  };
}

Deno.test("the launcher builds the bundle on first use, runs it, and runs the sources after an edit until the next build", async () => {
  const dir = await Deno.makeTempDir({ prefix: "authsome-launcher-" });
  try {
    for (const name of TREE) await copyTree(join(ROOT, name), join(dir, name));
    await Deno.symlink(join(ROOT, "node_modules"), join(dir, "node_modules"));

    assert.deepEqual(await version(dir), { stdout: "authsome 0.1.0", entry: "bundle" });

    const file = join(dir, "cli", "version.ts");
    const text = await Deno.readTextFile(file);
    await Deno.writeTextFile(file, text.replace('"0.1.0"', '"9.9.9"'));
    assert.deepEqual(
      await version(dir),
      { stdout: "authsome 9.9.9", entry: "source" },
      "an edited source runs, never the stale bundle",
    );

    const build = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(dir, "scripts", "build_bundle.ts")],
    }).output();
    assert.equal(build.code, 0, new TextDecoder().decode(build.stderr));
    assert.deepEqual(await version(dir), { stdout: "authsome 9.9.9", entry: "bundle" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
