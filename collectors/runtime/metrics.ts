// The metrics a collector records in one run, on a prom-client registry that is pushed (or printed) only at the end.
// The two prom-client modules we use, not its index: the index also loads default metrics, cluster
// aggregation, summaries and OpenTelemetry exemplars, which double a collector's start-up cost.
import Gauge from 'prom-client/lib/gauge.js'
import Registry from 'prom-client/lib/registry.js'
import type { Gauge as GaugeType, Registry as RegistryType } from 'prom-client'

export interface MetricSpec {
  /** HELP text: what the value means, for a dashboard author who has not read the code. */
  help: string
  /** Identity labels; never values that grow without bound. */
  labels: readonly string[]
}
export type MetricSpecs = Record<string, MetricSpec>

export type LabelsOf<S extends MetricSpecs, N extends keyof S> = { [L in S[N]['labels'][number]]: string }

export interface Metrics<S extends MetricSpecs> {
  /** Records a value; null or undefined (a field the API left empty) records nothing. */
  gauge<N extends keyof S & string>(name: N, value: number | null | undefined, labels: LabelsOf<S, N>): void
}

export interface MetricSet<S extends MetricSpecs> extends Metrics<S> {
  registry: RegistryType
  /** How many samples were recorded. */
  readonly samples: number
  exposition(): Promise<string>
}

export function createMetricSet<S extends MetricSpecs>(specs: S): MetricSet<S> {
  const registry = new Registry()
  const gauges = new Map<string, GaugeType>()
  let samples = 0
  return {
    registry,
    get samples() {
      return samples
    },
    gauge(name, value, labels) {
      if (value === null || value === undefined || Number.isNaN(value)) return
      const spec = specs[name]
      if (!spec) throw new Error(`metric ${name} is not declared in the collector's metrics`)
      let gauge = gauges.get(name)
      if (!gauge) {
        gauge = new Gauge({ name, help: spec.help, labelNames: [...spec.labels], registers: [registry] })
        gauges.set(name, gauge)
      }
      gauge.set(labels as Record<string, string>, value)
      samples++
    },
    exposition: () => registry.metrics(),
  }
}

/** An API time (ISO 8601) as Unix seconds, the Prometheus unit for times; undefined when absent. */
export function toSeconds(time: string | null | undefined): number | undefined {
  if (!time) return undefined
  const ms = Date.parse(time)
  return Number.isFinite(ms) ? ms / 1000 : undefined
}
