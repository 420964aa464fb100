# cloudbase-init (1.1.6 or newer: NoCloud network-config v2), reading the NoCloud seed (ESXi's cidata ISO) or
# Proxmox's config drive, logging to COM1. Its plugins set the network and run the user-data, which carries
# Glassdome's first-boot script; users and passwords are that script's business, so its user plugins are off.
$ErrorActionPreference = 'Stop'
$msi = Join-Path $env:TEMP 'CloudbaseInitSetup.msi'
Invoke-WebRequest -Uri $env:GD_CLOUDBASE_INIT_URL -OutFile $msi -UseBasicParsing
if ($env:GD_CLOUDBASE_INIT_SHA256) {
  $hash = (Get-FileHash -LiteralPath $msi -Algorithm SHA256).Hash
  if ($hash -ne $env:GD_CLOUDBASE_INIT_SHA256.ToUpperInvariant()) { throw "cloudbase-init installer SHA-256 is $hash, expected $env:GD_CLOUDBASE_INIT_SHA256" }
}
$p = Start-Process -FilePath msiexec.exe -ArgumentList '/i', "`"$msi`"", '/qn', '/norestart', 'LOGGINGSERIALPORTNAME=COM1', 'RUN_SERVICE_AS_LOCAL_SYSTEM=1' -Wait -PassThru
if ($p.ExitCode -notin 0, 3010) { throw "cloudbase-init installer exited with $($p.ExitCode)" }

$conf = 'C:\Program Files\Cloudbase Solutions\Cloudbase-Init\conf'
$common = @'
[DEFAULT]
username=Admin
groups=Administrators
inject_user_password=false
first_logon_behaviour=no
config_drive_raw_hhd=true
config_drive_cdrom=true
config_drive_vfat=true
bsdtar_path=C:\Program Files\Cloudbase Solutions\Cloudbase-Init\bin\bsdtar.exe
mtools_path=C:\Program Files\Cloudbase Solutions\Cloudbase-Init\bin\
verbose=true
debug=true
logdir=C:\Program Files\Cloudbase Solutions\Cloudbase-Init\log\
logging_serial_port_settings=COM1,115200,N,8
mtu_use_dhcp_config=true
ntp_use_dhcp_config=true
local_scripts_path=C:\Program Files\Cloudbase Solutions\Cloudbase-Init\LocalScripts\
check_latest_version=false
metadata_services=cloudbaseinit.metadata.services.nocloudservice.NoCloudConfigDriveService,cloudbaseinit.metadata.services.configdrive.ConfigDriveService
'@
$unattendPlugins = 'plugins=cloudbaseinit.plugins.common.mtu.MTUPlugin,cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin,cloudbaseinit.plugins.common.networkconfig.NetworkConfigPlugin'
$servicePlugins = 'plugins=cloudbaseinit.plugins.windows.extendvolumes.ExtendVolumesPlugin,cloudbaseinit.plugins.common.userdata.UserDataPlugin,cloudbaseinit.plugins.common.localscripts.LocalScriptsPlugin'
Set-Content -LiteralPath (Join-Path $conf 'cloudbase-init-unattend.conf') -Value ($common + "`r`nallow_reboot=false`r`nstop_service_on_exit=false`r`n" + $unattendPlugins) -Encoding Ascii
Set-Content -LiteralPath (Join-Path $conf 'cloudbase-init.conf') -Value ($common + "`r`n" + $servicePlugins) -Encoding Ascii
