import assert from "node:assert/strict";
import { join } from "node:path";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { AuthsomeError } from "../errors.ts";
import { createCa, createLeafIssuer } from "./certs.ts";

const NOW = new Date("2026-03-01T12:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Runs `openssl verify` on a leaf as a TLS server certificate for `host` at time `at`. */
async function opensslVerify(caPem: string, leafPem: string, host: string, at: Date) {
  const dir = await Deno.makeTempDir({ prefix: "authsome-certs-test-" });
  try {
    await Deno.writeTextFile(join(dir, "ca.pem"), caPem);
    await Deno.writeTextFile(join(dir, "leaf.pem"), leafPem);
    const hostCheck = /^[\d.:]+$/.test(host) ? "-verify_ip" : "-verify_hostname";
    const output = await new Deno.Command("openssl", {
      args: [
        "verify",
        "-CAfile",
        join(dir, "ca.pem"),
        "-purpose",
        "sslserver",
        hostCheck,
        host,
        "-attime",
        String(Math.floor(at.getTime() / 1000)),
        join(dir, "leaf.pem"),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      ok: output.success,
      text: decoder.decode(output.stdout) + decoder.decode(output.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("createCa makes a ten-year ECDSA CA allowed to sign certificates and CRLs only", async () => {
  const ca = await createCa({ commonName: "authsome test CA", now: NOW });
  const cert = new x509.X509Certificate(ca.certPem);
  assert.equal(cert.subject, "CN=authsome test CA, O=authsome");
  assert.equal(cert.issuer, cert.subject);
  assert.equal(cert.publicKey.algorithm.name, "ECDSA");
  assert.ok(await cert.verify({ signatureOnly: true }), "self-signed");
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  assert.equal(basic?.ca, true);
  assert.equal(basic?.critical, true);
  const usage = cert.getExtension(x509.KeyUsagesExtension);
  assert.equal(usage?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  assert.equal(usage?.critical, true);
  assert.equal(cert.notBefore.getTime(), NOW.getTime() - HOUR);
  assert.equal(cert.notAfter.getTime(), NOW.getTime() + 3650 * DAY);
  assert.match(
    ca.keyPkcs8Pem,
    /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/,
  );
});

Deno.test("each CA has its own key and a random serial", async () => {
  const [a, b] = await Promise.all([createCa(), createCa()]);
  assert.notEqual(a.keyPkcs8Pem, b.keyPkcs8Pem);
  const serialA = new x509.X509Certificate(a.certPem).serialNumber;
  const serialB = new x509.X509Certificate(b.certPem).serialNumber;
  assert.notEqual(serialA, serialB);
  assert.equal(serialA.length, 32);
});

Deno.test("a leaf names its host, serves TLS, lasts 30 days from an hour ago, and OpenSSL accepts it", async () => {
  const ca = await createCa({ now: NOW });
  const leaf = await createLeafIssuer(ca, { now: () => NOW }).issue("api.example.com");
  const cert = new x509.X509Certificate(leaf.certPem);
  const caCert = new x509.X509Certificate(ca.certPem);
  assert.equal(cert.issuer, caCert.subject);
  assert.ok(await cert.verify({ publicKey: caCert.publicKey, signatureOnly: true }));
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  assert.deepEqual(san?.names.toJSON(), [{ type: "dns", value: "api.example.com" }]);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  assert.deepEqual([...eku?.usages ?? []], [x509.ExtendedKeyUsage.serverAuth]);
  assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, false);
  assert.equal(cert.notBefore.getTime(), NOW.getTime() - HOUR);
  assert.equal(cert.notAfter.getTime(), NOW.getTime() + 30 * DAY);

  const accepted = await opensslVerify(ca.certPem, leaf.certPem, "api.example.com", NOW);
  assert.ok(accepted.ok, accepted.text);
  const otherName = await opensslVerify(ca.certPem, leaf.certPem, "evil.example.com", NOW);
  assert.ok(!otherName.ok, "a leaf is valid for its own host only");
  const expired = await opensslVerify(
    ca.certPem,
    leaf.certPem,
    "api.example.com",
    new Date(NOW.getTime() + 31 * DAY),
  );
  assert.ok(!expired.ok, "a leaf expires after 30 days");
});

Deno.test("a leaf's private key belongs to its certificate", async () => {
  const leaf = await createLeafIssuer(await createCa()).issue("api.example.com");
  const body = leaf.keyPem.replace(/-----[A-Z ]+-----|\s/g, "");
  const key = await crypto.subtle.importKey(
    "pkcs8",
    Uint8Array.from(atob(body), (c) => c.charCodeAt(0)),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  const data = new TextEncoder().encode("proof");
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, data);
  const publicKey = await new x509.X509Certificate(leaf.certPem).publicKey.export();
  assert.ok(
    await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, publicKey, signature, data),
  );
});

Deno.test("an IP address gets an IP subject alternative name, IPv6 without brackets", async () => {
  const ca = await createCa();
  const issuer = createLeafIssuer(ca);
  for (const [host, value] of [["127.0.0.1", "127.0.0.1"], ["[::1]", "::1"]] as const) {
    const cert = new x509.X509Certificate((await issuer.issue(host)).certPem);
    const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON();
    assert.equal(names?.[0]?.type, "ip");
    assert.equal(names?.length, 1);
    const accepted = await opensslVerify(
      ca.certPem,
      (await issuer.issue(host)).certPem,
      value,
      new Date(),
    );
    assert.ok(accepted.ok, accepted.text);
  }
});

Deno.test("leaves are cached per host, case-insensitively, and renewed a day before they expire", async () => {
  let now = NOW;
  const issuer = createLeafIssuer(await createCa({ now: NOW }), { now: () => now });
  const first = await issuer.issue("api.example.com");
  assert.equal(await issuer.issue("API.Example.com."), first);
  assert.notEqual((await issuer.issue("other.example.com")).certPem, first.certPem);
  now = new Date(NOW.getTime() + 28 * DAY);
  assert.equal(await issuer.issue("api.example.com"), first);
  now = new Date(NOW.getTime() + 29 * DAY + HOUR);
  const renewed = await issuer.issue("api.example.com");
  assert.notEqual(renewed.certPem, first.certPem);
  assert.equal(
    new x509.X509Certificate(renewed.certPem).notAfter.getTime(),
    now.getTime() + 30 * DAY,
  );
});

Deno.test("concurrent requests for one host share one leaf", async () => {
  const issuer = createLeafIssuer(await createCa());
  const [a, b] = await Promise.all([
    issuer.issue("api.example.com"),
    issuer.issue("api.example.com"),
  ]);
  assert.equal(a, b);
});

Deno.test("a name that is not a host name or IP address is refused", async () => {
  const issuer = createLeafIssuer(await createCa());
  for (const host of ["", "a b", "a/b", "-bad.example", "x".repeat(300), "evil.test\r\nX: y"]) {
    await assert.rejects(issuer.issue(host), (error) => {
      assert.ok(error instanceof AuthsomeError);
      assert.equal(error.code, "INVALID_INPUT");
      return true;
    });
  }
});

Deno.test("a CA key that does not belong to its certificate is refused", async () => {
  const [a, b] = await Promise.all([createCa(), createCa()]);
  const issuer = createLeafIssuer({ certPem: a.certPem, keyPkcs8Pem: b.keyPkcs8Pem });
  await assert.rejects(issuer.issue("api.example.com"), (error) => {
    assert.ok(error instanceof AuthsomeError);
    assert.equal(error.code, "INVALID_INPUT");
    assert.match(error.message, /does not match/);
    return true;
  });
  const garbage = createLeafIssuer({ certPem: "not a certificate", keyPkcs8Pem: "nor a key" });
  await assert.rejects(garbage.issue("api.example.com"), /cannot be read/);
});
