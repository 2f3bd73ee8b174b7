#!/bin/bash
# One check of the systemd tier (README.md), run as root in the guest under systemd as PID 1,
# in the order of suite.list (each relies on the ones before it):
#   install DEB      dpkg -i the package; users, units known to systemd; the test config
#   start            systemctl start sipd chand: active once READY=1 came (Type=notify)
#   idle-watchdog    both daemons with nothing to do (no traffic, no OPTIONS pings, no
#                    subscription) keep sending WATCHDOG=1: not killed within 1.5 x WatchdogSec
#   watchdog-flood   WATCHDOG=1 keeps coming while a UDP junk + NOTIFY flood hits sipd; an
#                    allowed NOTIFY then lights 8000, the flood's (forbidden) ones change nothing
#   kill-restart     kill -9 of each daemon: systemd restarts it; 8000's lamp survives
#   sandbox          in each daemon's mount namespace, as its user and as root, nothing outside
#                    its directories is writable; its StateDirectory and RuntimeDirectory are
#   reload           FXS port 2's number changed (8001 -> 8002), systemctl reload: both daemons
#                    serve 8002 without a restart, 8000's lamp stays on
# Prints one line per step; exits 1 at the first failure, with the daemons' last journal lines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
conf=/etc/dahdi-mwi/dahdi-mwi.toml
daemons=(sipd chand)
declare -A user=([sipd]=dahdi-mwi-sip [chand]=dahdi-mwi-chan)

sip() { /usr/bin/python3 "$here/sip.py" "$@"; }
prop() { systemctl show -P "$2" "$1.service"; }
fail() {
    echo "FAIL: $*"
    journalctl -b -n 30 --no-pager -u sipd.service -u chand.service || true
    # A seccomp kill (SystemCallFilter=) names the system call: audit type=1326, syscall=N.
    dmesg | grep 'type=1326' | tail -n 3 || true
    exit 1
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
    local limit=$1 what=$2 end=$((SECONDS + $1))
    shift 2
    until "$@"; do
        ((SECONDS < end)) || fail "$what: not within $limit s"
        sleep 0.2
    done
}
running() { [[ $(prop "$1" ActiveState)/$(prop "$1" SubState) == active/running ]]; }
# lamp NUMBER: chand's MWI for NUMBER (true|false) from `chand status --json`.
lamp() {
    chand status --json --config "$conf" | /usr/bin/python3 -c '
import json, sys
print(next((str(p["mwi"]).lower() for p in json.load(sys.stdin)["fxs"] if p["number"] == sys.argv[1]), "absent"))' "$1"
}
# write_config NUMBER...: sim back-end, one FXS port per number; sipd on 127.0.0.1:5060 takes
# unsolicited NOTIFYs from 127.0.0.1 only.
write_config() {
    local tmp channel=0 n
    tmp=$(mktemp)
    cat >"$tmp" <<CONF
[sip]
listen = ["udp:127.0.0.1:5060"]
[mwi_server]
server = "ipv4:127.0.0.1"
unsolicited = true
allow = ["127.0.0.1/32"]
options_interval = 0
[dahdi]
backend = "sim"
CONF
    for n in "$@"; do
        channel=$((channel + 1))
        printf '[[fxs]]\nchannel = %d\nnumber = "%s"\n' "$channel" "$n" >>"$tmp"
    done
    install -m 640 -o root -g dahdi-mwi "$tmp" "$conf"
    rm -f "$tmp"
}

check_install() {
    local deb=$1 t0
    # man-db's trigger rebuilds the whole man database (a minute under TCG): not under test.
    rm -f /var/lib/man-db/auto-update
    t0=$(date +%s%N)
    dpkg -i "$deb" || fail "dpkg -i $deb"
    echo "dpkg -i $(basename "$deb"): $(ms_since "$t0") ms"
    for d in "${daemons[@]}"; do
        [[ $(prop "$d" LoadState) == loaded ]] || fail "$d.service not loaded after dpkg -i"
        [[ $(prop "$d" FragmentPath) == /lib/systemd/system/$d.service ]] ||
            fail "$d.service is not the packaged unit: $(prop "$d" FragmentPath)"
        getent passwd "${user[$d]}" >/dev/null || fail "user ${user[$d]} missing"
    done
    write_config 8000 8001
    for d in "${daemons[@]}"; do
        runuser -u "${user[$d]}" -- "$d" check-config --config "$conf" || fail "$d check-config"
    done
    echo "installed; units loaded from /lib/systemd/system; config: 8000, 8001 on the sim back-end"
}

check_start() {
    local t0 d
    t0=$(date +%s%N)
    # Type=notify: the start job ends when the daemon sends READY=1 (or fails).
    systemctl start sipd.service chand.service || fail "systemctl start sipd chand"
    echo "systemctl start sipd chand: $(ms_since "$t0") ms"
    for d in "${daemons[@]}"; do
        running "$d" || fail "$d: $(prop "$d" ActiveState)/$(prop "$d" SubState)"
        [[ $(prop "$d" Type) == notify ]] || fail "$d: Type=$(prop "$d" Type)"
        [[ $(prop "$d" WatchdogUSec) == 10s ]] || fail "$d: WatchdogUSec=$(prop "$d" WatchdogUSec)"
        [[ $(ps -o user= -p "$(prop "$d" MainPID)") == "${user[$d]}" ]] ||
            fail "$d does not run as ${user[$d]}"
        echo "$d: active (running) after READY=1, pid $(prop "$d" MainPID), user ${user[$d]}," \
            "WatchdogUSec=$(prop "$d" WatchdogUSec), status '$(prop "$d" StatusText)'"
    done
    sipd status --config "$conf" >/dev/null || fail "sipd status"
    chand status --config "$conf" >/dev/null || fail "chand status"
}

check_idle_watchdog() {
    local d since
    declare -A pid0
    for d in "${daemons[@]}"; do pid0[$d]=$(prop "$d" MainPID); done
    since=$(date '+%Y-%m-%d %H:%M:%S')
    sleep 15
    for d in "${daemons[@]}"; do
        if journalctl -u "$d.service" --since "$since" --no-pager | grep 'Watchdog timeout'; then
            fail "$d, idle, was killed by the watchdog: its event loop slept longer than" \
                "WatchdogSec/2 without sending WATCHDOG=1"
        fi
        running "$d" && [[ $(prop "$d" MainPID) == "${pid0[$d]}" ]] ||
            fail "$d not running as pid ${pid0[$d]} after 15 s idle"
    done
    echo "sipd and chand idle for 15 s (WatchdogSec=10): same pids, WATCHDOG=1 kept coming"
}

check_watchdog_flood() {
    local d pings=0 last now flood_pid answer
    declare -A pid0 restarts0
    for d in "${daemons[@]}"; do
        pid0[$d]=$(prop "$d" MainPID)
        restarts0[$d]=$(prop "$d" NRestarts)
    done
    last=$(prop sipd WatchdogTimestampMonotonic)
    sip flood 13 &
    flood_pid=$!
    # WatchdogTimestamp is when systemd last took a WATCHDOG=1 from sipd.
    while kill -0 "$flood_pid" 2>/dev/null; do
        now=$(prop sipd WatchdogTimestampMonotonic)
        if [[ $now != "$last" ]]; then
            pings=$((pings + 1))
            last=$now
        fi
        sleep 0.5
    done
    wait "$flood_pid" || fail "the flood sender failed"
    echo "sipd: WatchdogTimestamp moved $pings time(s) during the 13 s flood"
    ((pings >= 2)) || fail "sipd's WATCHDOG=1 stalled under the flood ($pings in 13 s, WatchdogSec=10)"
    for d in "${daemons[@]}"; do
        running "$d" || fail "$d not running after the flood"
        [[ $(prop "$d" MainPID) == "${pid0[$d]}" && $(prop "$d" NRestarts) == "${restarts0[$d]}" ]] ||
            fail "$d was restarted during the flood"
    done
    answer=$(sip notify 8000 yes) || fail "no answer to an allowed NOTIFY after the flood"
    [[ $answer == "SIP/2.0 200 "* ]] || fail "allowed NOTIFY for 8000 answered '$answer'"
    wait_for 10 "8000's lamp on in chand status" test "$(lamp 8000)" = true
    [[ $(lamp 8001) == false ]] || fail "the flood's forbidden NOTIFYs lit 8001"
    echo "after the flood: same pids, no restart; NOTIFY 8000 -> '$answer', lamp 8000 on, 8001 off"
}

check_kill_restart() {
    local d pid restarts t0
    [[ $(sip notify 8000 yes) == "SIP/2.0 200 "* ]] || fail "NOTIFY 8000 before the kills"
    wait_for 10 "8000's lamp on before the kills" test "$(lamp 8000)" = true
    for d in "${daemons[@]}"; do
        pid=$(prop "$d" MainPID)
        restarts=$(prop "$d" NRestarts)
        t0=$(date +%s%N)
        kill -KILL "$pid"
        wait_for 30 "$d restarted by systemd after kill -9" \
            eval "[[ \$(prop $d NRestarts) == $((restarts + 1)) ]] && running $d"
        echo "$d: kill -9 $pid -> restarted as pid $(prop "$d" MainPID) in $(ms_since "$t0") ms" \
            "(Restart=$(prop "$d" Restart), RestartUSec=$(prop "$d" RestartUSec))"
        wait_for 10 "8000's lamp on (chand status) after $d's restart" test "$(lamp 8000)" = true
        echo "$d: after the restart the table still holds 8000's lamp on (chand status);" \
            "sipd's own view: '$(sipd status --config "$conf" | grep '^endpoint 8000 ')'"
    done
}

check_sandbox() {
    local d pid path probe
    probe=.vmtest-sandbox-$$
    for d in "${daemons[@]}"; do
        pid=$(prop "$d" MainPID)
        # The daemon's own view: its mount namespace, its user and group.
        as_daemon() {
            nsenter -t "$pid" -m -- setpriv --reuid="${user[$d]}" --regid=dahdi-mwi --init-groups \
                --inh-caps=-all -- "$@"
        }
        as_root_inside() { nsenter -t "$pid" -m -- "$@"; }
        # A denial proves nothing if the daemon (and its namespace) went away meanwhile.
        gone() { [[ ! -e /proc/$pid/ns/mnt ]] && fail "$d (pid $pid) exited during the check"; }
        for path in /etc /usr /var/lib /var/log /opt "$VM_JOB"; do
            [[ -d $path ]] || continue
            touch "$path/$probe" && rm -f "$path/$probe" ||
                fail "root cannot write $path outside the sandbox either: the check proves nothing"
            if as_root_inside touch "$path/$probe" 2>/dev/null; then
                rm -f "$path/$probe"
                fail "$d: root in its mount namespace wrote $path"
            fi
            if as_daemon touch "$path/$probe" 2>/dev/null; then
                rm -f "$path/$probe"
                fail "$d: ${user[$d]} wrote $path"
            fi
            gone || true
        done
        for path in /root /home; do
            if as_root_inside touch "$path/$probe" 2>/dev/null; then
                fail "$d: $path is reachable (ProtectHome=yes)"
            fi
        done
        for path in /var/lib/dahdi-mwi /run/dahdi-mwi; do
            as_daemon touch "$path/$probe" || gone || fail "$d: ${user[$d]} cannot write its own $path"
            rm -f "$path/$probe"
        done
        as_daemon touch "/tmp/$probe" || fail "$d: no private /tmp"
        [[ ! -e /tmp/$probe ]] || fail "$d: its /tmp is the system's (PrivateTmp=yes)"
        echo "$d: in its namespace neither ${user[$d]} nor root writes /etc /usr /var/lib /var/log" \
            "/opt or the job folder; /root and /home are hidden;" \
            "/var/lib/dahdi-mwi and /run/dahdi-mwi are writable, /tmp is private"
    done
}

check_reload() {
    local d pid restarts
    declare -A pid0 restarts0
    for d in "${daemons[@]}"; do
        [[ $(prop "$d" CanReload) == yes ]] ||
            fail "$d.service has no ExecReload= (issue 11 item 9: SIGHUP reload)"
        pid0[$d]=$(prop "$d" MainPID)
        restarts0[$d]=$(prop "$d" NRestarts)
    done
    # Numbers are what a reload applies; a port added or removed needs a restart of chand.
    write_config 8000 8002
    for d in "${daemons[@]}"; do
        systemctl reload "$d.service" || fail "systemctl reload $d"
        running "$d" || fail "$d not running after the reload"
        [[ $(prop "$d" MainPID) == "${pid0[$d]}" && $(prop "$d" NRestarts) == "${restarts0[$d]}" ]] ||
            fail "$d was restarted, not reloaded"
    done
    wait_for 10 "sipd serving 8002 after the reload" \
        eval "sipd status --config $conf | grep >/dev/null '^endpoint 8002 '"
    wait_for 10 "chand serving 8002 after the reload" test "$(lamp 8002)" = false
    [[ $(lamp 8000) == true ]] || fail "8000's lamp lost by the reload"
    echo "systemctl reload sipd chand: same pids, 8002 served by both on port 2, 8000's lamp still on"
}

# It installs packages and writes /etc: only in the guest, whose root is an overlay.
[[ $(systemd-detect-virt --vm) != none && $(findmnt -n -o FSTYPE /) == overlay ]] ||
    fail "check.sh runs only in the VM tier's guest (tests/vm/run.sh -s)"
case ${1:-} in
    install) [[ $# == 2 ]] || fail "usage: $0 install DEB"; check_install "$2" ;;
    start) check_start ;;
    idle-watchdog) check_idle_watchdog ;;
    watchdog-flood) check_watchdog_flood ;;
    kill-restart) check_kill_restart ;;
    sandbox) check_sandbox ;;
    reload) check_reload ;;
    *) fail "usage: $0 install DEB|start|idle-watchdog|watchdog-flood|kill-restart|sandbox|reload" ;;
esac
