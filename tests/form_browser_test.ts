/**
 * The browser form and the device page in a real headless Chromium (Debian `chromium`, driven by
 * playwright-core): in-page and server-side validation, retry, keyboard submit, the status that
 * follows a device login, and the screenshots in docs/.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { type FormRequest, startFormServer } from "../providers/input_form.ts";
import { startDevicePage } from "../providers/device_page.ts";
import { ROOT } from "./helpers.ts";
import { chromiumAvailable, launchChromium } from "./support/browser.ts";

const HINT = 'OpenAI API keys start with "sk-" followed by at least 20 letters or digits';
const GOOD_KEY = "sk-Ab3dEfGh1jKlMnOpQrStUvWx";

const API_KEY_FORM: FormRequest = {
  title: "Log in to OpenAI",
  provider: "OpenAI",
  intro:
    "Paste your OpenAI API key. It goes from this page straight into your encrypted authsome vault, never through the terminal or a chat.",
  fields: [{
    name: "api_key",
    label: "API key",
    secret: true,
    required: true,
    pattern: "sk-[A-Za-z0-9]{20,}",
    hint: HINT,
  }],
  docsUrl: "https://platform.openai.com/api-keys",
};

/** Collects what would show that the CSP blocked our own style or script, or a page error. */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error" || /Content Security Policy/i.test(message.text())) {
      // Expected refusals: the favicon (403, no token) and the form shown again (422).
      if (!/^Failed to load resource: .* (403|422) /.test(message.text())) {
        problems.push(message.text());
      }
    }
  });
  page.on("pageerror", (error) => problems.push(String(error)));
  return problems;
}

Deno.test({
  name: "the browser form and the device page work in headless Chromium",
  ignore: !chromiumAvailable,
  // playwright-core keeps its own pipes and timers to the browser process between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const browser = await launchChromium();
    try {
      await t.step(
        "a wrong key shows the hint in the page and from the server, a retry succeeds",
        async () => {
          const server = startFormServer({ request: API_KEY_FORM, timeoutMs: 60_000 });
          const page = await browser.newPage();
          const problems = watchProblems(page);
          try {
            await page.goto(server.url);
            assert.equal(await page.title(), "Log in to OpenAI · authsome");
            assert.equal(await page.locator("h1").textContent(), "Log in to OpenAI");
            const input = page.getByLabel("API key");
            assert.equal(await input.getAttribute("type"), "password");
            assert.equal(
              await page.locator("#field-0:focus").count(),
              1,
              "the field has the focus",
            );
            const described = await input.getAttribute("aria-describedby");
            assert.equal(await page.locator(`#${described}`).textContent(), HINT);
            const timer = page.locator("[data-seconds-left]");
            const before = await timer.textContent();
            // m:ss of a one-minute form, read a few seconds at most after it opened.
            const seconds = (text: string | null) => {
              const m = /^(\d+):(\d\d)$/.exec(text ?? "");
              return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
            };
            assert.ok(seconds(before) <= 60 && seconds(before) >= 45, `countdown at ${before}`);
            // The page changes the text when a second passes; wait for that change itself.
            await timer.filter({ hasNotText: before ?? "" }).waitFor({ timeout: 5000 })
              .catch(() => assert.fail(`the countdown did not tick from ${before}`));
            assert.ok(seconds(await timer.textContent()) < seconds(before), "the countdown ticks");

            // In-page validation blocks the wrong key first.
            await input.fill("sk-short");
            await page.getByRole("button", { name: "Continue" }).click();
            assert.equal(await page.locator("#field-0:invalid").count(), 1);
            assert.equal(page.url(), server.url);
            assert.equal(await page.locator(".error").count(), 0);

            // Without it, the server refuses the key too and shows the form again with the hint.
            await page.locator("form").evaluate((form) => form.setAttribute("novalidate", ""));
            const [response] = await Promise.all([
              page.waitForResponse((r) => r.request().method() === "POST"),
              page.getByRole("button", { name: "Continue" }).click(),
            ]);
            assert.equal(response.status(), 422);
            await page.waitForSelector(".error");
            assert.equal(await page.locator(".error").textContent(), HINT);
            assert.match(await page.getByRole("alert").first().textContent() ?? "", /Please fix/);
            assert.equal(
              await page.getByLabel("API key").inputValue(),
              "",
              "the secret is not refilled",
            );
            assert.equal(await page.getByLabel("API key").getAttribute("aria-invalid"), "true");
            assert.ok(!(await page.content()).includes("sk-short"));

            await page.getByLabel("API key").fill(GOOD_KEY);
            await page.getByRole("button", { name: "Continue" }).click();
            await page.getByText("can be closed").waitFor();
            assert.deepEqual(await server.waitForSubmit(), { api_key: GOOD_KEY });
            assert.deepEqual(problems, []);
          } finally {
            await page.close();
            await server.close();
          }
        },
      );

      await t.step(
        "a page loaded in its last half second says at once that time is up",
        async () => {
          // The server's clock: the deadline is set at the first reading, then 0.3 s are left.
          let reading = 0;
          const start = Date.now();
          const server = startFormServer({
            request: API_KEY_FORM,
            timeoutMs: 60_000,
            now: () => new Date(reading++ === 0 ? start : start + 59_700),
          });
          const page = await browser.newPage();
          try {
            await page.goto(server.url);
            await page.locator("#expired-note").waitFor({ state: "visible", timeout: 5000 });
            assert.equal(await page.getByRole("button", { name: "Continue" }).isDisabled(), true);
          } finally {
            await page.close();
            await server.close();
          }
        },
      );

      await t.step("pressing Enter in the field submits the form", async () => {
        const server = startFormServer({ request: API_KEY_FORM, timeoutMs: 60_000 });
        const page = await browser.newPage();
        const problems = watchProblems(page);
        try {
          await page.goto(server.url);
          // The field has the focus on load, so the user can paste and press Enter. (Wait for the
          // focus itself: on a loaded machine it can land a moment after the load event.)
          await page.waitForFunction(
            'document.activeElement?.getAttribute("type") === "password"',
          );
          await page.keyboard.type(GOOD_KEY);
          await page.keyboard.press("Enter");
          await page.getByText("can be closed").waitFor();
          assert.deepEqual(await server.waitForSubmit(), { api_key: GOOD_KEY });
          assert.deepEqual(problems, []);
        } finally {
          await page.close();
          await server.close();
        }
      });

      await t.step("the Copy button of the info block copies the redirect URI", async () => {
        const redirect = "http://127.0.0.1:7998/auth/callback/oauth";
        const server = startFormServer({
          request: {
            title: "Set up the GitHub OAuth app",
            provider: "GitHub",
            fields: [
              { name: "client_id", label: "Client ID", secret: false, required: true },
              { name: "client_secret", label: "Client secret", secret: true, required: true },
            ],
            info: [{ label: "Redirect URI to register", value: redirect, copy: true }],
          },
          timeoutMs: 60_000,
        });
        const context = await browser.newContext();
        const origin = new URL(server.url).origin;
        await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
        const page = await context.newPage();
        const problems = watchProblems(page);
        try {
          await page.goto(server.url);
          const copy = page.getByRole("button", { name: "Copy Redirect URI to register" });
          await copy.click();
          await page.getByRole("button", { name: "Copied" }).waitFor();
          // What the button copied is what a paste brings back.
          await page.getByLabel("Client ID").focus();
          await page.keyboard.press("ControlOrMeta+V");
          assert.equal(await page.getByLabel("Client ID").inputValue(), redirect);
          await page.getByLabel("Client ID").fill("Iv1.0123456789");
          await page.getByLabel("Client secret").fill("cs_abcdef");
          await page.getByLabel("Client secret").press("Enter");
          await page.getByText("can be closed").waitFor();
          assert.deepEqual(await server.waitForSubmit(), {
            client_id: "Iv1.0123456789",
            client_secret: "cs_abcdef",
          });
          assert.deepEqual(problems, []);
        } finally {
          await context.close();
          await server.close();
        }
      });

      await t.step("the device page shows the code and turns to approved", async () => {
        const device = startDevicePage({
          provider: "GitHub",
          user_code: "WDJB-MJHT",
          verification_uri: "https://github.com/login/device",
          verification_uri_complete: "https://github.com/login/device?user_code=WDJB-MJHT",
          expires_in: 900,
        });
        const page = await browser.newPage();
        const problems = watchProblems(page);
        try {
          await page.goto(device.url);
          assert.equal(await page.locator(".user-code").textContent(), "WDJB-MJHT");
          assert.ok(await page.getByRole("button", { name: "Copy the code" }).isVisible());
          const status = page.getByRole("status");
          assert.match(await status.textContent() ?? "", /Waiting/);
          device.setStatus("approved");
          await page.locator('[data-poll][data-status="approved"]').waitFor({ timeout: 10_000 });
          assert.match(await status.textContent() ?? "", /Approved\. This page can be closed/);
          assert.equal(await page.locator(".timer").isVisible(), false);
          assert.deepEqual(problems, []);
        } finally {
          await page.close();
          await device.close();
        }
      });

      await t.step("screenshots of the API key form in light and dark mode", async () => {
        const server = startFormServer({
          request: {
            ...API_KEY_FORM,
            fields: [{
              name: "api_key",
              label: "API key",
              secret: true,
              required: true,
              pattern: "sk-[A-Za-z0-9_-]{20,}",
              hint: 'Starts with "sk-". Create one under API keys in your OpenAI dashboard.',
            }],
          },
          timeoutMs: 300_000,
        });
        try {
          for (
            const [scheme, file] of [["light", "form.png"], ["dark", "form-dark.png"]] as const
          ) {
            const context = await browser.newContext({
              colorScheme: scheme,
              viewport: { width: 720, height: 620 },
              deviceScaleFactor: 1,
            });
            const page = await context.newPage();
            await page.goto(server.url);
            // `[…_-]` is no HTML pattern (browsers compile those with the `v` flag), so the page
            // script applies the same full match.
            const input = page.getByLabel("API key");
            await input.fill("sk-proj-4fJq8x2mN7");
            assert.equal(await page.locator("#field-0:invalid").count(), 1);
            await input.fill("sk-proj-4fJq8x2mN7wLp0Zr5TbY");
            assert.equal(await page.locator("#field-0:valid").count(), 1);
            // The committed screenshots are refreshed only on request, so a test run never
            // changes the working tree: AUTHSOME_SCREENSHOTS=1 deno test -A tests/form_browser_test.ts
            const shot = await page.screenshot();
            assert.ok(shot.length > 10_000, "a rendered page, not a blank one");
            if (Deno.env.get("AUTHSOME_SCREENSHOTS") === "1") {
              await Deno.writeFile(join(ROOT, "docs", file), shot);
            }
            await context.close();
          }
        } finally {
          await server.close();
        }
      });
    } finally {
      await browser.close();
    }
  },
});
