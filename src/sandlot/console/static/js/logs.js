// Following a log group: FilterLogEvents polled from where the last answer ended, each
// event handed over once. The function page's live log and its invocations both read a
// group this way.

const LOOKBACK_MS = 15 * 60 * 1000;

// Calls ``onEvents(events)`` with the new events of ``group`` (matching ``filterPattern``
// when given) every ``everyMs``, and ``onState(text)`` with how it went; returns the
// stopper.
export function followLogs(aws, group, filterPattern, { onEvents, onState, everyMs }) {
  const seen = new Set();
  let since = Date.now() - LOOKBACK_MS;
  let stopped = false;
  let timer = null;
  async function poll() {
    try {
      let token;
      do {
        const page = await aws.filterLogEvents(group, since, token, filterPattern);
        const fresh = (page.events || []).filter((event) => !seen.has(event.eventId));
        for (const event of fresh) {
          seen.add(event.eventId);
          since = Math.max(since, event.timestamp);
        }
        if (fresh.length && !stopped) onEvents(fresh);
        token = page.nextToken;
      } while (token && !stopped);
      onState(`${seen.size} events, live`);
    } catch (error) {
      onState(error.code === "ResourceNotFoundException" ? "no log group yet (the function has not run)" : error.message);
    }
    if (!stopped) timer = setTimeout(poll, everyMs);
  }
  poll();
  return () => { stopped = true; clearTimeout(timer); };
}
