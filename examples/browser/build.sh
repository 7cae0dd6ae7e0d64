#!/usr/bin/env bash
# Rebuilds the demo's programs: c/*.c with clang for wasm32-wasi into wasm/NAME.wasm, then
# each through our CLI into wasm/NAME.inst.wasm (reduction counters + Asyncify), which the page
# loads. Both are committed, so the demo runs without a toolchain. Needs `npm run build` first.
# Deterministic, like fixtures/build.sh: compile and link in two steps (clang 14 given -O at
# link time runs any wasm-opt in PATH) and strip wasi-libc's DWARF.
#
#   bash examples/browser/build.sh
set -euo pipefail
shopt -s nullglob

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
cli="$root/bin/lunatic-instrument.js"

die() { echo "examples/browser/build.sh: $*" >&2; exit 1; }

command -v clang >/dev/null || die "clang not found: install clang lld wasi-libc libclang-rt-14-dev-wasm32"
[[ -f "$root/dist/src/cli/main.js" ]] || die "the CLI is not built: run npm run build first"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$here/wasm"
for source in "$here"/c/*.c; do
  name="$(basename "$source" .c)"
  clang --target=wasm32-wasi -O2 -Wall -Werror -c "$source" -o "$work/$name.o" || die "clang failed on $source"
  clang --target=wasm32-wasi -Wl,--strip-debug "$work/$name.o" -o "$work/$name.wasm" || die "linking $name failed"
  node "$cli" "$work/$name.wasm" -o "$work/$name.inst.wasm" || die "instrumenting $name failed"
  # Moved into place only once both exist: a failure never leaves half a pair behind.
  mv "$work/$name.wasm" "$here/wasm/$name.wasm"
  mv "$work/$name.inst.wasm" "$here/wasm/$name.inst.wasm"
  echo "built wasm/$name.wasm and wasm/$name.inst.wasm"
done
