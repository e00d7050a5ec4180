# Sourced by ./authsome and scripts/deno: sets $deno to the Deno binary pinned in node_modules.
# Expects $here to be the repository root.
case "$(uname -s)-$(uname -m)" in
  Linux-aarch64 | Linux-arm64) deno="$here/node_modules/@deno/linux-arm64-glibc/deno" ;;
  Darwin-arm64) deno="$here/node_modules/@deno/darwin-arm64/deno" ;;
  Darwin-x86_64) deno="$here/node_modules/@deno/darwin-x64/deno" ;;
  *) deno="$here/node_modules/@deno/linux-x64-glibc/deno" ;;
esac
if [ ! -x "$deno" ]; then
  echo "error: the Deno binary is not installed ($deno)" >&2
  echo "hint: run 'npm ci' in $here" >&2
  exit 1
fi
