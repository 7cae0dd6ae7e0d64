#!/bin/sh
# Compiles the C benchmark programs (bench/c/*.c, bench/lunatic/*.c on the lunatic API of
# include/lunatic.h, and bench/cluster-node.c) to wasm32-wasi command modules next to their
# sources. The .wasm files are committed so `npm run bench` needs no C toolchain; rerun this after
# editing a program. Needs Debian's clang, lld, wasi-libc and libclang-rt-14-dev-wasm32.
# --strip-debug: wasi-libc's archive brings ~90 KB of DWARF that would dominate the size figures
# (and that binaryen.js drops anyway).
set -eu
cd "$(dirname "$0")/c"
for source in *.c; do
  clang --target=wasm32-wasi -O2 -Wl,--strip-debug -o "${source%.c}.wasm" "$source" -lm
  echo "built bench/c/${source%.c}.wasm"
done
cd ../lunatic
for source in *.c; do
  clang --target=wasm32-wasi -O2 -Wall -Werror -I ../../include -Wl,--strip-debug -o "${source%.c}.wasm" "$source"
  echo "built bench/lunatic/${source%.c}.wasm"
done
# The distribution bench's and tests' node program (bench/cluster.ts, test/distribution.test.ts).
cd ..
clang --target=wasm32-wasi -O2 -I../include -Wall -Wextra -Werror -c cluster-node.c -o cluster-node.o
clang --target=wasm32-wasi -Wl,--strip-debug cluster-node.o -o cluster-node.wasm
rm -f cluster-node.o
echo "built bench/cluster-node.wasm"
