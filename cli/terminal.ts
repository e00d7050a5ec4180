/**
 * The real terminal: `Deno` streams as a {@linkcode CliIO}, and line input with echo off.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import type { CliIO } from "./command.ts";

/** The {@linkcode CliIO} of this process (stdin, stdout, stderr, the environment). */
export function denoIO(): CliIO {
  const encoder = new TextEncoder();
  const write = (stream: { writeSync(p: Uint8Array): number }, text: string) => {
    const bytes = encoder.encode(text);
    let done = 0;
    try {
      while (done < bytes.length) done += stream.writeSync(bytes.subarray(done));
    } catch (error) {
      if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
    }
  };
  return {
    stdout: (text) => write(Deno.stdout, text),
    stderr: (text) => write(Deno.stderr, text),
    readStdin: async () => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of Deno.stdin.readable) chunks.push(chunk);
      return new TextDecoder().decode(concat(chunks));
    },
    stdinIsTerminal: () => Deno.stdin.isTerminal(),
    stderrIsTerminal: () => Deno.stderr.isTerminal(),
    readMasked: (prompt) => readTerminalLine(prompt, false),
    readLine: (prompt) => readTerminalLine(prompt, true),
    env: { get: (name) => Deno.env.get(name) },
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** Reads a line from the terminal (echo off unless `echo`); Ctrl-C or Ctrl-D cancels (exit 2). */
async function readTerminalLine(prompt: string, echo: boolean): Promise<string | undefined> {
  if (!Deno.stdin.isTerminal()) return undefined;
  Deno.stderr.writeSync(new TextEncoder().encode(prompt));
  Deno.stdin.setRaw(true);
  const decoder = new TextDecoder();
  let value = "";
  const buffer = new Uint8Array(256);
  try {
    while (true) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) break;
      for (const ch of decoder.decode(buffer.subarray(0, n), { stream: true })) {
        if (ch === "\r" || ch === "\n") return value;
        if (ch === "\x03" || ch === "\x04") {
          throw new AuthsomeError("AUTH_FAILED", "Cancelled", { hint: "Nothing was stored" });
        }
        if (ch === "\x7f" || ch === "\b") {
          if (echo && value !== "") Deno.stderr.writeSync(new TextEncoder().encode("\b \b"));
          value = value.slice(0, -1);
        } else if (ch === "\x15") value = "";
        else if (ch >= " ") {
          value += ch;
          if (echo) Deno.stderr.writeSync(new TextEncoder().encode(ch));
        }
      }
    }
    return value;
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  }
}
