// One run of a collector: collect every target completely, then push each target's group once. The targets share one
// rate-limit budget: a limit the run cannot wait out stops it, and the targets after it are reported, not attempted.
import { readFileSync } from 'node:fs'
import { Cron } from 'croner'
import { projectOf, runShared, soloRun, type AnyCollector, type CollectorContext, type RunShared, type Target } from './define.ts'
import { oneLine } from './errors.ts'
import { noHistorySink, type HistorySink } from './history.ts'
import { createHttp, type HttpOptions } from './http.ts'
import type { Logger } from './log.ts'
import { createMetricSet, type MetricSpecs } from './metrics.ts'
import { createPrintingSink } from './openmetrics.ts'
import { pushGroup, type PushOptions } from './push.ts'
import { createBudget, maxWaitSecondsFrom, maxWaitSetting, realClock, type Budget, type Clock, type RateLimit } from './rate-limit.ts'
import { forwardsOf } from './history-progress.ts'
import { createRemoteWriteSink } from './remote-write.ts'

/** Pushed with the data, so it only moves when a run succeeded. */
export const successSpecs = {
  activity_collector_last_success_timestamp_seconds: { help: 'Unix time at which the last successful run of this collector for this target finished.', labels: [] },
} as const satisfies MetricSpecs

/** Pushed on every run, success or not, to the group {job, target, group="health"}. */
export const healthSpecs = {
  activity_collector_last_run_timestamp_seconds: { help: 'Unix time at which the last run of this collector for this target finished, successful or not.', labels: [] },
  activity_collector_last_run_success: { help: '1 if the last run of this collector for this target succeeded and was pushed, 0 if it failed or was not attempted.', labels: [] },
  activity_collector_duration_seconds: { help: 'Wall-clock duration of the last run for this target, in seconds, rate-limit waits included.', labels: [] },
  activity_collector_api_requests: { help: 'HTTP requests the last run sent to the API for this target, retries included.', labels: [] },
  activity_collector_rate_limit_points: {
    help: 'Rate-limit points the last run spent for this target, as the API billed them: GitHub GraphQL points (the cost each answer reports), one per GitHub REST request. Absent for APIs that report no cost.',
    labels: [],
  },
  activity_collector_samples: { help: 'Samples the last run recorded for this target (0 when it failed).', labels: [] },
  activity_collector_rate_limit_remaining: { help: 'API requests (or GraphQL points) left in the rate-limit window, as the API reported it at the end of the last run.', labels: [] },
  activity_collector_rate_limit_reset_timestamp_seconds: { help: 'Unix time at which the API rate-limit window resets, as the API reported it.', labels: [] },
  activity_collector_schedule_interval_seconds: { help: 'Longest gap between two scheduled runs of this collector, in seconds: alert when a success is older than two of them.', labels: [] },
} as const satisfies MetricSpecs

export interface RunSettings {
  /** Environment the settings and secrets are read from. */
  env: Record<string, string | undefined>
  log: Logger
  now?: () => number
  /** How the run waits (backoffs, rate limits); tests pass one that only moves their `now`. */
  sleep?: (ms: number) => Promise<void>
  http?: Omit<HttpOptions, 'log' | 'clock' | 'budget' | 'rateLimitHint'>
  push?: Omit<PushOptions, 'log'>
  /** Where the samples collectors write with their own timestamps go; without one, writing them fails the target. */
  history?: HistorySink
}

export interface RunRequest {
  collector: AnyCollector
  targets: Target[]
  options: unknown
  schedule: string
  /** Push here; without it the exposition text goes to `print`. */
  pushgateway?: string
  /** The metrics Prometheus (base URL): ctx.history writes there. Without it, printed with the text, or refused when pushing. */
  prometheus?: string
  print?: (text: string) => void
}

export interface TargetResult {
  target: string
  ok: boolean
  error?: string
  /** The run stopped on a rate limit before this target: nothing was asked for it. */
  notAttempted?: boolean
  requests: number
  /** Rate-limit points spent, when the collector reports them. */
  points?: number
  samples: number
  durationSeconds: number
}

/** Longest gap between consecutive runs of a cron schedule, looking at the next few runs. */
export function scheduleIntervalSeconds(schedule: string, from = new Date()): number {
  const runs = new Cron(schedule, { paused: true }).nextRuns(8, from)
  let longest = 0
  for (let i = 1; i < runs.length; i++) longest = Math.max(longest, runs[i]!.getTime() - runs[i - 1]!.getTime())
  return longest / 1000
}

export function settingsReader(env: Record<string, string | undefined>): Pick<CollectorContext, 'setting' | 'secret'> {
  const setting = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name])
  return {
    setting,
    secret(name) {
      const direct = setting(name)
      if (direct) return direct.trim()
      const file = setting(`${name}_FILE`)
      if (!file) return undefined
      try {
        return readFileSync(file, 'utf8').trim() || undefined
      } catch (error) {
        throw new Error(`${name}_FILE=${file} cannot be read (${(error as NodeJS.ErrnoException).code}); mount the secret or unset ${name}_FILE`)
      }
    },
  }
}

function clockOf(settings: RunSettings): Clock {
  return { now: settings.now ?? realClock.now, sleep: settings.sleep ?? realClock.sleep }
}

/** The budget of one run of `collector`: its waits bounded by <SOURCE>_MAX_WAIT_SECONDS (a UsageError when that is not seconds). */
export function runBudget(collector: AnyCollector, env: Record<string, string | undefined>): Budget {
  const setting = maxWaitSetting(collector.name)
  return createBudget({ maxWaitMs: maxWaitSecondsFrom(env, setting) * 1000, maxWaitSetting: setting, requestRate: collector.requestRate })
}

interface Health {
  started: number
  finished: number
  ok: boolean
  requests: number
  points: number | undefined
  samples: number
  rateLimit: RateLimit | undefined
}

/** The health group, pushed (or printed) on every run; a lost push is logged, and the alert on last success covers it. */
async function reportHealth(request: RunRequest, target: Target, health: Health, settings: RunSettings, log: Logger): Promise<void> {
  const metrics = createMetricSet(healthSpecs)
  metrics.registry.setDefaultLabels({ project: projectOf(target) })
  metrics.gauge('activity_collector_last_run_timestamp_seconds', health.finished / 1000, {})
  metrics.gauge('activity_collector_last_run_success', health.ok ? 1 : 0, {})
  metrics.gauge('activity_collector_duration_seconds', (health.finished - health.started) / 1000, {})
  metrics.gauge('activity_collector_api_requests', health.requests, {})
  metrics.gauge('activity_collector_rate_limit_points', health.points, {})
  metrics.gauge('activity_collector_samples', health.samples, {})
  metrics.gauge('activity_collector_rate_limit_remaining', health.rateLimit?.remaining, {})
  metrics.gauge('activity_collector_rate_limit_reset_timestamp_seconds', health.rateLimit?.resetAt && health.rateLimit.resetAt.getTime() / 1000, {})
  metrics.gauge('activity_collector_schedule_interval_seconds', scheduleIntervalSeconds(request.schedule, new Date(health.finished)), {})
  try {
    const grouping = { job: request.collector.name, target: target.id, group: 'health' }
    if (request.pushgateway) await pushGroup(request.pushgateway, grouping, await metrics.exposition(), { ...settings.push, log })
    else request.print?.(`# ${request.collector.name} target=${target.id} health\n${await metrics.exposition()}`)
  } catch (caught) {
    log.error('health push failed', { reason: oneLine(caught) })
  }
}

/** Where the metrics Prometheus forwards, asked once per run (by its first history write). */
const forwards = new WeakMap<RunRequest, Promise<string[]>>()

/** Where a collect run's timestamped samples go: the metrics Prometheus, the printed text (--stdout), or nowhere (refused). */
function historySinkOf(request: RunRequest, target: Target, settings: RunSettings, log: Logger): HistorySink {
  const owner = { job: request.collector.name, target: target.id, project: projectOf(target) }
  const prometheus = request.prometheus
  if (prometheus) {
    // Made at the first write: a collect run that writes no history never asks the Prometheus where it forwards.
    let sink: HistorySink | undefined
    return {
      async write(samples) {
        if (!forwards.has(request)) forwards.set(request, forwardsOf(prometheus, log))
        sink ??= createRemoteWriteSink(prometheus, owner, request.collector.metrics, { log, ...settings.push, forwardTo: await forwards.get(request)! })
        await sink.write(samples)
      },
      async close() {},
    }
  }
  if (!request.pushgateway && request.print) return createPrintingSink(owner, request.collector.metrics, request.print)
  return noHistorySink
}

export async function runTarget(
  request: RunRequest,
  target: Target,
  settings: RunSettings,
  budget = runBudget(request.collector, settings.env),
  shared: RunShared = soloRun(target),
): Promise<TargetResult> {
  const { collector } = request
  const clock = clockOf(settings)
  const log = settings.log.child({ source: collector.name, target: target.id })
  const http = createHttp({ ...settings.http, log, clock, budget, rateLimitHint: collector.rateLimitHint })
  const data = createMetricSet({ ...collector.metrics, ...successSpecs })
  // Every series of the target carries its project (activity.yml projects:), pushed with the data.
  data.registry.setDefaultLabels({ project: projectOf(target) })
  const history = settings.history ?? historySinkOf(request, target, settings, log)
  const started = clock.now()
  let error: unknown
  log.info('collecting')
  try {
    await collector.collect(target, { http, metrics: data, log, now: clock.now, options: request.options, history, run: shared, ...settingsReader(settings.env) })
    await history.close()
  } catch (caught) {
    error = caught
  }
  const finished = clock.now()

  if (!error) {
    data.gauge('activity_collector_last_success_timestamp_seconds', finished / 1000, {})
    try {
      if (request.pushgateway) await pushGroup(request.pushgateway, { job: collector.name, target: target.id }, await data.exposition(), { ...settings.push, log })
      else request.print?.(`# ${collector.name} target=${target.id}\n${await data.exposition()}`)
    } catch (caught) {
      error = caught
    }
  }

  const samples = error ? 0 : data.samples - 1
  const rateLimit = http.rateLimit ?? budget.last
  await reportHealth(request, target, { started, finished, ok: !error, requests: http.requests, points: http.points, samples, rateLimit }, settings, log)

  const result: TargetResult = { target: target.id, ok: !error, requests: http.requests, points: http.points, samples, durationSeconds: (finished - started) / 1000 }
  if (error) {
    result.error = oneLine(error)
    log.error('run failed; nothing pushed for this target', { reason: result.error, requests: http.requests, points: http.points })
  } else {
    log.info('collected', { samples, requests: result.requests, points: result.points, seconds: result.durationSeconds, pushed: Boolean(request.pushgateway) })
  }
  return result
}

/** A target after the run ran out of budget: nothing is asked, its health says the run did not collect it. */
async function notAttempted(request: RunRequest, target: Target, settings: RunSettings, budget: Budget, reason: string): Promise<TargetResult> {
  const log = settings.log.child({ source: request.collector.name, target: target.id })
  const now = clockOf(settings).now()
  await reportHealth(request, target, { started: now, finished: now, ok: false, requests: 0, points: undefined, samples: 0, rateLimit: budget.last }, settings, log)
  return { target: target.id, ok: false, notAttempted: true, error: `not attempted: ${reason}`, requests: 0, samples: 0, durationSeconds: 0 }
}

/**
 * Runs every target in turn, on one rate-limit budget. A failing target does not stop the others, except a rate limit
 * the run may not wait out: each target after it would spend a request to learn the same, so they are not attempted.
 */
export async function runCollector(request: RunRequest, settings: RunSettings): Promise<TargetResult[]> {
  const budget = runBudget(request.collector, settings.env)
  const shared = runShared(request.targets)
  const log = settings.log.child({ source: request.collector.name })
  const results: TargetResult[] = []
  for (const [index, target] of request.targets.entries()) {
    const stopped = budget.stopped
    if (!stopped) {
      results.push(await runTarget(request, target, settings, budget, shared))
      continue
    }
    const reason = `the rate limit ran out before it (${oneLine(stopped)})`
    if (!results.some((r) => r.notAttempted)) {
      const rest = request.targets.slice(index).map((t) => t.id)
      log.warn('rate limit exhausted: the run stops, the remaining targets are not attempted', { notAttempted: rest, retryAfter: stopped.resetAt?.toISOString(), reason: oneLine(stopped) })
    }
    results.push(await notAttempted(request, target, settings, budget, reason))
  }
  const spent = results.filter((r) => r.points !== undefined)
  log.info('run finished', {
    targets: results.length,
    failed: results.filter((r) => !r.ok).length,
    notAttempted: results.filter((r) => r.notAttempted).length,
    requests: results.reduce((sum, r) => sum + r.requests, 0),
    points: spent.length ? spent.reduce((sum, r) => sum + r.points!, 0) : undefined,
    rateLimitRemaining: budget.last?.remaining,
    rateLimitReset: budget.last?.resetAt?.toISOString(),
  })
  return results
}
