/**
 * What every command module shares: the I/O the CLI runs over, the command shape, its context
 * and the output writer.
 *
 * @module
 */
import type { AuthService } from "../mod.ts";
import type { OptionName, Values } from "./args.ts";

/** Where the CLI reads and writes; `Deno` streams by default, replaced in tests. */
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  readStdin(): Promise<string>;
  stdinIsTerminal(): boolean;
  stderrIsTerminal(): boolean;
  /** Reads one line without echo; undefined when there is no terminal. */
  readMasked(prompt: string): Promise<string | undefined>;
  /** Reads one line with echo; undefined when there is no terminal. */
  readLine(prompt: string): Promise<string | undefined>;
  env: { get(name: string): string | undefined };
}

/** One command: its help text, the options it takes, and what it does. */
export interface Command {
  usage: string;
  summary: string;
  options: OptionName[];
  /** Extra help lines. */
  details?: string[];
  /** Two or three example invocations for `--help`, e.g. `authsome get openai -c work`. */
  examples?: string[];
  /** The exit codes worth knowing for this command, for `--help`, e.g. `{ 3: "no such connection" }`. */
  exitCodes?: Partial<Record<number, string>>;
  /** What an option means for this command, where it differs from the shared description. */
  optionHelp?: Partial<Record<OptionName, string>>;
  /**
   * The subcommands of a group (`identity create|list|show|remove`), by name: the words after
   * the name and a summary, for `--help` and completion.
   */
  subcommands?: Record<string, { usage: string; summary: string }>;
  /** Positional arguments: min and max count. */
  args: [number, number];
  run(ctx: Context): Promise<number>;
}

/** What a command runs with. */
export interface Context {
  values: Values;
  /** Every value of options given more than once (e.g. run's --connection P=C). */
  all: Partial<Record<OptionName, string[]>>;
  args: string[];
  io: CliIO;
  out: Output;
  service(): Promise<AuthService>;
}

/** Where a command writes: data on stdout, notes for people on stderr. */
export class Output {
  private io: CliIO;
  readonly json: boolean;
  readonly quiet: boolean;
  constructor(io: CliIO, json: boolean, quiet: boolean) {
    this.io = io;
    this.json = json;
    this.quiet = quiet;
  }
  /** Data: always printed. */
  data(text: string): void {
    this.io.stdout(text.endsWith("\n") || text === "" ? text : text + "\n");
  }
  /** A JSON document on stdout. */
  doc(value: unknown): void {
    this.io.stdout(JSON.stringify(value, null, 2) + "\n");
  }
  /** A status line for people: stderr, hidden by --quiet and --json. */
  note(text: string): void {
    if (!this.quiet && !this.json) this.io.stderr(text + "\n");
  }
}
