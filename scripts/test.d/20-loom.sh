#!/usr/bin/env bash
# Model checks (loom) of the shared MWI table's lock-free protocols: slot seqlock, crash repair,
# notice ring, futex wake-up handshake (mwi-table/tests/table_loom.rs). A separate target dir
# keeps the `--cfg loom` build from invalidating the normal one.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p mwi-table --release --locked --test table_loom
