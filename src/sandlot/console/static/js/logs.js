// Following a log group: FilterLogEvents polled from where the last answer ended, each
// event handed over once. The function page's live log and its invocations both read a
// group this way.

const LOOKBACK_MS = 15 * 60 * 1000;
// Each poll asks again from this long before the newest event seen: another stream's
// batch can arrive after a newer event was read (each environment ships its own), and
// a skipped REPORT would leave its invocation "running". Event ids deduplicate.
const SLACK_MS = 3000;

// Calls ``onEvents(events)`` with the new events of ``group`` (matching ``filterPattern``
// when given) every ``everyMs``, and ``onState(text)`` with how it went; returns the
// stopper.
export function followLogs(aws, group, filterPattern, { onEvents, onState, everyMs }) {
  const seen = new Map(); // event id -> timestamp, for the events in the slack window
  let count = 0;
  let since = Date.now() - LOOKBACK_MS;
  let newest = since;
  let stopped = false;
  let timer = null;
  async function poll() {
    try {
      let token;
      do {
        const page = await aws.filterLogEvents(group, since, token, filterPattern);
        const fresh = (page.events || []).filter((event) => !seen.has(event.eventId));
        for (const event of fresh) {
          seen.set(event.eventId, event.timestamp);
          newest = Math.max(newest, event.timestamp);
        }
        count += fresh.length;
        if (fresh.length && !stopped) onEvents(fresh);
        token = page.nextToken;
      } while (token && !stopped);
      since = Math.max(since, newest - SLACK_MS);
      for (const [id, timestamp] of seen) if (timestamp < since) seen.delete(id);
      onState(`${count} events, live`);
    } catch (error) {
      onState(error.code === "ResourceNotFoundException" ? "no log group yet (the function has not run)" : error.message);
    }
    if (!stopped) timer = setTimeout(poll, everyMs);
  }
  poll();
  return () => { stopped = true; clearTimeout(timer); };
}
