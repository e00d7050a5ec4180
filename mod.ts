/**
 * authsome: a local credential broker for AI agents and developer tools.
 *
 * Log in once with the CLI (`./authsome login openai --connection work`), then read the
 * credentials from code. Connections are kept encrypted on disk (AES-256-GCM).
 *
 * @example
 * ```ts ignore
 * import { createAuthService } from "@authsome/cli";
 *
 * const auth = await createAuthService();
 * const headers = await auth.getAuthHeaders("openai", { connection: "work" });
 * await fetch("https://api.openai.com/v1/models", { headers });
 * await auth.close();
 * ```
 *
 * @module
 */
export { createAuthService } from "./service/auth_service.ts";
export {
  type AuthService,
  type AuthServiceOptions,
  type CheckResult,
  type ConnectionCheck,
  type ConnectionInfo,
  type ConnectionRecord,
  type ConnectionStatus,
  type ConnectionSummary,
  type DeviceCodePrompt,
  type DoctorCheck,
  type IdentityInfo,
  type IdentitySpec,
  type InputField,
  type InputRequest,
  type LoginOptions,
  type LoginResult,
  type McpServeOptions,
  type ProviderSummary,
  type ProxiedRequest,
  type RenameResult,
  type RevokeResult,
  type RunOptions,
  SECRET_FIELDS,
  type SecretField,
} from "./service/types.ts";
export { AuthsomeError, type AuthsomeErrorOptions, type ErrorCode, EXIT_CODES } from "./errors.ts";
export type {
  ApiKeyConfig,
  AuthType,
  ExportField,
  Flow,
  OAuthConfig,
  ProviderDefinition,
} from "./providers/schema.ts";
export type { LoadedProvider } from "./providers/registry.ts";
export type { McpLoginOptions, McpLoginResult } from "./service/mcp_login.ts";
export type {
  ImportItem,
  PythonImportOptions,
  PythonImportReport,
} from "./service/import_python.ts";
export type { ExportFormat } from "./proxy/env_format.ts";
export type { AuditEntry, AuditFilter } from "./storage/audit.ts";
export type { ScanFinding, ScanImport, ScanReport, ScanStatus } from "./service/scan.ts";
export type {
  BackupFile,
  BackupProtection,
  BackupSummary,
  RestoreResult,
} from "./service/backup.ts";
export type { CopiedVault, CopyReport, StoreStatus } from "./storage/store_copy.ts";
export type { StoreCopyResult } from "./service/store_admin.ts";
export type { SharedAuditEntry } from "./storage/store.ts";
export type { RekeyOptions, RekeyResult } from "./service/rekey.ts";
export type { KeySource } from "./storage/master_key.ts";
export type { EnvSource, Settings } from "./config.ts";
export type { FormField, FormInfo, FormRequest } from "./providers/input_form.ts";

// `deno run -A jsr:@authsome/cli login github` runs this module as the main one: it is then the
// CLI. Imported as a library it does nothing at all. No top-level await: the CLI imports this
// module again, which must have finished evaluating by then.
if (import.meta.main) {
  import("./cli.ts").then(({ main }) => main(Deno.args)).then((code) => Deno.exitCode = code);
}
