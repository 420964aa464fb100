// The only file with side effects: config -> db + migrations -> resume interrupted runs -> overseer -> setup code ->
// TLS -> serve.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { writeSetupCodeFile } from './accounts/setup-state.ts';
import { createApp } from './app.ts';
import { loadConfig } from './config.ts';
import { errorMessage } from './errors.ts';
import { createServices } from './services.ts';
import { createFrontDoor, createRedirectServer, createTlsControl, loadOrCreateCertificate } from './tls.ts';

const wildcard = new Set(['0.0.0.0', '::', '']);

const config = loadConfig();
const services = createServices({ config });
const resumed = services.runner.resumeInterrupted();
if (resumed.length > 0)
  console.log(`glassdome: resuming ${resumed.length} interrupted deployment(s): ${resumed.join(', ')}`);
// Processes that die leave their deployments behind: look for them again once their claims have expired.
const sweep = setInterval(() => services.runner.resumeInterrupted(), 30_000);
sweep.unref();
// The knowledge base (model loading, ingest) and the CVE data open once the web server listens: it does not wait.
let opened = false;
function openKnowledge() {
  if (opened) return;
  opened = true;
  void Promise.all([services.knowledge.start(), Promise.resolve().then(() => services.research.start())]).then(
    (lines) => console.log(`glassdome: ${lines.join('; ')}`),
    (e: unknown) => console.error(`glassdome: knowledge base or CVE data: ${errorMessage(e)}`),
  );
}
// The overseer's jobs (health, drift, idle shutdown, expiry) on their cron schedules, once interrupted runs have been
// taken up again; stopped, with its fixes in flight, by services.close() on shutdown.
services.overseer.start();

// Until setup is complete, only someone who can read this process's output or data folder may claim the appliance.
const setup = services.setup;
if (!setup.isComplete()) {
  const code = setup.issueCode();
  const file = writeSetupCodeFile(config.dataDir, code);
  console.log(`glassdome: setup code ${code} (also in ${file}); open the appliance in a browser to set it up`);
}

const closers: Array<() => void> = [];
/** Expired sessions are refused when used; this only keeps the table small. */
function sweepSessions(app: ReturnType<typeof createApp>) {
  const timer = setInterval(() => app.web.sessions.sweep(), 3600_000);
  timer.unref();
  closers.push(() => clearInterval(timer));
}
let port = config.port;
if (config.tls) {
  const pem = await loadOrCreateCertificate(config.dataDir);
  if (pem.created)
    console.log(
      `glassdome: generated a self-signed certificate in ${config.dataDir}/tls (upload your own in Settings > HTTPS)`,
    );
  const httpsServer = https.createServer({ cert: pem.cert, key: pem.key, minVersion: 'TLSv1.2' });
  const tls = createTlsControl(config.dataDir, httpsServer, pem, services.audit);
  const app = createApp(services, { secure: true, tls });
  sweepSessions(app);
  httpsServer.on('request', getRequestListener(app.fetch));
  app.injectWebSocket(httpsServer);
  // Redirects name this appliance only: its certificate's names (the uploaded one once replaced) and its bind host.
  const names = () => [...(wildcard.has(config.host) ? [] : [config.host]), ...tls.names()];
  const redirect = createRedirectServer(() => port, names);
  const front = createFrontDoor(httpsServer, redirect);
  front.listen(config.port, config.host, () => {
    port = (front.address() as AddressInfo).port;
    console.log(`glassdome: serving https://${config.host}:${port} (data in ${config.dataDir})`);
    openKnowledge();
  });
  closers.push(
    () => front.close(),
    () => httpsServer.close(),
    () => redirect.close(),
  );
  if (config.httpPort !== undefined) {
    const plain = createRedirectServer(() => port, names);
    plain.listen(config.httpPort, config.host, () =>
      console.log(`glassdome: redirecting http://${config.host}:${(plain.address() as AddressInfo).port} to HTTPS`),
    );
    closers.push(() => plain.close());
  }
} else {
  const app = createApp(services, { secure: false });
  sweepSessions(app);
  const server = http.createServer(getRequestListener(app.fetch));
  app.injectWebSocket(server);
  server.listen(config.port, config.host, () => {
    port = (server.address() as AddressInfo).port;
    console.log(
      `glassdome: serving http://${config.host}:${port} (plain HTTP for development; data in ${config.dataDir})`,
    );
    openKnowledge();
  });
  closers.push(() => server.close());
}

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`glassdome: ${signal}, stopping`);
  clearInterval(sweep);
  for (const close of closers) close();
  try {
    await services.close();
  } catch (e) {
    console.error(`glassdome: shutdown: ${errorMessage(e)}`);
  }
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
