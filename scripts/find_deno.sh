# Sourced by ./authsome and scripts/deno: sets $deno to the Deno binary pinned in node_modules.
# Expects $here to be the repository root. npm installs only the package of this platform, so the
# first one present is the right one (and no `uname` process is spent on every command).
for deno in \
  "$here/node_modules/@deno/linux-x64-glibc/deno" \
  "$here/node_modules/@deno/linux-arm64-glibc/deno" \
  "$here/node_modules/@deno/darwin-arm64/deno" \
  "$here/node_modules/@deno/darwin-x64/deno"; do
  [ -x "$deno" ] && break
done
if [ ! -x "$deno" ]; then
  echo "error: the Deno binary is not installed in $here/node_modules" >&2
  echo "hint: run 'npm ci' in $here" >&2
  exit 1
fi
