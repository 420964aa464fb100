# The Glassdome appliance image: a Debian 12 base disk (packer/appliance/base-image.sh), the appliance installed by
# the provisioners, then an OVA (ESXi) and a qcow2 (Proxmox) made by the post-processor. Run it through
# appliance/build.sh, which makes the base disk, the app tarball, the build key and the NoCloud seed it needs.
# Written for Packer 1.6.6 (Debian 12's): HCL2, built-in builders and post-processors only, no plugins.

variable "base_image" {
  type        = string
  description = "Debian 12 base disk (qcow2) from packer/appliance/base-image.sh."
}

variable "base_image_checksum" {
  type        = string
  default     = "none"
  description = "sha256:<hex> of base_image (build.sh passes it)."
}

variable "app_tarball" {
  type        = string
  description = "/opt/glassdome as a tar (node/ and app/), from appliance/build.sh."
}

variable "http_dir" {
  type        = string
  description = "NoCloud seed (user-data, meta-data) giving the build user its SSH key; served to the VM over HTTP."
}

variable "ssh_private_key_file" {
  type        = string
  description = "Private half of the one-time build key in http_dir's user-data."
}

variable "output_dir" {
  type    = string
  default = "build/appliance/packer"
}

variable "dist_dir" {
  type        = string
  default     = "build/appliance"
  description = "Where the post-processor writes the OVA and the qcow2."
}

variable "version" {
  type    = string
  default = "0.0.0"
}

variable "accelerator" {
  type        = string
  default     = "kvm"
  description = "kvm where /dev/kvm exists; tcg (software emulation) anywhere else, many times slower."
}

variable "cpu_model" {
  type    = string
  default = "max"
}

variable "cpus" {
  type    = number
  default = 2
}

variable "memory" {
  type    = number
  default = 2048
}

variable "disk_size" {
  type    = string
  default = "32768M"
}

variable "serial_log" {
  type        = string
  default     = "build/appliance/packer-console.log"
  description = "The build VM's serial console, for diagnosing a build that does not come up."
}

variable "ssh_timeout" {
  type    = string
  default = "45m"
}

source "qemu" "appliance" {
  accelerator         = var.accelerator
  disk_image          = true
  iso_url             = var.base_image
  iso_checksum        = var.base_image_checksum
  use_backing_file    = false
  disk_size           = var.disk_size
  format              = "qcow2"
  disk_interface      = "virtio"
  disk_discard        = "unmap"
  disk_detect_zeroes  = "unmap"
  net_device          = "virtio-net"
  headless            = true
  vnc_bind_address    = "127.0.0.1"
  cpus                = var.cpus
  memory              = var.memory
  http_directory      = var.http_dir
  communicator        = "ssh"
  ssh_username        = "packer"
  ssh_private_key_file = var.ssh_private_key_file
  ssh_timeout         = var.ssh_timeout
  shutdown_command    = "sudo sh /run/glassdome-seal"
  shutdown_timeout    = "15m"
  output_directory    = var.output_dir
  vm_name             = "glassdome.qcow2"
  qemuargs = [
    # Packer's default forward listens on every address; the build VM's SSH is for this host only.
    ["-netdev", "user,id=user.0,hostfwd=tcp:127.0.0.1:{{ .SSHHostPort }}-:22"],
    # cloud-init's NoCloud seed over Packer's HTTP server (the build user and its key).
    ["-smbios", "type=1,serial=ds=nocloud-net;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/"],
    ["-cpu", var.cpu_model],
    ["-serial", "file:${var.serial_log}"],
  ]
}

build {
  sources = ["source.qemu.appliance"]

  provisioner "shell" {
    inline = ["mkdir -p /tmp/glassdome"]
  }

  provisioner "file" {
    source      = var.app_tarball
    destination = "/tmp/glassdome/app.tar"
  }

  provisioner "file" {
    source      = "appliance/rootfs"
    destination = "/tmp/glassdome"
  }

  provisioner "file" {
    sources     = ["packer/appliance/packages.txt", "packer/appliance/seal.sh"]
    destination = "/tmp/glassdome/"
  }

  provisioner "shell" {
    execute_command = "sudo sh -eu '{{ .Path }}'"
    script          = "packer/appliance/provision.sh"
  }

  post-processor "shell-local" {
    inline = [
      "node --import tsx appliance/package.ts --disk '${var.output_dir}/glassdome.qcow2' --out '${var.dist_dir}' --version '${var.version}'",
    ]
  }
}
