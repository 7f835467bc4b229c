// A function's standard AWS/Lambda metrics over the last hour (GetMetricData, one-minute
// periods), each a line chart of the datapoints CloudWatch answered.

import { lineChart } from "../charts.js";
import { el, errorBox } from "../dom.js";

const WINDOW_MS = 60 * 60 * 1000;
const METRICS = [
  ["invocations", "Invocations", "Sum", "count"], ["errors", "Errors", "Sum", "count"],
  ["duration", "Duration", "Average", "ms"], ["throttles", "Throttles", "Sum", "count"],
  ["concurrent", "ConcurrentExecutions", "Maximum", "count"],
];

// Fills ``target`` with the charts of ``functionName``; call again to refresh.
export async function showMetrics(aws, functionName, target) {
  const to = Date.now();
  const from = to - WINDOW_MS;
  try {
    const answer = await aws.cloudwatch("GetMetricData", {
      StartTime: Math.floor(from / 1000), EndTime: Math.ceil(to / 1000), ScanBy: "TimestampAscending",
      MetricDataQueries: METRICS.map(([id, name, stat]) => ({
        Id: id, ReturnData: true,
        MetricStat: { Period: 60, Stat: stat, Metric: { Namespace: "AWS/Lambda", MetricName: name,
          Dimensions: [{ Name: "FunctionName", Value: functionName }] } },
      })),
    });
    const results = new Map((answer.MetricDataResults || []).map((r) => [r.Id, r]));
    target.replaceChildren(...METRICS.map(([id, name, stat, unit]) => {
      const result = results.get(id) || { Timestamps: [], Values: [] };
      const points = (result.Timestamps || []).map((t, i) => [epochMs(t), result.Values[i]]);
      return el("figure", { class: "metric", "data-metric": name, "data-points": points.length },
        el("figcaption", {}, `${name} (${stat}, ${unit}, 1 min)`),
        lineChart(points, { from, to, unit }),
        points.length ? null : el("p", { class: "hint" }, "no datapoints in the last hour"));
    }));
  } catch (error) {
    target.replaceChildren(errorBox(error));
  }
}

// The JSON protocol answers epoch seconds; an ISO string is taken too.
function epochMs(timestamp) {
  return typeof timestamp === "number" ? timestamp * 1000 : Date.parse(timestamp);
}
