import assert from "node:assert/strict";
import { EXIT_CODES } from "../errors.ts";
import { GLOBAL, type OptionName, OPTIONS, type OptionSpec } from "./args.ts";
import { COMMANDS, helpText } from "./commands.ts";

/** The help with its wrapping undone, so a description reads as one run of words. */
const flat = (text: string) => text.replace(/\s+/g, " ");

/** How the option's row starts: `-c, --connection`, `--field` or `-n`. */
function flagOf(name: OptionName): string {
  const spec: OptionSpec = OPTIONS[name];
  if (name.length === 1) return `-${name}`;
  return spec.short === undefined ? `--${name}` : `-${spec.short}, --${name}`;
}

Deno.test("every command's help: summary, usage, every option with its description, allowed values and default, examples, known exit codes", () => {
  for (const [name, command] of Object.entries(COMMANDS)) {
    const text = helpText(name);
    assert.ok(
      text.startsWith(`${command.summary}\n\nUsage: authsome ${command.usage}\n`),
      `${name}: summary, then usage\n${text}`,
    );
    for (const option of [...command.options, ...GLOBAL]) {
      const spec: OptionSpec = OPTIONS[option];
      const row = text.split("\n").find((line) =>
        new RegExp(`^ {2}(?: {4})?${flagOf(option).replace(/[-,]/g, "\\$&")}(?: |$)`).test(line)
      );
      assert.ok(row, `${name} --help has no row for ${flagOf(option)}\n${text}`);
      const own = GLOBAL.includes(option) ? undefined : command.optionHelp?.[option];
      assert.ok(
        flat(text).includes(flat(own ?? spec.description)),
        `${name} --help describes --${option}`,
      );
      if (spec.values) {
        assert.ok(text.includes(`{${spec.values.join("|")}}`), `${name}: values of --${option}`);
      }
      if (own === undefined && spec.default !== undefined) {
        assert.ok(
          flat(text).includes(`(default: ${spec.default})`),
          `${name}: default of --${option}`,
        );
      }
    }
    for (const sub of Object.keys(command.subcommands ?? {})) {
      assert.match(text, new RegExp(`\\nSubcommands:\\n(?: {2}.*\\n)*? {2}${sub}\\b`), name);
    }
    {
      const examples = command.examples ?? [];
      assert.ok(examples.length >= 2, `${name} has ${examples.length} examples`);
      assert.ok(
        examples.some((e) => new RegExp(`\\bauthsome\\b.* ${name}\\b`).test(e)),
        `${name}: an example runs it`,
      );
      for (const example of examples) {
        assert.ok(text.includes(`\n  ${example}\n`), `${name} --help shows: ${example}`);
      }
    }
    const documented = new Set([0, ...Object.values(EXIT_CODES)]);
    for (const [code, meaning] of Object.entries(command.exitCodes ?? {})) {
      assert.ok(documented.has(Number(code)), `${name}: exit ${code} is not a documented code`);
      assert.match(
        text,
        new RegExp(`\\n {2}${code} +${meaning!.slice(0, 20).replace(/\W/g, ".")}`),
      );
    }
  }
});

Deno.test("every option is taken by some command or globally, and says what it does", () => {
  const used = new Set<string>(GLOBAL);
  for (const command of Object.values(COMMANDS)) for (const o of command.options) used.add(o);
  for (const [name, spec] of Object.entries(OPTIONS) as Array<[OptionName, OptionSpec]>) {
    assert.ok(used.has(name), `--${name} is taken by no command`);
    assert.ok(spec.description.length > 10, `--${name} has no description`);
    if (spec.type === "string") assert.ok(spec.value, `--${name} has no value name`);
  }
});

Deno.test("the overview lists every command under a group, the global options and the environment", () => {
  const text = helpText();
  for (const name of Object.keys(COMMANDS)) {
    assert.match(text, new RegExp(`\\n {2}${name} +${COMMANDS[name]!.summary.slice(0, 15)}`));
  }
  assert.match(text, /\nConnections:\n {2}login /);
  assert.match(text, /\nAgent identities:\n {2}identity /);
  assert.match(
    text,
    /--quiet \(-q\) {2}--no-color {2}--vault NAME {2}--store URL {2}--help \(-h\)/,
  );
  assert.match(text, /\n {2}AUTHSOME_HOME +Home folder/);
});
