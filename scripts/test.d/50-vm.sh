#!/usr/bin/env bash
# VM tier: the real DAHDI kernel modules in qemu (tests/vm/, docs/dahdi.md). Builds the
# binaries named in tests/vm/suite.list and the VM pieces (cached), then runs every
# command of the list in one boot. Exits non-zero when any command fails or the VM does not finish.
set -euo pipefail
cd "$(dirname "$0")/../.."

list=tests/vm/suite.list
# Every @BIN@/NAME of the list is a workspace binary (vm-* test programs of tests/src/bin,
# daemons such as chand): build them all in one cargo call.
mapfile -t bins < <(grep -v '^[[:space:]]*#' "$list" | grep -o '@BIN@/[A-Za-z0-9_-]*' | sort -u |
    sed 's|@BIN@/||')
target=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
if ((${#bins[@]})); then
    cargo build --locked "${bins[@]/#/--bin=}"
fi

resolved=$(mktemp)
trap 'rm -f "$resolved"' EXIT
sed "s|@BIN@|$target/debug|g" "$list" >"$resolved"
# Bounded: 2 min per command at most, plus the boot (the whole list normally takes seconds).
ncmds=$(grep -cv '^[[:space:]]*\(#\|$\)' "$resolved")
tests/vm/run.sh -f "$resolved" -T 120 -t $((90 + 120 * ncmds))
