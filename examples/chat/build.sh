#!/bin/sh
# Builds chat.wasm (committed) from chat.c: see ../build-example.sh.
set -eu
here="$(dirname "$0")"
exec "$here/../build-example.sh" "$here" chat
