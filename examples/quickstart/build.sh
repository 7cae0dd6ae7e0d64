#!/bin/sh
# Builds quickstart.wasm (committed) from quickstart.c: see ../build-example.sh.
set -eu
here="$(dirname "$0")"
exec "$here/../build-example.sh" "$here" quickstart
