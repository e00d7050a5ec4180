/**
 * {@linkcode Runtime} on Deno's own APIs (the CLI's runtime; nothing is loaded that Deno does
 * not need).
 *
 * @module
 */
import type { FailureKind, FileInfo, Runtime } from "./runtime.ts";
import { trySqliteLock } from "./sqlite_lock.ts";

function info(i: Deno.FileInfo): FileInfo {
  return {
    mode: i.mode,
    size: i.size,
    isFile: i.isFile,
    isDirectory: i.isDirectory,
    isSymlink: i.isSymlink,
  };
}

/**
 * The Deno runtime.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { denoRuntime } from "./deno.ts";
 * assert.equal(denoRuntime.failure(new Deno.errors.NotFound("x")), "not-found");
 * ```
 */
export const denoRuntime: Runtime = {
  name: "deno",
  env: (name) => Deno.env.get(name),
  mkdir: (path, mode) => Deno.mkdir(path, { recursive: true, mode }),
  stat: async (path) => info(await Deno.stat(path)),
  lstat: async (path) => info(await Deno.lstat(path)),
  chmod: (path, mode) => Deno.chmod(path, mode),
  readTextFile: (path) => Deno.readTextFile(path),
  async readDir(path) {
    const entries = [];
    for await (const e of Deno.readDir(path)) {
      entries.push({ name: e.name, isFile: e.isFile, isDirectory: e.isDirectory });
    }
    return entries;
  },
  async writeNewFile(path, data, mode) {
    const file = await Deno.open(path, { write: true, createNew: true, mode });
    try {
      let written = 0;
      while (written < data.length) written += await file.write(data.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
  },
  async appendFile(path, data, mode) {
    const file = await Deno.open(path, { append: true, create: true, mode });
    try {
      let written = 0;
      while (written < data.length) written += await file.write(data.subarray(written));
    } finally {
      file.close();
    }
  },
  async touch(path, mode) {
    (await Deno.open(path, { create: true, write: true, mode })).close();
  },
  rename: (from, to) => Deno.rename(from, to),
  remove: (path, options) => Deno.remove(path, options),
  link: (from, to) => Deno.link(from, to),
  tryLock: (path) => trySqliteLock(path, Deno.chmod),
  async flock(path) {
    const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
    try {
      await file.lock(true);
    } catch (error) {
      file.close();
      throw error;
    }
    return { release: () => file.close() }; // closing releases the lock
  },
  serve(handler, port) {
    const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, handler);
    return Promise.resolve({ port: server.addr.port, shutdown: () => server.shutdown() });
  },
  unrefTimer: (timer) => Deno.unrefTimer(timer as unknown as number),
  failure(error): FailureKind | undefined {
    if (error instanceof Deno.errors.NotFound) return "not-found";
    if (error instanceof Deno.errors.AlreadyExists) return "exists";
    if (error instanceof Deno.errors.PermissionDenied) return "denied";
    if (error instanceof Deno.errors.AddrInUse) return "addr-in-use";
    return undefined;
  },
};
