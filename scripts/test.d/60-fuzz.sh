#!/usr/bin/env bash
# Short coverage-guided fuzz run of every decoder of untrusted bytes (fuzz/fuzz_targets/*.rs, or
# the space-separated FUZZ_TARGETS), starting from the committed seed corpora. Any crash fails
# the tier. FUZZ_SECONDS per target.
# Every target is built optimised with debug assertions and overflow checks on (-O -a), so an
# arithmetic overflow on a length from the wire is a crash, as in a debug build.
set -euo pipefail
cd "$(dirname "$0")/../../fuzz"
secs=${FUZZ_SECONDS:-20}
# cargo-fuzz needs -Z flags; the machine has one stable toolchain.
export RUSTC_BOOTSTRAP=1
targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
[[ -n $targets ]] || { echo "fuzz: no targets"; exit 1; }
fail=0 ran=0
for t in $targets; do
    mkdir -p "corpus/$t"
    # Fuzz into a scratch corpus so the committed seeds stay small.
    scratch=$(mktemp -d)
    if cargo fuzz run --release --debug-assertions "$t" "$scratch" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 \
        >"$scratch.log" 2>&1; then
        echo "fuzz $t: ok ($(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$scratch.log" | tail -n 1))"
        ran=$((ran + 1))
    else
        echo "fuzz $t: FAILED"; tail -n 40 "$scratch.log"; fail=$((fail + 1))
    fi
    rm -rf "$scratch" "$scratch.log"
done
echo "fuzz: $ran passed, $fail failed"
((fail == 0))
