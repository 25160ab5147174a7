// The collector contract: what a file in collectors/ exports, and what it gets to work with.
import type { HistoryProgress, HistorySink } from './history.ts'
import type { Http } from './http.ts'
import type { Logger } from './log.ts'
import type { MetricSpecs, Metrics } from './metrics.ts'
import type { RequestRate } from './rate-limit.ts'
import type { Schema } from './schema.ts'

/** One entry of a source's `targets` in activity.yml, parsed. `id` is its Pushgateway group label. */
export interface Target {
  id: string
  /** The project activity.yml's projects: puts it in; absent: the target is its own project (see projectOf). */
  project?: string
}

/** The `project` label of a target's series: its project in activity.yml, else its own id. */
export function projectOf(target: Target): string {
  return target.project ?? target.id
}

/** What the targets of one run share: an API that answers several targets in one request (npm's bulk form) asks once. */
export interface RunShared {
  /** Every target of the run, in order. */
  targets: readonly Target[]
  /** `load()`'s promise for `key`, made once per run: the first target that needs it asks (and counts the requests). */
  once<V>(key: string, load: () => Promise<V>): Promise<V>
}

/** A run of one target alone: nothing to share. */
export function soloRun(target: Target): RunShared {
  const loaded = new Map<string, Promise<unknown>>()
  return runShared([target], loaded)
}

export function runShared(targets: readonly Target[], loaded = new Map<string, Promise<unknown>>()): RunShared {
  return {
    targets,
    once<V>(key: string, load: () => Promise<V>): Promise<V> {
      if (!loaded.has(key)) loaded.set(key, load())
      return loaded.get(key) as Promise<V>
    },
  }
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
  /**
   * Samples with their own timestamps (traffic days, downloads per day): the history path, not the Pushgateway.
   * The runtime decides where they go (the metrics Prometheus, or printed with --stdout / --openmetrics).
   */
  history: HistorySink
  /** The run's other targets and the answers they share; absent when a target runs alone. */
  run?: RunShared
}

/** What `history` gets: the collect context plus where its backfill stands. */
export interface HistoryContext<S extends MetricSpecs = MetricSpecs, O = unknown> extends CollectorContext<S, O> {
  /** How far each series' backfill is written (resume after a failure or restart); keys are the collector's own. */
  progress: HistoryProgress
  /** --since: write nothing older than this (Unix seconds); undefined means from the beginning. */
  since?: number
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
  /** The API's documented request rates (per address): every request of a run waits its turn to stay within them. */
  requestRate?: readonly RequestRate[]
  collect(target: T, ctx: CollectorContext<S, O>): Promise<void>
  /** Backfill: write the target's past (stars since creation, ...) through ctx.history, resumable through ctx.progress. */
  history?(target: T, ctx: HistoryContext<S, O>): Promise<void>
}

export function defineCollector<T extends Target, O, const S extends MetricSpecs>(collector: Collector<T, O, S>): Collector<T, O, S> {
  return collector
}

/** A collector of any target, options and metrics, as the runtime handles them (collect is a method, so this holds every collector). */
export type AnyCollector = Collector<Target, unknown, MetricSpecs>
