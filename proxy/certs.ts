/**
 * authsome's own certificate authority and the leaf certificates the proxy shows to the child for
 * the hosts it decrypts. ECDSA P-256 throughout: fast to generate and accepted by OpenSSL (curl,
 * Python), rustls (Deno) and Node.
 *
 * @module
 */

import "reflect-metadata"; // @peculiar/x509 needs a Reflect polyfill loaded before it
import * as x509 from "@peculiar/x509";
import { AuthsomeError } from "../errors.ts";

/** A CA certificate and its private key, both PEM. */
export interface CertificateAuthority {
  /** The CA certificate, PEM (`-----BEGIN CERTIFICATE-----`); safe to hand to clients. */
  certPem: string;
  /** The CA private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`); a secret. */
  keyPkcs8Pem: string;
}

/** Options of {@linkcode createCa}. */
export interface CreateCaOptions {
  /** The CA's common name; default `authsome local CA`. */
  commonName?: string;
  /** The issue time; default the current time. */
  now?: Date;
  /** Days of validity; default 3650 (about ten years). */
  days?: number;
}

/** A leaf certificate and its private key, both PEM, for one host. */
export interface LeafCertificate {
  /** The leaf certificate, PEM. */
  certPem: string;
  /** The leaf private key, PKCS#8 PEM. */
  keyPem: string;
}

/** Issues leaf certificates signed by one CA, caching them per host in memory. */
export interface LeafIssuer {
  /**
   * Returns a certificate for a DNS name or IP address (IPv6 with or without brackets), issuing one
   * the first time. Rejects with `INVALID_INPUT` for anything else, or when the CA cannot be read
   * or its key does not match its certificate.
   */
  issue(host: string): Promise<LeafCertificate>;
}

/** Options of {@linkcode createLeafIssuer}. */
export interface LeafIssuerOptions {
  /** The clock; default `() => new Date()`. */
  now?: () => Date;
}

const KEY_ALGORITHM: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const LEAF_DAYS = 30;
/** A cached leaf is replaced when it has less than this left, so a long run never serves an expired one. */
const LEAF_RENEW_MS = DAY_MS;

/**
 * Creates a new self-signed CA: ECDSA P-256 key, `basicConstraints` CA:true (critical),
 * `keyUsage` keyCertSign and cRLSign (critical), a random serial, valid from one hour before `now`
 * for `days` days.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createCa } from "./certs.ts";
 * const ca = await createCa({ commonName: "authsome test CA" });
 * assert.ok(ca.certPem.startsWith("-----BEGIN CERTIFICATE-----"));
 * ```
 */
export async function createCa(options: CreateCaOptions = {}): Promise<CertificateAuthority> {
  const now = options.now ?? new Date();
  const days = options.days ?? 3650;
  if (!(days > 0)) throw new AuthsomeError("INVALID_INPUT", "The CA validity must be positive");
  const keys = await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ "2.5.4.3": [options.commonName ?? "authsome local CA"] }, {
      "2.5.4.10": ["authsome"],
    }],
    notBefore: new Date(now.getTime() - HOUR_MS),
    notAfter: new Date(now.getTime() + days * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { certPem: cert.toString("pem"), keyPkcs8Pem: pem("PRIVATE KEY", pkcs8) };
}

/**
 * Creates an issuer of leaf certificates signed by `ca`. Each leaf has its own ECDSA P-256 key,
 * the host as its only subject alternative name (DNS or IP), the `serverAuth` extended key usage,
 * and is valid from one hour ago for 30 days. Leaves are cached per host for the issuer's life.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createCa, createLeafIssuer } from "./certs.ts";
 * const issuer = createLeafIssuer(await createCa());
 * const leaf = await issuer.issue("api.example.com");
 * assert.ok(leaf.keyPem.startsWith("-----BEGIN PRIVATE KEY-----"));
 * ```
 */
export function createLeafIssuer(
  ca: CertificateAuthority,
  options: LeafIssuerOptions = {},
): LeafIssuer {
  const now = options.now ?? (() => new Date());
  const cache = new Map<string, { leaf: Promise<LeafCertificate>; notAfter: number }>();
  let signer: Promise<{ cert: x509.X509Certificate; key: CryptoKey }> | undefined;

  return {
    issue(host) {
      let name: string;
      try {
        name = normalizeHost(host);
      } catch (error) {
        return Promise.reject(error);
      }
      const at = now().getTime();
      const cached = cache.get(name);
      if (cached && at < cached.notAfter - LEAF_RENEW_MS) return cached.leaf;
      signer ??= loadSigner(ca);
      const notAfter = at + LEAF_DAYS * DAY_MS;
      const leaf = signer.then((s) => issueLeaf(s, name, at, notAfter));
      cache.set(name, { leaf, notAfter });
      // A failure is not cached: the next call tries again.
      leaf.catch(() => {
        if (cache.get(name)?.leaf === leaf) cache.delete(name);
      });
      signer.catch(() => (signer = undefined));
      return leaf;
    },
  };
}

async function loadSigner(ca: CertificateAuthority) {
  let cert: x509.X509Certificate;
  let key: CryptoKey;
  try {
    cert = new x509.X509Certificate(ca.certPem);
    key = await crypto.subtle.importKey("pkcs8", pemBody(ca.keyPkcs8Pem), KEY_ALGORITHM, true, [
      "sign",
    ]);
  } catch (cause) {
    throw new AuthsomeError("INVALID_INPUT", "The authsome CA cannot be read", {
      hint: "Delete the CA files in AUTHSOME_HOME so that a new CA is created",
      cause,
    });
  }
  // A key that does not belong to the certificate would sign leaves no client accepts.
  const fromKey = await crypto.subtle.exportKey("jwk", key);
  const fromCert = await crypto.subtle.exportKey(
    "jwk",
    await cert.publicKey.export(KEY_ALGORITHM, ["verify"]),
  );
  if (fromKey.x !== fromCert.x || fromKey.y !== fromCert.y) {
    throw new AuthsomeError("INVALID_INPUT", "The authsome CA key does not match its certificate", {
      hint: "Delete the CA files in AUTHSOME_HOME so that a new CA is created",
    });
  }
  return { cert, key };
}

async function issueLeaf(
  signer: { cert: x509.X509Certificate; key: CryptoKey },
  host: string,
  at: number,
  notAfter: number,
): Promise<LeafCertificate> {
  const keys = await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const isIp = isIpAddress(host);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    // A common name is limited to 64 characters; the SAN is what clients check anyway.
    subject: host.length <= 64 ? [{ "2.5.4.3": [host] }] : [],
    issuer: signer.cert.subjectName,
    notBefore: new Date(at - HOUR_MS),
    notAfter: new Date(notAfter),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: signer.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: isIp ? "ip" : "dns", value: host }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(signer.cert),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { certPem: cert.toString("pem"), keyPem: pem("PRIVATE KEY", pkcs8) };
}

const DNS_NAME =
  /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function isIpAddress(host: string): boolean {
  return IPV4.test(host) || (host.includes(":") && /^[0-9a-f:.]+$/.test(host));
}

/** Lower-cases, strips IPv6 brackets and a trailing dot; refuses anything that is not a host name. */
function normalizeHost(host: string): string {
  let name = host.trim().toLowerCase();
  if (name.startsWith("[") && name.endsWith("]")) name = name.slice(1, -1);
  if (name.endsWith(".")) name = name.slice(0, -1);
  if (!DNS_NAME.test(name) && !isIpAddress(name)) {
    throw new AuthsomeError(
      "INVALID_INPUT",
      `Cannot issue a certificate for "${host.slice(0, 100)}"`,
    );
  }
  return name;
}

/** 16 random bytes, positive and without a leading zero byte, as DER integers require. */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function pem(label: string, der: ArrayBuffer): string {
  let binary = "";
  for (const byte of new Uint8Array(der)) binary += String.fromCharCode(byte);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function pemBody(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replace(/-----(BEGIN|END) [A-Z ]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}
