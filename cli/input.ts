/**
 * Asking a person for login values: stdin with --stdin, the local browser form, or hidden
 * prompts at a terminal; and opening a browser.
 *
 * @module
 */
import type { InputRequest } from "../mod.ts";
import type { CliIO } from "./command.ts";

/**
 * Opens `url` with $BROWSER when set, else xdg-open (when there is a display) or open (macOS).
 * Failing to open is not an error: the URL is always printed.
 */
export function openBrowser(io: Pick<CliIO, "env" | "stderr">, url: string): void {
  const browser = io.env.get("BROWSER");
  let command: string | undefined;
  if (browser !== undefined && browser !== "") command = browser;
  else if (Deno.build.os === "darwin") command = "open";
  else if (io.env.get("DISPLAY") || io.env.get("WAYLAND_DISPLAY")) command = "xdg-open";
  if (command === undefined) return;
  try {
    const child = new Deno.Command(command, {
      args: [url],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    child.unref();
    child.status.catch(() => {});
  } catch {
    io.stderr(`(Could not start ${command}; open the page yourself.)\n`);
  }
}

/** Whether a page can be shown: $BROWSER is set, or there is a desktop to open one on. */
export function canOpenBrowser(io: CliIO): boolean {
  return (io.env.get("BROWSER") ?? "") !== "" || Deno.build.os === "darwin" ||
    (io.env.get("DISPLAY") ?? "") !== "" || (io.env.get("WAYLAND_DISPLAY") ?? "") !== "";
}

/**
 * Asks for the values of a login, in the documented order of sources (the provider's variables
 * were tried by the service): stdin with --stdin, else the local browser form when a browser can
 * be opened, else hidden prompts in a terminal.
 */
export async function readFields(
  io: CliIO,
  request: InputRequest,
  options: {
    fromStdin: boolean;
    timeoutSeconds: number;
    signal: AbortSignal;
    /** Told how the values were read: `stdin`, `the browser form` or `the prompt`. */
    onSource?: (how: string) => void;
  },
): Promise<Record<string, string> | undefined> {
  const values: Record<string, string> = {};
  for (const f of request.fields) if (f.value !== undefined) values[f.name] = f.value;
  if (options.fromStdin) {
    // stdin carries the one secret; other values must come from flags or variables.
    const secret = request.fields.find((f) => f.secret);
    if (secret !== undefined) values[secret.name] = (await io.readStdin()).replace(/\r?\n$/, "");
    options.onSource?.("stdin");
    return values;
  }
  if (canOpenBrowser(io)) {
    const fromForm = await readFieldsInBrowser(io, request, options);
    options.onSource?.("the browser form");
    return fromForm;
  }
  if (!io.stdinIsTerminal()) return undefined;
  options.onSource?.("the prompt");
  io.stderr(`${request.title}\n`);
  for (const info of request.info ?? []) io.stderr(`${info.label}: ${info.value}\n`);
  if (request.docsUrl) io.stderr(`Docs: ${request.docsUrl}\n`);
  for (const f of request.fields) {
    if (f.value !== undefined) continue;
    if (f.hint) io.stderr(`${f.hint}\n`);
    const prompt = `${request.provider} ${f.label}${f.secret ? " (input hidden)" : ""}: `;
    const value = f.secret ? await io.readMasked(prompt) : await io.readLine(prompt);
    if (value === undefined) return undefined;
    values[f.name] = value;
  }
  return values;
}

/** Serves the local form, opens it, and waits with a countdown until it is submitted. */
async function readFieldsInBrowser(
  io: CliIO,
  request: InputRequest,
  options: { timeoutSeconds: number; signal: AbortSignal },
): Promise<Record<string, string>> {
  const { startFormServer } = await import("../providers/input_form.ts");
  const { validate, envVars, ...formRequest } = request;
  const form = startFormServer({
    request: formRequest,
    timeoutMs: options.timeoutSeconds * 1000,
    signal: options.signal,
    ...(validate ? { validate } : {}),
  });
  const asked = request.fields.map((f) => f.label.toLowerCase()).join(" and ");
  io.stderr(`Enter the ${asked} in your browser:\n\n  ${form.url}\n\n`);
  if (envVars.length > 0) io.stderr(`(Or set ${envVars.join(", ")} and run this again.)\n`);
  openBrowser(io, form.url);
  const tty = io.stderrIsTerminal();
  const tick = () => {
    const left = Math.max(0, Math.round((form.deadline.getTime() - Date.now()) / 1000));
    const clock = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    io.stderr(`${tty ? "\r" : ""}Waiting for the form... ${clock} left (Ctrl-C cancels) `);
    if (!tty) io.stderr("\n");
  };
  tick();
  const timer = tty ? setInterval(tick, 1000) : undefined;
  try {
    const values = await form.waitForSubmit();
    io.stderr(tty ? "\rReceived from the browser form.                              \n" : "");
    return values;
  } catch (error) {
    if (tty) io.stderr("\n");
    throw error;
  } finally {
    if (timer !== undefined) clearInterval(timer);
    await form.close();
  }
}
