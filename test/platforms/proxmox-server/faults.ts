// Injected failures, chosen by a seeded RNG so a failing run can be replayed: each rule matches requests
// by method and endpoint template and fires a bounded number of times and/or with a probability.

export type FaultEffect =
  /** pveproxy could not reach pvedaemon in 30 s: status 596, empty body, nothing happens. */
  | 'http596'
  /** pveproxy could not connect to the target: status 595, empty body, nothing happens. */
  | 'http595'
  /** The handler dies synchronously: 500 with `message`. */
  | 'http500'
  /** The request succeeds and returns a UPID, but the worker ends with `TASK ERROR: <message>`. */
  | 'taskError';

export interface FaultRule {
  effect: FaultEffect;
  /** Only requests with this method (default: any). */
  method?: string;
  /** Only this endpoint template, e.g. `/nodes/{node}/qemu/{vmid}/clone`, or a RegExp over it (default: any). */
  endpoint?: string | RegExp;
  /** Fire at most this many times (default: unlimited). */
  times?: number;
  /** Chance of firing on each match (default 1). */
  probability?: number;
  /** The error text for http500 and taskError. */
  message?: string;
  /** Fires only for requests whose parameters this accepts (instead of, or besides, the probability). */
  when?: (params: Record<string, unknown>) => boolean;
}

/** mulberry32: small, fast and good enough to make test runs reproducible. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultInjector {
  /** The rule that fires for this request, if any; counts it. */
  pick(method: string, endpoint: string, params?: Record<string, unknown>): FaultRule | undefined;
  add(rule: FaultRule): void;
  clear(): void;
  /** How many times each effect fired. */
  fired: Record<FaultEffect, number>;
}

export function createFaultInjector(rules: FaultRule[], rng: () => number): FaultInjector {
  const active = rules.map((rule) => ({ rule, left: rule.times ?? Infinity }));
  const fired: Record<FaultEffect, number> = { http596: 0, http595: 0, http500: 0, taskError: 0 };
  return {
    fired,
    pick(method, endpoint, params = {}) {
      for (const a of active) {
        const { rule } = a;
        if (a.left <= 0) continue;
        if (rule.method !== undefined && rule.method !== method) continue;
        if (typeof rule.endpoint === 'string' && rule.endpoint !== endpoint) continue;
        if (rule.endpoint instanceof RegExp && !rule.endpoint.test(endpoint)) continue;
        if (rule.when && !rule.when(params)) continue;
        if (rule.probability !== undefined && rng() >= rule.probability) continue;
        a.left--;
        fired[rule.effect]++;
        return rule;
      }
      return undefined;
    },
    add(rule) {
      active.push({ rule, left: rule.times ?? Infinity });
    },
    clear() {
      active.length = 0;
    },
  };
}
