/**
 * Writes `providers/bundled_index.ts`: the text of every `providers/bundled/*.json`, embedded in
 * one module so the bundled providers load wherever the package comes from (a local checkout, an
 * HTTP server, JSR, Node, Bun), with no file-system access. Run it after adding or editing a
 * bundled provider; `providers/bundled_index_test.ts` fails while the module is out of date.
 *
 * Usage: ./scripts/deno run -A scripts/gen_bundled_providers.ts
 *
 * @module
 */
import { bundledIndexSource } from "../providers/bundled_source.ts";

const dir = new URL("../providers/bundled/", import.meta.url);
const texts: Record<string, string> = {};
for await (const entry of Deno.readDir(dir)) {
  if (entry.isFile && entry.name.endsWith(".json")) {
    texts[entry.name.slice(0, -".json".length)] = await Deno.readTextFile(new URL(entry.name, dir));
  }
}
const target = new URL("../providers/bundled_index.ts", import.meta.url);
await Deno.writeTextFile(target, bundledIndexSource(texts));
// The long lines are left to `deno fmt`, so the committed file passes `deno fmt --check`.
const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", target.pathname] })
  .output();
if (!fmt.success) throw new Error(new TextDecoder().decode(fmt.stderr));
console.log(`wrote ${target.pathname} (${Object.keys(texts).length} providers)`);
