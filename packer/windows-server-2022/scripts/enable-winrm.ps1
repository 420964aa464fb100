# Build only: opens WinRM over HTTP with basic authentication so packer can connect. sysprep.ps1 closes all of it
# again before the template is generalized; first boot then opens WinRM to the lab's networks only.
$ErrorActionPreference = 'Stop'
Get-NetConnectionProfile | Set-NetConnectionProfile -NetworkCategory Private
winrm quickconfig -quiet
winrm set winrm/config/service/auth '@{Basic="true"}'
winrm set winrm/config/service '@{AllowUnencrypted="true"}'
winrm set winrm/config/winrs '@{MaxMemoryPerShellMB="2048"}'
New-NetFirewallRule -Name 'Packer-WinRM' -DisplayName 'Packer build: WinRM' -Direction Inbound -Protocol TCP -LocalPort 5985 -Action Allow | Out-Null
Set-Service -Name WinRM -StartupType Automatic
Restart-Service -Name WinRM
