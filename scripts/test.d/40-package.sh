#!/usr/bin/env bash
# Debian package tier: build the dahdi-mwi .deb (cargo-deb, release build of chand and sipd),
# install it with dpkg on this machine, and check what an administrator gets: the files, the
# users/groups/directories of its sysusers.d/tmpfiles.d entries, units that pass
# `systemd-analyze verify`, their `systemd-analyze security` exposure (no worse than the
# recorded value + 0.2), check-config on the installed config as the daemons' users, man pages
# that render without warnings. Then purge the package and remove the users and groups this
# run created. Needs root; works without systemd as PID 1 (nothing is started).
set -euo pipefail
cd "$(dirname "$0")/../.."

# Exposure scores measured when the units were last hardened (systemd 252; capset allowed, as
# the daemons drop their capabilities at start-up); more than SCORE + 0.2 is a regression.
declare -A recorded=([chand]=1.1 [sipd]=1.6)

pkg=dahdi-mwi
users=(dahdi-mwi-sip dahdi-mwi-chan)
groups=(dahdi dahdi-mwi dahdi-mwi-sip dahdi-mwi-chan)
fail() {
    echo "40-package: FAIL: $*" >&2
    exit 1
}

[[ $(id -u) == 0 ]] || fail "must run as root (dpkg -i)"
for tool in cargo-deb dpkg systemd-analyze systemd-sysusers systemd-tmpfiles man runuser; do
    command -v "$tool" >/dev/null || fail "$tool missing (scripts/install-deps)"
done
echo "40-package: PID 1 is $(ps -o comm= -p 1); units are verified offline, never started"

# A run interrupted after dpkg -i left the package: purge it first so the run starts clean.
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q installed; then
    dpkg --purge "$pkg" >/dev/null
fi
created_users=()
created_groups=()
for u in "${users[@]}"; do getent passwd "$u" >/dev/null || created_users+=("$u"); done
for g in "${groups[@]}"; do getent group "$g" >/dev/null || created_groups+=("$g"); done
cleanup() {
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q installed; then
        dpkg --purge "$pkg" >/dev/null || echo "40-package: dpkg --purge $pkg failed" >&2
    fi
    for u in "${created_users[@]}"; do userdel "$u" 2>/dev/null || true; done
    for g in "${created_groups[@]}"; do groupdel "$g" 2>/dev/null || true; done
}
trap cleanup EXIT

echo "40-package: cargo deb -p chand"
deb=$(timeout 1800 cargo deb -p chand --locked --quiet | tail -n 1)
[[ -f $deb ]] || fail "cargo deb produced no package ($deb)"
echo "40-package: built $deb ($(du -h "$deb" | cut -f1))"

timeout 120 dpkg -i "$deb" >/dev/null

# Files, with their modes.
expect=(
    "/usr/bin/chand 755" "/usr/bin/sipd 755"
    "/lib/systemd/system/chand.service 644" "/lib/systemd/system/sipd.service 644"
    "/usr/lib/sysusers.d/dahdi-mwi.conf 644" "/usr/lib/tmpfiles.d/dahdi-mwi.conf 644"
    "/lib/udev/rules.d/60-dahdi-mwi.rules 644"
    "/usr/share/man/man8/chand.8.gz 644" "/usr/share/man/man8/sipd.8.gz 644"
    "/usr/share/man/man5/dahdi-mwi.toml.5.gz 644"
    "/usr/share/doc/dahdi-mwi/README.md 644" "/usr/share/doc/dahdi-mwi/copyright 644"
    "/usr/share/doc/dahdi-mwi/examples/dahdi-mwi.toml 644"
)
for e in "${expect[@]}"; do
    read -r path mode <<<"$e"
    [[ -f $path ]] || fail "$path not installed"
    [[ $(stat -c %a "$path") == "$mode" ]] || fail "$path has mode $(stat -c %a "$path"), want $mode"
    dpkg -S "$path" >/dev/null 2>&1 || fail "$path not owned by $pkg"
done
dpkg-query -W -f='${Conffiles}\n' "$pkg" | grep -q '^ /etc/dahdi-mwi/dahdi-mwi.toml ' ||
    fail "/etc/dahdi-mwi/dahdi-mwi.toml is not a conffile"
dpkg-query -W -f='${Depends}\n' "$pkg" | grep -q libc6 || fail "no libc6 dependency"

# sysusers.d and tmpfiles.d entries (postinst ran them; running them again must be a no-op).
systemd-sysusers dahdi-mwi.conf
systemd-tmpfiles --create dahdi-mwi.conf
for u in "${users[@]}"; do
    getent passwd "$u" >/dev/null || fail "user $u missing"
    id -nG "$u" | tr ' ' '\n' | grep -qx dahdi-mwi || fail "$u not in group dahdi-mwi"
done
id -nG dahdi-mwi-chan | tr ' ' '\n' | grep -qx dahdi || fail "dahdi-mwi-chan not in group dahdi"
for e in "/var/lib/dahdi-mwi 770 root dahdi-mwi" "/etc/dahdi-mwi 750 root dahdi-mwi" \
         "/etc/dahdi-mwi/dahdi-mwi.toml 640 root dahdi-mwi"; do
    read -r path mode owner group <<<"$e"
    got=$(stat -c '%a %U %G' "$path" 2>/dev/null) || fail "$path missing"
    [[ $got == "$mode $owner $group" ]] || fail "$path is '$got', want '$mode $owner $group'"
done

# The installed units: no warning about them from verify (it also runs man for Documentation=).
verify=$(timeout 60 systemd-analyze verify /lib/systemd/system/chand.service \
    /lib/systemd/system/sipd.service 2>&1) || fail "systemd-analyze verify failed: $verify"
if grep -E 'chand|sipd|dahdi' <<<"$verify"; then
    fail "systemd-analyze verify warns about our units"
fi
echo "40-package: systemd-analyze verify: clean"

for unit in chand sipd; do
    out=$(timeout 60 systemd-analyze security --offline=true --no-pager \
        "/lib/systemd/system/$unit.service" 2>&1) || true
    score=$(sed -n "s/.*Overall exposure level for $unit.service: \([0-9.]*\).*/\1/p" <<<"$out")
    [[ -n $score ]] || fail "no exposure score for $unit: $out"
    limit=$(awk -v r="${recorded[$unit]}" 'BEGIN { printf "%.1f", r + 0.2 }')
    echo "40-package: systemd-analyze security $unit.service: $score (recorded ${recorded[$unit]}, limit $limit)"
    awk -v s="$score" -v l="$limit" 'BEGIN { exit !(s <= l) }' ||
        fail "$unit.service exposure $score is worse than $limit"
done

# The shipped config is valid, and readable by the daemons' users (mode 640, group dahdi-mwi).
for e in "dahdi-mwi-sip sipd" "dahdi-mwi-chan chand"; do
    read -r u daemon <<<"$e"
    out=$(timeout 30 runuser -u "$u" -- "/usr/bin/$daemon" check-config \
        --config /etc/dahdi-mwi/dahdi-mwi.toml 2>&1) || fail "$daemon check-config as $u: $out"
    [[ $out == OK ]] || fail "$daemon check-config printed '$out'"
done
echo "40-package: sipd/chand check-config on /etc/dahdi-mwi/dahdi-mwi.toml: OK"

for e in "man8/chand.8 chand check-config" "man8/sipd.8 sipd check-config" \
         "man5/dahdi-mwi.toml.5 [mwi_server]"; do
    read -r page expect <<<"$e"
    file=/usr/share/man/$page.gz
    warnings=$(MANWIDTH=80 timeout 30 man --warnings -l "$file" 2>&1 >/dev/null)
    [[ -z $warnings ]] || fail "man $page: $warnings"
    MANWIDTH=80 timeout 30 man -l "$file" 2>/dev/null | grep -qF "$expect" ||
        fail "man $page does not render '$expect'"
done
echo "40-package: man pages render without warnings"

timeout 120 dpkg --purge "$pkg" >/dev/null
for path in /usr/bin/chand /usr/bin/sipd /lib/systemd/system/chand.service /etc/dahdi-mwi \
            /var/lib/dahdi-mwi; do
    [[ ! -e $path ]] || fail "$path left after dpkg --purge"
done
echo "40-package: OK"
