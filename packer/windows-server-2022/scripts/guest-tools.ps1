# The platform's guest agent: the QEMU guest agent and VirtIO drivers (virtio-win guest tools) on Proxmox, VMware
# Tools on ESXi. GD_HYPERVISOR says which; the installer is found on whichever CD carries it.
$ErrorActionPreference = 'Stop'
function Find-OnCd([string]$RelativePath) {
  $found = Get-PSDrive -PSProvider FileSystem | ForEach-Object { Join-Path $_.Root $RelativePath } | Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1
  if (-not $found) { throw "no CD holds $RelativePath" }
  return $found
}
if ($env:GD_HYPERVISOR -eq 'proxmox') {
  $tools = Find-OnCd 'virtio-win-guest-tools.exe'
  $p = Start-Process -FilePath $tools -ArgumentList '/install', '/quiet', '/norestart' -Wait -PassThru
  if ($p.ExitCode -notin 0, 3010) { throw "virtio-win guest tools exited with $($p.ExitCode)" }
  Set-Service -Name QEMU-GA -StartupType Automatic
} elseif ($env:GD_HYPERVISOR -eq 'vsphere') {
  $setup = Find-OnCd 'setup64.exe'
  $p = Start-Process -FilePath $setup -ArgumentList '/s', '/v', '"/qn REBOOT=R"' -Wait -PassThru
  if ($p.ExitCode -notin 0, 3010) { throw "VMware Tools setup exited with $($p.ExitCode)" }
} else {
  throw "GD_HYPERVISOR must be proxmox or vsphere, not '$env:GD_HYPERVISOR'"
}
