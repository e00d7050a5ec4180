/**
 * How a failed OAuth step is told: the failures of `oauth4webapi` (and of authsome's own JSON
 * device poll) sorted into kinds, and each kind turned into the one-line {@linkcode AuthsomeError}
 * with the exit code the table in providers/oauth.ts gives (login steps: 2 or 8; a refresh the
 * server refused: 5). Messages never hold a token, a code or a secret; server texts are cut short.
 *
 * @module
 */
import * as oauth from "oauth4webapi";
import { AuthsomeError, type ErrorCode } from "../errors.ts";

/** The step a request belongs to: it decides the exit code of a refusal. */
export type Phase = "login" | "refresh" | "revoke";

/** Where a request went, for the message: its URL, which endpoint, which step. */
export interface Where {
  url: URL;
  endpoint: string;
  phase: Phase;
}

/** What went wrong with one request, independent of which library step noticed it. */
export type Failure =
  | { kind: "oauth"; error: string; status: number; description?: string }
  | { kind: "status"; status: number }
  | { kind: "not_json" }
  | { kind: "cut_off" }
  | { kind: "invalid"; detail: string }
  | { kind: "unreachable"; error: AuthsomeError }
  | { kind: "other" };

/** A failure found by code of our own (the JSON device poll), shaped like oauth4webapi's. */
export class ProtocolFailure extends Error {
  readonly failure: Failure;
  constructor(failure: Failure) {
    super(failure.kind);
    this.failure = failure;
  }
}

/**
 * Sorts an error of one request into a {@linkcode Failure}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { classify, ProtocolFailure } from "./oauth_errors.ts";
 * assert.equal(classify(new ProtocolFailure({ kind: "not_json" })).kind, "not_json");
 * assert.equal(classify(new Error("other")).kind, "other");
 * ```
 */
export function classify(error: unknown): Failure {
  if (error instanceof ProtocolFailure) return error.failure;
  if (error instanceof AuthsomeError) {
    return error.code === "ENDPOINT_UNREACHABLE"
      ? { kind: "unreachable", error }
      : { kind: "other" };
  }
  if (error instanceof oauth.ResponseBodyError) {
    const out: Failure = { kind: "oauth", error: error.error, status: error.status };
    if (error.error_description !== undefined) out.description = error.error_description;
    return out;
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    const code = error.cause.find((c) => typeof c.parameters.error === "string")?.parameters.error;
    return { kind: "oauth", error: code ?? "invalid_client", status: error.status };
  }
  if (error instanceof oauth.UnsupportedOperationError) {
    return { kind: "invalid", detail: "an unsupported token type" };
  }
  if (error instanceof oauth.OperationProcessingError) {
    const cause: unknown = error.cause;
    switch (error.code) {
      case oauth.RESPONSE_IS_NOT_CONFORM:
        return { kind: "status", status: cause instanceof Response ? cause.status : 0 };
      case oauth.RESPONSE_IS_NOT_JSON:
        return { kind: "not_json" };
      case oauth.PARSE_ERROR:
        // A body that could not be read to its end (the connection broke) is not a bad answer.
        return cause instanceof SyntaxError ? { kind: "not_json" } : { kind: "cut_off" };
      case oauth.INVALID_RESPONSE: {
        // GitHub answers errors (even authorization_pending) with HTTP 200 and an `error` member.
        const body = isObject(cause) && isObject(cause.body) ? cause.body : undefined;
        if (body !== undefined && typeof body.error === "string" && body.error !== "") {
          const out: Failure = { kind: "oauth", error: body.error, status: 200 };
          if (typeof body.error_description === "string") {
            out.description = body.error_description;
          }
          return out;
        }
        return { kind: "invalid", detail: "an invalid response" };
      }
      case oauth.JWT_CLAIM_COMPARISON:
      case oauth.JWT_TIMESTAMP_CHECK:
        return { kind: "invalid", detail: "an ID token that failed validation" };
      case oauth.JSON_ATTRIBUTE_COMPARISON:
        return { kind: "invalid", detail: "metadata for a different issuer" };
      default:
        return { kind: "invalid", detail: "an invalid response" };
    }
  }
  return { kind: "other" };
}

/** Turns any error of one request into the AuthsomeError the module promises. */
export function failure(error: unknown, where: Where): unknown {
  const f = classify(error);
  const host = where.url.host;
  const what = `The ${where.endpoint} of ${host}`;
  // A refresh the server did not clearly refuse says nothing about the stored tokens.
  const broken: ErrorCode = where.phase === "refresh" ? "ENDPOINT_UNREACHABLE" : "AUTH_FAILED";
  switch (f.kind) {
    case "other":
      return error;
    case "unreachable":
      return f.error;
    case "oauth":
      return oauthRefusal(f, where);
    case "status":
      return new AuthsomeError(broken, `${what} answered HTTP ${f.status}`, {
        hint: "The provider may be having problems; try again later",
        cause: error,
      });
    case "not_json":
      return new AuthsomeError(broken, `${what} answered with something that is not JSON`, {
        hint: "Check the provider's endpoint URLs; this is not an OAuth endpoint",
        cause: error,
      });
    case "cut_off":
      return new AuthsomeError("ENDPOINT_UNREACHABLE", `${what} broke off its answer`, {
        hint: "Check the network connection and try again",
        cause: error,
      });
    case "invalid":
      return new AuthsomeError(broken, `${what} sent ${f.detail}`, { cause: error });
  }
}

/** The error of a server that answered with an OAuth error code (`invalid_grant`, …). */
export function oauthRefusal(f: Extract<Failure, { kind: "oauth" }>, where: Where): AuthsomeError {
  const code = errorCode(f.error);
  const what = `The ${where.endpoint} of ${where.url.host}`;
  if (where.phase === "refresh") {
    const message = code === "invalid_grant"
      ? "The refresh token was rejected (invalid_grant)"
      : `${what} refused the refresh (${code})`;
    return new AuthsomeError("CREDENTIAL_MISSING", message, { hint: "Log in again with --force" });
  }
  if (where.endpoint === "registration endpoint") {
    const detail = f.description === undefined ? "" : `: ${clean(f.description, 200)}`;
    return new AuthsomeError("AUTH_FAILED", `${what} refused the registration (${code})${detail}`);
  }
  return new AuthsomeError("AUTH_FAILED", `${what} refused the request (${code})`, {
    hint: code === "invalid_client" || code === "unauthorized_client"
      ? "Check the client ID and client secret"
      : "Start the login again",
  });
}

/** The error of an authorization response that carried `error=` (the user denied, …). */
export function authorizationError(error: string, description: string | null): AuthsomeError {
  const code = errorCode(error);
  if (code === "access_denied") {
    return new AuthsomeError("AUTH_FAILED", "The authorization was denied (access_denied)", {
      hint: "Approve the request in the browser, or start again",
    });
  }
  const detail = description === null || description === "" ? "" : `: ${clean(description, 200)}`;
  return new AuthsomeError(
    "AUTH_FAILED",
    `The authorization server returned an error (${code})${detail}`,
    {
      hint: code === "redirect_uri_mismatch" || code === "invalid_request"
        ? "Check that the redirect URI registered with the provider is exactly the one authsome uses"
        : "Start the login again",
    },
  );
}

/** The error of a device code that expired before it was approved. */
export function deviceExpired(): AuthsomeError {
  return new AuthsomeError("AUTH_FAILED", "The device code expired", {
    hint: "Start the login again and enter the code sooner",
  });
}

/** An OAuth error code cut down to printable ASCII (RFC 6749 §5.2 allows nothing else). */
export function errorCode(raw: string): string {
  return raw.replace(/[^\x21-\x7e]/g, "").slice(0, 64) || "unknown_error";
}

/** A server-provided text on one line, shortened. */
export function clean(raw: string, max: number): string {
  const line = raw.replace(/[\p{Cc}\u2028\u2029\s]+/gu, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
