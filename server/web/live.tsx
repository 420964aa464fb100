// Live deployment pages over SSE. One channel per followed deployment subscribes to the event bus once; events are
// batched (at most every `flushMs`), the deployment is read once per batch and the partials are rendered and encoded
// once per distinct viewer scope, then the same bytes go to every subscriber of that scope: 100 followers cost one
// render and one copy of the message, however many of them a slow client leaves queued.
import type { SSEStreamingApi } from 'hono/streaming';
import type { DeploymentEvent } from '../model/events.ts';
import {
  DeploymentSummary,
  InstanceRow,
  LogAppend,
  MachineRow,
  NetworkRow,
} from '../../views/partials/deployment-rows.tsx';
import { machinePageSize, type DeploymentModel } from '../../views/props.ts';
import type { WebDomain } from './context.ts';
import {
  deploymentModel,
  eventForScope,
  eventsAfter,
  scopeKey,
  type MachineWindow,
  type Scope,
} from './deployment-model.ts';

/** Holds an SSE stream open, with a keep-alive comment every 15 s, until the client goes away; then runs `stop`. */
export async function holdOpen(stream: SSEStreamingApi, stop: () => void): Promise<void> {
  const closed = new Promise<void>((resolve) => stream.onAbort(resolve));
  const heartbeat = setInterval(() => void stream.write(': keep-alive\n\n').catch(() => undefined), 15_000);
  try {
    await closed;
  } finally {
    clearInterval(heartbeat);
    stop();
  }
}

export interface LiveMessage {
  /** The last event the message covers: the page's Last-Event-ID once it has it. */
  id: number;
  /** The whole SSE message, encoded; shared by every subscriber it is sent to, so never written into. */
  frame: Uint8Array;
}

const encoder = new TextEncoder();

/** A `patch` message in SSE's wire format (each line of the HTML its own `data:` line), encoded once. */
export function patchMessage(id: number, html: string): LiveMessage {
  const data = html.split(/\r\n|\r|\n/).join('\ndata: ');
  return { id, frame: encoder.encode(`event: patch\ndata: ${data}\nid: ${id}\n\n`) };
}

interface Subscriber {
  scope: Scope;
  /** The machines the page shows; a full refresh renders only those. */
  window: MachineWindow;
  canManage: boolean;
  csrf: string;
  send(m: LiveMessage): void;
}

interface Channel {
  subs: Set<Subscriber>;
  pending: DeploymentEvent[];
  timer?: NodeJS.Timeout;
  unsubscribe(): void;
}

async function html(node: unknown): Promise<string> {
  return String(await (node as { toString(): string | Promise<string> }).toString());
}

/** The partials to swap in for a batch: the summary, the touched (or all) rows in scope, and new log lines. */
export async function renderPatch(
  model: DeploymentModel,
  events: DeploymentEvent[],
  opts: { all: boolean; csrf: string; canManage: boolean; window?: MachineWindow },
): Promise<string> {
  const touched = new Set<string>();
  const instances = new Set<number>();
  for (const e of events)
    if (e.stepKey) touched.add(e.stepKey.startsWith('net:') ? `net:${e.stepKey.slice(4)}` : e.stepKey.split(':')[0]!);
  const parts: unknown[] = [<DeploymentSummary model={model} csrf={opts.csrf} canManage={opts.canManage} />];
  let shown = model.machines;
  if (opts.all && opts.window) {
    const w = opts.window;
    const offset = w.offset ?? 0;
    shown = (w.instance !== undefined ? shown.filter((m) => m.instance === w.instance) : shown).slice(
      offset,
      offset + (w.limit ?? machinePageSize),
    );
  }
  for (const m of shown)
    if (opts.all || touched.has(m.key)) {
      instances.add(m.instance);
      parts.push(
        <table>
          <tbody>
            <MachineRow m={m} deploymentId={model.head.id} />
          </tbody>
        </table>,
      );
    }
  if (model.instances.length > 1)
    for (const i of model.instances)
      if (opts.all || instances.has(i.instance))
        parts.push(
          <table>
            <tbody>
              <InstanceRow i={i} deploymentId={model.head.id} current={false} />
            </tbody>
          </table>,
        );
  for (const n of model.networks)
    if (opts.all || touched.has(`net:${n.key}`))
      parts.push(
        <table>
          <tbody>
            <NetworkRow n={n} />
          </tbody>
        </table>,
      );
  if (events.length > 0) parts.push(<LogAppend events={events} />);
  return (await Promise.all(parts.map(html))).join('');
}

export function createLive(web: WebDomain, opts: { flushMs?: number } = {}) {
  const flushMs = opts.flushMs ?? 200;
  const channels = new Map<string, Channel>();

  async function flush(id: string, ch: Channel) {
    ch.timer = undefined;
    const batch = ch.pending.splice(0);
    if (batch.length === 0 || ch.subs.size === 0) return;
    const lastId = batch.at(-1)!.id;
    // Subscribers grouped by what they may see and do; each group's HTML is rendered once.
    const groups = new Map<string, Subscriber[]>();
    for (const s of ch.subs) {
      const k = `${scopeKey(s.scope)}|${s.canManage}|${s.csrf}`;
      const group = groups.get(k);
      if (group) group.push(s);
      else groups.set(k, [s]);
    }
    const models = new Map<string, DeploymentModel>();
    for (const subs of groups.values()) {
      const first = subs[0]!;
      const sk = scopeKey(first.scope);
      let model = models.get(sk);
      if (!model) models.set(sk, (model = deploymentModel(web, id, first.scope)));
      const visible = batch
        .map((e) => eventForScope(e, first.scope))
        .filter((e): e is DeploymentEvent => e !== undefined);
      const message = patchMessage(
        lastId,
        await renderPatch(model, visible, { all: false, csrf: first.csrf, canManage: first.canManage }),
      );
      for (const s of subs) s.send(message);
    }
  }

  function channel(id: string): Channel {
    let ch = channels.get(id);
    if (ch) return ch;
    const created: Channel = {
      subs: new Set(),
      pending: [],
      unsubscribe: web.events.subscribe(id, (e) => {
        created.pending.push(e);
        created.timer ??= setTimeout(
          () => void flush(id, created).catch((err) => console.error(`glassdome: live update of ${id}: ${err}`)),
          flushMs,
        );
      }),
    };
    channels.set(id, created);
    return created;
  }

  return {
    /**
     * Follows a deployment for one viewer: first what happened after `afterId` with the true current state, then
     * every new batch. Returns the function that stops following.
     */
    async follow(id: string, afterId: number, sub: Subscriber): Promise<() => void> {
      const ch = channel(id);
      ch.subs.add(sub);
      const stop = () => {
        ch.subs.delete(sub);
        if (ch.subs.size === 0) {
          ch.unsubscribe();
          if (ch.timer) clearTimeout(ch.timer);
          channels.delete(id);
        }
      };
      // Subscribed before reading history: nothing falls between; a line seen twice is dropped by the page.
      const missed = eventsAfter(web, id, afterId, sub.scope);
      if (missed.length > 0) {
        const model = deploymentModel(web, id, sub.scope);
        sub.send(
          patchMessage(
            missed.at(-1)!.id,
            await renderPatch(model, missed, {
              all: true,
              csrf: sub.csrf,
              canManage: sub.canManage,
              window: sub.window,
            }),
          ),
        );
      }
      return stop;
    },
    followers(id: string): number {
      return channels.get(id)?.subs.size ?? 0;
    },
  };
}

export type Live = ReturnType<typeof createLive>;
