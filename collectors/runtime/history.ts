// The history path's contract: samples that carry their own timestamps (stars since a repository's creation, traffic
// days, registry downloads per day). The Pushgateway cannot carry timestamps, so these go into the metrics Prometheus
// another way (see history-write.ts); `activity history --openmetrics` prints them instead.
//
// A history sample is the same series as the current value a collector pushes: same metric name, same labels, plus
// job=<source> and target=<activity.yml target id>, which the sink adds. So one PromQL query shows history and today.

/** One value of one series at one instant. */
export interface HistorySample {
  /** The metric's name, declared in the collector's `metrics` (HELP and labels come from there). */
  name: string
  /** The metric's own labels (owner, repository, ...); job and target are added by the sink. */
  labels: Record<string, string>
  /** Unix seconds. Daily samples use 00:00:00 UTC of their day and hold the value at that instant. */
  timestampSeconds: number
  value: number
}

/** Where history goes. Writing the same (series, timestamp) twice leaves one sample with that value. */
export interface HistorySink {
  /** Writes a batch; resolves once it is stored (remote write acknowledged, or text printed). Throws on failure. */
  write(samples: readonly HistorySample[]): Promise<void>
  /** Flushes whatever is buffered (the OpenMetrics sink writes `# EOF` here). */
  close(): Promise<void>
}

/**
 * How far a backfill is written, per key the collector chooses (`stars/owner/repo`, ...). Kept where the history is
 * (the metrics Prometheus), so a job on any node resumes where the last one stopped.
 */
export interface HistoryProgress {
  /** The value last set for key (a Unix time, a cursor's position...), or undefined when nothing was written yet. */
  get(key: string): Promise<number | undefined>
  set(key: string, value: number): Promise<void>
}

/** 00:00:00 UTC of the day `seconds` falls in, in Unix seconds. */
export function utcDayStart(seconds: number): number {
  return Math.floor(seconds / 86_400) * 86_400
}

/** The sink of a run that has no history path configured: a collector that writes history there fails, saying so. */
export const noHistorySink: HistorySink = {
  async write() {
    throw new Error('this run has no history path: set METRICS_PROMETHEUS_URL (or pass --prometheus URL) so samples with their own timestamps reach the metrics Prometheus (see README, "History")')
  },
  async close() {},
}
