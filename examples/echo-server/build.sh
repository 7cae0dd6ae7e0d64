#!/bin/sh
# Builds echo-server.wasm (committed) from echo-server.c: see ../build-example.sh.
set -eu
here="$(dirname "$0")"
exec "$here/../build-example.sh" "$here" echo-server
