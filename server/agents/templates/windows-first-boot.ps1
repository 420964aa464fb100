# Glassdome first boot for Windows (Windows PowerShell 5.1). Started once by whatever reads the machine's first-boot
# data (cloudbase-init, EC2Launch v2, an Azure run command, the unattend FirstLogonCommands), it copies itself to
# C:\ProgramData\Glassdome, registers a start-up task running as SYSTEM and returns. The task then works through the
# steps below, resuming after each restart, and ends by printing one line on COM1 and in first-boot-status.txt:
#   GLASSDOME-READY <resource name>            or    GLASSDOME-FAILED <resource name>: <reason>
# The configuration (passwords included) is the JSON below; the copy is deleted when the first boot ends.
param([switch]$Run)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$Config = ConvertFrom-Json @'
__GLASSDOME_CONFIG__
'@

$Root = 'C:\ProgramData\Glassdome'
$ScriptPath = Join-Path $Root 'first-boot.ps1'
$StepsFile = Join-Path $Root 'steps-done.txt'
$BootsFile = Join-Path $Root 'boots.txt'
$LogFile = Join-Path $Root 'first-boot.log'
$StatusFile = Join-Path $Root 'first-boot-status.txt'
$TaskName = 'Glassdome first boot'
$AdministratorsSid = 'S-1-5-32-544'
$RemoteDesktopUsersSid = 'S-1-5-32-555'

function Write-GdLog([string]$Message) {
  $line = '{0} {1}' -f (Get-Date -Format 'yyyy-MM-ddTHH:mm:ss'), $Message
  Add-Content -LiteralPath $LogFile -Value $line
  # Not Write-Output: a step's output is its answer (whether it needs a restart).
  Write-Host $line
}

# The outcome goes where each platform can read it: the serial console (clouds' console output, Proxmox's serial0,
# ESXi's serial file), the status file (guest agents), and the log.
function Write-GdConsole([string]$Line) {
  Write-GdLog $Line
  Set-Content -LiteralPath $StatusFile -Value $Line
  try {
    $port = New-Object System.IO.Ports.SerialPort 'COM1', 115200, 'None', 8, 'One'
    $port.Open()
    $port.WriteLine($Line)
    $port.Close()
  } catch {
    Write-GdLog "COM1 is not available: $($_.Exception.Message)"
  }
}

function Stop-GdFirstBoot {
  Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false -ErrorAction SilentlyContinue
  # The script holds the passwords: it goes once the first boot is over, whatever the outcome.
  Remove-Item -LiteralPath $ScriptPath -Force -ErrorAction SilentlyContinue
}

function Complete-GdFirstBoot {
  Stop-GdFirstBoot
  Write-GdConsole "GLASSDOME-READY $($Config.resource)"
  exit 0
}

function Stop-GdWithFailure([string]$Reason) {
  $oneLine = ($Reason -replace '\s+', ' ').Trim()
  Stop-GdFirstBoot
  Write-GdConsole "GLASSDOME-FAILED $($Config.resource): $oneLine"
  exit 1
}

function Get-GdDoneSteps {
  if (Test-Path -LiteralPath $StepsFile) { return @(Get-Content -LiteralPath $StepsFile) }
  return @()
}

# A step runs once; one returning $true needs a restart, which happens after it is recorded as done.
function Invoke-GdStep([string]$Name, [scriptblock]$Body) {
  if ((Get-GdDoneSteps) -contains $Name) { return }
  Write-GdLog "step $Name"
  $out = @(& $Body)
  Add-Content -LiteralPath $StepsFile -Value $Name
  if ($out.Count -gt 0 -and $out[-1] -is [bool] -and $out[-1]) {
    Write-GdLog "restarting after step $Name"
    Restart-Computer -Force
    exit 0
  }
}

function ConvertTo-GdSecret([string]$Plain) {
  return ConvertTo-SecureString -String $Plain -AsPlainText -Force
}

function Find-GdAdapter([string]$Mac) {
  $wanted = $Mac.Replace(':', '-').ToUpperInvariant()
  for ($i = 0; $i -lt 60; $i++) {
    $adapter = Get-NetAdapter -Physical -ErrorAction SilentlyContinue | Where-Object { $_.MacAddress -eq $wanted } | Select-Object -First 1
    if ($adapter) { return $adapter }
    Start-Sleep -Seconds 2
  }
  Stop-GdWithFailure "no network adapter has MAC $Mac (network $($Config.nics | Where-Object { $_.mac -eq $Mac } | ForEach-Object { $_.network }))"
}

function Set-GdNetwork {
  if ($Config.addressing -eq 'static') {
    foreach ($nic in $Config.nics) {
      $adapter = Find-GdAdapter $nic.mac
      Rename-NetAdapter -InputObject $adapter -NewName "lab-$($nic.network)" -ErrorAction SilentlyContinue
      $index = $adapter.ifIndex
      Set-NetIPInterface -InterfaceIndex $index -AddressFamily IPv4 -Dhcp Disabled
      Get-NetIPAddress -InterfaceIndex $index -AddressFamily IPv4 -ErrorAction SilentlyContinue | Remove-NetIPAddress -Confirm:$false -ErrorAction SilentlyContinue
      Get-NetRoute -InterfaceIndex $index -DestinationPrefix '0.0.0.0/0' -ErrorAction SilentlyContinue | Remove-NetRoute -Confirm:$false -ErrorAction SilentlyContinue
      if ($nic.gateway) {
        New-NetIPAddress -InterfaceIndex $index -IPAddress $nic.ip -PrefixLength $nic.prefix -DefaultGateway $nic.gateway | Out-Null
      } else {
        New-NetIPAddress -InterfaceIndex $index -IPAddress $nic.ip -PrefixLength $nic.prefix | Out-Null
      }
      if (@($nic.dns).Count -gt 0) { Set-DnsClientServerAddress -InterfaceIndex $index -ServerAddresses @($nic.dns) }
    }
  } elseif (@($Config.dns).Count -gt 0) {
    # Clouds: their DHCP hands out the reserved address; only the resolvers are set (a member's controller first).
    Get-NetAdapter -Physical | Where-Object { $_.Status -eq 'Up' } | ForEach-Object { Set-DnsClientServerAddress -InterfaceIndex $_.ifIndex -ServerAddresses @($Config.dns) }
  }
  Get-NetConnectionProfile -ErrorAction SilentlyContinue | Where-Object { $_.NetworkCategory -eq 'Public' } | ForEach-Object {
    Set-NetConnectionProfile -InterfaceIndex $_.InterfaceIndex -NetworkCategory Private -ErrorAction SilentlyContinue
  }
}

# Lab passwords are set as the scenario writes them (often weak on purpose, or generated without a digit), so the
# local rules on complexity and length are turned off first.
function Set-GdPasswordPolicy {
  $inf = Join-Path $Root 'security.inf'
  $db = Join-Path $Root 'security.sdb'
  secedit.exe /export /cfg $inf /areas SECURITYPOLICY | Out-Null
  $policy = (Get-Content -LiteralPath $inf) -replace '^PasswordComplexity\s*=.*$', 'PasswordComplexity = 0' -replace '^MinimumPasswordLength\s*=.*$', 'MinimumPasswordLength = 0'
  Set-Content -LiteralPath $inf -Value $policy -Encoding Unicode
  secedit.exe /configure /db $db /cfg $inf /areas SECURITYPOLICY | Out-Null
  Remove-Item -LiteralPath $inf, $db -Force -ErrorAction SilentlyContinue
}

function Set-GdAccounts {
  Set-GdPasswordPolicy
  $builtin = Get-LocalUser | Where-Object { $_.SID.Value -like 'S-1-5-21-*-500' } | Select-Object -First 1
  if ($builtin -and $Config.administratorPassword) {
    Set-LocalUser -InputObject $builtin -Password (ConvertTo-GdSecret $Config.administratorPassword) -PasswordNeverExpires $true
    Enable-LocalUser -InputObject $builtin
  }
  foreach ($u in $Config.users) {
    $secret = ConvertTo-GdSecret $u.password
    $existing = Get-LocalUser -Name $u.name -ErrorAction SilentlyContinue
    if ($existing) {
      Set-LocalUser -InputObject $existing -Password $secret -PasswordNeverExpires $true
      Enable-LocalUser -InputObject $existing
    } else {
      New-LocalUser -Name $u.name -Password $secret -PasswordNeverExpires -AccountNeverExpires | Out-Null
    }
    $groups = @($RemoteDesktopUsersSid)
    if ($u.admin) { $groups += $AdministratorsSid }
    foreach ($sid in $groups) {
      $group = Get-LocalGroup -SID $sid
      if (-not (Get-LocalGroupMember -Group $group -ErrorAction SilentlyContinue | Where-Object { $_.Name -like "*\$($u.name)" })) {
        Add-LocalGroupMember -Group $group -Member $u.name
      }
    }
    foreach ($name in @($u.groups)) {
      if (-not (Get-LocalGroup -Name $name -ErrorAction SilentlyContinue)) { New-LocalGroup -Name $name | Out-Null }
      if (-not (Get-LocalGroupMember -Group $name -ErrorAction SilentlyContinue | Where-Object { $_.Name -like "*\$($u.name)" })) {
        Add-LocalGroupMember -Group $name -Member $u.name
      }
    }
  }
}

function Set-GdSshKeys {
  $sshDir = 'C:\ProgramData\ssh'
  $keysDir = Join-Path $sshDir 'glassdome_keys'
  New-Item -ItemType Directory -Force -Path $keysDir | Out-Null
  $adminKeys = @()
  foreach ($u in $Config.users) {
    if (@($u.sshKeys).Count -eq 0) { continue }
    if ($u.admin) { $adminKeys += @($u.sshKeys) } else { Set-Content -LiteralPath (Join-Path $keysDir $u.name) -Value @($u.sshKeys) -Encoding Ascii }
  }
  if ($adminKeys.Count -gt 0) {
    $file = Join-Path $sshDir 'administrators_authorized_keys'
    Set-Content -LiteralPath $file -Value $adminKeys -Encoding Ascii
    # OpenSSH ignores this file unless only SYSTEM and Administrators may touch it.
    icacls.exe $file /inheritance:r /grant '*S-1-5-18:F' '*S-1-5-32-544:F' | Out-Null
  }
  $config = Join-Path $sshDir 'sshd_config'
  if (Test-Path -LiteralPath $config) {
    $text = Get-Content -LiteralPath $config -Raw
    if ($text -notmatch 'glassdome_keys') {
      $text = $text -replace '(?m)^#?AuthorizedKeysFile\s+.*$', 'AuthorizedKeysFile .ssh/authorized_keys __PROGRAMDATA__/ssh/glassdome_keys/%u'
      Set-Content -LiteralPath $config -Value $text -Encoding Ascii
    }
  }
}

function Set-GdRemoteAccess {
  $labs = @($Config.labNetworks)
  Set-NetFirewallProfile -All -Enabled True -DefaultInboundAction Block -DefaultOutboundAction Allow
  Get-NetFirewallRule -Name 'Glassdome-*' -ErrorAction SilentlyContinue | Remove-NetFirewallRule
  New-NetFirewallRule -Name 'Glassdome-ICMP' -DisplayName 'Glassdome: ping from the lab' -Direction Inbound -Protocol ICMPv4 -IcmpType 8 -RemoteAddress $labs -Action Allow | Out-Null
  if ($Config.remote -contains 'ssh') {
    $capability = Get-WindowsCapability -Online -Name 'OpenSSH.Server*' | Select-Object -First 1
    if (-not $capability -or $capability.State -ne 'Installed') {
      if (-not $Config.online) { Stop-GdWithFailure 'OpenSSH Server is not in the image and this machine has no internet: build the template with it (packer/windows-server-2022)' }
      Add-WindowsCapability -Online -Name $capability.Name | Out-Null
    }
    Set-GdSshKeys
    New-ItemProperty -Path 'HKLM:\SOFTWARE\OpenSSH' -Name DefaultShell -Value 'C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe' -PropertyType String -Force | Out-Null
    Set-Service -Name sshd -StartupType Automatic
    Restart-Service -Name sshd -Force
    Get-NetFirewallRule -Name 'OpenSSH-Server-In-TCP' -ErrorAction SilentlyContinue | Disable-NetFirewallRule
    New-NetFirewallRule -Name 'Glassdome-SSH' -DisplayName 'Glassdome: SSH from the lab' -Direction Inbound -Protocol TCP -LocalPort 22 -RemoteAddress $labs -Action Allow | Out-Null
  }
  if ($Config.remote -contains 'winrm') {
    Enable-PSRemoting -SkipNetworkProfileCheck -Force | Out-Null
    Get-NetFirewallRule -Name 'WINRM-HTTP-In-TCP*' -ErrorAction SilentlyContinue | Disable-NetFirewallRule
    New-NetFirewallRule -Name 'Glassdome-WinRM' -DisplayName 'Glassdome: WinRM from the lab' -Direction Inbound -Protocol TCP -LocalPort 5985 -RemoteAddress $labs -Action Allow | Out-Null
  }
  if ($Config.remote -contains 'rdp') {
    Set-ItemProperty -Path 'HKLM:\System\CurrentControlSet\Control\Terminal Server' -Name fDenyTSConnections -Value 0
    Set-ItemProperty -Path 'HKLM:\System\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp' -Name UserAuthentication -Value 1
    Get-NetFirewallRule -Group '@FirewallAPI.dll,-28752' -ErrorAction SilentlyContinue | Disable-NetFirewallRule
    New-NetFirewallRule -Name 'Glassdome-RDP' -DisplayName 'Glassdome: RDP from the lab' -Direction Inbound -Protocol TCP -LocalPort 3389 -RemoteAddress $labs -Action Allow | Out-Null
  }
}

function Test-GdController([string]$Address, [string]$Domain) {
  try {
    Resolve-DnsName -Name "_ldap._tcp.dc._msdcs.$Domain" -Type SRV -Server $Address -DnsOnly -ErrorAction Stop | Out-Null
    return $true
  } catch {
    return $false
  }
}

function Wait-GdController {
  $d = $Config.domain
  $deadline = (Get-Date).AddSeconds($Config.domainWaitSeconds)
  while ((Get-Date) -lt $deadline) {
    if (Test-GdController $d.controllerAddress $d.name) { return }
    Start-Sleep -Seconds 15
  }
  Stop-GdWithFailure "domain controller $($d.controller) ($($d.controllerAddress)) did not answer for $($d.name) within $($Config.domainWaitSeconds) s"
}

function Wait-GdDirectory {
  $deadline = (Get-Date).AddSeconds($Config.domainWaitSeconds)
  while ((Get-Date) -lt $deadline) {
    try {
      Import-Module ActiveDirectory
      return Get-ADDomain
    } catch {
      Start-Sleep -Seconds 10
    }
  }
  Stop-GdWithFailure "Active Directory did not start within $($Config.domainWaitSeconds) s after the promotion"
}

function Set-GdDomain {
  $d = $Config.domain
  if ($d.role -eq 'dc') {
    Install-WindowsFeature -Name AD-Domain-Services -IncludeManagementTools | Out-Null
    Import-Module ADDSDeployment
    Install-ADDSForest -DomainName $d.name -DomainNetbiosName $d.netbios -InstallDns -SafeModeAdministratorPassword (ConvertTo-GdSecret $d.safeModePassword) -NoRebootOnCompletion -Force -WarningAction SilentlyContinue | Out-Null
  } else {
    Wait-GdController
    $credential = New-Object System.Management.Automation.PSCredential("$($d.netbios)\$($d.joinUser)", (ConvertTo-GdSecret $d.joinPassword))
    Add-Computer -DomainName $d.name -Credential $credential -Force
  }
  return $true
}

# After the promotion the machine's local accounts are the domain's; its administrators become Domain Admins.
function Set-GdDomainAccounts {
  $domain = Wait-GdDirectory
  $admins = Get-ADGroup -Identity "$($domain.DomainSID.Value)-512"
  $members = @(Get-ADGroupMember -Identity $admins | ForEach-Object { $_.SamAccountName })
  foreach ($u in $Config.users) {
    if ($u.admin -and $members -notcontains $u.name) { Add-ADGroupMember -Identity $admins -Members $u.name }
  }
  if (@($Config.domain.forwarders).Count -gt 0) { Set-DnsServerForwarder -IPAddress @($Config.domain.forwarders) }
}

function Invoke-GdRunCommands {
  $i = 0
  foreach ($command in @($Config.run)) {
    $step = "run-$i"
    # At most once: recorded before it runs, so a command that restarts the machine does not run again.
    if (-not ((Get-GdDoneSteps) -contains $step)) {
      Add-Content -LiteralPath $StepsFile -Value $step
      Write-GdLog "run[$i]"
      try {
        & ([scriptblock]::Create($command))
      } catch {
        Stop-GdWithFailure "run[$i] failed: $($_.Exception.Message)"
      }
    }
    $i++
  }
}

function Assert-GdNative([string]$What) {
  if ($LASTEXITCODE -ne 0) { throw "$What failed with exit code $LASTEXITCODE" }
}

# For vulnerability modules: lets the lab's networks reach a TCP port, a range or RPC/RPCEPMap (once per name).
function Open-GdLabPort([string]$Name, [string]$Port) {
  if (Get-NetFirewallRule -Name "Glassdome-$Name" -ErrorAction SilentlyContinue) { return }
  New-NetFirewallRule -Name "Glassdome-$Name" -DisplayName "Glassdome: $Name from the lab" -Direction Inbound -Protocol TCP -LocalPort $Port -RemoteAddress @($Config.labNetworks) -Action Allow | Out-Null
}

# For vulnerability modules: a flag file that only SYSTEM, Administrators and the named readers may read.
function Set-GdFlagFile([string]$Path, [string]$Value, [string[]]$Readers) {
  New-Item -ItemType Directory -Force -Path (Split-Path -Parent $Path) | Out-Null
  Set-Content -LiteralPath $Path -Value $Value -Encoding Ascii
  $grants = @('*S-1-5-18:F', '*S-1-5-32-544:F') + @($Readers | ForEach-Object { "$($_):R" })
  icacls.exe $Path /inheritance:r /grant:r $grants | Out-Null
  Assert-GdNative "icacls $Path"
}

# A module's account: a domain user on a controller, a local user elsewhere; groups by name or SID.
function New-GdModuleUser($User) {
  $secret = ConvertTo-GdSecret $User.password
  if ($Config.domain -and $Config.domain.role -eq 'dc') {
    $existing = Get-ADUser -Filter "SamAccountName -eq '$($User.name)'"
    if ($existing) {
      Set-ADAccountPassword -Identity $existing -Reset -NewPassword $secret
      Enable-ADAccount -Identity $existing
    } else {
      New-ADUser -Name $User.name -SamAccountName $User.name -UserPrincipalName "$($User.name)@$($Config.domain.name)" -AccountPassword $secret -Enabled $true -PasswordNeverExpires $true
    }
    foreach ($group in @($User.groups)) { Add-ADGroupMember -Identity $group -Members $User.name }
    return
  }
  $existing = Get-LocalUser -Name $User.name -ErrorAction SilentlyContinue
  if ($existing) {
    Set-LocalUser -InputObject $existing -Password $secret -PasswordNeverExpires $true
    Enable-LocalUser -InputObject $existing
  } else {
    New-LocalUser -Name $User.name -Password $secret -PasswordNeverExpires -AccountNeverExpires | Out-Null
  }
  foreach ($group in @($User.groups)) {
    if ($group -like 'S-1-*') { $local = Get-LocalGroup -SID $group } else { $local = Get-LocalGroup -Name $group }
    if (-not (Get-LocalGroupMember -Group $local -ErrorAction SilentlyContinue | Where-Object { $_.Name -like "*\$($User.name)" })) {
      Add-LocalGroupMember -Group $local -Member $User.name
    }
  }
}

# Vulnerability modules (server/reaper), after the domain steps: each at most once, like the run commands, its users
# first and then its PowerShell; a module that fails ends the first boot naming it.
function Invoke-GdModules {
  $modules = @($Config.modules)
  if ($modules.Count -eq 0) { return }
  # Module passwords are weak on purpose, or derived without a digit: the complexity and length rules would refuse
  # them. A controller's are the domain's; a member's local ones are turned off again, since the domain's policy
  # reached it when it joined.
  if ($Config.domain -and $Config.domain.role -eq 'dc') {
    $domain = Wait-GdDirectory
    Set-ADDefaultDomainPasswordPolicy -Identity $domain.DNSRoot -ComplexityEnabled $false -MinPasswordLength 0
  } else {
    Set-GdPasswordPolicy
  }
  $i = 0
  foreach ($m in $modules) {
    $step = "module-$i"
    if (-not ((Get-GdDoneSteps) -contains $step)) {
      Add-Content -LiteralPath $StepsFile -Value $step
      Write-GdLog "vulnerability $($m.key)"
      try {
        foreach ($u in @($m.users)) { New-GdModuleUser $u }
        if ($m.script) { & ([scriptblock]::Create($m.script)) }
      } catch {
        Stop-GdWithFailure "vulnerability $($m.key) did not apply: $($_.Exception.Message)"
      }
    }
    $i++
  }
}

function Test-GdFirstBoot {
  $problems = @()
  if ($env:COMPUTERNAME -ne $Config.hostname.ToUpperInvariant()) { $problems += "the computer name is $env:COMPUTERNAME, not $($Config.hostname)" }
  if ($Config.addressing -eq 'static') {
    foreach ($nic in $Config.nics) {
      if (-not (Get-NetIPAddress -IPAddress $nic.ip -ErrorAction SilentlyContinue)) { $problems += "no NIC has $($nic.ip)" }
    }
  }
  if ($Config.remote -contains 'ssh' -and (Get-Service -Name sshd).Status -ne 'Running') { $problems += 'sshd is not running' }
  if ($Config.remote -contains 'winrm' -and (Get-Service -Name WinRM).Status -ne 'Running') { $problems += 'WinRM is not running' }
  if ($Config.domain) {
    $system = Get-CimInstance -ClassName Win32_ComputerSystem
    if (-not $system.PartOfDomain -or $system.Domain -ne $Config.domain.name) { $problems += "not a member of $($Config.domain.name) (domain: $($system.Domain))" }
    if ($Config.domain.role -eq 'dc' -and $system.DomainRole -lt 4) { $problems += 'not a domain controller' }
  }
  if ($problems.Count -gt 0) { Stop-GdWithFailure "self-check: $($problems -join '; ')" }
}

if (-not $Run) {
  if (-not $PSCommandPath) { throw 'the Glassdome first-boot script must be run from a file' }
  # Started again after it ended (a re-run of user data): the outcome stands.
  if (Test-Path -LiteralPath $StatusFile) { exit 0 }
  New-Item -ItemType Directory -Force -Path $Root | Out-Null
  # Only SYSTEM and Administrators may read what holds the passwords.
  icacls.exe $Root /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null
  if ($PSCommandPath -ne $ScriptPath) { Copy-Item -LiteralPath $PSCommandPath -Destination $ScriptPath -Force }
  $action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument "-NoProfile -ExecutionPolicy Bypass -File `"$ScriptPath`" -Run"
  $trigger = New-ScheduledTaskTrigger -AtStartup
  $principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
  $settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -ExecutionTimeLimit (New-TimeSpan -Hours 4) -MultipleInstances IgnoreNew
  Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger -Principal $principal -Settings $settings -Force | Out-Null
  Start-ScheduledTask -TaskName $TaskName
  exit 0
}

try {
  $boots = 1
  if (Test-Path -LiteralPath $BootsFile) { $boots = [int](Get-Content -LiteralPath $BootsFile) + 1 }
  Set-Content -LiteralPath $BootsFile -Value $boots
  if ($boots -gt $Config.maxBoots) { Stop-GdWithFailure "first boot did not finish within $($Config.maxBoots) starts (done: $((Get-GdDoneSteps) -join ', '))" }

  Invoke-GdStep 'network' { Set-GdNetwork }
  Invoke-GdStep 'accounts' { Set-GdAccounts }
  Invoke-GdStep 'remote-access' { Set-GdRemoteAccess }
  Invoke-GdStep 'rename' {
    if ($env:COMPUTERNAME -ne $Config.hostname.ToUpperInvariant()) {
      Rename-Computer -NewName $Config.hostname -Force
      return $true
    }
  }
  if ($Config.domain) {
    Invoke-GdStep 'domain' { Set-GdDomain }
    if ($Config.domain.role -eq 'dc') { Invoke-GdStep 'domain-accounts' { Set-GdDomainAccounts } }
  }
  Invoke-GdRunCommands
  Invoke-GdModules
  Test-GdFirstBoot
  Complete-GdFirstBoot
} catch {
  Stop-GdWithFailure $_.Exception.Message
}
