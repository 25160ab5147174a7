// How far each target's backfill is written, kept where the history is: the series
// activity_history_progress{job,target,key} in the metrics Prometheus, written by remote write and read back with
// last_over_time. So a history job on any node, after a failure or a restart, continues where the last one stopped.
import got from 'got'
import { ActivityError, oneLine } from './errors.ts'
import type { HistoryProgress } from './history.ts'
import type { Logger } from './log.ts'
import type { SeriesOwner } from './history-series.ts'
import { postWriteRequest, remoteWriteUrl, writeRequestBody, type RemoteWriteOptions } from './remote-write.ts'

export const progressMetric = 'activity_history_progress'
export const progressHelp = 'How far the history backfill of a target is written, per key the collector chooses (a Unix time, a position): what the next history run continues from.'

/** The metrics Prometheus' API (query, configuration) did not answer as it should. */
export class PrometheusApiError extends ActivityError {
  constructor(
    readonly url: string,
    readonly reason: string,
    fix: string,
  ) {
    super(`the metrics Prometheus at ${url}`, reason, fix)
  }
}

/** How far back a progress value is looked for: a job that has not run for longer than this starts over (idempotently). */
const lookback = '3650d'

const quoted = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`

interface QueryAnswer {
  status: string
  error?: string
  data?: { result: { metric: Record<string, string>; value: [number, string] }[] }
}

/** Every key's last value for `owner`, as the Prometheus at `prometheus` has it. */
export async function readProgress(prometheus: string, owner: SeriesOwner, options: Pick<RemoteWriteOptions, 'timeoutMs' | 'retries'> = {}): Promise<Map<string, number>> {
  const url = prometheus.replace(/\/+$/, '') + '/api/v1/query'
  const query = `last_over_time(${progressMetric}{job=${quoted(owner.job)},target=${quoted(owner.target)}}[${lookback}])`
  let answer: QueryAnswer
  try {
    answer = await got(url, { searchParams: { query }, timeout: { request: options.timeoutMs ?? 30_000 }, retry: { limit: options.retries ?? 4 } }).json<QueryAnswer>()
  } catch (error) {
    const reason = (error as { response?: { statusCode: number; body: unknown }; code?: string }).response
    throw new PrometheusApiError(url, reason ? `${reason.statusCode} ${String(reason.body).slice(0, 200)}` : String((error as { code?: string }).code ?? error), 'check that the metrics Prometheus runs and METRICS_PROMETHEUS_URL points at it')
  }
  if (answer.status !== 'success' || !answer.data) throw new PrometheusApiError(url, `query failed: ${answer.error ?? answer.status}`, 'see the metrics Prometheus log')
  return new Map(answer.data.result.filter((r) => r.metric.key !== undefined).map((r) => [r.metric.key!, Number(r.value[1])]))
}

/**
 * Progress kept in the metrics Prometheus. Read once when created; each set() is written at once (remote write), at
 * a time after the one before, so two sets in one millisecond are still two samples in order.
 */
export async function createPrometheusProgress(prometheus: string, owner: SeriesOwner, options: RemoteWriteOptions & { now?: () => number }): Promise<HistoryProgress> {
  const known = await readProgress(prometheus, owner, options)
  const now = options.now ?? Date.now
  const url = remoteWriteUrl(prometheus)
  let last = 0
  return {
    async get(key) {
      return known.get(key)
    },
    async set(key, value) {
      last = Math.max(Math.round(now()), last + 1)
      const labels: [string, string][] = [['job', owner.job], ['key', key], ['target', owner.target]]
      await postWriteRequest(url, writeRequestBody([{ name: progressMetric, labels, points: [{ timestampMs: last, value }] }]), options)
      known.set(key, value)
    },
  }
}

/** Progress of one process only (--openmetrics, tests): nothing is remembered after it ends. */
export function createMemoryProgress(initial: Record<string, number> = {}): HistoryProgress & { readonly values: Map<string, number> } {
  const values = new Map(Object.entries(initial))
  return {
    values,
    async get(key) {
      return values.get(key)
    },
    async set(key, value) {
      values.set(key, value)
    },
  }
}

/** A Prometheus duration (1y, 400d, 2w3d, 90m, 0s) in seconds; undefined when it is not one. */
export function durationSeconds(text: string): number | undefined {
  const match = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(text)
  if (!match || text === '') return undefined
  const [y, w, d, h, m, s, ms] = match.slice(1).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number, number]
  return y * 365 * 86_400 + w * 7 * 86_400 + d * 86_400 + h * 3600 + m * 60 + s + ms / 1000
}

/**
 * How long the Prometheus at `prometheus` keeps data by time, in seconds, from its own flags (/api/v1/status/flags);
 * undefined when it keeps by size only or does not say. Prometheus keeps 15 days when neither limit is set.
 */
export async function readRetentionSeconds(prometheus: string, options: Pick<RemoteWriteOptions, 'timeoutMs'> = {}): Promise<number | undefined> {
  const url = prometheus.replace(/\/+$/, '') + '/api/v1/status/flags'
  const answer = await got(url, { timeout: { request: options.timeoutMs ?? 30_000 }, retry: { limit: 1 } }).json<{ data?: Record<string, string> }>()
  const time = durationSeconds(answer.data?.['storage.tsdb.retention.time'] ?? '')
  const size = answer.data?.['storage.tsdb.retention.size'] ?? '0B'
  if (time === undefined) return undefined
  if (time > 0) return time
  return /^0[A-Za-z]*$/.test(size) ? 15 * 86_400 : undefined
}

/**
 * The remote_write URLs in the running configuration of the Prometheus at `prometheus` (/api/v1/status/config): the
 * stores it forwards to, which need the history written to them directly (see RemoteWriteOptions.forwardTo).
 */
export async function readRemoteWriteUrls(prometheus: string, options: Pick<RemoteWriteOptions, 'timeoutMs'> = {}): Promise<string[]> {
  const url = prometheus.replace(/\/+$/, '') + '/api/v1/status/config'
  const answer = await got(url, { timeout: { request: options.timeoutMs ?? 30_000 }, retry: { limit: 1 } }).json<{ data?: { yaml?: string } }>()
  // Half the collectors bundle: loaded only by runs that write history. Bundled, the module may come as CommonJS (default).
  const yaml = (await import('yaml')) as typeof import('yaml') & { default?: typeof import('yaml') }
  const parse = yaml.parse ?? yaml.default!.parse
  const config = parse(answer.data?.yaml ?? '') as { remote_write?: { url?: unknown }[] } | null
  return (config?.remote_write ?? []).map((target) => target.url).filter((target): target is string => typeof target === 'string')
}

/**
 * Where the metrics Prometheus forwards (its remote_write): history goes there too, since Prometheus does not forward
 * out-of-order samples. A configuration that cannot be read fails the run: history would be missing there unseen.
 */
export async function forwardsOf(prometheus: string, log: Logger): Promise<string[]> {
  let urls: string[]
  try {
    urls = await readRemoteWriteUrls(prometheus)
  } catch (caught) {
    throw new PrometheusApiError(`${prometheus.replace(/\/+$/, '')}/api/v1/status/config`, oneLine(caught), 'a history run reads where it forwards (remote_write) before it writes; check that it runs and METRICS_PROMETHEUS_URL points at it')
  }
  if (urls.length) log.info('history also goes where the metrics Prometheus forwards (it does not forward out-of-order samples)', { forwardTo: urls })
  return urls
}
