#!/usr/bin/env bash
# systemd tier: the installed package's units under a real systemd as PID 1. Builds the .deb
# (cargo-deb, as 40-package.sh does), then boots the VM tier's qemu guest in systemd mode
# (tests/vm/run.sh -s: the host's / under a tmpfs overlay, the host's systemd as PID 1) and runs
# tests/vm/systemd/suite.list there in one boot: dpkg -i, start with READY=1, WATCHDOG=1 under a
# UDP flood, kill -9 restarted, the sandbox holds, systemctl reload. Nothing of the host is
# installed or started. Exits non-zero when any check fails or the VM does not finish.
set -euo pipefail
cd "$(dirname "$0")/../.."

[[ $(id -u) == 0 ]] || { echo "55-systemd: FAIL: must run as root (qemu's 9p export of /)" >&2; exit 1; }
[[ -x /lib/systemd/systemd ]] ||
    { echo "55-systemd: FAIL: no /lib/systemd/systemd: install Debian package 'systemd'" >&2; exit 1; }

echo "55-systemd: cargo deb -p chand"
deb=$(timeout 1800 cargo deb -p chand --locked --quiet | tail -n 1)
[[ -f $deb ]] || { echo "55-systemd: FAIL: cargo deb produced no package ($deb)" >&2; exit 1; }

resolved=$(mktemp)
trap 'rm -f "$resolved"' EXIT
sed -e "s|@CHECK@|$PWD/tests/vm/systemd/check.sh|g" -e "s|@DEB@|$(realpath "$deb")|g" \
    tests/vm/systemd/suite.list >"$resolved"
# systemd, journald and both daemons: more than the chroot mode's 512 MiB.
VM_MEM=${VM_MEM:-1024} tests/vm/run.sh -s -f "$resolved" -T 120 -t 600
