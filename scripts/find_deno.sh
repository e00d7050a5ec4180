# Sourced by ./authsome and scripts/deno: sets $deno to the Deno binary pinned in node_modules.
# Expects $here to be the repository root. npm installs only the package of this platform, so the
# first one present is the right one (and no `uname` process is spent on every command). On a
# fresh clone the pinned toolchain is installed first (`npm ci`), with a one-line notice.
find_pinned_deno() {
  for deno in \
    "$here/node_modules/@deno/linux-x64-glibc/deno" \
    "$here/node_modules/@deno/linux-arm64-glibc/deno" \
    "$here/node_modules/@deno/darwin-arm64/deno" \
    "$here/node_modules/@deno/darwin-x64/deno"; do
    [ -x "$deno" ] && return 0
  done
  return 1
}
if ! find_pinned_deno; then
  if command -v npm >/dev/null 2>&1; then
    echo "authsome: first use, installing the pinned toolchain (npm ci)..." >&2
    (cd "$here" && npm ci --silent --no-audit --no-fund >&2) || true
  fi
  if ! find_pinned_deno; then
    echo "error: the Deno binary is not installed in $here/node_modules" >&2
    echo "hint: run 'npm ci' in $here (it needs npm and network access to the npm registry)" >&2
    exit 1
  fi
fi
