// The console page: asks the appliance for a single-use link, then opens noVNC on the appliance's WebSocket.
// Ctrl+Alt+Del, fullscreen, reconnect, and paste typed as keystrokes (and offered as clipboard text).
import RFB from '/static/vendor/novnc/core/rfb.js';
import KeyTable from '/static/vendor/novnc/core/input/keysym.js';
import keysyms from '/static/vendor/novnc/core/input/keysymdef.js';
import { fetchLink, statusLine } from '/static/remote-session.js';

const root = document.getElementById('console');
const screen = document.getElementById('console-screen');
const statusEl = document.getElementById('console-status');
let rfb;

const status = statusLine(statusEl);

const link = () => fetchLink(root);

async function connect() {
  if (rfb) {
    const old = rfb;
    rfb = undefined;
    old.disconnect();
  }
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
  const r = new RFB(screen, url.href, { wsProtocols: ['binary'] });
  rfb = r;
  r.scaleViewport = true;
  r.focusOnClick = true;
  let refused = false;
  r.addEventListener('connect', () => {
    status('Connected', 'ok');
    r.focus();
  });
  r.addEventListener('securityfailure', (e) => {
    refused = true;
    status(e.detail.reason || 'The console was refused', 'error');
  });
  r.addEventListener('disconnect', (e) => {
    if (rfb !== r || refused) return;
    status(
      e.detail.clean ? 'Disconnected. Reconnect to open it again.' : 'Connection lost. Reconnect to try again.',
      'error',
    );
  });
}

document.getElementById('console-cad').addEventListener('click', () => rfb?.sendCtrlAltDel());
document.getElementById('console-fullscreen').addEventListener('click', () => screen.requestFullscreen?.());
document.getElementById('console-reconnect').addEventListener('click', () => void connect());
document.getElementById('console-paste').addEventListener('submit', (e) => {
  e.preventDefault();
  const area = document.getElementById('console-paste-text');
  const text = area.value;
  if (!rfb || !text) return;
  // Guests without a clipboard agent only see keys: each character is typed; the text is also offered as a cut.
  rfb.clipboardPasteFrom(text);
  for (const ch of text) {
    if (ch === '\n') rfb.sendKey(KeyTable.XK_Return, 'Enter');
    else if (ch === '\t') rfb.sendKey(KeyTable.XK_Tab, 'Tab');
    else rfb.sendKey(keysyms.lookup(ch.codePointAt(0)), null);
  }
  area.value = '';
  rfb.focus();
});

void connect();
