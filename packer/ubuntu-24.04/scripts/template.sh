#!/bin/sh
# Seals an Ubuntu template for Glassdome: the platform's guest agent (GD_GUEST_AGENT), nftables and dnsmasq for
# ranges without internet (a machine offline installs nothing at first boot), cloud-init reading NoCloud (ESXi's
# seed ISO, Proxmox's drive) with networking left to it, and no trace of this build (machine id, host keys, logs).
set -eu
export DEBIAN_FRONTEND=noninteractive
: "${GD_GUEST_AGENT:?GD_GUEST_AGENT must name the guest agent package}"
apt-get update
apt-get install -y --no-install-recommends "$GD_GUEST_AGENT" nftables dnsmasq cloud-init
apt-get -y dist-upgrade
# dnsmasq stays off until a router's first boot configures it (it would also clash with systemd-resolved on port 53).
systemctl disable --now dnsmasq || true
# qemu-guest-agent's unit is static (udev starts it on the virtio port); open-vm-tools' is enabled.
systemctl enable "$GD_GUEST_AGENT" 2>/dev/null || true
dpkg-query --show "$GD_GUEST_AGENT" nftables dnsmasq cloud-init

# The installer leaves its own cloud-init settings: a None datasource with its user-data, and networking disabled.
rm -f /etc/cloud/cloud.cfg.d/99-installer.cfg /etc/cloud/cloud.cfg.d/subiquity-disable-cloudinit-networking.cfg /etc/netplan/00-installer-config.yaml
printf 'datasource_list: [ NoCloud, ConfigDrive, None ]\n' > /etc/cloud/cloud.cfg.d/90-glassdome.cfg
cloud-init clean --logs
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*
apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/* /var/tmp/*
