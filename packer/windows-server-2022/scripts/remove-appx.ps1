# Sysprep refuses to generalize while an Appx package is installed for a user but not provisioned for all users
# (Edge's updates and Store apps do this). Such packages, and Edge's provisioned packages, are removed.
$ErrorActionPreference = 'Stop'
$provisioned = @(Get-AppxProvisionedPackage -Online | ForEach-Object { $_.PackageName })
Get-AppxProvisionedPackage -Online | Where-Object { $_.DisplayName -like 'Microsoft.MicrosoftEdge*' } | ForEach-Object {
  Write-Output "removing provisioned $($_.PackageName)"
  Remove-AppxProvisionedPackage -Online -PackageName $_.PackageName | Out-Null
}
Get-AppxPackage -AllUsers | Where-Object { -not $_.IsFramework -and -not $_.NonRemovable -and ($_.Name -like 'Microsoft.MicrosoftEdge*' -or $provisioned -notcontains $_.PackageFullName) } | ForEach-Object {
  Write-Output "removing $($_.PackageFullName)"
  Remove-AppxPackage -Package $_.PackageFullName -AllUsers -ErrorAction Continue
}
