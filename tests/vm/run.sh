#!/usr/bin/env bash
# Run a list of test commands inside one qemu VM with the real DAHDI modules and two back-to-back
# dahdi_dynamic_loc spans (facts/dahdi-vm.md), and report pass/fail per command.
#
# usage: tests/vm/run.sh [-f LIST]... [-c COMMAND]... [-C SYSTEM_CONF] [-T SECONDS] [-t SECONDS]
#   -f LIST      file with one shell command per line ('#' comments and blank lines skipped)
#   -c COMMAND   one shell command (repeatable); commands run in the given order, one boot
#   -C FILE      dahdi system.conf for the guest (default: tests/vm/system.conf)
#   -T SECONDS   time limit per command (default 120)
#   -t SECONDS   time limit of the whole VM run, boot included (default 300)
#
# Every command runs as root in a chroot into the host's / (read-only), so host-built binaries
# run unchanged, with cwd and $VM_JOB = the job folder (read-write, shared with the host);
# /tmp, /run and /dev/shm are guest tmpfs. Exit status: 0 when every command passed, 1 when any
# failed, timed out, or the VM did not finish.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${VM_BUILD_DIR:-$here/build}
conf=$here/system.conf
per_test=120 total=300
cmds=()

usage() { sed -n '5,11s/^# \{0,1\}//p' "$0" >&2; exit 2; }
die() { echo "vm-run: ERROR: $*" >&2; exit 1; }

while getopts 'f:c:C:T:t:h' opt; do
    case $opt in
        f) [[ -r $OPTARG ]] || die "cannot read $OPTARG"
           while IFS= read -r line || [[ -n $line ]]; do
               [[ $line =~ ^[[:space:]]*(#|$) ]] || cmds+=("$line")
           done <"$OPTARG" ;;
        c) cmds+=("$OPTARG") ;;
        C) conf=$(realpath "$OPTARG") ;;
        T) per_test=$OPTARG ;;
        t) total=$OPTARG ;;
        *) usage ;;
    esac
done
((${#cmds[@]})) || usage
[[ -r $conf ]] || die "cannot read $conf"
command -v qemu-system-x86_64 >/dev/null ||
    die "missing qemu-system-x86_64: install Debian package 'qemu-system-x86' (scripts/install-deps)"
[[ -x /usr/sbin/dahdi_cfg ]] ||
    die "missing /usr/sbin/dahdi_cfg: install Debian package 'dahdi' (scripts/install-deps)"

eval "$("$here/build.sh")"

# One folder per run; keep the last few for post-mortems.
mkdir -p "$build/jobs"
job=$build/jobs/$(date +%Y%m%dT%H%M%S)-$$
[[ $job != *[[:space:]]* ]] || die "the job path must not contain white space: $job"
mkdir -p "$job/t"
find "$build/jobs" -mindepth 1 -maxdepth 1 -type d | sort | head -n -8 | xargs -r rm -rf
cp "$conf" "$job/system.conf"
: >"$job/tests"
for i in "${!cmds[@]}"; do
    n=$((i + 1))
    printf '%s\n' "${cmds[$i]}" >>"$job/tests"
    printf 'set -o pipefail\ncd %q\n%s\n' "$job" "${cmds[$i]}" >"$job/t/$n.sh"
done

echo "vm-run: booting $KVER with ${#cmds[@]} test command(s); job folder $job"
start=$(date +%s%N)
set +e
# TCG only: /dev/kvm on these machines cannot run Debian's kernel (facts/dahdi-vm.md).
timeout -k 10 "$total" qemu-system-x86_64 \
    -machine q35 -accel tcg,thread=multi -cpu max -nodefaults -no-reboot \
    -display none -monitor none -serial stdio -m "${VM_MEM:-512}" -smp 2 \
    -kernel "$VMLINUZ" -initrd "$INITRD" \
    -append "console=ttyS0 panic=-1 loglevel=4 vmtest.job=$job vmtest.timeout=$per_test" \
    -virtfs local,path=/,mount_tag=hostroot,readonly=on,security_model=none,multidevs=remap \
    -virtfs "local,path=$job,mount_tag=job,security_model=none" \
    </dev/null 2>&1 | tee "$job/console.log"
qemu_rc=${PIPESTATUS[0]}
set -e
wall_ms=$((($(date +%s%N) - start) / 1000000))
wall=$((wall_ms / 1000)).$(printf %03d $((wall_ms % 1000)))

echo "vm-run: ---- results (job $job, wall ${wall} s)"
fail=0
for i in "${!cmds[@]}"; do
    n=$((i + 1))
    line=$(grep -m1 "^$n " "$job/results" 2>/dev/null || true)
    if [[ -z $line ]]; then
        echo "NOT RUN  ${cmds[$i]}"
        fail=1
    elif [[ $line == "$n PASS "* ]]; then
        echo "PASS     ${cmds[$i]}"
    else
        echo "FAIL     ${line#"$n FAIL "}"
        fail=1
    fi
done
if [[ ! -s $job/summary ]]; then
    echo "vm-run: the VM did not finish (qemu status $qemu_rc; 124 = time limit ${total}s)"
    fail=1
elif [[ $(cat "$job/summary") != passed=*" failed=0" ]]; then
    echo "vm-run: $(cat "$job/summary")"
    fail=1
fi
echo "vm-run: $( ((fail)) && echo FAILED || echo passed) in ${wall} s"
exit "$fail"
