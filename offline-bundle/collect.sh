#!/bin/sh
# Gathers the offline bundle on a host with internet (offline-bundle/collect.ts):
#   offline-bundle/collect.sh --out /media/usb/glassdome-bundle [--parts appliance,model,images,cve,debian]
#                             [--cve-since 2015] [--allow-missing]
# Needs this repository with npm ci done, Node.js 20.19+, gcc/g++/make/python3 (native modules for the appliance's
# Node), apt-get and debian-archive-keyring (the Debian packages), and internet access to the npm registry, Hugging
# Face, cloud-images.ubuntu.com, cloud.debian.org, nvd.nist.gov and the Debian mirrors.
set -eu
cd "$(dirname "$0")/.."
exec node --import tsx offline-bundle/collect.ts "$@"
