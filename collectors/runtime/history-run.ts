// One run of a collector's history (`activity history`, and the scheduled <source>-history job): per target, the
// collector writes the past through ctx.history into the metrics Prometheus (or an OpenMetrics document) and keeps
// ctx.progress there, so the next run continues. The targets share one rate-limit budget, as in a collect run.
import { projectOf, runShared, soloRun, type AnyCollector, type HistoryContext, type RunShared, type Target } from './define.ts'
import { ActivityError, oneLine } from './errors.ts'
import type { HistoryProgress, HistorySink } from './history.ts'
import { createMemoryProgress, createPrometheusProgress, forwardsOf, readRetentionSeconds } from './history-progress.ts'
import { createHttp } from './http.ts'
import type { Logger } from './log.ts'
import { createMetricSet, type MetricSpecs } from './metrics.ts'
import type { OpenMetricsDocument } from './openmetrics.ts'
import { pushGroup } from './push.ts'
import { realClock, type Budget } from './rate-limit.ts'
import { createRemoteWriteSink } from './remote-write.ts'
import { runBudget, scheduleIntervalSeconds, settingsReader, type RunSettings, type TargetResult } from './run.ts'

/** Pushed on every history run, success or not, to the group {job, target, group="history-health"}. */
export const historyHealthSpecs = {
  activity_history_last_run_timestamp_seconds: { help: 'Unix time at which the last history run of this collector for this target finished, successful or not.', labels: [] },
  activity_history_last_run_success: { help: '1 if the last history run of this collector for this target finished without error, 0 if it failed.', labels: [] },
  activity_history_duration_seconds: { help: 'Wall-clock duration of the last history run for this target, in seconds.', labels: [] },
  activity_history_api_requests: { help: 'HTTP requests the last history run sent to the API for this target, retries included.', labels: [] },
  activity_history_rate_limit_points: { help: 'Rate-limit points the last history run spent for this target, as the API billed them. Absent for APIs that report no cost.', labels: [] },
  activity_history_samples_written: { help: 'History samples the last history run wrote for this target (kept also when the run failed later).', labels: [] },
  activity_history_schedule_interval_seconds: { help: 'Longest gap between two scheduled history runs of this collector, in seconds.', labels: [] },
} as const satisfies MetricSpecs

/** Pushed with the values the collector recorded in ctx.metrics, only when the run succeeded: group="history". */
export const historySuccessSpecs = {
  activity_history_last_success_timestamp_seconds: { help: 'Unix time at which the last successful history run of this collector for this target finished.', labels: [] },
} as const satisfies MetricSpecs

/** The most samples one history run writes (all targets): the metrics Prometheus holds out-of-order samples in memory until its next head compaction (up to 3 hours), and replays them all on a restart in that time. */
export const defaultMaxSamples = 1_000_000

/** What a history run knows of the metrics Prometheus, and the samples it may still write. */
interface RunWide {
  retentionSeconds?: number
  forwardTo: readonly string[]
  share: { limit: number; written: number }
}

/** The run has written its share of samples (HISTORY_MAX_SAMPLES): the target stops there, and the next run continues. */
export class HistoryShareSpent extends ActivityError {
  constructor(readonly limit: number) {
    super('history run', `wrote its share of ${limit} samples`, 'the next run continues from the progress kept (HISTORY_MAX_SAMPLES sets the share)')
  }
}

export interface HistoryRequest {
  collector: AnyCollector
  targets: Target[]
  options: unknown
  /** Of the history job; for its health's schedule interval. */
  schedule: string
  /** --since, Unix seconds. */
  since?: number
  /** The metrics Prometheus' base URL: history and progress go there. Without it, `document` takes the samples. */
  prometheus?: string
  /** The OpenMetrics document of --openmetrics (progress is then in memory). */
  document?: OpenMetricsDocument
  /** Where the run's health and the collector's ctx.metrics go; without it they are logged only. */
  pushgateway?: string
  /** The most samples this run writes over all its targets (default defaultMaxSamples). */
  maxSamples?: number
}

interface TargetRun {
  sink: HistorySink & { readonly written?: number }
  progress: HistoryProgress
  /** Samples written, and those of them older than the Prometheus keeps (its retention deletes them). */
  counted: { samples: number; beyondRetention: number }
}

/** The sink and progress of one target, counting what the collector writes. */
async function targetRun(request: HistoryRequest, target: Target, settings: RunSettings, log: Logger, oldestKept: number | undefined, wide: RunWide): Promise<TargetRun> {
  const { forwardTo, share } = wide
  const owner = { job: request.collector.name, target: target.id }
  // The samples carry the project label; the progress does not, so moving a target to another project keeps its place.
  const labelled = { ...owner, project: projectOf(target) }
  const counted = { samples: 0, beyondRetention: 0 }
  let inner: HistorySink
  let progress: HistoryProgress
  if (request.prometheus) {
    const options = { log, ...settings.push }
    inner = createRemoteWriteSink(request.prometheus, labelled, request.collector.metrics, { ...options, forwardTo })
    progress = await createPrometheusProgress(request.prometheus, owner, { ...options, now: settings.now })
  } else if (request.document) {
    inner = request.document.sinkFor(labelled, request.collector.metrics)
    progress = createMemoryProgress()
  } else {
    throw new Error('a history run needs a Prometheus or an OpenMetrics document')
  }
  const sink: HistorySink = {
    async write(samples) {
      // A batch that would pass the share is not written at all: the progress the collector kept stays true.
      // (A first batch larger than the share is written: a run always moves on.)
      if (share.written > 0 && share.written + samples.length > share.limit) throw new HistoryShareSpent(share.limit)
      await inner.write(samples)
      share.written += samples.length
      counted.samples += samples.length
      if (oldestKept !== undefined) for (const sample of samples) if (sample.timestampSeconds < oldestKept) counted.beyondRetention++
    },
    close: () => inner.close(),
  }
  return { sink, progress, counted }
}

async function push(request: HistoryRequest, target: Target, group: string, text: string, settings: RunSettings, log: Logger): Promise<void> {
  if (!request.pushgateway) return
  try {
    await pushGroup(request.pushgateway, { job: request.collector.name, target: target.id, group }, text, { ...settings.push, log })
  } catch (caught) {
    log.error(`push of the ${group} group failed`, { reason: oneLine(caught) })
  }
}

export async function runHistoryTarget(
  request: HistoryRequest,
  target: Target,
  settings: RunSettings,
  budget: Budget,
  shared: RunShared = soloRun(target),
  wide: RunWide = { forwardTo: [], share: { limit: request.maxSamples ?? defaultMaxSamples, written: 0 } },
): Promise<TargetResult> {
  const { retentionSeconds } = wide
  const { collector } = request
  const clock = { now: settings.now ?? realClock.now, sleep: settings.sleep ?? realClock.sleep }
  const log = settings.log.child({ source: collector.name, target: target.id, run: 'history' })
  const http = createHttp({ ...settings.http, log, clock, budget, rateLimitHint: collector.rateLimitHint })
  const recorded = createMetricSet({ ...collector.metrics, ...historySuccessSpecs })
  recorded.registry.setDefaultLabels({ project: projectOf(target) })
  const started = clock.now()
  let error: unknown
  let run: TargetRun | undefined
  log.info('writing history', { since: request.since === undefined ? undefined : new Date(request.since * 1000).toISOString() })
  try {
    run = await targetRun(request, target, settings, log, retentionSeconds === undefined ? undefined : clock.now() / 1000 - retentionSeconds, wide)
    const ctx: HistoryContext = { http, metrics: recorded, log, now: clock.now, options: request.options, history: run.sink, run: shared, progress: run.progress, since: request.since, ...settingsReader(settings.env) }
    await collector.history!(target, ctx)
    await run.sink.close()
  } catch (caught) {
    error = caught
  }
  // Its share spent, the target stopped where its progress says: not a failure, the next run continues.
  const shareSpent = error instanceof HistoryShareSpent
  if (shareSpent) error = undefined
  const finished = clock.now()
  const written = run?.counted.samples ?? 0
  if (run?.counted.beyondRetention) {
    log.warn('history older than the metrics Prometheus keeps: it deletes these samples at its next compaction; set metrics.retention in activity.yml to cover the history (e.g. 20y)', {
      samples: run.counted.beyondRetention,
      retentionDays: Math.round(retentionSeconds! / 86_400),
    })
  }

  if (!error) {
    recorded.gauge('activity_history_last_success_timestamp_seconds', finished / 1000, {})
    await push(request, target, 'history', await recorded.exposition(), settings, log)
  }
  const health = createMetricSet(historyHealthSpecs)
  health.registry.setDefaultLabels({ project: projectOf(target) })
  health.gauge('activity_history_last_run_timestamp_seconds', finished / 1000, {})
  health.gauge('activity_history_last_run_success', error ? 0 : 1, {})
  health.gauge('activity_history_duration_seconds', (finished - started) / 1000, {})
  health.gauge('activity_history_api_requests', http.requests, {})
  health.gauge('activity_history_rate_limit_points', http.points, {})
  health.gauge('activity_history_samples_written', written, {})
  health.gauge('activity_history_schedule_interval_seconds', scheduleIntervalSeconds(request.schedule, new Date(finished)), {})
  await push(request, target, 'history-health', await health.exposition(), settings, log)

  const result: TargetResult = { target: target.id, ok: !error, requests: http.requests, points: http.points, samples: written, durationSeconds: (finished - started) / 1000 }
  if (error) {
    result.error = oneLine(error)
    log.error('history run failed; what was written stays, and the next run continues from its progress', { reason: result.error, written, requests: http.requests, points: http.points })
  } else {
    log.info(shareSpent ? 'history written up to the run\'s share of samples; the next run continues' : 'history written', {
      written,
      requests: result.requests,
      points: result.points,
      seconds: result.durationSeconds,
      to: request.prometheus ? 'prometheus' : 'openmetrics',
      ...(shareSpent ? { share: wide.share.limit } : {}),
    })
  }
  return result
}

/** The metrics Prometheus' retention by time, or undefined when it cannot be read (the run goes on; the warning is lost). */
async function retentionOf(prometheus: string, log: Logger): Promise<number | undefined> {
  try {
    return await readRetentionSeconds(prometheus)
  } catch (caught) {
    log.debug('retention of the metrics Prometheus unknown', { reason: oneLine(caught) })
    return undefined
  }
}

/** Every target in turn on one budget; a rate limit the run may not wait out leaves the targets after it for the next run. */
export async function runHistory(request: HistoryRequest, settings: RunSettings): Promise<TargetResult[]> {
  if (!request.collector.history) throw new Error(`${request.collector.name} has no history`)
  const budget = runBudget(request.collector, settings.env)
  // npm's bulk form: one answer for many targets, asked by the first that needs it.
  const shared = runShared(request.targets)
  const log = settings.log.child({ source: request.collector.name, run: 'history' })
  const wide: RunWide = {
    retentionSeconds: request.prometheus ? await retentionOf(request.prometheus, log) : undefined,
    forwardTo: request.prometheus ? await forwardsOf(request.prometheus, log) : [],
    share: { limit: request.maxSamples ?? defaultMaxSamples, written: 0 },
  }
  const results: TargetResult[] = []
  const waiting: string[] = []
  for (const target of request.targets) {
    const stopped = budget.stopped
    if (stopped) {
      results.push({ target: target.id, ok: false, notAttempted: true, error: `not attempted: the rate limit ran out before it (${oneLine(stopped)})`, requests: 0, samples: 0, durationSeconds: 0 })
      continue
    }
    if (wide.share.written >= wide.share.limit) {
      waiting.push(target.id)
      results.push({ target: target.id, ok: true, requests: 0, samples: 0, durationSeconds: 0 })
      continue
    }
    results.push(await runHistoryTarget(request, target, settings, budget, shared, wide))
  }
  const skipped = results.filter((r) => r.notAttempted).map((r) => r.target)
  if (skipped.length) log.warn('rate limit exhausted: the remaining targets wait for the next history run', { notAttempted: skipped })
  if (waiting.length || wide.share.written >= wide.share.limit) {
    log.warn('the run wrote its share of samples (HISTORY_MAX_SAMPLES): the rest waits for the next history run', { share: wide.share.limit, waiting })
  }
  log.info('history run finished', {
    targets: results.length,
    failed: results.filter((r) => !r.ok).length,
    samples: results.reduce((sum, r) => sum + r.samples, 0),
    requests: results.reduce((sum, r) => sum + r.requests, 0),
    rateLimitRemaining: budget.last?.remaining,
  })
  return results
}
