#!/bin/sh
# Packer's shutdown command (root, last thing in the build VM): removes everything of the build and of this
# particular machine, so each imported copy starts as a first boot (its own machine id, SSH host keys, cloud-init
# run, certificate and setup code), then powers off.
set -u
systemctl stop glassdome.service glassdome-banner.service 2>/dev/null
find /var/lib/glassdome -mindepth 1 -delete
cloud-init clean --logs --seed 2>/dev/null || rm -rf /var/lib/cloud/*
rm -f /etc/network/interfaces.d/50-cloud-init /etc/cloud/cloud.cfg.d/90-glassdome-network.cfg
rm -f /etc/sudoers.d/90-cloud-init-users
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id /var/lib/systemd/random-seed
apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/glassdome /var/tmp/*
journalctl --rotate >/dev/null 2>&1
journalctl --vacuum-time=1s >/dev/null 2>&1
rm -rf /var/log/journal/*
find /var/log -type f -exec truncate -s 0 {} +
# The build user goes last (this script runs under it, through sudo).
userdel -rf packer 2>/dev/null
# Give freed blocks back to the disk image so the OVA and qcow2 hold only what is used.
fstrim -av || true
sync
shutdown -P now
