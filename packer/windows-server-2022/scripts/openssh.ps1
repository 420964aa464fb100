# OpenSSH Server is a Feature on Demand: it comes from Windows Update, so it is added now, while the build has
# internet. It is left stopped and manual; first boot enables it when the scenario asks for SSH.
$ErrorActionPreference = 'Stop'
$capability = Get-WindowsCapability -Online -Name 'OpenSSH.Server*' | Select-Object -First 1
if ($capability.State -ne 'Installed') { Add-WindowsCapability -Online -Name $capability.Name | Out-Null }
Set-Service -Name sshd -StartupType Manual
Stop-Service -Name sshd -ErrorAction SilentlyContinue
Get-NetFirewallRule -Name 'OpenSSH-Server-In-TCP' -ErrorAction SilentlyContinue | Disable-NetFirewallRule
