#!/bin/sh
# Builds echo-server.wasm (committed) from echo-server.c with clang's wasm32-wasi target. The module is
# plain: `lunatic-instrument run` instruments it in memory.
# Compiled and linked in two steps: given -O at link time, clang 14 runs any wasm-opt in PATH
# over the result, which drops the name section (function names in crash reports).
set -eu
cd "$(dirname "$0")"
object="$(mktemp)"
trap 'rm -f "$object"' EXIT
clang --target=wasm32-wasi -O2 -I../../include -Wall -Wextra -Werror -c echo-server.c -o "$object"
clang --target=wasm32-wasi -Wl,--strip-debug "$object" -o echo-server.wasm
echo "built $(pwd)/echo-server.wasm"
