// The ARM test server in a process of its own, so a benchmark measures the appliance's memory and CPU without it.
// Started with the server's options as JSON (argv[2]) and an IPC channel: it sends `ready` with what a client needs,
// answers `report` with its request counts, operations and first-boot times, and exits on `close`.
import { startArmServer, type ArmServerOptions } from './server.ts';

export interface StandaloneReady {
  type: 'ready';
  url: string;
  caFile: string;
  subscriptionId: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

export interface StandaloneReport {
  type: 'report';
  requests: Array<{ method: string; route: string; path: string; status: number; at: number }>;
  operations: Array<{ target: string; namespace: string; simMs: number; status: string }>;
  firstBootMs: Record<string, number>;
  inventory: number;
  createdTwice: string[];
}

const s = await startArmServer(JSON.parse(process.argv[2] ?? '{}') as ArmServerOptions);
const ready: StandaloneReady = {
  type: 'ready',
  url: s.url,
  caFile: s.caFile,
  subscriptionId: s.subscriptionId,
  tenantId: s.tenantId,
  clientId: s.clientId,
  clientSecret: s.clientSecret,
};
process.send!(ready);
process.on('message', (m: { type: string }) => {
  if (m.type === 'report') {
    const report: StandaloneReport = {
      type: 'report',
      requests: s.requests.map((r) => ({ method: r.method, route: r.route, path: r.path, status: r.status, at: r.at })),
      operations: s.operations(),
      firstBootMs: Object.fromEntries(s.guests.firstBootMs),
      inventory: s.inventory().length,
      createdTwice: s.createdTwice(),
    };
    process.send!(report);
  }
  if (m.type === 'close') void s.close().then(() => process.exit(0));
});
// The parent went away: nothing is left running.
process.on('disconnect', () => void s.close().then(() => process.exit(0)));
