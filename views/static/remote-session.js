// What the console and the terminal pages share: the status line, and asking the appliance for a single-use link.

/** Sets the page's status line: its text and its kind (`ok`, `error` or none). */
export function statusLine(el) {
  return (text, kind = '') => {
    el.textContent = text;
    el.className = `remote-status ${kind}`;
  };
}

/** Asks for a link to the machine's socket (POST with the session's CSRF token); an error names why, with its hint. */
export async function fetchLink(root) {
  const r = await fetch(root.dataset.link, {
    method: 'POST',
    headers: { 'X-CSRF-Token': root.dataset.csrf, Accept: 'application/json' },
    credentials: 'same-origin',
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = body.error ?? {};
    throw new Error(`${e.message ?? `HTTP ${r.status}`}${e.hint ? ` ${e.hint}` : ''}`);
  }
  return body;
}
