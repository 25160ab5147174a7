// The history sink of the platform: Prometheus remote write 1.0 into the metrics Prometheus, whose out-of-order window
// takes samples years in the past. The wire format comes from kept libraries: protobufjs encodes the WriteRequest
// (from the message definitions of prometheus/prompb, below), snappyjs compresses it with snappy's block format (pure
// JavaScript: the collectors image has no compiler for a native addon).
import got, { HTTPError, RequestError } from 'got'
import protobuf from 'protobufjs/light.js'
import snappy from 'snappyjs'
import { ActivityError } from './errors.ts'
import type { HistorySample, HistorySink } from './history.ts'
import { toSeries, type Series, type SeriesOwner } from './history-series.ts'
import type { Logger } from './log.ts'
import type { MetricSpecs } from './metrics.ts'

/** prompb's remote.proto and types.proto, the parts remote write 1.0 sends (no exemplars, histograms or metadata). */
const prompb = protobuf.Root.fromJSON({
  nested: {
    prometheus: {
      nested: {
        WriteRequest: { fields: { timeseries: { rule: 'repeated', type: 'TimeSeries', id: 1 } } },
        TimeSeries: { fields: { labels: { rule: 'repeated', type: 'Label', id: 1 }, samples: { rule: 'repeated', type: 'Sample', id: 2 } } },
        Label: { fields: { name: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        Sample: { fields: { value: { type: 'double', id: 1 }, timestamp: { type: 'int64', id: 2 } } },
      },
    },
  },
})
const WriteRequest = prompb.lookupType('prometheus.WriteRequest')

/** The remote write of series that failed: Prometheus' answer, and what to change. */
export class RemoteWriteError extends ActivityError {
  constructor(
    readonly url: string,
    readonly reason: string,
    fix: string,
  ) {
    super(`remote write to ${url} failed`, reason, fix)
  }
}

/** A WriteRequest of these series, protobuf-encoded (uncompressed). Labels go sorted by name, __name__ included. */
export function encodeWriteRequest(series: readonly Series[]): Uint8Array {
  const timeseries = series.map((s) => ({
    labels: [['__name__', s.name] as [string, string], ...s.labels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, value]) => ({ name, value })),
    samples: s.points.map((p) => ({ value: p.value, timestamp: p.timestampMs })),
  }))
  return WriteRequest.encode(WriteRequest.fromObject({ timeseries })).finish()
}

/** The body of a remote write request: the encoded WriteRequest, snappy block-compressed. */
export function writeRequestBody(series: readonly Series[]): Buffer {
  return Buffer.from(snappy.compress(encodeWriteRequest(series)))
}

/** Splits series into requests of at most `maxSamples` samples; a longer series is split in time order. */
export function batches(series: readonly Series[], maxSamples: number): Series[][] {
  const requests: Series[][] = []
  let current: Series[] = []
  let size = 0
  for (const s of series) {
    for (let from = 0; from < s.points.length; ) {
      const take = Math.min(maxSamples - size, s.points.length - from)
      current.push({ ...s, points: s.points.slice(from, from + take) })
      size += take
      from += take
      if (size >= maxSamples) {
        requests.push(current)
        current = []
        size = 0
      }
    }
  }
  if (current.length) requests.push(current)
  return requests
}

export interface RemoteWriteOptions {
  log: Logger
  /** Attempts after the first one, for network errors, 5xx and 429 (default 4). */
  retries?: number
  retryBaseMs?: number
  timeoutMs?: number
  /** Samples per request (default 5000: about 60 kB compressed, far below any receiver's limit). */
  maxSamples?: number
  /**
   * Remote write URLs the metrics Prometheus forwards to (its remote_write: VictoriaMetrics with the longterm profile).
   * Prometheus forwards what its WAL holds, not out-of-order samples, so history goes to each of them too.
   */
  forwardTo?: readonly string[]
}

/** What Prometheus' refusal means for the person running the platform. */
function fixFor(status: number | undefined, body: string): string {
  if (status === 404) return 'start the metrics Prometheus with --web.enable-remote-write-receiver (stacks/metrics.yml has it)'
  if (/out of bounds|too old|out of order/i.test(body)) {
    return 'the sample is older than the out-of-order window of the metrics Prometheus (storage.tsdb.out_of_order_time_window in stacks/metrics/prometheus.yml), or older than its retention'
  }
  if (status === undefined) return 'check that the metrics Prometheus runs and METRICS_PROMETHEUS_URL points at it'
  return 'see the metrics Prometheus log for the refused series'
}

/** POSTs one remote write body, retrying what may pass later; a 4xx is Prometheus refusing the data and is not retried. */
export async function postWriteRequest(url: string, body: Buffer, options: RemoteWriteOptions): Promise<void> {
  const base = options.retryBaseMs ?? 500
  try {
    await got.post(url, {
      body,
      headers: {
        'content-encoding': 'snappy',
        'content-type': 'application/x-protobuf',
        'user-agent': 'activity-platform',
        'x-prometheus-remote-write-version': '0.1.0',
      },
      timeout: { request: options.timeoutMs ?? 30_000 },
      retry: {
        limit: options.retries ?? 4,
        methods: ['POST'],
        statusCodes: [408, 429, 500, 502, 503, 504],
        errorCodes: ['ETIMEDOUT', 'ECONNRESET', 'EADDRINUSE', 'ECONNREFUSED', 'EPIPE', 'ENOTFOUND', 'ENETUNREACH', 'EAI_AGAIN'],
        calculateDelay: ({ attemptCount, computedValue }) => (computedValue === 0 ? 0 : base * 2 ** (attemptCount - 1)),
      },
      hooks: {
        beforeRetry: [(error, count) => options.log.warn('retrying remote write', { url, attempt: count, reason: error.response ? String(error.response.statusCode) : error.code })],
      },
    })
  } catch (error) {
    if (error instanceof HTTPError) {
      const text = String(error.response.body).trim().replace(/\s+/g, ' ').slice(0, 300)
      throw new RemoteWriteError(url, `${error.response.statusCode} ${text}`, fixFor(error.response.statusCode, text))
    }
    const code = error instanceof RequestError ? error.code : String(error)
    throw new RemoteWriteError(url, code, fixFor(undefined, code))
  }
}

/** The remote write URL of a Prometheus base URL (http://host:9090 -> http://host:9090/api/v1/write). */
export function remoteWriteUrl(prometheus: string): string {
  return prometheus.replace(/\/+$/, '') + '/api/v1/write'
}

export interface RemoteWriteSink extends HistorySink {
  /** Samples acknowledged so far. */
  readonly written: number
}

/**
 * A sink writing into the Prometheus at `prometheus` (its base URL): each write() is sent at once, in requests of at
 * most maxSamples samples, each series in time order, and resolves when Prometheus acknowledged all of it.
 */
export function createRemoteWriteSink(prometheus: string, owner: SeriesOwner, specs: MetricSpecs, options: RemoteWriteOptions): RemoteWriteSink {
  const url = remoteWriteUrl(prometheus)
  const maxSamples = options.maxSamples ?? 5000
  let written = 0
  return {
    async write(samples: readonly HistorySample[]) {
      for (const request of batches(toSeries(samples, owner, specs), maxSamples)) {
        const body = writeRequestBody(request)
        await postWriteRequest(url, body, options)
        for (const forward of options.forwardTo ?? []) await postWriteRequest(forward, body, options)
        written += request.reduce((sum, s) => sum + s.points.length, 0)
      }
    },
    async close() {},
    get written() {
      return written
    },
  }
}
