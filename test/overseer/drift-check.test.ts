// The drift check's size comparison, by value: a hypervisor's machine has exactly the size it was given, so any
// difference is drift; a cloud machine runs as a named size (instance type, VM size) chosen as the smallest that
// holds the plan, so only less than planned is drift, and the finding names that size.
import { describe, expect, it } from 'vitest';
import { configDrift } from '../../server/overseer/checks/drift.ts';
import type { PlannedMachine } from '../../server/model/plan.ts';
import type { InventoryMachine } from '../../server/platforms/platform.ts';

const planned = { size: { cpus: 1, memoryMb: 2048, diskGb: 20 } } as PlannedMachine;
const seen = (o: Partial<InventoryMachine>): InventoryMachine => ({
  id: 'x',
  name: 'gd-d1-i1-web',
  deploymentId: 'd1',
  owner: 'tag',
  power: 'running',
  ...o,
});

describe('size drift', () => {
  it('on a hypervisor, any other vCPU count or memory is drift', () => {
    expect(configDrift(planned, [], seen({ cpus: 1, memoryMb: 2048 }))).toEqual([]);
    expect(configDrift(planned, [], seen({ cpus: 2, memoryMb: 4096 }))).toEqual([
      'memory 4096 MiB, planned 2048 MiB',
      '2 vCPUs, planned 1',
    ]);
    expect(configDrift(planned, [], seen({ cpus: 1, memoryMb: 1024 }))).toEqual(['memory 1024 MiB, planned 2048 MiB']);
  });

  it('on a cloud, a named size above the plan is the smallest fit, and one below it is drift, named', () => {
    expect(configDrift(planned, [], seen({ cpus: 2, memoryMb: 2048, size: 't3.small' }))).toEqual([]);
    expect(configDrift(planned, [], seen({ cpus: 1, memoryMb: 2048, size: 'Standard_B1ms' }))).toEqual([]);
    expect(configDrift(planned, [], seen({ cpus: 2, memoryMb: 1024, size: 't3.micro' }))).toEqual([
      'memory 1024 MiB (t3.micro), planned 2048 MiB',
    ]);
    expect(
      configDrift(
        { size: { cpus: 4, memoryMb: 8192, diskGb: 20 } } as PlannedMachine,
        [],
        seen({ cpus: 2, memoryMb: 8192, size: 'Standard_B2ms' }),
      ),
    ).toEqual(['2 vCPUs (Standard_B2ms), planned 4']);
  });

  it('an unknown size says nothing', () => {
    expect(configDrift(planned, [], seen({}))).toEqual([]);
  });
});
