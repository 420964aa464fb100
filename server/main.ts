// The only file with side effects: config -> db + migrations -> resume interrupted runs -> serve.
import { serve } from '@hono/node-server';
import { createSetup, writeSetupCodeFile } from './accounts/setup.ts';
import { createApp } from './app.ts';
import { loadConfig } from './config.ts';
import { errorMessage } from './errors.ts';
import { createServices } from './services.ts';

const config = loadConfig();
const services = createServices({ config });
const resumed = services.runner.resumeInterrupted();
if (resumed.length > 0) console.log(`glassdome: resuming ${resumed.length} interrupted deployment(s): ${resumed.join(', ')}`);
// Processes that die leave their deployments behind: look for them again once their claims have expired.
const sweep = setInterval(() => services.runner.resumeInterrupted(), 30_000);
sweep.unref();

// Until setup is complete, only someone who can read this process's output or data folder may claim the appliance.
const setup = createSetup(services.db);
if (!setup.isComplete()) {
  const code = setup.issueCode();
  const file = writeSetupCodeFile(config.dataDir, code);
  console.log(`glassdome: setup code ${code} (also in ${file}); open the appliance in a browser to set it up`);
}

const server = serve({ fetch: createApp(services).fetch, hostname: config.host, port: config.port }, (info) => {
  console.log(`glassdome: serving http://${info.address}:${info.port} (data in ${config.dataDir})`);
});

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`glassdome: ${signal}, stopping`);
  clearInterval(sweep);
  server.close();
  try {
    await services.close();
  } catch (e) {
    console.error(`glassdome: shutdown: ${errorMessage(e)}`);
  }
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
