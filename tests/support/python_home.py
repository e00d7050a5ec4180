#!/usr/bin/env python3
"""Writes a home folder of the Python original of authsome, for the `import python` tests.

Usage: python3 python_home.py HOME < spec.json

The layout and formats follow shared/reference/authsome-reference.md section 4 (OLD v0.2.x):

  HOME/version                        "2\\n"
  HOME/config.json                    {"spec_version":1,"default_profile":..,"encryption":{"mode":..}}
  HOME/master.key                     {"version":1,"key":"<b64 32 bytes>","algorithm":"AES-256-GCM",..}
                                      (mode local_key only; 0600)
  HOME/providers/<name>.json          custom provider files
  HOME/profiles/<p>/metadata.json
  HOME/profiles/<p>/store.db          SQLite in WAL mode, table kv(key TEXT PRIMARY KEY, value TEXT)
  HOME/profiles/<p>/lock

Every kv value is the record's JSON encrypted with AES-256-GCM under the 32-byte master key, a
random 12-byte nonce and no associated data, written as base64(nonce) + "." +
base64(ciphertext || tag). Keys stay in plaintext. The spec on stdin:

  {"mode": "local_key" | "keyring", "key": "<base64 of 32 bytes>", "default_profile": "default",
   "profiles": {"default": {"<kv key>": <record>, ...}}, "providers": {"<name>": <document>},
   "raw": {"default": {"<kv key>": "<stored text as is>"}}}
"""
import base64
import json
import os
import sqlite3
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def seal(key: bytes, record) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, json.dumps(record).encode("utf-8"), None)
    return base64.b64encode(nonce).decode() + "." + base64.b64encode(sealed).decode()


def main() -> None:
    home = sys.argv[1]
    spec = json.load(sys.stdin)
    key = base64.b64decode(spec["key"])
    assert len(key) == 32
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, "version"), "w") as f:
        f.write("2\n")
    with open(os.path.join(home, "config.json"), "w") as f:
        json.dump(
            {
                "spec_version": 1,
                "default_profile": spec.get("default_profile", "default"),
                "encryption": {"mode": spec.get("mode", "local_key")},
            },
            f,
            indent=2,
        )
    if spec.get("mode", "local_key") == "local_key":
        path = os.path.join(home, "master.key")
        with open(path, "w") as f:
            json.dump(
                {
                    "version": 1,
                    "key": spec["key"],
                    "algorithm": "AES-256-GCM",
                    "note": "Local master key for authsome. Protect this file.",
                },
                f,
                indent=2,
            )
        os.chmod(path, 0o600)
    providers = spec.get("providers", {})
    if providers:
        os.makedirs(os.path.join(home, "providers"), exist_ok=True)
        for name, doc in providers.items():
            with open(os.path.join(home, "providers", f"{name}.json"), "w") as f:
                json.dump(doc, f, indent=2)
    raw = spec.get("raw", {})
    for profile, records in spec.get("profiles", {}).items():
        folder = os.path.join(home, "profiles", profile)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "metadata.json"), "w") as f:
            json.dump(
                {
                    "name": profile,
                    "created_at": "2026-05-01T10:00:00+00:00",
                    "updated_at": "2026-05-01T10:00:00+00:00",
                    "description": "Default local profile",
                },
                f,
            )
        open(os.path.join(folder, "lock"), "w").close()
        db = sqlite3.connect(os.path.join(folder, "store.db"), timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for k, record in records.items():
            db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (k, seal(key, record)))
        for k, text in raw.get(profile, {}).items():
            db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (k, text))
        db.commit()
        db.close()


if __name__ == "__main__":
    main()
