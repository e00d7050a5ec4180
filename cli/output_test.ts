import assert from "node:assert/strict";
import type { CliIO } from "./command.ts";
import { reportError } from "./output.ts";
import { AuthsomeError } from "../errors.ts";

/** A CliIO that records stderr and answers `env` from `vars`. */
function recordingIO(vars: Record<string, string> = {}): CliIO & { err: string } {
  const io = {
    err: "",
    stdout() {},
    stderr(text: string) {
      io.err += text;
    },
    readStdin: () => Promise.resolve(""),
    stdinIsTerminal: () => false,
    stderrIsTerminal: () => false,
    readMasked: () => Promise.resolve(undefined),
    readLine: () => Promise.resolve(undefined),
    env: { get: (name: string) => vars[name] },
  };
  return io;
}

Deno.test("an unexpected error is one line and a hint (exit 1); AUTHSOME_DEBUG adds its stack", () => {
  const bug = new TypeError("x is undefined\nsecond line");
  const plain = recordingIO();
  assert.equal(reportError(bug, plain, false, false), 1);
  assert.equal(
    plain.err,
    "error: Unexpected error: x is undefined\n" +
      "hint: Run 'authsome doctor'; if this persists, report it with the command you ran\n",
  );
  const debug = recordingIO({ AUTHSOME_DEBUG: "1" });
  assert.equal(reportError(bug, debug, false, false), 1);
  assert.ok(debug.err.startsWith("TypeError: x is undefined"), debug.err);
  assert.match(debug.err, /\n {4}at /, "the stack is printed");
  assert.ok(debug.err.endsWith(plain.err), "followed by the usual two lines");
});

Deno.test("a known error prints no stack even with AUTHSOME_DEBUG, and --json prints one JSON line", () => {
  const known = new AuthsomeError("CREDENTIAL_MISSING", "No connection", { hint: "Log in" });
  const debug = recordingIO({ AUTHSOME_DEBUG: "1" });
  assert.equal(reportError(known, debug, false, false), known.exitCode);
  assert.equal(debug.err, "error: No connection\nhint: Log in\n");
  const json = recordingIO();
  reportError(known, json, true, false);
  assert.deepEqual(JSON.parse(json.err), {
    error: "CREDENTIAL_MISSING",
    message: "No connection",
    hint: "Log in",
  });
  assert.ok(json.err.endsWith("}\n") && json.err.split("\n").length === 2);
});

Deno.test("an error that quotes a huge input is cut to one line of 400 characters, also in JSON", () => {
  const error = new AuthsomeError("USAGE", `Unknown command "${"x".repeat(5000)}"`, {
    hint: `Run: authsome ${"y".repeat(1000)}`,
  });
  const plain = recordingIO();
  assert.equal(reportError(error, plain, false, false), 64);
  const [message, hint, rest] = plain.err.split("\n");
  assert.equal(message, `error: Unknown command "${"x".repeat(353)}… (5018 characters)`);
  assert.equal(hint, `hint: Run: authsome ${"y".repeat(356)}… (1014 characters)`);
  assert.equal(rest, "");
  const json = recordingIO();
  reportError(error, json, true, false);
  const doc = JSON.parse(json.err) as { message: string; hint: string };
  assert.equal(doc.message.length, 389);
  assert.ok(doc.hint.endsWith("… (1014 characters)"));
});
