/**
 * `store status` and `store copy`: the health of the store in use, and copying its vaults to
 * another store (a PostgreSQL URL, or the embedded store of a home folder) without decrypting.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import { openHomeStore } from "../storage/home.ts";
import { isPostgresUrl, openPostgresStore } from "../storage/postgres_store.ts";
import {
  type CopyReport,
  copyStore,
  type StoreStatus,
  storeStatus,
} from "../storage/store_copy.ts";
import type { SharedAuditEntry } from "../storage/store.ts";
import { audited, type ServiceContext } from "./context.ts";

/** What `store copy` did, with where from and where to (never a password). */
export interface StoreCopyResult extends CopyReport {
  /** The source: kind and location. */
  from: string;
  /** The destination: kind and location. */
  to: string;
}

/**
 * The last `limit` audit entries of every host sharing the store (each with its host name),
 * oldest first. Only a shared (PostgreSQL) store keeps them.
 *
 * @example
 * ```ts ignore
 * for (const { host, entry } of await fleetAuditLog(ctx, 20)) console.log(host, entry.action);
 * ```
 */
export async function fleetAuditLog(
  ctx: ServiceContext,
  limit: number,
): Promise<SharedAuditEntry[]> {
  if (ctx.store.readAudit === undefined) {
    throw new AuthsomeError(
      "USAGE",
      `The ${ctx.store.kind} store keeps no audit entries of other hosts`,
      { hint: "Use authsome log for this host's entries, or a shared store (AUTHSOME_STORE)" },
    );
  }
  return await ctx.store.readAudit(limit);
}

/**
 * The store in use: kind, location, vaults and their record counts.
 *
 * @example
 * ```ts ignore
 * const status = await getStoreStatus(ctx); // { kind: "postgres", location: "postgres://…", … }
 * ```
 */
export function getStoreStatus(ctx: ServiceContext): Promise<StoreStatus> {
  return storeStatus(ctx.store);
}

/**
 * Copies every vault of the store in use to `to`: a `postgres://` URL, or a home folder whose
 * embedded store (`authsome.db`) receives them. Sealed bytes are copied as they are.
 *
 * @example
 * ```ts ignore
 * const r = await copyStoreTo(ctx, "postgres://authsome@db.internal/authsome");
 * console.log(`${r.records} records in ${r.vaults.length} vaults`);
 * ```
 */
export async function copyStoreTo(ctx: ServiceContext, to: string): Promise<StoreCopyResult> {
  const destination = isPostgresUrl(to) ? openPostgresStore({ url: to }) : openHomeStore(to);
  try {
    if (destination.kind === ctx.store.kind && destination.location === ctx.store.location) {
      throw new AuthsomeError("USAGE", "The destination is the store in use", {
        hint: "Name another database (--to postgres://…) or another home folder",
      });
    }
    const report = await audited(
      ctx,
      "store-copy",
      {},
      () => copyStore(ctx.store, destination),
    );
    return {
      from: `${ctx.store.kind} ${ctx.store.location}`,
      to: `${destination.kind} ${destination.location}`,
      ...report,
    };
  } finally {
    await destination.close();
  }
}
