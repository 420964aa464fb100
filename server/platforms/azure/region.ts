// What the configured region offers this subscription, asked once per driver and kept: the VM sizes (with their
// vCPUs, memory, NIC limits and restrictions) and, per image, whether it exists there, its latest version and the
// marketplace plan a VM from it must name. A machine is checked against these before anything is created for it.
import { AppError } from '../../errors.ts';
import type { Arm } from './clients.ts';
import type { AzureConfig } from './config.ts';
import { armFailure, azureError } from './errors.ts';
import { chooseSize, fallbackSizes, type ImageChoice, type SizeInfo } from './images.ts';

export interface RegionSizes {
  offered: SizeInfo[];
  /** Sizes that exist in the region but not for this subscription (NotAvailableForSubscription and the like). */
  restricted: Set<string>;
  /** False when the list could not be read (no permission): sizes are then not checked up front. */
  known: boolean;
}

export interface VerifiedImage {
  image: ImageChoice;
  plan?: { name: string; publisher: string; product: string };
}

export interface Region {
  sizes(signal?: AbortSignal): Promise<RegionSizes>;
  /** The size for a machine, checked against the region; throws invalid_input naming the machine. */
  sizeFor(
    machine: string,
    need: { cpus: number; memoryMb: number; nics: number; vmSize?: string },
    signal?: AbortSignal,
  ): Promise<string>;
  /** The image checked against the region (existence, version, plan); throws invalid_input naming the machine. */
  verifyImage(machine: string, image: ImageChoice, signal?: AbortSignal): Promise<VerifiedImage>;
}

export function createRegion(arm: Arm, config: AzureConfig): Region {
  let sizes: Promise<RegionSizes> | undefined;
  const images = new Map<string, Promise<VerifiedImage>>();
  const location = config.location;

  async function readSizes(signal?: AbortSignal): Promise<RegionSizes> {
    const offered: SizeInfo[] = [];
    const restricted = new Set<string>();
    try {
      for await (const s of arm.compute.resourceSkus.list({
        filter: `location eq '${location}'`,
        ...(signal ? { abortSignal: signal } : {}),
      })) {
        if (s.resourceType !== 'virtualMachines' || !s.name) continue;
        if (!(s.locations ?? []).some((l) => l.toLowerCase() === location)) continue;
        const cap = (n: string) => Number(s.capabilities?.find((c) => c.name === n)?.value ?? NaN);
        if (
          (s.restrictions ?? []).some(
            (r) => r.type === 'Location' && (r.values ?? []).some((v) => v.toLowerCase() === location),
          )
        ) {
          restricted.add(s.name.toLowerCase());
          continue;
        }
        offered.push({
          name: s.name,
          vcpus: cap('vCPUs'),
          memoryGb: cap('MemoryGB'),
          maxNics: cap('MaxNetworkInterfaces') || 1,
        });
      }
      return { offered, restricted, known: true };
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      // Without read access to the SKU list, Azure's own answer to the VM's creation is the check.
      if (armFailure(e).status === 403) return { offered: fallbackSizes, restricted, known: false };
      throw azureError(e, { action: 'list', resource: 'VM sizes of region', name: location }, arm.hints, signal);
    }
  }

  return {
    sizes(signal) {
      if (!sizes) {
        sizes = readSizes(signal);
        sizes.catch(() => (sizes = undefined));
      }
      return sizes;
    },
    async sizeFor(machine, need, signal) {
      const region = await this.sizes(signal);
      const hint = `az vm list-skus --location ${location} --resource-type virtualMachines -o table lists the sizes this subscription may use there.`;
      if (need.vmSize) {
        const name = need.vmSize.toLowerCase();
        if (region.restricted.has(name))
          throw new AppError(
            'invalid_input',
            `[azure] Unable to create VM "${machine}": size ${need.vmSize} is not available to this subscription in ${location}`,
            { hint: `Choose another size (platform.azure.vmSize) or region. ${hint}` },
          );
        const known = region.offered.find((s) => s.name.toLowerCase() === name);
        if (region.known && !known)
          throw new AppError(
            'invalid_input',
            `[azure] Unable to create VM "${machine}": there is no size ${need.vmSize} in ${location}`,
            { hint },
          );
        if (known && known.maxNics < need.nics)
          throw new AppError(
            'invalid_input',
            `[azure] Unable to create VM "${machine}": size ${known.name} takes at most ${known.maxNics} network interfaces, the machine has ${need.nics}`,
            { hint: 'Choose a larger size (platform.azure.vmSize).' },
          );
        return known?.name ?? need.vmSize;
      }
      const name = chooseSize(need, region.offered);
      if (!name)
        throw new AppError(
          'invalid_input',
          `[azure] Unable to create VM "${machine}": no size in ${location} has ${need.cpus} vCPUs, ${need.memoryMb} MB and ${need.nics} network interfaces for this subscription`,
          {
            hint: `Set platform.azure.vmSize, lower the machine's size, or use another region. ${hint}`,
          },
        );
      return name;
    },
    verifyImage(machine, image, signal) {
      if ('id' in image.reference) return Promise.resolve({ image });
      const cached = images.get(image.urn);
      if (cached) return cached;
      const { publisher, offer, sku, version } = image.reference;
      const notHere = () =>
        new AppError(
          'invalid_input',
          `[azure] Unable to create VM "${machine}": image ${image.urn} is not offered in ${location}`,
          {
            hint: `Set platform.azure.image to an image offered there (az vm image list --location ${location} --publisher ${publisher} --offer ${offer} --all -o table), or use another region.`,
          },
        );
      const what = { action: 'look up image', resource: 'for VM', name: machine };
      const p = (async (): Promise<VerifiedImage> => {
        let concrete = version;
        if (version === 'latest') {
          const list = await arm.find(
            what,
            (o) =>
              arm.compute.virtualMachineImages.list(location, publisher, offer, sku, {
                top: 1,
                orderby: 'name desc',
                ...o,
              }),
            signal,
          );
          if (!list?.[0]?.name) throw notHere();
          concrete = list[0].name;
        }
        const found = await arm.find(
          what,
          (o) => arm.compute.virtualMachineImages.get(location, publisher, offer, sku, concrete, o),
          signal,
        );
        if (!found) throw notHere();
        const plan =
          found.plan?.name && found.plan.publisher && found.plan.product
            ? { name: found.plan.name, publisher: found.plan.publisher, product: found.plan.product }
            : undefined;
        return { image, ...(plan ? { plan } : {}) };
      })();
      images.set(image.urn, p);
      p.catch(() => images.delete(image.urn));
      return p;
    },
  };
}
