#!/bin/sh
# Installs an offline bundle on the appliance (run as root):  install.sh /path/to/bundle [--verify-only]
# Every file is checked against manifest.json first; one bad file aborts before anything changes, naming it.
# Then the appliance (/opt/glassdome), the embedding model, cloud images, CVE feeds and the package cache for ranges
# are installed (offline-bundle/install.ts). Nothing is fetched from the network.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ -x /opt/glassdome/node/bin/node ] && [ -f "$here/install.js" ]; then
  # On the appliance: the compiled module beside this script, on the appliance's own Node.
  exec /opt/glassdome/node/bin/node "$here/install.js" "$@"
fi
# From a checkout (development, tests).
exec node --import tsx "$here/install.ts" "$@"
