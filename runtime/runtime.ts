/**
 * The one place that knows which JavaScript runtime authsome runs on. The library's files,
 * environment, local servers and locks go through {@linkcode runtime}: Deno's own APIs under
 * Deno, `node:` modules under Node (≥ 22.13) and Bun. Chosen once, at start-up; the CLI stays
 * Deno-first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runtime } from "./runtime.ts";
 * assert.equal(runtime.name, "deno");
 * assert.equal(typeof runtime.env("PATH"), "string");
 * ```
 *
 * @module
 */
import { denoRuntime } from "./deno.ts";

/** What a file system entry is, as {@linkcode Runtime.stat} reports it. */
export interface FileInfo {
  /** Permission bits and type (`st_mode`); null where the platform has none. */
  mode: number | null;
  /** Size in bytes. */
  size: number;
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
}

/** A local HTTP server started by {@linkcode Runtime.serve}. */
export interface LocalServer {
  /** The port it listens on (the one assigned when 0 was asked for). */
  port: number;
  /** Stops listening and lets requests in flight finish. */
  shutdown(): Promise<void>;
}

/** An exclusive lock held by this process; released by `release()` or when the process dies. */
export interface HeldLock {
  release(): void;
}

/** How a failed operation failed, across runtimes (Deno error classes, Node error codes). */
export type FailureKind = "not-found" | "exists" | "denied" | "addr-in-use";

/** The operations of a runtime that the library needs. */
export interface Runtime {
  /** `deno`, `node` or `bun`. */
  readonly name: "deno" | "node" | "bun";
  /** An environment variable of the process. */
  env(name: string): string | undefined;
  /** Creates a folder and its parents with `mode` (no error when it exists). */
  mkdir(path: string, mode: number): Promise<void>;
  /** Facts about a path, following symbolic links. */
  stat(path: string): Promise<FileInfo>;
  /** Facts about a path itself (a symbolic link is not followed). */
  lstat(path: string): Promise<FileInfo>;
  chmod(path: string, mode: number): Promise<void>;
  readTextFile(path: string): Promise<string>;
  /** The names in a folder, with whether each is a file or a folder. */
  readDir(path: string): Promise<Array<{ name: string; isFile: boolean; isDirectory: boolean }>>;
  /** Creates `path` (it must not exist) with `data` and `mode`, flushed to disk before return. */
  writeNewFile(path: string, data: Uint8Array, mode: number): Promise<void>;
  /** Appends `data` to `path` (created with `mode` if needed). */
  appendFile(path: string, data: Uint8Array, mode: number): Promise<void>;
  /** Creates an empty file with `mode` if it does not exist. */
  touch(path: string, mode: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string, options?: { recursive?: boolean }): Promise<void>;
  /** A hard link `to` → `from`; fails with kind `exists` when `to` exists. */
  link(from: string, to: string): Promise<void>;
  /**
   * Takes an exclusive lock on the file `path` (created with mode 0600), or returns undefined at
   * once when another holder has it. Held until released or the process ends.
   */
  tryLock(path: string): Promise<HeldLock | undefined>;
  /**
   * Waits for and takes the `flock(2)` lock the version-1 vault format's writers took on `path`
   * (Deno); where the runtime has no `flock` (Node, Bun), waits for {@linkcode tryLock} instead.
   */
  flock(path: string): Promise<HeldLock>;
  /** Serves `handler` on 127.0.0.1:`port` (0: any free port). */
  serve(handler: (request: Request) => Response | Promise<Response>, port: number): Promise<
    LocalServer
  >;
  /** Lets the process exit while `timer` is still pending. */
  unrefTimer(timer: ReturnType<typeof setInterval>): void;
  /** What kind of failure `error` is, when it is one the library handles. */
  failure(error: unknown): FailureKind | undefined;
}

/** The runtime authsome runs on, chosen when this module loads. */
export const runtime: Runtime = "Deno" in globalThis
  ? denoRuntime
  : (await import("./node.ts")).nodeRuntime;
