# Sourced by tests/vm/init (busybox sh, PID 1) in systemd mode, just before it hands PID 1 to
# the host's systemd: writes into the overlay's upper layer (never the host's tree) the target
# the guest boots to and the unit that runs the job's commands (runner.sh). Uses init's $job,
# $keep and $per_test; the root is /host.
units=/host/etc/systemd/system
mkdir -p "$units"

# A machine-id of its own: the host's is not this machine's, and an empty one would make
# this boot a first boot (systemd-firstboot prompts on the console).
tr -d '-' </proc/sys/kernel/random/uuid >/host/etc/machine-id

# Not a container: systemd believes the host's /.dockerenv (the whiteout stays in the upper layer).
rm -f /host/.dockerenv

# Booted to basic.target plus the runner: the host's multi-user services never start.
cat >"$units/vmtest.target" <<TARGET
[Unit]
Description=dahdi-mwi VM tier under systemd
Requires=basic.target
After=basic.target
Wants=vmtest-runner.service
TARGET
ln -sf vmtest.target "$units/default.target"

cat >"$units/vmtest-runner.service" <<RUNNER
[Unit]
Description=dahdi-mwi VM tier: the job's test commands
After=basic.target

[Service]
Type=exec
Environment=VM_JOB=$job VMTEST_TIMEOUT=$per_test
ExecStart=/bin/bash $keep/tests/vm/systemd/runner.sh
StandardOutput=journal+console
StandardError=journal+console
RUNNER

# Units of the host that only slow the boot or wait for what this machine lacks.
for unit in timers.target systemd-timesyncd.service systemd-pstore.service \
    systemd-firstboot.service proc-sys-fs-binfmt_misc.automount systemd-binfmt.service \
    systemd-update-utmp.service; do
    ln -sf /dev/null "$units/$unit"
done
