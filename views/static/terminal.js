// The terminal page: xterm.js on a WebSocket to the appliance, which holds the SSH session. Keystrokes go as binary
// messages, resizes as JSON; the appliance's JSON messages say why a session was refused or ended.
import { Terminal } from '/static/vendor/xterm/xterm.mjs';
import { FitAddon } from '/static/vendor/xterm/addon-fit.mjs';
import { fetchLink, statusLine } from '/static/remote-session.js';

const root = document.getElementById('terminal');
const statusEl = document.getElementById('terminal-status');
const term = new Terminal({ cursorBlink: true, scrollback: 5000, fontFamily: 'ui-monospace, monospace', fontSize: 14 });
const fit = new FitAddon();
term.loadAddon(fit);
term.open(document.getElementById('terminal-screen'));
fit.fit();
const encoder = new TextEncoder();
let ws;

const status = statusLine(statusEl);

const link = () => fetchLink(root);

const send = (data) => {
  if (ws?.readyState === WebSocket.OPEN) ws.send(data);
};

async function connect() {
  ws?.close();
  status('Connecting…');
  let l;
  try {
    l = await link();
  } catch (e) {
    status(e.message, 'error');
    return;
  }
  const url = new URL(l.socket, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('cols', String(term.cols));
  url.searchParams.set('rows', String(term.rows));
  const s = new WebSocket(url.href);
  ws = s;
  s.binaryType = 'arraybuffer';
  let ended = false;
  s.onopen = () => {
    status('Connected', 'ok');
    term.focus();
  };
  s.onmessage = (e) => {
    if (typeof e.data !== 'string') return term.write(new Uint8Array(e.data));
    const m = JSON.parse(e.data);
    if (m.type === 'error' || m.type === 'closed') {
      ended = true;
      status(m.type === 'error' ? `${m.message}${m.hint ? ` ${m.hint}` : ''}` : `Session ended: ${m.reason}`, 'error');
    }
  };
  s.onclose = () => {
    if (ws === s && !ended) status('Connection lost. Reconnect to open a new session.', 'error');
  };
}

term.onData((d) => send(encoder.encode(d)));
term.onBinary((d) => send(Uint8Array.from(d, (c) => c.charCodeAt(0))));
term.onResize(({ cols, rows }) => send(JSON.stringify({ type: 'resize', cols, rows })));
addEventListener('resize', () => fit.fit());

async function copy() {
  const text = term.getSelection();
  if (text) await navigator.clipboard?.writeText(text);
}
async function paste() {
  const text = await navigator.clipboard?.readText();
  if (text) term.paste(text);
}
term.attachCustomKeyEventHandler((e) => {
  if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return true;
  if (e.code === 'KeyC') return (void copy(), false);
  if (e.code === 'KeyV') return (void paste(), false);
  return true;
});
document.getElementById('terminal-copy').addEventListener('click', () => void copy());
document.getElementById('terminal-paste').addEventListener('click', () => void paste());
document.getElementById('terminal-reconnect').addEventListener('click', () => void connect());

void connect();
