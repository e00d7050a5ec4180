/**
 * What is kept of each request a `run` command sends through the proxy: the proxy's event as a
 * {@linkcode ProxiedRequest}, its audit entry (action `proxy`) and its `run --verbose` line. None
 * of them holds a header value, a body or a query string.
 *
 * @module
 */
import type { ProxyEvent } from "../proxy/server.ts";
import type { AuditEntry } from "../storage/audit.ts";
import type { ProxiedRequest } from "./types.ts";

const OUTCOMES = {
  inject: "injected",
  pass: "passed",
  tunnel: "tunnelled",
  denied: "denied",
  error: "error",
} as const;

/**
 * The proxy's event as the service reports it: `kind` becomes the outcome word, `detail` the
 * reason of a denied or failed request (the port of a tunnel and the note on a passed request
 * are dropped).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { proxiedRequest } from "./run_requests.ts";
 * const request = proxiedRequest({
 *   kind: "inject",
 *   host: "api.openai.com",
 *   method: "GET",
 *   path: "/v1/models",
 *   status: 200,
 *   ms: 41.5,
 *   provider: "openai",
 *   connection: "work",
 * });
 * assert.equal(request.outcome, "injected");
 * assert.equal(request.connection, "work");
 * ```
 */
export function proxiedRequest(event: ProxyEvent): ProxiedRequest {
  const { kind, detail, ...rest } = event;
  const failed = kind === "denied" || kind === "error";
  return {
    outcome: OUTCOMES[kind],
    ...rest,
    ...(failed && detail !== undefined ? { reason: detail } : {}),
  };
}

/**
 * The audit entry of one proxied request: action `proxy`, the provider and connection when a
 * credential was involved, the outcome word, and the program, host, method, path, status, time
 * and reason as details.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestAuditEntry } from "./run_requests.ts";
 * const entry = requestAuditEntry(
 *   { outcome: "tunnelled", host: "pypi.org", status: 200, ms: 3 },
 *   { time: "2030-01-01T00:00:00.000Z", vault: "default", program: "pip" },
 * );
 * assert.equal(entry.action, "proxy");
 * assert.deepEqual(entry.detail, { program: "pip", host: "pypi.org", status: 200, ms: 3 });
 * ```
 */
export function requestAuditEntry(
  request: ProxiedRequest,
  fields: { time: string; vault: string; program: string; identity?: string | undefined },
): AuditEntry {
  const detail: Record<string, string | number> = { program: fields.program, host: request.host };
  if (request.method !== undefined) detail.method = request.method;
  if (request.path !== undefined) detail.path = request.path;
  if (request.status !== undefined) detail.status = request.status;
  detail.ms = request.ms;
  if (request.reason !== undefined) detail.reason = request.reason;
  return {
    time: fields.time,
    action: "proxy",
    vault: fields.vault,
    ...(request.provider !== undefined ? { provider: request.provider } : {}),
    ...(request.connection !== undefined ? { connection: request.connection } : {}),
    ...(fields.identity !== undefined ? { identity: fields.identity } : {}),
    outcome: request.outcome,
    detail,
  };
}

/**
 * The one line `run --verbose` prints for a request: method (or `CONNECT`), host and path,
 * status, outcome, whose credential, the reason of a refusal or failure, and the time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestLine } from "./run_requests.ts";
 * assert.equal(
 *   requestLine({
 *     outcome: "injected",
 *     host: "api.openai.com",
 *     method: "GET",
 *     path: "/v1/models",
 *     status: 200,
 *     ms: 41.5,
 *     provider: "openai",
 *     connection: "work",
 *   }),
 *   "authsome: GET api.openai.com/v1/models 200 injected openai/work 41.5 ms",
 * );
 * assert.equal(
 *   requestLine({ outcome: "tunnelled", host: "pypi.org", status: 200, ms: 3 }),
 *   "authsome: CONNECT pypi.org 200 tunnelled 3 ms",
 * );
 * ```
 */
export function requestLine(request: ProxiedRequest): string {
  const whose = request.provider === undefined
    ? []
    : [`${request.provider}${request.connection === undefined ? "" : `/${request.connection}`}`];
  return [
    "authsome:",
    request.method ?? "CONNECT",
    `${request.host}${request.path ?? ""}`,
    ...(request.status === undefined ? [] : [String(request.status)]),
    request.outcome,
    ...whose,
    ...(request.reason === undefined ? [] : [`(${request.reason})`]),
    `${request.ms} ms`,
  ].join(" ");
}
