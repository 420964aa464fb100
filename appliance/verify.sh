#!/bin/sh
# Boots the built appliance image under QEMU and checks it end to end (appliance/verify.ts): console banner with the
# setup code, the wizard over HTTPS on a port forwarded to 127.0.0.1, setup, a simulator deployment through the API,
# boot-to-wizard time and idle memory. Writes build/appliance/verify-<seed>-<accel>.json.
#   appliance/verify.sh [--image FILE.qcow2] [--seed nocloud|none|ovf] [--accel tcg|kvm] [--idle SECONDS]
set -eu
cd "$(dirname "$0")/.."
command -v qemu-system-x86_64 >/dev/null || { echo "verify.sh: apt-get install qemu-system-x86" >&2; exit 1; }
command -v genisoimage >/dev/null || { echo "verify.sh: apt-get install genisoimage" >&2; exit 1; }
exec node --import tsx appliance/verify.ts "$@"
