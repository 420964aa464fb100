// A machine's browser console (noVNC) and web terminal (xterm.js): the page frame and toolbar; the page script asks
// the appliance for a single-use link and opens the WebSocket. Nothing here carries a platform address or secret.
export interface RemoteAccessProps {
  deploymentId: string;
  machine: { key: string; hostname: string; instance: number; os: string };
  csrf: string;
}

function Crumbs({ p, what }: { p: RemoteAccessProps; what: string }) {
  const machine = `/deployments/${p.deploymentId}/machines/${encodeURIComponent(p.machine.key)}`;
  return (
    <p class="crumbs">
      <a href="/deployments">Deployments</a> / <a href={`/deployments/${p.deploymentId}`}>{p.deploymentId}</a> /{' '}
      <a href={machine}>{p.machine.hostname}</a> / {what}
    </p>
  );
}

const base = (p: RemoteAccessProps) => `/deployments/${p.deploymentId}/machines/${encodeURIComponent(p.machine.key)}`;

export function ConsolePage(p: RemoteAccessProps) {
  return (
    <div class="remote" id="console" data-link={`${base(p)}/console/link`} data-csrf={p.csrf}>
      <Crumbs p={p} what="console" />
      <h1>
        Console of {p.machine.hostname} <small class="muted">i{p.machine.instance}</small>
      </h1>
      <div class="remote-toolbar">
        <button type="button" id="console-cad">
          Ctrl+Alt+Del
        </button>
        <button type="button" id="console-fullscreen">
          Fullscreen
        </button>
        <button type="button" id="console-reconnect">
          Reconnect
        </button>
        <span id="console-status" class="remote-status" role="status">
          Connecting…
        </span>
      </div>
      <div id="console-screen" class="console-screen" tabindex={0}></div>
      <form id="console-paste" class="remote-paste">
        <label for="console-paste-text">Paste: typed into the console as keystrokes</label>
        <textarea
          id="console-paste-text"
          rows={2}
          maxlength={4000}
          placeholder="Text to type into the machine"
        ></textarea>
        <button type="submit">Type it</button>
      </form>
      <script type="module" src="/static/console.js"></script>
    </div>
  );
}

export function TerminalPage(p: RemoteAccessProps) {
  return (
    <div class="remote" id="terminal" data-link={`${base(p)}/terminal/link`} data-csrf={p.csrf}>
      <Crumbs p={p} what="terminal" />
      <h1>
        Terminal on {p.machine.hostname} <small class="muted">i{p.machine.instance}</small>
      </h1>
      <div class="remote-toolbar">
        <button type="button" id="terminal-copy">
          Copy selection
        </button>
        <button type="button" id="terminal-paste">
          Paste
        </button>
        <button type="button" id="terminal-reconnect">
          Reconnect
        </button>
        <span id="terminal-status" class="remote-status" role="status">
          Connecting…
        </span>
      </div>
      <link rel="stylesheet" href="/static/vendor/xterm/xterm.css" />
      <div id="terminal-screen" class="terminal-screen"></div>
      <p class="muted">
        Ctrl+Shift+C copies the selection, Ctrl+Shift+V pastes. The session ends after a while without typing.
      </p>
      <script type="module" src="/static/terminal.js"></script>
    </div>
  );
}
