// One run of a collector: collect every target completely, then push each target's group once.
import { readFileSync } from 'node:fs'
import { Cron } from 'croner'
import type { AnyCollector, CollectorContext, Target } from './define.ts'
import { oneLine } from './errors.ts'
import { createHttp, type HttpOptions } from './http.ts'
import type { Logger } from './log.ts'
import { createMetricSet, type MetricSpecs } from './metrics.ts'
import { pushGroup, type PushOptions } from './push.ts'

/** Pushed with the data, so it only moves when a run succeeded. */
export const successSpecs = {
  activity_collector_last_success_timestamp_seconds: { help: 'Unix time at which the last successful run of this collector for this target finished.', labels: [] },
} as const satisfies MetricSpecs

/** Pushed on every run, success or not, to the group {job, target, group="health"}. */
export const healthSpecs = {
  activity_collector_last_run_timestamp_seconds: { help: 'Unix time at which the last run of this collector for this target finished, successful or not.', labels: [] },
  activity_collector_last_run_success: { help: '1 if the last run of this collector for this target succeeded and was pushed, 0 if it failed.', labels: [] },
  activity_collector_duration_seconds: { help: 'Wall-clock duration of the last run for this target, in seconds.', labels: [] },
  activity_collector_api_requests: { help: 'HTTP requests the last run sent to the API for this target, retries included.', labels: [] },
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
  http?: Omit<HttpOptions, 'log' | 'now' | 'rateLimitHint'>
  push?: Omit<PushOptions, 'log'>
}

export interface RunRequest {
  collector: AnyCollector
  targets: Target[]
  options: unknown
  schedule: string
  /** Push here; without it the exposition text goes to `print`. */
  pushgateway?: string
  print?: (text: string) => void
}

export interface TargetResult {
  target: string
  ok: boolean
  error?: string
  requests: number
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

export async function runTarget(request: RunRequest, target: Target, settings: RunSettings): Promise<TargetResult> {
  const { collector } = request
  const now = settings.now ?? Date.now
  const log = settings.log.child({ source: collector.name, target: target.id })
  const http = createHttp({ ...settings.http, log, now, rateLimitHint: collector.rateLimitHint })
  const data = createMetricSet({ ...collector.metrics, ...successSpecs })
  const started = now()
  let error: unknown
  log.info('collecting')
  try {
    await collector.collect(target, { http, metrics: data, log, now, options: request.options, ...settingsReader(settings.env) })
  } catch (caught) {
    error = caught
  }
  const finished = now()
  const grouping = { job: collector.name, target: target.id }
  const pushOptions = { ...settings.push, log }

  if (!error) {
    data.gauge('activity_collector_last_success_timestamp_seconds', finished / 1000, {})
    try {
      if (request.pushgateway) await pushGroup(request.pushgateway, grouping, await data.exposition(), pushOptions)
      else request.print?.(`# ${collector.name} target=${target.id}\n${await data.exposition()}`)
    } catch (caught) {
      error = caught
    }
  }

  const health = createMetricSet(healthSpecs)
  health.gauge('activity_collector_last_run_timestamp_seconds', finished / 1000, {})
  health.gauge('activity_collector_last_run_success', error ? 0 : 1, {})
  health.gauge('activity_collector_duration_seconds', (finished - started) / 1000, {})
  health.gauge('activity_collector_api_requests', http.requests, {})
  health.gauge('activity_collector_samples', error ? 0 : data.samples - 1, {})
  health.gauge('activity_collector_rate_limit_remaining', http.rateLimit?.remaining, {})
  health.gauge('activity_collector_rate_limit_reset_timestamp_seconds', http.rateLimit?.resetAt && http.rateLimit.resetAt.getTime() / 1000, {})
  health.gauge('activity_collector_schedule_interval_seconds', scheduleIntervalSeconds(request.schedule, new Date(finished)), {})
  try {
    if (request.pushgateway) await pushGroup(request.pushgateway, { ...grouping, group: 'health' }, await health.exposition(), pushOptions)
    else request.print?.(await health.exposition())
  } catch (caught) {
    // The data (if any) is pushed; a lost health push is logged, and the alert on last success covers it.
    log.error('health push failed', { reason: oneLine(caught) })
  }

  const result: TargetResult = {
    target: target.id,
    ok: !error,
    requests: http.requests,
    samples: error ? 0 : data.samples - 1,
    durationSeconds: (finished - started) / 1000,
  }
  if (error) {
    result.error = oneLine(error)
    log.error('run failed; nothing pushed for this target', { reason: result.error, requests: http.requests })
  } else {
    log.info('collected', { samples: result.samples, requests: result.requests, seconds: result.durationSeconds, pushed: Boolean(request.pushgateway) })
  }
  return result
}

/** Runs every target in turn; one failing target does not stop the others. */
export async function runCollector(request: RunRequest, settings: RunSettings): Promise<TargetResult[]> {
  const results: TargetResult[] = []
  for (const target of request.targets) results.push(await runTarget(request, target, settings))
  return results
}
