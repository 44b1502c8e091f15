#!/usr/bin/env bash
# build-debian-template.sh OUTPUT.qcow2
#
# Builds Paddock's second built-in template, "Debian 12 (cloud)": a qcow2 disk that boots
#   SeaBIOS -> syslinux MBR + FAT /boot partition -> Debian cloud kernel + initramfs -> ext4 root
# with systemd, cloud-init (NoCloud only: the seed Paddock attaches), qemu-guest-agent,
# openssh-server and cloud-guest-utils (the root partition is last, so cloud-init grows it to the
# VM's disk).
#
# The root file system comes from mmdebstrap (Debian packages only) and becomes an ext4 image
# through mkfs.ext4 -d: no mounts and no loop devices. Writes OUTPUT.tmp then renames, and
# OUTPUT.sha256 (sha256sum format, relative file name).
#
# Environment overrides:
#   DEBIAN_SUITE     Debian suite (default bookworm)
#   TEMPLATE_DISK_MB virtual disk size in MiB (default 2048)
set -euo pipefail

die() { echo "build-debian-template: $*" >&2; exit 1; }
log() { echo "build-debian-template: $*" >&2; }

[[ $# -eq 1 ]] || die "usage: $0 OUTPUT.qcow2"
[[ $(id -u) -eq 0 ]] || die "run as root (mmdebstrap's root mode)"
OUT=$(realpath -m -- "$1")
OUT_DIR=$(dirname -- "$OUT")
mkdir -p -- "$OUT_DIR"

SUITE=${DEBIAN_SUITE:-bookworm}
DISK_MB=${TEMPLATE_DISK_MB:-2048}
SECTOR=512
BOOT_START=2048                  # 1 MiB, the usual alignment
BOOT_SECTORS=$((96 * 2048))      # 96 MiB of FAT for the kernel and the initramfs
ROOT_START=$((BOOT_START + BOOT_SECTORS))
TOTAL_SECTORS=$((DISK_MB * 1024 * 1024 / SECTOR))
ROOT_SECTORS=$((TOTAL_SECTORS - ROOT_START))
((ROOT_SECTORS > 1536 * 2048)) || die "TEMPLATE_DISK_MB=$DISK_MB is too small (at least 1700)"

need_pkgs=()
need() { # need COMMAND-OR-PATH PACKAGE
    if [[ $1 == /* ]]; then [[ -e $1 ]] && return 0
    else command -v "$1" >/dev/null 2>&1 && return 0; fi
    need_pkgs+=("$2")
}
need mmdebstrap mmdebstrap
need mkfs.ext4 e2fsprogs
need mformat mtools
need syslinux syslinux
need /usr/lib/syslinux/mbr/mbr.bin syslinux-common
need qemu-img qemu-utils
if ((${#need_pkgs[@]})); then
    log "installing tools: ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_pkgs[@]}" >&2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/paddock-debian.XXXXXX")
# --one-file-system: should mmdebstrap be killed before it unmounts /proc, /sys or /dev in the
# chroot, nothing of the host's is removed through them.
trap 'rm -rf --one-file-system -- "$WORK"' EXIT
ROOTFS=$WORK/root
HOOKS=$WORK/hooks
mkdir -p "$HOOKS"

# ---------------------------------------------------------- guest setup ----
# Runs inside mmdebstrap's customize hook with the root file system as $1.
cat > "$HOOKS/customize.sh" <<'EOF'
#!/bin/sh
set -eu
r=$1
# The initramfs holds only what this disk needs: a small one decompresses quickly under TCG.
sed -i 's/^MODULES=.*/MODULES=list/' "$r/etc/initramfs-tools/initramfs.conf"
printf '%s\n' virtio_pci virtio_blk virtio_net virtio_console ext4 > "$r/etc/initramfs-tools/modules"
chroot "$r" update-initramfs -u -k all >/dev/null
printf '%s\n' 'LABEL=debian-root / ext4 defaults,discard,errors=remount-ro 0 1' \
    'LABEL=DEBIAN-BOOT /boot/efi vfat noauto,nofail 0 0' > "$r/etc/fstab"
echo debian > "$r/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' > "$r/etc/hosts"
# cloud-init looks only for the NoCloud seed Paddock attaches (no network metadata probes).
# Its module lists are Debian's without what this image lacks (snap, locales, grub, rsyslog, byobu,
# LXD, configuration managers, RMC); host keys are Ed25519 and ECDSA (RSA-3072 and DSA took
# seconds to make under TCG).
cat > "$r/etc/cloud/cloud.cfg.d/90_paddock.cfg" <<'CFG'
datasource_list: [ NoCloud, None ]
datasource:
  NoCloud:
    fs_label: cidata
ssh_genkeytypes: [ ed25519, ecdsa ]
cloud_init_modules: [ seed_random, bootcmd, write-files, growpart, resizefs, disk_setup, mounts, set_hostname,
  update_hostname, update_etc_hosts, ca-certs, users-groups, ssh ]
cloud_config_modules: [ ssh-import-id, keyboard, set-passwords, apt-configure, ntp, timezone, runcmd ]
cloud_final_modules: [ package-update-upgrade-install, write-files-deferred, scripts-vendor, scripts-per-once,
  scripts-per-boot, scripts-per-instance, scripts-user, ssh-authkey-fingerprints, keys-to-console, phone-home,
  final-message, power-state-change ]
CFG
# Interfaces come up by DHCP until cloud-init writes the network-config it was given.
mkdir -p "$r/etc/network/interfaces.d"
printf 'auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n' > "$r/etc/network/interfaces"
# First-boot trims: under TCG every program started and every module loaded costs (a first boot
# took 114 s to cloud-init's end before these, measured with systemd-analyze and cloud-init analyze).
# Timers that would only spend a TCG guest's first minutes, and module preloads it has no use for
# (the modules still load on demand).
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer man-db.timer \
    modprobe@drm.service modprobe@dm_mod.service modprobe@efi_pstore.service modprobe@loop.service modprobe@fuse.service; do
    ln -sf /dev/null "$r/etc/systemd/system/$unit"
done
# Generators for disks this image never has (GPT auto-mounts, hibernation, dm-crypt, dm-integrity, dm-verity).
mkdir -p "$r/etc/systemd/system-generators"
for gen in systemd-gpt-auto-generator systemd-hibernate-resume-generator systemd-cryptsetup-generator \
    systemd-integritysetup-generator systemd-veritysetup-generator; do
    ln -sf /dev/null "$r/etc/systemd/system-generators/$gen"
done
# udev would load KVM (QEMU's "max" CPU offers SVM/VMX to a TCG guest) and a cpufreq driver: seconds each, for nothing.
printf 'blacklist %s\n' kvm kvm_amd kvm_intel powernow_k8 acpi_cpufreq > "$r/etc/modprobe.d/paddock.conf"
# New host keys for each VM: cloud-init makes them at first boot.
rm -f "$r"/etc/ssh/ssh_host_*
: > "$r/etc/machine-id"
rm -f "$r/var/lib/dbus/machine-id"
EOF
chmod 0755 "$HOOKS/customize.sh"

log "building the root file system ($SUITE) with mmdebstrap"
mmdebstrap --variant=minbase --quiet \
    --include=linux-image-cloud-amd64,systemd-sysv,udev,dbus,cloud-init,cloud-guest-utils,qemu-guest-agent,openssh-server,ifupdown,isc-dhcp-client,iproute2,netbase,sudo,ca-certificates,less,procps \
    --customize-hook="$HOOKS/customize.sh \"\$1\"" \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/*' \
    "$SUITE" "$ROOTFS" >&2

VMLINUZ=$(ls "$ROOTFS"/boot/vmlinuz-* | head -n1)
KVER=${VMLINUZ##*/vmlinuz-}
INITRD=$ROOTFS/boot/initrd.img-$KVER
[[ -f $VMLINUZ && -f $INITRD ]] || die "no kernel or initramfs in the root file system"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$VMLINUZ")}
log "kernel $KVER, initramfs $(stat -c %s "$INITRD") bytes"

# ---------------------------------------------------------------- disk ----
cat > "$WORK/syslinux.cfg" <<'EOF'
SERIAL 0 115200
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND root=LABEL=debian-root ro console=tty0 console=ttyS0,115200 no_timer_check net.ifnames=0 quiet
EOF
BOOT=$WORK/boot.img
truncate -s $((BOOT_SECTORS * SECTOR)) "$BOOT"
export MTOOLS_SKIP_CHECK=1
mformat -i "$BOOT" -T "$BOOT_SECTORS" -h 64 -s 32 -H "$BOOT_START" -N 44454249 -v DEBIAN-BOOT ::
mcopy -i "$BOOT" "$VMLINUZ" ::/vmlinuz
mcopy -i "$BOOT" "$INITRD" ::/initrd.img
mcopy -i "$BOOT" "$WORK/syslinux.cfg" ::/syslinux.cfg
syslinux --install "$BOOT"

ROOTIMG=$WORK/root.img
truncate -s $((ROOT_SECTORS * SECTOR)) "$ROOTIMG"
mkfs.ext4 -q -L debian-root -U clear -E root_owner=0:0,hash_seed=8a9e2a0b-5c1e-4f0e-9d3a-5061646f636b \
    -d "$ROOTFS" "$ROOTIMG"

le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
RAW=$WORK/disk.raw
truncate -s $((TOTAL_SECTORS * SECTOR)) "$RAW"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$RAW" bs=440 count=1 conv=notrunc status=none
# Two entries: an active FAT16-LBA /boot and a Linux root, CHS fields "beyond 8 GB".
printf "\\x80\\xfe\\xff\\xff\\x0e\\xfe\\xff\\xff$(le32 $BOOT_START)$(le32 $BOOT_SECTORS)" |
    dd of="$RAW" bs=1 seek=446 conv=notrunc status=none
printf "\\x00\\xfe\\xff\\xff\\x83\\xfe\\xff\\xff$(le32 $ROOT_START)$(le32 $ROOT_SECTORS)" |
    dd of="$RAW" bs=1 seek=462 conv=notrunc status=none
printf '\x55\xaa' | dd of="$RAW" bs=1 seek=510 conv=notrunc status=none
dd if="$BOOT" of="$RAW" bs=1M seek=$((BOOT_START * SECTOR / 1048576)) conv=notrunc,sparse status=none
dd if="$ROOTIMG" of="$RAW" bs=1M seek=$((ROOT_START * SECTOR / 1048576)) conv=notrunc,sparse status=none

rm -f -- "$OUT.tmp"
qemu-img convert -c -f raw -O qcow2 "$RAW" "$OUT.tmp"
mv -f -- "$OUT.tmp" "$OUT"
(cd "$OUT_DIR" && sha256sum -- "$(basename -- "$OUT")") > "$OUT.sha256.tmp"
mv -f -- "$OUT.sha256.tmp" "$OUT.sha256"
log "wrote $OUT ($(stat -c %s "$OUT") bytes, kernel $KVER, $DISK_MB MiB virtual)"
echo "$OUT"
