#!/bin/sh
# Builds one committed example module, DIR/NAME.wasm from DIR/NAME.c, with clang's wasm32-wasi
# target and include/lunatic.h. The module is plain: `lunatic-instrument run` (or the
# instrumenter) instruments it. Compiled and linked in two steps: given -O at link time, clang 14
# runs any wasm-opt in PATH over the result, which drops the name section (function names in
# crash reports).
#   examples/build-example.sh DIR NAME
set -eu
dir="$1"
name="$2"
include="$(cd "$(dirname "$0")/../include" && pwd)"
object="$(mktemp)"
trap 'rm -f "$object"' EXIT
clang --target=wasm32-wasi -O2 -I"$include" -Wall -Wextra -Werror -c "$dir/$name.c" -o "$object"
clang --target=wasm32-wasi -Wl,--strip-debug "$object" -o "$dir/$name.wasm"
echo "built $(cd "$dir" && pwd)/$name.wasm"
