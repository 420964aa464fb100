# Closes what the build opened, generalizes with cloudbase-init's answer file, and fails the build unless Windows
# reports the generalize pass complete: HKLM\SYSTEM\Setup\Status\SysprepStatus GeneralizationState = 7.
$ErrorActionPreference = 'Stop'
winrm set winrm/config/service/auth '@{Basic="false"}'
winrm set winrm/config/service '@{AllowUnencrypted="false"}'
Remove-NetFirewallRule -Name 'Packer-WinRM' -ErrorAction SilentlyContinue
Set-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon' -Name AutoAdminLogon -Value '0'

$unattend = 'C:\Program Files\Cloudbase Solutions\Cloudbase-Init\conf\Unattend.xml'
if (-not (Test-Path -LiteralPath $unattend)) { throw "cloudbase-init's sysprep answer file $unattend is missing" }
$p = Start-Process -FilePath "$env:windir\System32\Sysprep\sysprep.exe" -ArgumentList '/generalize', '/oobe', '/mode:vm', '/quiet', '/quit', "/unattend:`"$unattend`"" -Wait -PassThru
$status = 'HKLM:\SYSTEM\Setup\Status\SysprepStatus'
$state = $null
for ($i = 0; $i -lt 180; $i++) {
  $state = (Get-ItemProperty -Path $status -Name GeneralizationState -ErrorAction SilentlyContinue).GeneralizationState
  if ($state -eq 7) { break }
  Start-Sleep -Seconds 10
}
if ($state -ne 7) {
  $errors = Get-Content -LiteralPath "$env:windir\System32\Sysprep\Panther\setuperr.log" -Tail 20 -ErrorAction SilentlyContinue
  Write-Output $errors
  throw "sysprep did not generalize the image (exit code $($p.ExitCode), GeneralizationState $state): see setuperr.log above"
}
Write-Output 'sysprep: GeneralizationState = 7 (generalized)'
