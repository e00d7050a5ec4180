/**
 * The one error type of authsome and the table that maps its codes to exit statuses.
 *
 * Imports nothing, so every layer can throw it.
 *
 * @module
 */

/** Stable error codes; the CLI maps each to one exit status. */
export type ErrorCode =
  | "UNEXPECTED"
  | "AUTH_FAILED"
  | "CONNECTION_NOT_FOUND"
  | "IDENTITY_NOT_FOUND"
  | "VAULT_NOT_FOUND"
  | "PROVIDER_NOT_FOUND"
  | "NOT_ALLOWED"
  | "CREDENTIAL_MISSING"
  | "CONNECTION_EXISTS"
  | "IDENTITY_EXISTS"
  | "PROVIDER_EXISTS"
  | "ENDPOINT_UNREACHABLE"
  | "VAULT_UNAVAILABLE"
  | "USAGE"
  | "INVALID_INPUT"
  | "PROXY_FAILED"
  | "COMMAND_NOT_EXECUTABLE"
  | "COMMAND_NOT_FOUND";

/**
 * Exit status for every error code, as documented in the README.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EXIT_CODES } from "./errors.ts";
 * assert.equal(EXIT_CODES.CONNECTION_EXISTS, 6);
 * ```
 */
export const EXIT_CODES: Readonly<Record<ErrorCode, number>> = {
  UNEXPECTED: 1,
  AUTH_FAILED: 2,
  CONNECTION_NOT_FOUND: 3,
  IDENTITY_NOT_FOUND: 3,
  VAULT_NOT_FOUND: 3,
  PROVIDER_NOT_FOUND: 4,
  NOT_ALLOWED: 4,
  CREDENTIAL_MISSING: 5,
  CONNECTION_EXISTS: 6,
  IDENTITY_EXISTS: 6,
  PROVIDER_EXISTS: 7,
  ENDPOINT_UNREACHABLE: 8,
  VAULT_UNAVAILABLE: 10,
  USAGE: 64,
  INVALID_INPUT: 65,
  PROXY_FAILED: 125,
  COMMAND_NOT_EXECUTABLE: 126,
  COMMAND_NOT_FOUND: 127,
};

/** Options of {@linkcode AuthsomeError}. */
export interface AuthsomeErrorOptions {
  /** One line telling the user what to do next. */
  hint?: string;
  /** The underlying error, kept for debugging; never shown to the user. */
  cause?: unknown;
}

/**
 * An error with a stable code, an exit status and a hint. Messages are one line, in sentence case,
 * without a trailing period, and never contain a secret.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AuthsomeError } from "./errors.ts";
 * const err = new AuthsomeError("CONNECTION_NOT_FOUND", 'No connection "work" for github', {
 *   hint: "Run: authsome login github --connection work",
 * });
 * assert.equal(err.exitCode, 3);
 * ```
 */
export class AuthsomeError extends Error {
  /** The stable code. */
  readonly code: ErrorCode;
  /** What to do next, or undefined. */
  readonly hint: string | undefined;

  /** Creates an error with a code, a one-line message and an optional hint. */
  constructor(code: ErrorCode, message: string, options: AuthsomeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AuthsomeError";
    this.code = code;
    this.hint = options.hint;
  }

  /** The process exit status for this error. */
  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

/**
 * Shows the last four characters of a secret at most, for messages that must refer to one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { redact } from "./errors.ts";
 * assert.equal(redact("sk-verysecretvalue1234"), "…1234");
 * ```
 */
export function redact(secret: string): string {
  return secret.length <= 8 ? "…" : `…${secret.slice(-4)}`;
}
