// The browsers of bench:access, in a process of their own so the appliance's memory is measured alone: opens the
// terminal sockets it is given on stdin, waits for each shell's prompt, then types one key at a time on every session
// at once and times each echo. Prints one JSON line with the latencies.
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const input = JSON.parse(await new Promise((r) => createInterface({ input: process.stdin }).once('line', r)));
const { sockets, cookie, origin, rounds } = input;

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { Cookie: cookie }, origin });
    ws.binaryType = 'nodebuffer';
    let text = '';
    const t = setTimeout(() => reject(new Error(`no prompt on ${url.slice(0, 80)}: ${JSON.stringify(text)}`)), 20_000);
    const onData = (d, isBinary) => {
      if (!isBinary) return;
      text += d.toString();
      if (/\$ $/.test(text)) {
        clearTimeout(t);
        ws.off('message', onData);
        resolve(ws);
      }
    };
    ws.on('message', onData);
    ws.once('error', reject);
  });
}

const open5 = [];
const all = [];
// A few at a time: sshd refuses handshakes beyond MaxStartups (10 unauthenticated at once).
for (let i = 0; i < sockets.length; i += 5) {
  open5.length = 0;
  for (const s of sockets.slice(i, i + 5)) open5.push(open(s));
  all.push(...(await Promise.all(open5)));
}
process.stdout.write(`${JSON.stringify({ open: all.length })}\n`);
await new Promise((r) => createInterface({ input: process.stdin }).once('line', r));

const latencies = [];
for (let round = 0; round < rounds; round++) {
  await Promise.all(
    all.map(
      (ws) =>
        new Promise((resolve) => {
          const t0 = process.hrtime.bigint();
          ws.once('message', () => {
            latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
            resolve();
          });
          ws.send(Buffer.from('x'));
        }),
    ),
  );
}
for (const ws of all) ws.send(Buffer.from('\x15exit\n'));
process.stdout.write(`${JSON.stringify({ latencies })}\n`);
setTimeout(() => process.exit(0), 500);
