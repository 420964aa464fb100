// How a machine says its first boot is over: one line on its console (serial port and screen), printed by the
// first-boot script itself after it has checked its own work. Agents print it; drivers that can read a console
// (clouds: EC2 console output, Azure boot diagnostics) watch for it.

/** `GLASSDOME-READY <resource name>`: first boot ran and its self-checks passed. */
export const readyMarker = 'GLASSDOME-READY';
/** `GLASSDOME-FAILED <resource name>: <reason>`: first boot stopped; the reason names what was missing. */
export const failedMarker = 'GLASSDOME-FAILED';

export type FirstBootOutcome = { state: 'ready' } | { state: 'failed'; reason: string } | undefined;

/** The outcome a console text reports for one machine, or undefined while it has said nothing yet. */
export function firstBootOutcome(consoleText: string, resourceName: string): FirstBootOutcome {
  let outcome: FirstBootOutcome;
  for (const raw of consoleText.split(/\r?\n/)) {
    const line = raw.trim();
    const at = line.indexOf(readyMarker);
    if (
      at >= 0 &&
      line
        .slice(at + readyMarker.length)
        .trim()
        .split(/\s/)[0] === resourceName
    )
      outcome = { state: 'ready' };
    const failedAt = line.indexOf(failedMarker);
    if (failedAt >= 0) {
      const rest = line.slice(failedAt + failedMarker.length).trim();
      if (rest.startsWith(`${resourceName}:`) || rest === resourceName)
        outcome = { state: 'failed', reason: rest.slice(resourceName.length + 1).trim() || 'first boot failed' };
    }
  }
  return outcome;
}
