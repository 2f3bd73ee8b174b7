#!/usr/bin/env bash
# Build the pieces of the DAHDI VM tier (docs/dahdi.md), each cached under tests/vm/build/
# and keyed on its inputs, so a warm re-run only checks keys:
#   1. the kernel that Debian's linux-image-amd64 depends on, downloaded and unpacked with
#      dpkg-deb -x (never installed into the host's /boot or /lib/modules);
#   2. the DAHDI modules (dahdi, dahdi_dynamic, dahdi_dynamic_loc, dahdi_echocan_mg2) from dahdi-source, built
#      against the matching linux-headers;
#   3. a busybox initramfs with those modules, the virtio/9p module chain, veth and sch_netem,
#      and tests/vm/init.
# On success prints shell assignments (KVER, KERNEL, INITRD) on stdout; progress goes to stderr.
# Fails loudly, naming the Debian package, when something it needs is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${VM_BUILD_DIR:-$here/build}
mkdir -p "$build"

log() { echo "vm-build: $*" >&2; }
die() { echo "vm-build: ERROR: $*" >&2; exit 1; }
key() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }

# Tools and files the build needs, with the Debian package that provides each.
need() {
    local what=$1 pkg=$2
    if [[ $what == /* ]]; then
        [[ -e $what ]] || die "missing $what: install Debian package '$pkg' (scripts/install-deps)"
    else
        command -v "$what" >/dev/null 2>&1 ||
            die "missing command '$what': install Debian package '$pkg' (scripts/install-deps)"
    fi
}
need apt-get apt
need dpkg-deb dpkg
need make make
need gcc gcc
need bzip2 bzip2
need xz xz-utils
need cpio cpio
need depmod kmod
need modinfo kmod
need /bin/busybox busybox-static
need /usr/src/dahdi.tar.bz2 dahdi-source
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" ||
    die "/bin/busybox is not the static build: install Debian package 'busybox-static'"

# Serialise concurrent builds (two runners may start at once); running VMs only read outputs.
exec 9>"$build/.lock"
flock 9

# --- 1. kernel ------------------------------------------------------------------------------
# A fresh machine may have no package lists, or lists naming a version the mirror has dropped:
# refresh them once (as root) and look again.
refreshed=0
refresh_apt() {
    ((!refreshed && EUID == 0)) || return 1
    refreshed=1
    log "refreshing apt's package lists"
    apt-get update -qq >&2
}
# The metapackage names the exact kernel: "Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)".
# (One apt-cache call: each costs seconds on a busy machine.)
find_kernel() {
    local dep
    dep=$(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
        sed -n 's/^Depends: .*linux-image-\([0-9][^ ,]*\) (= \([^)]*\)).*/\1 \2/p' | head -n1)
    kver=${dep% *} image_ver=${dep#* }
    image_pkg=linux-image-$kver
    [[ -n $kver && -n $image_ver ]]
}
# apt-cache answers the same until the package lists change: remember its answer.
lists_key=$(key "$(ls -l --time-style=+%s /var/lib/apt/lists/ 2>/dev/null)")
lookup=$build/kernel-lookup
if [[ -e $lookup ]] && read -r k kver image_ver <"$lookup" && [[ $k == "$lists_key" ]]; then
    image_pkg=linux-image-$kver
else
    find_kernel || { refresh_apt && find_kernel; } ||
        die "cannot find the kernel that linux-image-amd64 depends on (apt-get update as root)"
    lists_key=$(key "$(ls -l --time-style=+%s /var/lib/apt/lists/ 2>/dev/null)")
    echo "$lists_key $kver $image_ver" >"$lookup"
fi

headers=/usr/src/linux-headers-$kver
if [[ ! -e $headers/Makefile ]]; then
    log "linux-headers-$kver missing: installing it"
    ((EUID == 0)) || die "install Debian package 'linux-headers-$kver' (needs root)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "linux-headers-$kver" >/dev/null || die "cannot install linux-headers-$kver"
fi
headers_ver=$(dpkg-query -W -f='${Version}' "linux-headers-$kver")

kdir=$build/kernel/$kver-$image_ver
if [[ ! -e $kdir/.done ]]; then
    log "downloading and unpacking $image_pkg $image_ver"
    rm -rf "$build/kernel"
    mkdir -p "$kdir"
    # apt's sandbox user cannot write into root-owned build dirs; the download is checked by apt.
    download() { (cd "$kdir" && apt-get download -q -o APT::Sandbox::User=root "$1" >&2); }
    download "$image_pkg=$image_ver" ||
        { refresh_apt && find_kernel && [[ $kdir == "$build/kernel/$kver-$image_ver" ]] &&
            download "$image_pkg=$image_ver"; } ||
        die "apt-get download $image_pkg=$image_ver failed (if apt now names another kernel: rerun)"
    dpkg-deb -x "$kdir"/"$image_pkg"_*.deb "$kdir/root"
    rm -f "$kdir"/*.deb
    # The package ships no modules.dep (its postinst runs depmod); make one for our copy.
    depmod -b "$kdir/root" "$kver"
    touch "$kdir/.done"
fi
vmlinuz=$kdir/root/boot/vmlinuz-$kver
kmods=$kdir/root/lib/modules/$kver
[[ -e $vmlinuz ]] || die "no $vmlinuz in $image_pkg"
# qemu boots an uncompressed ELF kernel through its PVH entry (CONFIG_PVH), skipping the
# bzImage's own xz decompression: under TCG on a busy machine that saves about 8 s per boot.
kernel=$kdir/vmlinux
if [[ ! -e $kernel ]]; then
    kernel=$vmlinuz
    off=$(LC_ALL=C grep -obUa $'\xfd7zXZ\x00' "$vmlinuz" | head -n1 | cut -d: -f1)
    if grep -qx CONFIG_PVH=y "$kdir/root/boot/config-$kver" && [[ -n $off ]] &&
        xz -dc --single-stream <(tail -c +$((off + 1)) "$vmlinuz") >"$kdir/vmlinux.tmp" 2>/dev/null; then
        mv "$kdir/vmlinux.tmp" "$kdir/vmlinux"
        kernel=$kdir/vmlinux
    else
        rm -f "$kdir/vmlinux.tmp"
        log "booting the compressed $vmlinuz (no PVH entry or not xz): slower"
    fi
fi

# --- 2. DAHDI modules -------------------------------------------------------------------------
dahdi_mods=(dahdi dahdi_dynamic dahdi_dynamic_loc dahdi_echocan_mg2)
tar_sum=$(sha256sum /usr/src/dahdi.tar.bz2 | cut -c1-64)
make_vars=(DAHDI_BUILD_ALL= CONFIG_DAHDI=m CONFIG_DAHDI_DYNAMIC=m CONFIG_DAHDI_DYNAMIC_LOC=m
    CONFIG_DAHDI_ECHOCAN_MG2=m)
dkey=$(key "$tar_sum" "$kver" "$headers_ver" "${make_vars[*]}")
ddir=$build/dahdi/$dkey
if [[ ! -e $ddir/.done ]]; then
    log "building DAHDI modules against linux-headers-$kver ($dkey)"
    rm -rf "$build/dahdi"
    mkdir -p "$ddir/src" "$ddir/ko"
    tar -xjf /usr/src/dahdi.tar.bz2 -C "$ddir/src"
    src=$(dirname "$(find "$ddir/src" -path '*/drivers/dahdi/dahdi-base.c' -print -quit)")
    src=${src%/drivers/dahdi}
    [[ -d $src/include/dahdi ]] || die "unexpected layout of /usr/src/dahdi.tar.bz2"
    make -s -C "$headers" M="$src/drivers/dahdi" DAHDI_INCLUDE="$src/include" "${make_vars[@]}" \
        -j"$(nproc)" modules >"$ddir/make.log" 2>&1 ||
        { tail -n 30 "$ddir/make.log" >&2; die "DAHDI module build failed (log: $ddir/make.log)"; }
    for m in "${dahdi_mods[@]}"; do
        cp "$src/drivers/dahdi/$m.ko" "$ddir/ko/"
    done
    touch "$ddir/.done"
fi

# --- 3. initramfs -----------------------------------------------------------------------------
# overlay: the writable root of init's systemd mode (tests/vm/systemd/); veth and sch_netem:
# network namespaces joined by a veth pair with `tc qdisc ... netem` on it (vm-netem).
base_mods=(virtio_pci 9pnet_virtio 9p overlay veth sch_netem)
ikey=$(key "$kver-$image_ver" "$dkey" "$(sha256sum "$here/init" /bin/busybox "$0" | cut -c1-64)")
initrd=$build/initramfs/$ikey.img
if [[ ! -e $initrd ]]; then
    log "assembling initramfs ($ikey)"
    rm -rf "$build/initramfs"
    stage=$build/initramfs/stage
    mkdir -p "$stage"/{bin,dev,proc,sys,host,lib/modules/"$kver"/extra}
    cp /bin/busybox "$stage/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [[ $applet == busybox ]] || ln -sf busybox "$stage/bin/$applet"
    done
    install -m 755 "$here/init" "$stage/init"

    # Kernel modules: the closure of what 9p-over-virtio, veth, netem and the DAHDI modules need.
    declare -A seen=()
    add_kmod() {
        local rel dep
        rel=$(awk -v m="$1" -F: '{ n = $1; sub(/.*\//, "", n); sub(/\.ko$/, "", n)
            gsub(/-/, "_", n); if (n == m) { print $1; exit } }' "$kmods/modules.dep")
        if [[ -z $rel ]]; then
            grep -q "/$1.ko\$" "$kmods/modules.builtin" && return 0
            die "kernel module $1 not found in $image_pkg"
        fi
        [[ -z ${seen[$rel]:-} ]] || return 0
        seen[$rel]=1
        mkdir -p "$stage/lib/modules/$kver/$(dirname "$rel")"
        cp "$kmods/$rel" "$stage/lib/modules/$kver/$rel"
        for dep in $(sed -n "s|^$rel: *||p" "$kmods/modules.dep"); do
            dep=${dep##*/}
            add_kmod "${dep%.ko}"
        done
    }
    for m in "${base_mods[@]}"; do add_kmod "$m"; done
    for m in "${dahdi_mods[@]}"; do
        cp "$ddir/ko/$m.ko" "$stage/lib/modules/$kver/extra/"
        for dep in $(modinfo -F depends "$ddir/ko/$m.ko" | tr , ' '); do
            [[ " ${dahdi_mods[*]} " == *" $dep "* ]] || add_kmod "$dep"
        done
    done
    cp "$kmods"/modules.{order,builtin,builtin.modinfo} "$stage/lib/modules/$kver/"
    depmod -b "$stage" "$kver"
    (cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner=0:0) |
        gzip -6 >"$initrd.tmp"
    mv "$initrd.tmp" "$initrd"
    rm -rf "$stage"
fi

printf 'KVER=%q\nKERNEL=%q\nINITRD=%q\n' "$kver" "$kernel" "$initrd"
