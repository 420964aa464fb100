// Injected failures of the ARM test server: each rule matches requests by method and path and fires a bounded
// number of times: a 429 with Retry-After (throttling), an immediate ARM error, an accepted long-running
// operation that ends Failed with the given code and message, or a change someone else makes on Azure just before
// the request is served (a VM deleted between a list and the read that follows it).
import type { ArmErrorBody } from './arm-error.ts';

export type FaultEffect =
  | { kind: 'throttle'; retryAfterSec: number }
  | { kind: 'error'; status: number; code: string; message: string }
  | { kind: 'lroFail'; error: ArmErrorBody }
  /** Runs `change` (on the server's store), then serves the request as usual. */
  | { kind: 'meanwhile'; change: () => void };

export interface FaultRule {
  /** Only this method (default any). */
  method?: string;
  /** Tested against the path without query, e.g. /virtualMachines\/[^/]+$/i. */
  path?: RegExp;
  effect: FaultEffect;
  /** Fires at most this often (default unlimited). */
  times?: number;
}

export interface FaultInjector {
  add(rule: FaultRule): void;
  clear(): void;
  pick(method: string, path: string): FaultEffect | undefined;
  fired: number;
}

export function createFaults(rules: FaultRule[]): FaultInjector {
  const active = rules.map((rule) => ({ rule, left: rule.times ?? Infinity }));
  const f: FaultInjector = {
    fired: 0,
    add: (rule) => void active.push({ rule, left: rule.times ?? Infinity }),
    clear: () => void active.splice(0),
    pick(method, path) {
      for (const a of active) {
        if (a.left <= 0) continue;
        if (a.rule.method && a.rule.method !== method) continue;
        if (a.rule.path && !a.rule.path.test(path)) continue;
        a.left--;
        f.fired++;
        return a.rule.effect;
      }
      return undefined;
    },
  };
  return f;
}
