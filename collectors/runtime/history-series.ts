// History samples as the series they belong to: checked against the collector's metric specs, given the job and
// target labels of the run, grouped per series and sorted by time. Both sinks (remote write, OpenMetrics) write these.
import type { HistorySample } from './history.ts'
import type { MetricSpecs } from './metrics.ts'

/** The labels a sink adds: the same as the Pushgateway group of the collect run, so history and today are one series. */
export interface SeriesOwner {
  /** The source name (the collector's `job`). */
  job: string
  /** The activity.yml target id. */
  target: string
  /** The target's project (activity.yml projects:), the same label its Pushgateway series carry. */
  project?: string
}

export interface SeriesPoint {
  timestampMs: number
  value: number
}

export interface Series {
  name: string
  /** Every label but __name__, sorted by name; empty values dropped (Prometheus has no empty label). */
  labels: [string, string][]
  /** Sorted by time, one point per timestamp (the last one written wins). */
  points: SeriesPoint[]
}

const reserved = new Set(['job', 'target', 'project', '__name__'])

/** The series key of a sample: name and its sorted labels, as one string. */
function seriesKey(name: string, labels: [string, string][]): string {
  return JSON.stringify([name, labels])
}

/** A sample's full label set: its own labels, then job and target, sorted by name, empty values dropped. */
export function seriesLabels(sample: HistorySample, owner: SeriesOwner): [string, string][] {
  const labels: [string, string][] = [['job', owner.job], ['target', owner.target]]
  if (owner.project) labels.push(['project', owner.project])
  for (const [name, value] of Object.entries(sample.labels)) {
    if (reserved.has(name)) throw new Error(`history sample ${sample.name} carries the label ${name}, which the sink sets; leave it out`)
    if (value !== '') labels.push([name, value])
  }
  return labels.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** Throws (a programming error of the collector) when a sample names an undeclared metric or has no finite value. */
export function checkSample(sample: HistorySample, specs: MetricSpecs): void {
  if (!Object.hasOwn(specs, sample.name)) throw new Error(`history metric ${sample.name} is not declared in the collector's metrics`)
  if (!Number.isFinite(sample.timestampSeconds)) throw new Error(`history sample ${sample.name} has no valid timestamp (${sample.timestampSeconds})`)
  if (typeof sample.value !== 'number' || Number.isNaN(sample.value)) throw new Error(`history sample ${sample.name} has no numeric value (${String(sample.value)})`)
}

/** Groups samples into series (in first-seen order), each sorted by time with one point per timestamp. */
export function toSeries(samples: readonly HistorySample[], owner: SeriesOwner, specs: MetricSpecs): Series[] {
  const byKey = new Map<string, { name: string; labels: [string, string][]; points: Map<number, number> }>()
  for (const sample of samples) {
    checkSample(sample, specs)
    const labels = seriesLabels(sample, owner)
    const key = seriesKey(sample.name, labels)
    let series = byKey.get(key)
    if (!series) byKey.set(key, (series = { name: sample.name, labels, points: new Map() }))
    series.points.set(Math.round(sample.timestampSeconds * 1000), sample.value)
  }
  return [...byKey.values()].map(({ name, labels, points }) => ({
    name,
    labels,
    points: [...points].sort(([a], [b]) => a - b).map(([timestampMs, value]) => ({ timestampMs, value })),
  }))
}
