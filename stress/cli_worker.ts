/**
 * The host process behind `InProcessCli` (harness.ts): reads one JSON case a line on stdin
 * (`{argv, env, stdin}`), runs `main` from cli.ts with a captured terminal, and answers
 * `{code, stdout, stderr}` on one stdout line after the answer mark.
 *
 * @module
 */
import { main } from "../cli.ts";
import type { CliIO } from "../cli/command.ts";
import { ANSWER_MARK } from "./harness.ts";

async function serve(): Promise<void> {
  let buffer = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    for (let at = buffer.indexOf("\n"); at >= 0; at = buffer.indexOf("\n")) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      const answer = await runCase(JSON.parse(line));
      Deno.stdout.writeSync(new TextEncoder().encode(ANSWER_MARK + JSON.stringify(answer) + "\n"));
    }
  }
}

async function runCase(c: { argv: string[]; env: Record<string, string>; stdin?: string }) {
  let stdout = "";
  let stderr = "";
  const io: CliIO = {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    readStdin: () => Promise.resolve(c.stdin ?? ""),
    stdinIsTerminal: () => false,
    stderrIsTerminal: () => false,
    readMasked: () => Promise.resolve(undefined),
    readLine: () => Promise.resolve(undefined),
    env: { get: (name) => c.env[name] },
  };
  let code: number;
  try {
    code = await main(c.argv, io);
  } catch (error) {
    // main never throws; if it does, that is a crash the judge must see.
    stderr += `Uncaught ${error instanceof Error ? error.stack : String(error)}\n`;
    code = 1;
  }
  return { code, stdout, stderr };
}

if (import.meta.main) await serve();
