/**
 * A real PostgreSQL server for tests: `initdb` in a temp folder (password authentication over
 * TCP, SCRAM-SHA-256), `postgres` listening on 127.0.0.1 on a free port, stopped by
 * {@linkcode PostgresServer.stop} or when the test process goes away.
 *
 * PostgreSQL refuses to run as root. As root (CI), the server runs in a user namespace as user
 * 65534 (`unshare --user --map-user=65534`): inside, it is not root; outside, its files stay
 * readable by the test process. (`runuser -u postgres` does not work in this sandbox: `/` is
 * mode 0700, so no other user can execute anything.) As another user, it runs as that user.
 *
 * A watcher stops the server (fast shutdown) when the test process is gone, so a test process
 * that ends without stopping it (a filtered run, a kill) leaves no server behind.
 *
 * @module
 */

/** The superuser and its password in every test server. */
export const PG_USER = "authsome";
/** The test servers' password (a test value; the tests check it never shows). */
export const PG_PASSWORD = "pg-test-pw-6f1e2d9c";

/** A running (or stopped, restartable) test server. */
export interface PostgresServer {
  /** The TCP port on 127.0.0.1. */
  readonly port: number;
  /** `postgres://authsome:<password>@127.0.0.1:<port>/<database>`. */
  url(database?: string): string;
  /** The same URL without the password. */
  urlWithoutPassword(database?: string): string;
  /** Creates an empty database and returns its name. */
  createDatabase(): Promise<string>;
  /** Runs SQL as the superuser with psql (`-v ON_ERROR_STOP=1`), returns its output (unaligned, tuples only). */
  psql(database: string, sql: string): Promise<string>;
  /** Stops the server (fast shutdown) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts the stopped server again on the same port and data. */
  start(): Promise<void>;
  /**
   * With TLS on: the CA certificate that signed the server's certificate (for 127.0.0.1 only),
   * and a CA that did not; the role `tls_only` (password {@linkcode PG_PASSWORD}) may log in over
   * TLS only.
   */
  readonly tls: { caFile: string; otherCaFile: string } | undefined;
  /** Stops the server and removes its folder. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The folder of the PostgreSQL programs (the newest installed version), or undefined. */
export function postgresBinDir(): string | undefined {
  try {
    const versions = [...Deno.readDirSync("/usr/lib/postgresql")]
      .map((e) => e.name).filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const dir = `/usr/lib/postgresql/${v}/bin`;
      try {
        Deno.statSync(`${dir}/postgres`);
        return dir;
      } catch { /* next */ }
    }
  } catch { /* not installed */ }
  return undefined;
}

/** As root, the programs run in a user namespace as user 65534; otherwise as they are. */
function asServerUser(program: string, args: string[]): [string, string[]] {
  return Deno.uid() === 0
    ? ["unshare", ["--user", "--map-user=65534", "--map-group=65534", program, ...args]]
    : [program, args];
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function runChecked(program: string, args: string[], env: Record<string, string> = {}) {
  const [cmd, cmdArgs] = asServerUser(program, args);
  const out = await new Deno.Command(cmd, { args: cmdArgs, env, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${program} ${args.join(" ")} failed:\n${text}${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

/**
 * The shell that runs the server until it stops, with a watcher (a process of its own, so it
 * outlives this shell if the test runner kills it) that stops the server (fast shutdown) once
 * the test process `$OWNER` is gone.
 */
const WATCHDOG = `"$@" </dev/null >>"$PG_LOG" 2>&1 &
pid=$!
( while kill -0 "$OWNER" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
  kill -INT "$pid" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
wait "$pid"`;

/**
 * Creates and starts a server. Throws when PostgreSQL is not installed (CI installs it).
 *
 * @example
 * ```ts ignore
 * await using pg = await startPostgres();
 * const url = pg.url(await pg.createDatabase());
 * ```
 */
export async function startPostgres(
  options: { tls?: boolean } = {},
): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (bin === undefined) {
    throw new Error("PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)");
  }
  const dir = await Deno.makeTempDir({ prefix: "authsome-pg-" });
  const data = `${dir}/data`;
  const pwfile = `${dir}/pwfile`;
  await Deno.writeTextFile(pwfile, PG_PASSWORD);
  await Deno.chmod(dir, 0o755);
  await Deno.chmod(pwfile, 0o644);
  await runChecked(`${bin}/initdb`, [
    "-D",
    data,
    "-U",
    PG_USER,
    `--pwfile=${pwfile}`,
    "--auth-host=scram-sha-256",
    "--auth-local=trust",
    "--no-sync",
    "--no-instructions",
    "-E",
    "UTF8",
    "--locale=C",
  ]);
  await Deno.remove(pwfile);
  const tls = options.tls ? await makeCertificates(dir) : undefined;
  if (tls !== undefined) {
    // The first matching line wins: tls_only is refused without TLS.
    const hba = await Deno.readTextFile(`${data}/pg_hba.conf`);
    await Deno.writeTextFile(
      `${data}/pg_hba.conf`,
      "hostnossl all tls_only 127.0.0.1/32 reject\n" +
        "hostssl all tls_only 127.0.0.1/32 scram-sha-256\n" + hba,
    );
  }
  const port = freePort();
  let child: Deno.ChildProcess | undefined;

  const start = async () => {
    if (child !== undefined) throw new Error("the test server already runs");
    const [cmd, args] = asServerUser(`${bin}/postgres`, [
      "-D",
      data,
      "-p",
      String(port),
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      `unix_socket_directories=${dir}`,
      "-c",
      "fsync=off",
      "-c",
      "max_connections=150",
      "-c",
      "shared_buffers=16MB",
      ...(tls === undefined ? [] : [
        "-c",
        "ssl=on",
        "-c",
        `ssl_cert_file=${dir}/server.crt`,
        "-c",
        `ssl_key_file=${dir}/server.key`,
      ]),
    ]);
    child = new Deno.Command("sh", {
      args: ["-c", WATCHDOG, "sh", cmd, ...args],
      env: { PG_LOG: `${dir}/server.log`, OWNER: String(Deno.pid) },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0;; i++) {
      const ready = await new Deno.Command(`${bin}/pg_isready`, {
        args: ["-q", "-h", "127.0.0.1", "-p", String(port), "-U", PG_USER],
        stdout: "null",
        stderr: "null",
      }).output();
      if (ready.success) return;
      if (i > 200) {
        const log = await Deno.readTextFile(`${dir}/server.log`).catch(() => "");
        throw new Error(`the test PostgreSQL server did not start:\n${log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const stop = async () => {
    if (child === undefined) return;
    const running = child;
    child = undefined;
    // The postmaster's pid is the first line of postmaster.pid (same pid namespace).
    const pid = Number((await Deno.readTextFile(`${data}/postmaster.pid`)).split("\n")[0]);
    Deno.kill(pid, "SIGINT");
    await running.status;
  };

  let databases = 0;
  const url = (database = "postgres") =>
    `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/${database}`;
  const psql = (database: string, sql: string) =>
    runChecked("psql", [
      "-X",
      "-q",
      "-A",
      "-t",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      dir,
      "-p",
      String(port),
      "-U",
      PG_USER,
      "-d",
      database,
      "-c",
      sql,
    ]);

  await start();
  if (tls !== undefined) {
    await psql("postgres", `CREATE ROLE tls_only LOGIN SUPERUSER PASSWORD '${PG_PASSWORD}'`);
  }
  return {
    port,
    tls,
    url,
    urlWithoutPassword: (database = "postgres") =>
      `postgres://${PG_USER}@127.0.0.1:${port}/${database}`,
    async createDatabase() {
      const name = `t${++databases}_${crypto.randomUUID().slice(0, 8)}`;
      await psql("postgres", `CREATE DATABASE ${name}`);
      return name;
    },
    psql,
    stop,
    start,
    async [Symbol.asyncDispose]() {
      await stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A CA, a server certificate it signs for 127.0.0.1 (IP only), and a second, unrelated CA. */
async function makeCertificates(dir: string): Promise<{ caFile: string; otherCaFile: string }> {
  const openssl = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
      .output();
    if (!out.success) {
      throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
    }
  };
  const ca = (name: string) =>
    openssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${dir}/${name}.key`,
      "-out",
      `${dir}/${name}.crt`,
    );
  await ca("test-ca");
  await ca("other-ca");
  await openssl(
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    `${dir}/server.key`,
    "-out",
    `${dir}/server.csr`,
  );
  await Deno.writeTextFile(`${dir}/san.ext`, "subjectAltName=IP:127.0.0.1\n");
  await openssl(
    "x509",
    "-req",
    "-in",
    `${dir}/server.csr`,
    "-CA",
    `${dir}/test-ca.crt`,
    "-CAkey",
    `${dir}/test-ca.key`,
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    `${dir}/san.ext`,
    "-out",
    `${dir}/server.crt`,
  );
  await Deno.chmod(`${dir}/server.key`, 0o600);
  return { caFile: `${dir}/test-ca.crt`, otherCaFile: `${dir}/other-ca.crt` };
}
