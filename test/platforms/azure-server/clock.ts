// Simulated time for the ARM test server: durations are given in Azure's own (simulated) milliseconds and pass
// `speed` times faster in real time; a seeded RNG picks each operation's duration so runs can be replayed.

export interface Timing {
  /** Added to every request before it is answered. */
  latencyMs: number;
  /** [min, max] of each kind of long-running operation. */
  networkOpMs: [number, number];
  nicOpMs: [number, number];
  vmCreateMs: [number, number];
  vmPowerMs: [number, number];
  vmDeleteMs: [number, number];
  rgDeleteMs: [number, number];
  /** From a VM running to its first boot printing its last line on the serial console. */
  guestReadyMs: [number, number];
}

export const defaultTiming: Timing = {
  latencyMs: 0,
  networkOpMs: [2_000, 6_000],
  nicOpMs: [1_000, 3_000],
  vmCreateMs: [30_000, 90_000],
  vmPowerMs: [10_000, 30_000],
  vmDeleteMs: [20_000, 40_000],
  rgDeleteMs: [30_000, 60_000],
  guestReadyMs: [20_000, 60_000],
};

export interface Clock {
  speed: number;
  timing: Timing;
  /** Real milliseconds now. */
  now(): number;
  /** Real milliseconds a simulated duration takes. */
  real(simMs: number): number;
  /** A simulated duration drawn from [min, max]. */
  pick(range: [number, number]): number;
  random(): number;
}

export function createClock(speed: number, timing: Timing, seed: number): Clock {
  let a = seed >>> 0;
  // mulberry32
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    speed,
    timing,
    now: () => Date.now(),
    real: (simMs) => simMs / speed,
    pick: ([min, max]) => min + random() * (max - min),
    random,
  };
}
