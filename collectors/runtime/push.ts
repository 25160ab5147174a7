// The Pushgateway side of a run: one PUT per group, only with a complete result, retried before giving up.
import got, { HTTPError, RequestError } from 'got'
import { PushError } from './errors.ts'
import type { Logger } from './log.ts'

export type Grouping = Record<string, string>

/** /metrics/job@base64/…/target@base64/…: job first (the Pushgateway's route), base64url keeps values with '/' (owner/repo) intact. */
export function groupPath(grouping: Grouping): string {
  const { job, ...others } = grouping
  if (job === undefined) throw new Error('a Pushgateway group needs a job label')
  return (
    '/metrics' +
    Object.entries({ job, ...others })
      .map(([label, value]) => `/${label}@base64/${value === '' ? '=' : Buffer.from(value, 'utf8').toString('base64url')}`)
      .join('')
  )
}

export interface PushOptions {
  log: Logger
  retries?: number
  retryBaseMs?: number
  timeoutMs?: number
}

function reason(error: unknown): string {
  if (error instanceof HTTPError) return `${error.response.statusCode} ${String(error.response.body).trim().slice(0, 200)}`
  if (error instanceof RequestError) return error.code
  return String(error)
}

async function send(method: 'PUT' | 'DELETE', gateway: string, grouping: Grouping, body: string | undefined, options: PushOptions): Promise<void> {
  const url = gateway.replace(/\/+$/, '') + groupPath(grouping)
  const base = options.retryBaseMs ?? 500
  try {
    await got(url, {
      method,
      body,
      headers: body === undefined ? {} : { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
      timeout: { request: options.timeoutMs ?? 15_000 },
      retry: {
        limit: options.retries ?? 4,
        methods: [method],
        statusCodes: [408, 429, 500, 502, 503, 504],
        errorCodes: ['ETIMEDOUT', 'ECONNRESET', 'EADDRINUSE', 'ECONNREFUSED', 'EPIPE', 'ENOTFOUND', 'ENETUNREACH', 'EAI_AGAIN'],
        calculateDelay: ({ attemptCount, computedValue }) => (computedValue === 0 ? 0 : base * 2 ** (attemptCount - 1)),
      },
      hooks: {
        beforeRetry: [(error, count) => options.log.warn('retrying push', { url: gateway, attempt: count, reason: reason(error) })],
      },
    })
  } catch (error) {
    throw new PushError(gateway, reason(error))
  }
}

/** Replaces the whole group with these metrics (PUT): series not in `text` disappear from the group. */
export function pushGroup(gateway: string, grouping: Grouping, text: string, options: PushOptions): Promise<void> {
  return send('PUT', gateway, grouping, text, options)
}

/** Removes a group, e.g. a target that is no longer watched. */
export function deleteGroup(gateway: string, grouping: Grouping, options: PushOptions): Promise<void> {
  return send('DELETE', gateway, grouping, undefined, options)
}
