// The browsers of bench:web's live test, in a process of their own so the appliance's memory is measured alone: opens
// `clients` SSE streams on the url it is given on stdin and says when all are open; told the event ids the deployment
// stored, it waits (10 s at most) until every stream has carried each of them, then prints one JSON line with how many
// did and the fewest any received, and exits.
import { createInterface } from 'node:readline';

const lines = createInterface({ input: process.stdin });
const next = () => new Promise((r) => lines.once('line', (l) => r(JSON.parse(l))));
const { url, cookie, clients } = await next();

const mark = Buffer.from('data-event-id="');
/** Adds the ids of the log lines in `messages` (whole SSE messages) to `into`. */
function eventIdsIn(messages, into) {
  for (let at = messages.indexOf(mark); at >= 0; at = messages.indexOf(mark, at)) {
    at += mark.length;
    let id = 0;
    for (let digit = messages[at] - 48; digit >= 0 && digit <= 9; digit = messages[++at] - 48) id = id * 10 + digit;
    into.add(id);
  }
}

const controller = new AbortController();
const received = [];
const opened = [];
const readers = Array.from({ length: clients }, (_, i) => {
  const seen = new Set();
  received[i] = seen;
  let open;
  opened[i] = new Promise((r) => (open = r));
  return (async () => {
    const res = await fetch(url, { headers: { Cookie: cookie }, signal: controller.signal });
    if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
    open();
    const reader = res.body.getReader();
    // Event ids are read from whole SSE messages only: a chunk may end anywhere, even inside an attribute (each
    // past run lost the event whose data-event-id a 64 KiB chunk boundary cut in two).
    let held = [];
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const chunk = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
        let end = chunk.lastIndexOf('\n\n');
        if (end >= 0) end += 2;
        else if (chunk[0] === 10 && held.at(-1)?.at(-1) === 10) end = 1;
        else {
          held.push(chunk);
          continue;
        }
        held.push(chunk.subarray(0, end));
        eventIdsIn(held.length === 1 ? held[0] : Buffer.concat(held), seen);
        held = end < chunk.length ? [chunk.subarray(end)] : [];
      }
    } catch {
      // Aborted at the end.
    }
  })();
});
// A stream that cannot be opened ends this process with its error, which bench:web reports.
await Promise.race([
  Promise.all(opened),
  Promise.all(readers).then(() => {
    throw new Error('the streams ended before all were open');
  }),
]);
console.log(JSON.stringify({ open: clients }));

const { expected } = await next();
const deadline = Date.now() + 10_000;
while (Date.now() < deadline && received.some((s) => s.size < expected.length))
  await new Promise((r) => setTimeout(r, 50));
const complete = received.filter((s) => expected.every((id) => s.has(id))).length;
const fewest = Math.min(...received.map((s) => s.size));
controller.abort();
await Promise.allSettled(readers);
console.log(JSON.stringify({ complete, fewest }));
lines.close();
