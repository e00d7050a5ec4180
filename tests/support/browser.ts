/**
 * Helpers for end-to-end tests of the local browser form and device page: launch the Debian
 * `chromium` headless through playwright-core, spawn `./authsome login …` so a test can read its
 * stderr while it runs and send it signals, parse the form URL it prints, and talk raw HTTP/1.1
 * to a local port (to forge what `fetch` will not, such as the `Host` header).
 *
 * @module
 */
import { type Browser, chromium, type Page } from "playwright-core";

/** Where Debian's chromium lives (installed by `.ci/run`). */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Whether the browser tests run: when Chromium is installed, and always under `.ci/run`
 * (AUTHSOME_REQUIRE_REAL_PARTS=1), where a missing browser must fail them, not hide them.
 */
export const chromiumAvailable: boolean = Deno.env.get("AUTHSOME_REQUIRE_REAL_PARTS") === "1" ||
  await Deno.stat(CHROMIUM).then(() => true, () => false);

/** Launches headless Debian Chromium with the options this machine needs (no sandbox as root, no background networking). */
export async function launchChromium(): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * Collects Content-Security-Policy violations and uncaught page errors: what would show that the
 * page's own style or script was blocked. Refused resource loads (403, 422, a closed port) are
 * expected and not collected.
 */
export function watchPageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(String(error)));
  return problems;
}

import type { CliProcess as LoginProcess } from "../oauth/cli_flow.ts";
export type { LoginProcess };
export {
  spawnCli as spawnLogin,
  type SpawnOptions as SpawnLoginOptions,
} from "../oauth/cli_flow.ts";

/**
 * What `login` prints when it serves the form: "Enter the <fields> in your browser:", a blank line,
 * the URL indented by two spaces, a blank line. Group 1: what is asked; group 2: the URL.
 */
export const FORM_URL =
  /Enter the ([^\n]+) in your browser:\n\n {2}(http:\/\/127\.0\.0\.1:\d+\/form\/[A-Za-z0-9_-]+)\n\n/;

/** The countdown line `login` prints while the form waits. */
export const FORM_COUNTDOWN = /Waiting for the form\.\.\. (\d+):(\d\d) left \(Ctrl-C cancels\)/;

/** What `login` prints when it serves the device page. */
export const DEVICE_PAGE_URL =
  /Showing the code in your browser: (http:\/\/127\.0\.0\.1:\d+\/device\/[A-Za-z0-9_-]+)\n/;

/** The parts of a form URL the hostile-client tests aim at. */
export interface FormAddress {
  url: string;
  port: number;
  /** `/form/<token>` */
  path: string;
  token: string;
}

/** Splits a printed form URL. */
export function formAddress(url: string): FormAddress {
  const u = new URL(url);
  return { url, port: Number(u.port), path: u.pathname, token: u.pathname.split("/")[2] ?? "" };
}

/** Waits until `./authsome login` printed its form URL and the first countdown line. */
export async function waitForForm(child: LoginProcess): Promise<FormAddress & { asked: string }> {
  const [, asked, url] = await child.waitForStderr(FORM_URL);
  await child.waitForStderr(FORM_COUNTDOWN);
  return { ...formAddress(url!), asked: asked! };
}

/** Sends `request` as is over a fresh TCP connection to 127.0.0.1:`port` and reads to EOF. */
export async function rawHttp(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(request));
  return await new Response(conn.readable).text();
}

/** The status code of a raw HTTP/1.1 answer (0 when there is none). */
export function rawStatus(answer: string): number {
  return Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1] ?? 0);
}

/** A port that was free a moment ago on 127.0.0.1 (bound to port 0, then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
