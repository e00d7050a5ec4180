/**
 * A home for `authsome run` tests: the provider acme (api.acme.test, header `x-acme-key`) with two
 * connections (`default`, `work`), a local HTTPS upstream for it that records each request and
 * serves a WebSocket echo at `/ws` (only to an upgrade request that carries a real key), and a
 * second upstream (other.test, the same echo without a key check) that authsome holds no
 * credential for. Both names are mapped to
 * 127.0.0.1 inside a private mount namespace (`unshare -m` + a bind-mounted /etc/hosts), so no
 * traffic leaves loopback and the machine's /etc/hosts is never touched.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createCa, createLeafIssuer } from "../../proxy/certs.ts";
import { LAUNCHER, runCli, tempHome } from "../helpers.ts";

/** The key of acme's `default` connection. */
export const KEY = "acme-real-secret-0123456789";
/** The key of acme's `work` connection. */
export const WORK_KEY = "acme-work-secret-9876543210";

/** One request an upstream received. */
export interface Seen {
  host: string;
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
}

/** A run fixture; dispose it with `await using`. */
export interface RunFixture {
  home: string;
  dir: string;
  /** The port of the acme upstream. */
  port: number;
  /** The port of the other.test upstream (its own certificate, tunnelled). */
  otherPort: number;
  /** The upstreams' CA (trusted by the proxy through NODE_EXTRA_CA_CERTS). */
  caFile: string;
  /** Requests the upstreams received, in order. */
  seen: Seen[];
  /** Text frames the WebSocket echo received, in order, with the key its upgrade carried. */
  frames: Array<{ key: string; text: string }>;
  /**
   * The command, arguments and environment that run `./authsome ARGS` in that namespace, for a
   * caller that spawns it itself (the MCP tests' stdio client).
   */
  command(args: string[], env?: Record<string, string>): {
    command: string;
    args: string[];
    env: Record<string, string>;
  };
  /** Runs `./authsome ARGS` in the namespace where the test hosts are 127.0.0.1. */
  run(
    args: string[],
    env?: Record<string, string>,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Builds the fixture: home, provider, both logins, both upstreams. */
export async function runFixture(): Promise<RunFixture> {
  const tmp = await tempHome();
  const dir = join(tmp.home, "..");
  const ca = await createCa({ commonName: "run fixture upstream CA" });
  const issuer = createLeafIssuer(ca);
  const seen: Seen[] = [];
  const frames: RunFixture["frames"] = [];
  const serve = async (host: string) => {
    const leaf = await issuer.issue(host);
    return Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert: leaf.certPem, key: leaf.keyPem, onListen() {} },
      (req) => {
        const url = new URL(req.url);
        const headers = Object.fromEntries(req.headers);
        seen.push({ host, method: req.method, path: url.pathname, query: url.search, headers });
        // …/redirect?to=URL answers 302 to that URL (the MCP tests' redirects).
        const to = url.searchParams.get("to");
        if (url.pathname.endsWith("/redirect") && to !== null) {
          return new Response(null, { status: 302, headers: { location: to } });
        }
        // Bodies for the MCP tests: binary bytes, and 300 KiB of text.
        if (url.pathname === "/v1/binary") return new Response(new Uint8Array([0, 1, 2, 255]));
        if (url.pathname === "/v1/big") return new Response("é".repeat(150 * 1024 + 7));
        if (url.pathname === "/ws") {
          const key = headers["x-acme-key"] ?? "";
          if (req.headers.get("upgrade") !== "websocket") {
            return new Response("no", { status: 426 });
          }
          // acme's upgrade request must carry a real key, as a realtime API would check it.
          const keyed = key === KEY || key === WORK_KEY;
          if (host === "api.acme.test" && !keyed) return new Response("bad key", { status: 401 });
          const { socket, response } = Deno.upgradeWebSocket(req);
          socket.onmessage = (event) => {
            frames.push({ key, text: String(event.data) });
            const whose = key === KEY ? "default" : key === WORK_KEY ? "work" : "nobody";
            socket.send(`echo ${whose}: ${event.data}`);
          };
          return response;
        }
        return Response.json({ host, path: url.pathname, key: headers["x-acme-key"] ?? null });
      },
    );
  };
  const acme = await serve("api.acme.test");
  const other = await serve("other.test");
  const caFile = join(dir, "upstream-ca.pem");
  await Deno.writeTextFile(caFile, ca.certPem);
  const hosts = join(dir, "hosts");
  await Deno.writeTextFile(
    hosts,
    (await Deno.readTextFile("/etc/hosts")) + "\n127.0.0.1 api.acme.test other.test\n",
  );
  const definition = {
    name: "acme",
    display_name: "Acme",
    auth_type: "api_key",
    api_url: "api.acme.test",
    api_key: { header_name: "x-acme-key", header_prefix: null, env_var: "ACME_API_KEY" },
  };
  await Deno.writeTextFile(join(dir, "acme.json"), JSON.stringify(definition));
  const home = tmp.home;
  assert.equal((await runCli(["provider", "register", join(dir, "acme.json")], { home })).code, 0);
  assert.equal((await runCli(["login", "acme"], { home, env: { ACME_API_KEY: KEY } })).code, 0);
  const work = await runCli(["login", "acme", "-c", "work"], {
    home,
    env: { ACME_API_KEY: WORK_KEY },
  });
  assert.equal(work.code, 0);
  // `login -c work` makes work the default; default stays the default, as a user would set it.
  assert.equal((await runCli(["connections", "set-default", "acme", "default"], { home })).code, 0);
  const command = (args: string[], env: Record<string, string> = {}) => {
    return {
      command: "unshare",
      args: [
        "-m",
        "sh",
        "-c",
        'mount --bind "$0" /etc/hosts && exec "$@"',
        hosts,
        LAUNCHER,
        ...args,
      ],
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: Deno.env.get("HOME") ?? "/root",
        AUTHSOME_HOME: home,
        NO_COLOR: "1",
        // The proxy verifies upstream TLS; the test CA is trusted the way Node does it.
        NODE_EXTRA_CA_CERTS: caFile,
        ...env,
      },
    };
  };
  return {
    home,
    dir,
    port: acme.addr.port,
    otherPort: other.addr.port,
    caFile,
    seen,
    frames,
    command,
    async run(args, env = {}) {
      const spawn = command(args, env);
      const out = await new Deno.Command(spawn.command, {
        args: spawn.args,
        clearEnv: true,
        env: spawn.env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const d = new TextDecoder();
      return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
    },
    async [Symbol.asyncDispose]() {
      await acme.shutdown();
      await other.shutdown();
      await tmp[Symbol.asyncDispose]();
    },
  };
}
