// The collector contract: what a file in collectors/ exports, and what it gets to work with.
import type { Http } from './http.ts'
import type { Logger } from './log.ts'
import type { MetricSpecs, Metrics } from './metrics.ts'
import type { Schema } from './schema.ts'

/** One entry of a source's `targets` in activity.yml, parsed. `id` is its Pushgateway group label. */
export interface Target {
  id: string
}

export interface CollectorContext<S extends MetricSpecs = MetricSpecs, O = unknown> {
  http: Http
  metrics: Metrics<S>
  log: Logger
  now: () => number
  /** The source's `options` from activity.yml, validated. */
  options: O
  /** A setting from the environment (GITHUB_API_URL, ...); settings never come from activity.yml. */
  setting(name: string): string | undefined
  /** A secret: the value of NAME, or the contents of the file NAME_FILE names (how Swarm mounts secrets). */
  secret(name: string): string | undefined
}

export interface Collector<T extends Target = Target, O = unknown, S extends MetricSpecs = MetricSpecs> {
  /** The source name: the key under `sources:` in activity.yml and the `job` label of its metrics. */
  name: string
  /** One line for `activity sources` and the README. */
  description: string
  /** Default cron schedule; activity.yml may override it per source. */
  schedule: string
  /** How one entry of `targets` looks; an error message says what is allowed. */
  targets: Schema<T>
  /** Example target for help texts. */
  example: string
  /** The source's `options` in activity.yml. */
  options?: Schema<O>
  /** Every metric the collector may record, with HELP text and labels. */
  metrics: S
  /** What to tell a person whose rate limit ran out. */
  rateLimitHint?: string
  collect(target: T, ctx: CollectorContext<S, O>): Promise<void>
}

export function defineCollector<T extends Target, O, const S extends MetricSpecs>(collector: Collector<T, O, S>): Collector<T, O, S> {
  return collector
}

/** A collector of any target, options and metrics, as the runtime handles them (collect is a method, so this holds every collector). */
export type AnyCollector = Collector<Target, unknown, MetricSpecs>
