// "Seen before": when a step of a deployment fails for good, the overseer asks the knowledge base for earlier
// failures like it and says on the deployment's stream which deployment failed the same way and what fixed it there.
import type { DeploymentEvent } from '../model/events.ts';

/** The part of the knowledge base this needs (orchestrator/knowledge-base.ts similarFailures). */
export interface FailureMemory {
  similarFailures(
    reason: string,
    k?: number,
  ): Promise<Array<{ source: string; title: string; link: string; text: string }>>;
}

export interface SeenBeforeDeps {
  subscribe(listener: (e: DeploymentEvent) => void): () => void;
  publish(deploymentId: string, message: string, stepKey: string | null): void;
  knowledge: FailureMemory;
  log: (line: string) => void;
  /** Distinct failure reasons looked up per deployment (a range failing everywhere asks a few times, not 200). */
  perDeployment?: number;
}

/** A reason without what differs between deployments (their ids in resource names), to tell repeats apart. */
export function reasonKey(message: string): string {
  return message
    .replace(/gd-[a-z0-9]+-/g, 'gd-*-')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

/** The line said on the stream for one earlier failure: where, its reason's first line, and its fix when known. */
export function seenBeforeLine(p: { title: string; link: string; text: string }): string {
  const [first = '', ...rest] = p.text.split('\n');
  const fix = rest.find((l) => l.startsWith('Fix: '));
  const reason = first.length > 240 ? `${first.slice(0, 239)}…` : first;
  return `seen before: ${p.title} (${p.link}): ${reason}${fix ? `; likely fix: ${fix.slice(5)}` : ''}`;
}

export function watchRepeatedFailures(deps: SeenBeforeDeps) {
  const limit = deps.perDeployment ?? 5;
  const asked = new Map<string, Set<string>>();
  let queue: Promise<void> = Promise.resolve();

  async function lookUp(e: DeploymentEvent): Promise<void> {
    const own = `deployment:${e.deploymentId}`;
    const earlier = (await deps.knowledge.similarFailures(e.message, 4)).filter((p) => p.source !== own).slice(0, 2);
    for (const p of earlier) deps.publish(e.deploymentId, seenBeforeLine(p), e.stepKey ?? null);
  }

  const unsubscribe = deps.subscribe((e) => {
    if (e.type !== 'step.failed') return;
    const reasons = asked.get(e.deploymentId) ?? new Set<string>();
    const key = reasonKey(e.message);
    if (reasons.has(key) || reasons.size >= limit) return;
    reasons.add(key);
    asked.set(e.deploymentId, reasons);
    // Bounded memory: the oldest deployments are forgotten first.
    if (asked.size > 200) asked.delete(asked.keys().next().value!);
    // One lookup at a time, in the order the failures came; a failing lookup is logged and forgotten.
    queue = queue
      .then(() => lookUp(e))
      .catch((err: unknown) =>
        deps.log(`seen-before lookup for deployment ${e.deploymentId}: ${err instanceof Error ? err.message : err}`),
      );
  });

  return {
    /** Resolves once every lookup started so far has been said (tests, shutdown). */
    settled: () => queue,
    stop(): Promise<void> {
      unsubscribe();
      return queue;
    },
  };
}
