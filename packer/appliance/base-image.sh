#!/bin/sh
# Builds the Debian 12 base disk (qcow2) that packer/appliance.pkr.hcl starts from. Two sources:
#   base-image.sh debootstrap OUT.qcow2   from the Debian mirror with debootstrap (root; no loop device, no mount)
#   base-image.sh cloud OUT.qcow2         the official Debian 12 "generic" cloud image, checked against SHA512SUMS
# Env: DEBIAN_MIRROR (default http://deb.debian.org/debian), DISK_SIZE (default 32G), CLOUD_IMAGE_URL.
# Either way the disk boots with GRUB (BIOS), has cloud-init and an OpenSSH server, and nothing else is configured:
# the appliance itself is installed by Packer's provisioners.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
source=${1:-}
out=${2:-}
[ -n "$source" ] && [ -n "$out" ] || { echo "usage: $0 debootstrap|cloud OUT.qcow2" >&2; exit 2; }
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
size=${DISK_SIZE:-32G}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

if [ "$source" = cloud ]; then
  base=${CLOUD_IMAGE_URL:-https://cloud.debian.org/images/cloud/bookworm/latest}
  file=debian-12-generic-amd64.qcow2
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/gd-base.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT INT TERM
  curl -fsSL --retry 3 --connect-timeout 20 -o "$tmp/SHA512SUMS" "$base/SHA512SUMS"
  curl -fL --retry 3 --connect-timeout 20 -o "$tmp/$file" "$base/$file"
  (cd "$tmp" && grep " $file\$" SHA512SUMS | sha512sum -c -)
  qemu-img convert -O qcow2 "$tmp/$file" "$out"
  qemu-img resize "$out" "$size"
  echo "$out"
  exit 0
fi

[ "$source" = debootstrap ] || { echo "$0: unknown source $source (debootstrap or cloud)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "$0: debootstrap needs root" >&2; exit 1; }
for tool in debootstrap mkfs.ext4 sfdisk qemu-img; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing (apt-get install debootstrap e2fsprogs fdisk qemu-utils)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gd-base.XXXXXX")
root=$work/root
cleanup() {
  for m in proc sys dev/pts dev; do mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Everything the image needs comes in the one debootstrap run: the base system, the kernel and GRUB's files, and
# the appliance's packages, so the Packer build itself needs no network.
pkgs=$(grep -v '^\s*#' "$here/packages.txt" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
# debootstrap's resolver ignores virtual packages: python3-cffi-backend provides what python3-cryptography (cloud-init)
# asks for by a virtual name.
include="systemd-sysv,udev,dbus,python3-cffi-backend,kmod,iproute2,iputils-ping,procps,less,linux-image-amd64,initramfs-tools,grub-pc-bin,grub2-common,ifupdown,isc-dhcp-client,e2fsprogs,$pkgs"
echo "base-image: debootstrap bookworm from $mirror" >&2
cache=${DEBOOTSTRAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/glassdome/debootstrap}
mkdir -p "$cache"
debootstrap --variant=minbase --components=main --cache-dir="$cache" --include="$include" bookworm "$root" "$mirror" >&2

uuid=$(cat /proc/sys/kernel/random/uuid)
cat > "$root/etc/fstab" <<FSTAB
UUID=$uuid / ext4 errors=remount-ro,discard 0 1
FSTAB
echo glassdome > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tglassdome\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
cat > "$root/etc/apt/sources.list" <<APT
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://security.debian.org/debian-security bookworm-security main
APT
[ -f "$root/etc/network/interfaces" ] || printf 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n' > "$root/etc/network/interfaces"
mkdir -p "$root/etc/network/interfaces.d"
# No password for anyone: access is by SSH key (cloud-init) or the hypervisor's console after setup.
chroot "$root" usermod -p '*' root
# Same unique-per-VM state as a cloud image: systemd creates the machine id at first boot.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

# GRUB for BIOS without grub-install (which needs a block device): a core image that finds the root filesystem by
# UUID, written after the MBR; its first sector's default blocklist loads the rest from sector 2.
mkdir -p "$root/boot/grub/i386-pc"
cp "$root"/usr/lib/grub/i386-pc/*.mod "$root"/usr/lib/grub/i386-pc/*.lst "$root/boot/grub/i386-pc/"
cat > "$root/boot/grub/early.cfg" <<CFG
search --no-floppy --fs-uuid --set=root $uuid
set prefix=(\$root)/boot/grub
CFG
chroot "$root" grub-mkimage -O i386-pc -o /boot/grub/core.img -c /boot/grub/early.cfg -p /boot/grub \
  biosdisk part_msdos ext2 search search_fs_uuid normal configfile linux echo test serial terminal
# /vmlinuz and /initrd.img are links the kernel packages keep current, so this file survives kernel updates.
cat > "$root/boot/grub/grub.cfg" <<CFG
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=1
set default=0
menuentry 'Glassdome appliance' {
  search --no-floppy --fs-uuid --set=root $uuid
  linux /vmlinuz root=UUID=$uuid ro console=ttyS0,115200n8 console=tty0 net.ifnames=1
  initrd /initrd.img
}
CFG
[ -e "$root/vmlinuz" ] && [ -e "$root/initrd.img" ] || { echo "$0: the kernel links /vmlinuz and /initrd.img are missing" >&2; exit 1; }

raw=$work/disk.raw
truncate -s "$size" "$raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$raw"
part_bytes=$(( $(stat -c %s "$raw") - 1048576 ))
mkfs.ext4 -q -F -U "$uuid" -L glassdome-root -E offset=1048576 -d "$root" "$raw" "$((part_bytes / 1024))k"
dd if="$root/usr/lib/grub/i386-pc/boot.img" of="$raw" bs=440 count=1 conv=notrunc status=none
dd if="$root/boot/grub/core.img" of="$raw" bs=512 seek=1 conv=notrunc status=none
core_sectors=$(( ($(stat -c %s "$root/boot/grub/core.img") + 511) / 512 ))
[ "$core_sectors" -lt 2047 ] || { echo "$0: GRUB core image ($core_sectors sectors) does not fit before the partition" >&2; exit 1; }
qemu-img convert -O qcow2 "$raw" "$out"
echo "$out"
