// The Pushgateway side of a run: one PUT per group, only with a complete result, retried before giving up.
import { PushError } from './errors.ts'
import type { Logger } from './log.ts'
import { send as request, StatusError, TransportError, withRetries } from './request.ts'

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

const retriedStatuses = [408, 429, 500, 502, 503, 504]
const retriedCodes = ['ETIMEDOUT', 'ECONNRESET', 'EADDRINUSE', 'ECONNREFUSED', 'EPIPE', 'ENOTFOUND', 'ENETUNREACH', 'EAI_AGAIN']

function reason(error: unknown): string {
  if (error instanceof StatusError) return `${error.answer.status} ${error.answer.body.trim().slice(0, 200)}`
  if (error instanceof TransportError) return error.code
  return String(error)
}

async function send(method: 'PUT' | 'DELETE', gateway: string, grouping: Grouping, body: string | undefined, options: PushOptions): Promise<void> {
  const url = gateway.replace(/\/+$/, '') + groupPath(grouping)
  const base = options.retryBaseMs ?? 500
  const retries = options.retries ?? 4
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }
  try {
    await withRetries(
      () => request(url, { method, headers, body, timeoutMs: options.timeoutMs ?? 15_000 }),
      (failure, failed) => {
        const retried = failure instanceof StatusError ? retriedStatuses.includes(failure.answer.status) : failure instanceof TransportError && retriedCodes.includes(failure.code)
        if (!retried || failed > retries) return undefined
        options.log.warn('retrying push', { url: gateway, attempt: failed, reason: reason(failure) })
        return base * 2 ** (failed - 1)
      },
    )
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
