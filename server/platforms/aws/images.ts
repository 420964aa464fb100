// Which instance type and image a machine gets: the type from the scenario (platform.aws.instanceType) or the
// smallest configured candidate that fits its size and is offered in the region; the image from the scenario
// (platform.aws.ami) or the newest one of the configured owner and name pattern, for an architecture of that type.
import type { Image, _InstanceType } from '@aws-sdk/client-ec2';
import { AppError } from '../../errors.ts';
import type { CallOptions, MachineSpec } from '../platform.ts';
import { describeAll, type Ec2 } from './client.ts';
import { defaultImages, type AwsConfig } from './config.ts';
import { isNotFound } from './errors.ts';

export interface TypeInfo {
  type: string;
  vcpus: number;
  memoryMb: number;
  /** e.g. x86_64, arm64. */
  architectures: string[];
}

export interface ImageInfo {
  id: string;
  name: string;
  architecture: string;
  rootDevice: string;
  /** Size of the image's root snapshot: the root volume cannot be smaller. */
  rootGb: number;
  windows: boolean;
}

const cacheMs = 60 * 60_000;

export function createImages(ec2: Ec2, config: AwsConfig) {
  const types = new Map<string, Promise<TypeInfo | undefined>>();
  const images = new Map<string, { at: number; image: Promise<ImageInfo> }>();
  let offered: Promise<Set<string>> | undefined;

  /** Which of the candidates (and any type asked for by a scenario) the region offers. */
  function regionOffers(o?: CallOptions): Promise<Set<string>> {
    return (offered ??= describeAll(
      ec2,
      'DescribeInstanceTypeOfferings',
      { LocationType: 'region', Filters: [{ Name: 'instance-type', Values: config.instanceTypes }] },
      (r) => r.InstanceTypeOfferings,
      o,
    )
      .then((list) => new Set(list.map((x) => x.InstanceType!)))
      .catch((e: unknown) => {
        offered = undefined;
        throw e;
      }));
  }

  async function isOffered(type: string, o?: CallOptions): Promise<boolean> {
    if (config.instanceTypes.includes(type)) return (await regionOffers(o)).has(type);
    const r = await ec2.call(
      'DescribeInstanceTypeOfferings',
      { LocationType: 'region', Filters: [{ Name: 'instance-type', Values: [type] }] },
      o,
    );
    return (r.InstanceTypeOfferings ?? []).length > 0;
  }

  /** Facts about instance types, each asked once. */
  async function describeTypes(list: string[], o?: CallOptions): Promise<TypeInfo[]> {
    const missing = list.filter((t) => !types.has(t));
    if (missing.length) {
      const batch = ec2
        .call('DescribeInstanceTypes', { InstanceTypes: missing as _InstanceType[] }, o)
        .then(
          (r) =>
            new Map<string, NonNullable<typeof r.InstanceTypes>[number]>(
              (r.InstanceTypes ?? []).map((t) => [t.InstanceType!, t]),
            ),
        );
      for (const t of missing) {
        const one = batch.then((m) => {
          const x = m.get(t);
          return x
            ? {
                type: t,
                vcpus: x.VCpuInfo?.DefaultVCpus ?? 0,
                memoryMb: x.MemoryInfo?.SizeInMiB ?? 0,
                architectures: x.ProcessorInfo?.SupportedArchitectures ?? [],
              }
            : undefined;
        });
        one.catch(() => types.delete(t));
        types.set(t, one);
      }
    }
    return (await Promise.all(list.map((t) => types.get(t)!))).filter((t): t is TypeInfo => t !== undefined);
  }

  async function instanceType(spec: MachineSpec, o?: CallOptions): Promise<TypeInfo> {
    const asked = spec.options?.instanceType;
    if (typeof asked === 'string' && asked) {
      if (!(await isOffered(asked, o)))
        throw new AppError('invalid_input', `[aws] instance type ${asked} is not offered in ${config.region}`, {
          hint: 'Choose a type this region has (platform.aws.instanceType in the scenario), or deploy to a platform in another region.',
        });
      const [info] = await describeTypes([asked], o);
      if (!info)
        throw new AppError('invalid_input', `[aws] EC2 does not know instance type ${asked}`, {
          hint: 'Check its spelling in platform.aws.instanceType.',
        });
      return info;
    }
    const have = await regionOffers(o);
    const candidates = config.instanceTypes.filter((t) => have.has(t));
    const fits = (await describeTypes(candidates, o))
      .filter((t) => t.vcpus >= spec.cpus && t.memoryMb >= spec.memoryMb)
      .sort((a, b) => a.vcpus - b.vcpus || a.memoryMb - b.memoryMb);
    if (!fits[0]) {
      const missing = config.instanceTypes.filter((t) => !have.has(t));
      throw new AppError(
        'invalid_input',
        `[aws] no instance type for ${spec.cpus} vCPU(s) and ${spec.memoryMb} MiB in ${config.region}: the candidates ${candidates.join(', ') || '(none)'} are too small${missing.length ? ` and ${missing.join(', ')} are not offered there` : ''}`,
        {
          hint: "Add a larger type that the region offers to the platform's instanceTypes, or set platform.aws.instanceType for the machine.",
        },
      );
    }
    return fits[0];
  }

  function toInfo(img: Image): ImageInfo {
    const root = img.BlockDeviceMappings?.find((b) => b.DeviceName === img.RootDeviceName);
    return {
      id: img.ImageId!,
      name: img.Name ?? img.ImageId!,
      architecture: img.Architecture ?? 'x86_64',
      rootDevice: img.RootDeviceName ?? '/dev/sda1',
      rootGb: root?.Ebs?.VolumeSize ?? 0,
      windows: (img.Platform ?? '').toLowerCase() === 'windows',
    };
  }

  async function byId(id: string, o?: CallOptions): Promise<ImageInfo> {
    try {
      const r = await ec2.call('DescribeImages', { ImageIds: [id] }, o);
      const img = r.Images?.[0];
      if (img && img.State === 'available') return toInfo(img);
    } catch (e) {
      if (!isNotFound(e) && !(e instanceof AppError && e.code === 'invalid_input')) throw e;
    }
    throw new AppError(
      'invalid_input',
      `[aws] image ${id} does not exist in ${config.region} (or is not available to this account)`,
      {
        hint: 'AMI ids differ per region: use the id of the image in this region (platform.aws.ami), or copy the image here.',
      },
    );
  }

  async function search(os: string, architectures: string[], o?: CallOptions): Promise<ImageInfo> {
    const s = { ...defaultImages, ...config.images }[os];
    if (!s)
      throw new AppError('invalid_input', `[aws] no image is configured for ${os}`, {
        hint: `Add images.${os} ({ owner, name }) to the platform, or set platform.aws.ami for the machine.`,
      });
    const found = await describeAll(
      ec2,
      'DescribeImages',
      {
        Owners: [s.owner],
        Filters: [
          { Name: 'name', Values: [s.name] },
          { Name: 'architecture', Values: architectures },
          { Name: 'state', Values: ['available'] },
        ],
      },
      (r) => r.Images,
      o,
    );
    const newest = found.sort(
      (a, b) =>
        (b.CreationDate ?? '').localeCompare(a.CreationDate ?? '') || (b.Name ?? '').localeCompare(a.Name ?? ''),
    )[0];
    if (!newest)
      throw new AppError(
        'invalid_input',
        `[aws] no ${architectures.join('/')} image for ${os} in ${config.region}: none named "${s.name}" from owner ${s.owner}`,
        {
          hint: `Subscribe to the image in the AWS Marketplace if it is sold there, change images.${os} in the platform, or set platform.aws.ami for the machine.`,
        },
      );
    return toInfo(newest);
  }

  return {
    instanceType,
    describeTypes,
    regionOffers,

    /** Asks ahead for what every machine without a type of its own needs: the region's candidate types. */
    warm(o?: CallOptions): void {
      regionOffers(o)
        .then((have) =>
          describeTypes(
            config.instanceTypes.filter((t) => have.has(t)),
            o,
          ),
        )
        .catch(() => undefined);
    },

    /** The image for the machine, checked against the architectures its instance type runs. */
    async image(spec: MachineSpec, type: TypeInfo, o?: CallOptions): Promise<ImageInfo> {
      const explicit = spec.template ?? (typeof spec.options?.ami === 'string' ? spec.options.ami : undefined);
      const archs = type.architectures.filter((a) => a !== 'i386');
      const key = explicit ?? `${spec.os}/${archs.join(',')}`;
      let hit = images.get(key);
      if (!hit || Date.now() - hit.at > cacheMs) {
        const image = explicit ? byId(explicit, o) : search(spec.os, archs, o);
        image.catch(() => images.delete(key));
        images.set(key, (hit = { at: Date.now(), image }));
      }
      const img = await hit.image;
      if (!type.architectures.includes(img.architecture))
        throw new AppError(
          'invalid_input',
          `[aws] image ${img.id} (${img.name}) is ${img.architecture}, but instance type ${type.type} runs ${type.architectures.join('/')}`,
          {
            hint: 'Choose an image and an instance type of the same architecture (platform.aws.ami, platform.aws.instanceType).',
          },
        );
      return img;
    },
  };
}

export type Images = ReturnType<typeof createImages>;
