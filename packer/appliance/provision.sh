#!/bin/sh
# Packer provisioner (root, inside the build VM): installs the appliance into the image.
#   /tmp/glassdome/app.tar       /opt/glassdome: node/ (the appliance's own Node runtime) and app/ (the production
#                                build with its node_modules), made by appliance/build.sh
#   /tmp/glassdome/rootfs/       appliance/rootfs: systemd units, cloud-init and SSH settings, the glassdome command
#   /tmp/glassdome/packages.txt  Debian packages the appliance needs (already there when the base came from
#                                base-image.sh debootstrap; installed from the mirror on an official cloud image)
set -eu
src=/tmp/glassdome
export DEBIAN_FRONTEND=noninteractive

missing=""
for p in $(grep -v '^[[:space:]]*#' "$src/packages.txt"); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "provision: installing$missing"
  apt-get update -q
  apt-get install -y -q --no-install-recommends $missing
else
  echo "provision: every package is already installed"
fi

id glassdome >/dev/null 2>&1 || useradd --system --user-group --home-dir /var/lib/glassdome --no-create-home --shell /usr/sbin/nologin glassdome

rm -rf /opt/glassdome.new
mkdir -p /opt/glassdome.new
tar -xf "$src/app.tar" -C /opt/glassdome.new --no-same-owner
rm -rf /opt/glassdome
mv /opt/glassdome.new /opt/glassdome
chmod -R go-w /opt/glassdome

cp -a --no-preserve=ownership "$src/rootfs/." /
# agetty shows every /etc/issue.d/*.issue; this one is rewritten at boot by glassdome-banner (in /run: the image's
# root filesystem keeps no copy of a setup code).
mkdir -p /etc/issue.d
ln -sfn /run/glassdome/glassdome.issue /etc/issue.d/glassdome.issue
install -d -o glassdome -g glassdome -m 0750 /var/lib/glassdome
# Build-only, in /run so it is gone from the image after the final shutdown (/run is noexec: run with sh).
install -m 0755 "$src/seal.sh" /run/glassdome-seal
systemctl daemon-reload
systemctl enable glassdome.service glassdome-network.service glassdome-banner.service glassdome-banner.path glassdome-firstboot.service
# Cleans up LVM snapshots of ext4 checks, which the appliance never makes; half a minute of boot under emulation.
systemctl disable e2scrub_reap.service e2scrub_all.timer 2>/dev/null || true

# The runtime and the native modules load on this very system.
node=/opt/glassdome/node/bin/node
echo "provision: $($node -p 'process.version + " " + (process.release.lts || "")')"
(cd /opt/glassdome/app && runuser -u glassdome -- "$node" --input-type=module -e "
  import { createRequire } from 'node:module';
  const require = createRequire('/opt/glassdome/app/package.json');
  const Database = require('better-sqlite3');
  const sqlite = new Database(':memory:').prepare('select sqlite_version() v').get().v;
  const argon2 = require('@node-rs/argon2');
  const ok = await argon2.verify(await argon2.hash('x', { memoryCost: 1024, timeCost: 1 }), 'x');
  require('hnswlib-node');
  require('onnxruntime-node');
  if (!ok) throw new Error('argon2 does not verify');
  console.log('provision: native modules load (sqlite ' + sqlite + ')');
")
tmpdata=$(mktemp -d)
chown glassdome "$tmpdata"
runuser -u glassdome -- env GLASSDOME_DATA_DIR="$tmpdata" "$node" /opt/glassdome/app/server/cli/bin.mjs validate /opt/glassdome/app/server/scenarios/web-dmz.yaml
rm -rf "$tmpdata"
echo "provision: done"
