#!/usr/bin/env bash
# build-template.sh OUTPUT.qcow2
#
# Builds Paddock's built-in VM template: a small bootable qcow2 disk
#   SeaBIOS -> syslinux MBR + FAT partition -> Debian kernel -> busybox initramfs
# The initramfs loads the virtio/ACPI modules, runs busybox acpid so an ACPI
# power-button press (QMP system_powerdown) powers the VM off, and keeps a root
# shell on the VGA console (tty1) and on the first serial port (ttyS0).
#
# Everything comes from Debian packages (apt-get download + dpkg-deb -x); no
# mounts, loop devices or mknod, so it needs no privileges except to apt-get
# install missing tools. Writes OUTPUT.tmp then renames; also writes
# OUTPUT.sha256 (sha256sum format, relative file name) and OUTPUT's name with
# .iso: the same kernel and initramfs on a bootable ISO 9660 CD (isolinux), with
# "paddock.boot=cdrom" on the kernel command line, for installing from an ISO.
#
# Environment overrides:
#   KERNEL_PKG       kernel package (default: what linux-image-cloud-amd64 depends on)
#   TEMPLATE_DISK_MB virtual disk size in MiB (default 64)
#   SOURCE_DATE_EPOCH timestamps inside the image (default: the kernel's mtime)
# Same packages + same settings => byte-identical qcow2 (and .sha256).
set -euo pipefail

die() { echo "build-template: $*" >&2; exit 1; }
log() { echo "build-template: $*" >&2; }

[[ $# -eq 1 ]] || die "usage: $0 OUTPUT.qcow2"
OUT=$(realpath -m -- "$1")
OUT_DIR=$(dirname -- "$OUT")
mkdir -p -- "$OUT_DIR"

DISK_MB=${TEMPLATE_DISK_MB:-64}
PART_START=2048                  # first partition at 1 MiB, the usual alignment
SECTOR=512

# Modules the template wants; dependencies are added automatically.
# button: ACPI power button; evdev: /dev/input/event* that busybox acpid reads.
WANTED_MODULES=(button evdev virtio_pci virtio_blk virtio_net virtio_balloon virtio_console)

# ---------------------------------------------------------------- tools ----
# Only tools are taken from the host; the guest content comes from packages.
need_pkgs=()
need() { # need COMMAND-OR-PATH PACKAGE
    if [[ $1 == /* ]]; then [[ -e $1 ]] && return 0
    else command -v "$1" >/dev/null 2>&1 && return 0; fi
    need_pkgs+=("$2")
}
need mformat mtools
need mcopy mtools
need syslinux syslinux
need /usr/lib/syslinux/mbr/mbr.bin syslinux-common
need qemu-img qemu-utils
need cpio cpio
need xz xz-utils
need gzip gzip
need dpkg-deb dpkg
need apt-get apt
need xorriso xorriso
need /usr/lib/ISOLINUX/isolinux.bin isolinux
if ((${#need_pkgs[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing tools, install as root: ${need_pkgs[*]}"
    log "installing tools: ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_pkgs[@]}" >&2
fi
MBR_BIN=/usr/lib/syslinux/mbr/mbr.bin

WORK=$(mktemp -d "${TMPDIR:-/tmp}/paddock-template.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
# _apt must be able to write the download dir, otherwise apt warns and
# downloads unsandboxed; a world-traversable dir avoids the noise.
chmod 0755 "$WORK"
mkdir -p "$WORK/dl" && chmod 0777 "$WORK/dl"

# ------------------------------------------------------------- packages ----
apt_download() { # retry once after apt-get update: the lists may be stale
    if ! (cd "$WORK/dl" && apt-get download "$@" >&2); then
        log "apt-get download failed, running apt-get update once"
        apt-get update >&2
        (cd "$WORK/dl" && apt-get download "$@" >&2)
    fi
}

# Debian's cloud kernel: LZ4-compressed where the generic one is XZ, and fewer drivers built in.
# Under TCG (QEMU without an accelerator) the generic kernel spends about 7 s of a 13 s boot
# decompressing itself; the cloud one boots in about half the time. It has what the template
# uses: virtio, the VGA text console, i8042, the 8250 serial port, PCIe and ACPI CPU hotplug.
KERNEL_META=linux-image-cloud-amd64
KERNEL_PKG=${KERNEL_PKG:-$(apt-cache depends "$KERNEL_META" 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')}
if [[ -z $KERNEL_PKG ]]; then
    apt-get update >&2
    KERNEL_PKG=$(apt-cache depends "$KERNEL_META" |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
fi
[[ -n $KERNEL_PKG ]] || die "cannot resolve the kernel package behind $KERNEL_META"
log "kernel package: $KERNEL_PKG"

apt_download "$KERNEL_PKG" busybox-static
KROOT=$WORK/kernel; BBROOT=$WORK/busybox
dpkg-deb -x "$WORK"/dl/"$KERNEL_PKG"_*.deb "$KROOT"
dpkg-deb -x "$WORK"/dl/busybox-static_*.deb "$BBROOT"
rm -rf "$WORK/dl"                # 70 MB we no longer need

VMLINUZ=$(ls "$KROOT"/boot/vmlinuz-* | head -n1)
KVER=${VMLINUZ##*/vmlinuz-}
KCONFIG=$KROOT/boot/config-$KVER
MODDIR=$KROOT/lib/modules/$KVER
BUSYBOX=$BBROOT/bin/busybox
[[ -f $VMLINUZ && -f $KCONFIG && -d $MODDIR ]] || die "unexpected kernel package layout"
[[ -x $BUSYBOX ]] || die "busybox-static has no bin/busybox"
log "kernel version: $KVER"
# Reproducible output: mtools stamps FAT entries with SOURCE_DATE_EPOCH when
# set; default to the kernel's mtime from the package (stable per package).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$VMLINUZ")}

# ---------------------------------------------------------- initramfs ----
IRD=$WORK/initramfs
mkdir -p "$IRD"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,root,etc/init.d,etc/acpi,var/log}
chmod 1777 "$IRD/tmp"
cp "$BUSYBOX" "$IRD/bin/busybox"
# "busybox --install" would link to the host path, so make the links ourselves.
while read -r applet; do
    [[ $applet == bin/busybox || -e $IRD/$applet ]] && continue
    ln -s /bin/busybox "$IRD/$applet"
done < <("$BUSYBOX" --list-full)
ln -s /bin/busybox "$IRD/init"   # the kernel runs /init; busybox sees "init"

# Modules: Debian ships no modules.dep (depmod runs at install time), so read
# each module's "depends=" from its .modinfo section and load in DFS post-order.
declare -A MODPATH=() LOADED=()
while IFS= read -r -d '' f; do
    name=${f##*/}; name=${name%%.ko*}; MODPATH[${name//-/_}]=$f
done < <(find "$MODDIR/kernel" -name '*.ko*' -print0)

modcat() { # print an uncompressed module; busybox insmod may not do xz/zstd
    case $1 in
        *.ko) cat -- "$1" ;;
        *.ko.xz) xz -dc -- "$1" ;;
        *.ko.gz) gzip -dc -- "$1" ;;
        *.ko.zst) zstd -dc -- "$1" ;;
        *) die "unknown module format: $1" ;;
    esac
}

builtin_or_missing() { # is "name" built into the kernel? (then nothing to load)
    grep -qE "/${1//_/[-_]}\.ko\$" "$MODDIR/modules.builtin"
}

LOAD_ORDER=()
add_module() {
    local name=${1//-/_} dep deps
    [[ -n ${LOADED[$name]:-} ]] && return 0
    LOADED[$name]=1
    if [[ -z ${MODPATH[$name]:-} ]]; then
        builtin_or_missing "$name" && { log "module $name is built in"; return 0; }
        die "module $name not found in $KERNEL_PKG"
    fi
    deps=$(modcat "${MODPATH[$name]}" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n1)
    for dep in ${deps//,/ }; do add_module "$dep"; done
    LOAD_ORDER+=("$name")
}
for m in "${WANTED_MODULES[@]}"; do add_module "$m"; done

mkdir -p "$IRD/lib/modules/$KVER"
: > "$IRD/etc/modules.load"
for name in "${LOAD_ORDER[@]}"; do
    modcat "${MODPATH[$name]}" > "$IRD/lib/modules/$KVER/$name.ko"
    echo "$name" >> "$IRD/etc/modules.load"
done
log "modules (load order): ${LOAD_ORDER[*]}"

cat > "$IRD/etc/inittab" <<'EOF'
# busybox init: one respawning root shell per console, forever.
::sysinit:/etc/init.d/rcS
tty1::respawn:-/bin/sh
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
EOF

cat > "$IRD/etc/init.d/rcS" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
kver=$(uname -r)
while read -r m; do
    insmod "/lib/modules/$kver/$m.ko" || echo "rcS: insmod $m failed"
done < /etc/modules.load
ip link set lo up
hostname paddock-template
# acpid reads /dev/input/event* (button + evdev). The action file maps an
# event key to a handler path relative to the -c directory.
acpid -c /etc/acpi -a /etc/acpid.conf -l /var/log/acpid.log
EOF
chmod 0755 "$IRD/etc/init.d/rcS"

# busybox acpid turns the power-button key into "button/power PWRF 00000080"
# (or PWRB); each line is "SUBSTRING-OF-EVENT HANDLER".
cat > "$IRD/etc/acpid.conf" <<'EOF'
PWRF power.sh
PWRB power.sh
EOF
cat > "$IRD/etc/acpi/power.sh" <<'EOF'
#!/bin/sh
# Nothing persistent is mounted from the disk by default; sync covers the
# case where a user mounted it, then power off at once.
echo "paddock-template: power button, powering off" > /dev/console
sync
poweroff -f
EOF
chmod 0755 "$IRD/etc/acpi/power.sh"

cat > "$IRD/etc/motd" <<'EOF'

  Paddock built-in template (busybox shell in RAM; disk is /dev/vda).
  Power off with the portal's "Shutdown" (ACPI) or `poweroff`.

EOF
# Login shells (the "-" in inittab) read /etc/profile: print the banner there
# so it shows exactly when a shell is ready on that console.
cat > "$IRD/etc/profile" <<'EOF'
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
export PS1='paddock:\w# '
cd /root
cat /etc/motd
echo "paddock-template ready"
EOF
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$IRD/etc/passwd"
printf 'root:x:0:\n' > "$IRD/etc/group"
echo paddock-template > "$IRD/etc/hostname"

# Fixed timestamps, sorted entries and owner root keep the archive stable.
find "$IRD" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$IRD" && find . -mindepth 1 | LC_ALL=C sort |
    cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9 -n > "$WORK/initrd.gz"

# ------------------------------------------------------------- disk ----
# no_timer_check: under TCG on a busy host the kernel's early check of the IO-APIC timer can
# miss its ticks and panic ("IO-APIC + timer doesn't work!"), leaving a guest that spins a
# core for as long as it lives (seen in the e2e run).
cat > "$WORK/syslinux.cfg" <<'EOF'
SERIAL 0 115200
DEFAULT paddock
PROMPT 0
TIMEOUT 0
LABEL paddock
  LINUX /vmlinuz
  INITRD /initrd.gz
  APPEND console=tty0 console=ttyS0,115200 no_timer_check quiet
EOF

TOTAL_SECTORS=$((DISK_MB * 1024 * 1024 / SECTOR))
PART_SECTORS=$((TOTAL_SECTORS - PART_START))
(( PART_SECTORS * SECTOR > $(stat -c %s "$VMLINUZ") + $(stat -c %s "$WORK/initrd.gz") + 2*1024*1024 )) ||
    die "TEMPLATE_DISK_MB=$DISK_MB is too small"

# The FAT file system is built as its own file (no offsets to get wrong) and
# copied into the disk image afterwards. -H: hidden sectors = partition start,
# which the syslinux boot sector uses to find ldlinux.sys.
PART=$WORK/part.img
truncate -s $((PART_SECTORS * SECTOR)) "$PART"
export MTOOLS_SKIP_CHECK=1
mformat -i "$PART" -T "$PART_SECTORS" -h 64 -s 32 -H "$PART_START" -N 50414444 -v PADDOCK ::
mcopy -i "$PART" "$VMLINUZ" ::/vmlinuz
mcopy -i "$PART" "$WORK/initrd.gz" ::/initrd.gz
mcopy -i "$PART" "$WORK/syslinux.cfg" ::/syslinux.cfg
syslinux --install "$PART"       # writes the boot sector + ldlinux.sys/.c32 via mtools

# Whole disk: syslinux's mbr.bin boot code and one active FAT16-LBA partition.
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
RAW=$WORK/disk.raw
truncate -s $((TOTAL_SECTORS * SECTOR)) "$RAW"
dd if="$MBR_BIN" of="$RAW" bs=440 count=1 conv=notrunc status=none
# Partition entry: active, CHS fields "beyond 8 GB" (BIOSes use the LBA ones),
# type 0x0e, LBA start and length; then the 0x55AA boot signature.
printf "\\x80\\xfe\\xff\\xff\\x0e\\xfe\\xff\\xff$(le32 $PART_START)$(le32 $PART_SECTORS)" |
    dd of="$RAW" bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of="$RAW" bs=1 seek=510 conv=notrunc status=none
dd if="$PART" of="$RAW" bs=1M seek=$((PART_START * SECTOR / 1048576)) conv=notrunc,sparse status=none

rm -f -- "$OUT.tmp"
qemu-img convert -f raw -O qcow2 "$RAW" "$OUT.tmp"
mv -f -- "$OUT.tmp" "$OUT"
(cd "$OUT_DIR" && sha256sum -- "$(basename -- "$OUT")") > "$OUT.sha256.tmp"
mv -f -- "$OUT.sha256.tmp" "$OUT.sha256"

# -------------------------------------------------------------- ISO ----
ISO=${OUT%.qcow2}.iso
ISO_ROOT=$WORK/iso
mkdir -p "$ISO_ROOT/isolinux"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$ISO_ROOT/isolinux/"
cp "$VMLINUZ" "$ISO_ROOT/vmlinuz"
cp "$WORK/initrd.gz" "$ISO_ROOT/initrd.gz"
sed 's/quiet$/quiet paddock.boot=cdrom/' "$WORK/syslinux.cfg" > "$ISO_ROOT/isolinux/isolinux.cfg"
find "$ISO_ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
rm -f -- "$ISO.tmp"
xorriso -as mkisofs -quiet -o "$ISO.tmp" -V PADDOCK -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table "$ISO_ROOT" >&2
mv -f -- "$ISO.tmp" "$ISO"

log "wrote $OUT ($(stat -c %s "$OUT") bytes, kernel $KVER) and $ISO"
echo "$OUT"
