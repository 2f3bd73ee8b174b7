#!/usr/bin/env bash
# Run a list of test commands inside one qemu VM with the real DAHDI modules and two back-to-back
# dahdi_dynamic_loc spans (docs/dahdi.md), and report pass/fail per command.
#
# usage: tests/vm/run.sh [-f LIST]... [-c COMMAND]... [-C SYSTEM_CONF] [-T SECONDS] [-t SECONDS] [-s]
#   -f LIST      file with one shell command per line ('#' comments and blank lines skipped)
#   -c COMMAND   one shell command (repeatable); commands run in the given order, one boot
#   -C FILE      dahdi system.conf for the guest (default: tests/vm/system.conf)
#   -T SECONDS   time limit per command (default 120)
#   -t SECONDS   time limit of the whole VM run, boot included (default 300)
#   -s           systemd mode: the commands run under the host's systemd as PID 1, on an
#                overlay of the host's / (tests/vm/systemd/README.md)
#
# Every command runs as root in a chroot into the host's / (read-only), so host-built binaries
# run unchanged, with cwd and $VM_JOB = the job folder (read-write, shared with the host);
# /tmp, /run and /dev/shm are guest tmpfs. Exit status: 0 when every command passed, 1 when any
# failed, timed out, or the VM did not finish. A guest that hangs before DAHDI is configured
# (rare under TCG; VM_BOOT_LIMIT seconds, default 120) is booted once more.
# Environment: VM_MEM (guest MiB, default 512), VM_BUILD_DIR (default tests/vm/build).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${VM_BUILD_DIR:-$here/build}
conf=$here/system.conf
per_test=120 total=300 boot_limit=${VM_BOOT_LIMIT:-120}
cmds=()
mode=chroot

usage() { sed -n '5,13s/^# \{0,1\}//p' "$0" >&2; exit 2; }
die() { echo "vm-run: ERROR: $*" >&2; exit 1; }

while getopts 'f:c:C:T:t:sh' opt; do
    case $opt in
        f) [[ -r $OPTARG ]] || die "cannot read $OPTARG"
           while IFS= read -r line || [[ -n $line ]]; do
               [[ $line =~ ^[[:space:]]*(#|$) ]] || cmds+=("$line")
           done <"$OPTARG" ;;
        c) cmds+=("$OPTARG") ;;
        C) conf=$(realpath "$OPTARG") ;;
        T) per_test=$OPTARG ;;
        t) total=$OPTARG ;;
        s) mode=systemd ;;
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

# One boot: qemu in the background, its console streamed and kept in the job folder. Returns
# qemu's status (124: total time limit), or 125 when the guest did not reach configured DAHDI
# within $boot_limit s or a vCPU locked up before that (a rare TCG hang, worth one retry).
boot() {
    local console=$job/console.$1.log waited=0 pid tailpid rc left boot_start
    boot_start=$(($(date +%s%N) / 1000000))
    booted=0
    left=$((total - ($(date +%s) - start_s)))
    ((left > 0)) || return 124
    : >"$console"
    # TCG only: /dev/kvm on these machines cannot run Debian's kernel (docs/dahdi.md).
    # cryptomgr.notests: the crypto self-tests are where TCG hangs were seen, and slow to boot.
    timeout -k 10 "$left" qemu-system-x86_64 \
        -machine q35 -accel tcg,thread=multi -cpu max -nodefaults -no-reboot \
        -display none -monitor none -serial stdio -m "${VM_MEM:-512}" -smp 2 \
        -kernel "$KERNEL" -initrd "$INITRD" \
        -append "console=ttyS0 panic=-1 loglevel=4 cryptomgr.notests=1 vmtest.job=$job vmtest.keep=$(cd "$here/../.." && pwd) vmtest.timeout=$per_test vmtest.mode=$mode" \
        -virtfs local,path=/,mount_tag=hostroot,readonly=on,security_model=none,multidevs=remap \
        -virtfs "local,path=$job,mount_tag=job,security_model=none" \
        </dev/null >"$console" 2>&1 &
    pid=$!
    tail -n +1 -f --pid="$pid" "$console" &
    tailpid=$!
    while kill -0 "$pid" 2>/dev/null; do
        if ((!booted)); then
            if grep -q '^VMTEST: DAHDI configured' "$console"; then
                booted=$(($(date +%s%N) / 1000000 - boot_start))
            elif ((waited >= boot_limit * 5)) || grep -q 'soft lockup' "$console"; then
                kill "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
                wait "$tailpid" 2>/dev/null
                return 125
            fi
        fi
        sleep 0.2
        waited=$((waited + 1))
    done
    wait "$pid"
    rc=$?
    wait "$tailpid" 2>/dev/null
    return "$rc"
}

echo "vm-run: booting $KVER with ${#cmds[@]} test command(s); job folder $job"
start=$(date +%s%N)
start_s=$(date +%s)
qemu_rc=0
for attempt in 1 2; do
    set +e
    boot "$attempt"
    qemu_rc=$?
    set -e
    ((qemu_rc == 125)) || break
    echo "vm-run: boot attempt $attempt did not reach configured DAHDI (hung guest); $( ((attempt < 2)) && echo retrying || echo giving up)"
done
wall_ms=$((($(date +%s%N) - start) / 1000000))
wall=$((wall_ms / 1000)).$(printf %03d $((wall_ms % 1000)))

echo "vm-run: ---- results (job $job, wall ${wall} s, DAHDI configured ${booted} ms after qemu started)"
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
    echo "vm-run: the VM did not finish (status $qemu_rc; 124 = time limit ${total}s, 125 = hung boot)"
    fail=1
elif [[ $(cat "$job/summary") != passed=*" failed=0" ]]; then
    echo "vm-run: $(cat "$job/summary")"
    fail=1
fi
echo "vm-run: $( ((fail)) && echo FAILED || echo passed) in ${wall} s"
exit "$fail"
