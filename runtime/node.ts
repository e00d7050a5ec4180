/**
 * {@linkcode Runtime} on `node:` modules, for Node (≥ 22.13, which has `node:sqlite`) and Bun.
 * Loaded only there; the local pages are served with `@hono/node-server`.
 *
 * @module
 */
import * as fs from "node:fs/promises";
import process from "node:process";
import type { FailureKind, FileInfo, Runtime } from "./runtime.ts";
import { trySqliteLock } from "./sqlite_lock.ts";

const CODES: Record<string, FailureKind> = {
  ENOENT: "not-found",
  EEXIST: "exists",
  EACCES: "denied",
  EPERM: "denied",
  EADDRINUSE: "addr-in-use",
};

function info(i: import("node:fs").Stats): FileInfo {
  return {
    mode: i.mode,
    size: i.size,
    isFile: i.isFile(),
    isDirectory: i.isDirectory(),
    isSymlink: i.isSymbolicLink(),
  };
}

/**
 * Refuses a Node older than 22.13, which has no `node:sqlite` (the store); Bun is not checked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkNodeVersion } from "./node.ts";
 * assert.throws(() => checkNodeVersion("20.20.2"), /needs Node 22\.13 or later/);
 * checkNodeVersion("22.13.0");
 * checkNodeVersion("24.1.0");
 * ```
 */
export function checkNodeVersion(version: string): void {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  if (major > 22 || (major === 22 && minor >= 13)) return;
  throw new Error(
    `authsome needs Node 22.13 or later (for node:sqlite); this is Node ${version}. ` +
      "Upgrade Node, or use Deno or Bun",
  );
}

if (!("Bun" in globalThis)) checkNodeVersion(process.versions.node);

/**
 * The Node and Bun runtime.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nodeRuntime } from "./node.ts";
 * assert.equal(nodeRuntime.failure(Object.assign(new Error("x"), { code: "ENOENT" })), "not-found");
 * ```
 */
export const nodeRuntime: Runtime = {
  name: "Bun" in globalThis ? "bun" : "node",
  env: (name) => process.env[name],
  async mkdir(path, mode) {
    await fs.mkdir(path, { recursive: true, mode });
  },
  stat: async (path) => info(await fs.stat(path)),
  lstat: async (path) => info(await fs.lstat(path)),
  chmod: (path, mode) => fs.chmod(path, mode),
  readTextFile: (path) => fs.readFile(path, "utf8"),
  async readDir(path) {
    const entries = await fs.readdir(path, { withFileTypes: true });
    return entries.map((e) => ({ name: e.name, isFile: e.isFile(), isDirectory: e.isDirectory() }));
  },
  async writeNewFile(path, data, mode) {
    const file = await fs.open(path, "wx", mode);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
  },
  async appendFile(path, data, mode) {
    await fs.appendFile(path, data, { mode });
  },
  async touch(path, mode) {
    await (await fs.open(path, "a", mode)).close();
  },
  rename: (from, to) => fs.rename(from, to),
  async remove(path, options) {
    if (options?.recursive) await fs.rm(path, { recursive: true });
    else await fs.rm(path);
  },
  link: (from, to) => fs.link(from, to),
  tryLock: (path) => trySqliteLock(path, fs.chmod),
  async flock(path) {
    for (;;) {
      const held = await trySqliteLock(path, fs.chmod);
      if (held !== undefined) return held;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  },
  async serve(handler, port) {
    const { serve } = await import("@hono/node-server");
    return await new Promise((resolve, reject) => {
      const server = serve({ fetch: handler, hostname: "127.0.0.1", port }, (address) => {
        resolve({
          port: address.port,
          shutdown: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              // Keep-alive connections would hold `close` open until they time out.
              if ("closeIdleConnections" in server) server.closeIdleConnections();
            }),
        });
      });
      server.once("error", reject);
    });
  },
  unrefTimer: (timer) => (timer as unknown as { unref(): void }).unref(),
  failure(error) {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === "string" ? CODES[code] : undefined;
  },
};
