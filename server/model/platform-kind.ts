// The names of the platform drivers: a driver's file name, its config `kind` and its database value are this word.
export const platformKinds = ['simulator', 'proxmox', 'esxi', 'aws', 'azure'] as const;
export type PlatformKind = (typeof platformKinds)[number];
