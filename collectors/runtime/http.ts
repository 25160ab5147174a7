// The one HTTP client collectors use: timeouts, retries with backoff, rate-limit waits, request counting.
import { HttpError, NetworkError, RateLimitError, ResponseError } from './errors.ts'
import type { Logger } from './log.ts'
import { send, StatusError, TransportError, withRetries, type Answer } from './request.ts'

export interface RateLimit {
  remaining: number
  limit?: number
  resetAt?: Date
  resource?: string
}

export interface HttpOptions {
  log: Logger
  /** Give up on one attempt after this long (no answer, or an answer that stalls). */
  timeoutMs?: number
  /** Attempts after the first one, for network errors, 5xx and rate limits. */
  retries?: number
  /** First backoff; doubles each attempt, with jitter. */
  retryBaseMs?: number
  /** The longest a rate limit may make us wait; beyond it the run fails with RateLimitError. */
  maxRateLimitWaitMs?: number
  userAgent?: string
  now?: () => number
  /** What to tell a person whose rate limit ran out (e.g. "set GITHUB_TOKEN"). */
  rateLimitHint?: string
}

export interface JsonResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: unknown
}

export interface Http {
  getJson(url: string, options?: { headers?: Record<string, string>; searchParams?: Record<string, string | number> }): Promise<JsonResponse>
  /** POSTs a JSON body (a GraphQL query) and parses the JSON answer; the same retries, counting and errors as getJson. */
  postJson(url: string, body: unknown, options?: { headers?: Record<string, string> }): Promise<JsonResponse>
  /** HTTP requests sent so far, retries included: what the API bills. */
  readonly requests: number
  /** The last rate-limit state an API reported (x-ratelimit-* headers). */
  readonly rateLimit: RateLimit | undefined
}

const retriedMethods = ['GET', 'POST', 'PUT', 'HEAD']
const retriedStatuses = [403, 408, 429, 500, 502, 503, 504]
const retriedCodes = ['ETIMEDOUT', 'ECONNRESET', 'ECONNREFUSED', 'EADDRINUSE', 'EPIPE', 'ENETUNREACH', 'EAI_AGAIN']

type HeaderBag = Record<string, string | string[] | undefined>

function header(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** How long the API asks us to wait before the next attempt, from retry-after or x-ratelimit-reset; undefined when it does not say. */
export function requestedWaitMs(headers: HeaderBag, now: number): number | undefined {
  const retryAfter = header(headers, 'retry-after')
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter)
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
    const date = Date.parse(retryAfter)
    if (Number.isFinite(date)) return Math.max(0, date - now)
  }
  if (header(headers, 'x-ratelimit-remaining') === '0') {
    const reset = Number(header(headers, 'x-ratelimit-reset'))
    if (Number.isFinite(reset) && reset > 0) return Math.max(0, reset * 1000 - now) + 1000
  }
  return undefined
}

/** A 403 or 429 that is a rate limit (primary or secondary), not a refusal. */
export function isRateLimited(status: number, headers: HeaderBag, body: string): boolean {
  if (status === 429) return true
  if (status !== 403) return false
  return (
    header(headers, 'retry-after') !== undefined ||
    header(headers, 'x-ratelimit-remaining') === '0' ||
    /rate limit/i.test(body)
  )
}

export function readRateLimit(headers: HeaderBag): RateLimit | undefined {
  const remaining = Number(header(headers, 'x-ratelimit-remaining'))
  if (header(headers, 'x-ratelimit-remaining') === undefined || !Number.isFinite(remaining)) return undefined
  const limit = Number(header(headers, 'x-ratelimit-limit'))
  const reset = Number(header(headers, 'x-ratelimit-reset'))
  return {
    remaining,
    limit: Number.isFinite(limit) ? limit : undefined,
    resetAt: Number.isFinite(reset) && reset > 0 ? new Date(reset * 1000) : undefined,
    resource: header(headers, 'x-ratelimit-resource'),
  }
}

function briefBody(body: unknown): string {
  const text = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : ''
  try {
    const parsed = JSON.parse(text) as { message?: unknown; detail?: unknown }
    const message = parsed.message ?? parsed.detail
    if (typeof message === 'string') return message.slice(0, 200)
  } catch {}
  return text.replace(/\s+/g, ' ').slice(0, 200)
}

export function createHttp(options: HttpOptions): Http {
  const now = options.now ?? Date.now
  const retryBaseMs = options.retryBaseMs ?? 1000
  const retries = options.retries ?? 4
  const timeoutMs = options.timeoutMs ?? 30_000
  const maxRateLimitWaitMs = options.maxRateLimitWaitMs ?? 120_000
  const hint = options.rateLimitHint ?? 'wait for the reset or use credentials'
  const userAgent = options.userAgent ?? 'activity-platform'
  let requests = 0
  let rateLimit: RateLimit | undefined

  /** How long to wait before the next attempt, or undefined to give up and report this failure. */
  function retryDelay(failure: unknown, failedAttempts: number, method: string, url: string): number | undefined {
    if (failedAttempts > retries || !retriedMethods.includes(method)) return undefined
    const backoff = retryBaseMs * 2 ** (failedAttempts - 1) * (0.75 + Math.random() / 2)
    if (failure instanceof TransportError) {
      if (!retriedCodes.includes(failure.code)) return undefined
      options.log.warn('retrying', { url, code: failure.code })
      return backoff
    }
    if (!(failure instanceof StatusError)) return undefined
    const { status, headers, body } = failure.answer
    if (!retriedStatuses.includes(status)) return undefined
    if (status === 403 && !isRateLimited(status, headers, body)) return undefined
    const wait = requestedWaitMs(headers, now()) ?? backoff
    if (wait > maxRateLimitWaitMs) return undefined
    options.log.warn('retrying', { url, status, attempt: failedAttempts, waitMs: Math.round(wait) })
    return wait
  }

  /** One call with retries; every answer, failed or not, updates the rate-limit state. */
  function call(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
    const attempt = async () => {
      try {
        const answer = await send(url, { method, headers: { 'user-agent': userAgent, ...headers }, body, timeoutMs, onRequest: () => void requests++ })
        rateLimit = readRateLimit(answer.headers) ?? rateLimit
        return answer
      } catch (error) {
        if (error instanceof StatusError) rateLimit = readRateLimit(error.answer.headers) ?? rateLimit
        throw error
      }
    }
    return withRetries(attempt, (failure, failed) => retryDelay(failure, failed, method, url))
  }

  function failure(error: unknown, url: string): Error {
    if (error instanceof StatusError) {
      const { status, headers, body } = error.answer
      if (isRateLimited(status, headers, body)) {
        const wait = requestedWaitMs(headers, now())
        return new RateLimitError(url, wait === undefined ? undefined : new Date(now() + wait), hint)
      }
      return new HttpError(status, url, briefBody(body))
    }
    if (error instanceof TransportError) return new NetworkError(url, error.code === 'ETIMEDOUT' ? 'no answer in time (ETIMEDOUT)' : error.code)
    return error instanceof Error ? error : new Error(String(error))
  }

  /** One call with retries, its failure turned into the runtime's errors (naming `named`), its body parsed as JSON. */
  async function json(url: string, method: string, headers: Record<string, string>, body: string | undefined, named: string): Promise<JsonResponse> {
    let answer: Answer
    try {
      answer = await call(url, method, headers, body)
    } catch (error) {
      throw failure(error, named)
    }
    try {
      return { status: answer.status, headers: answer.headers, body: JSON.parse(answer.body) }
    } catch {
      throw new ResponseError(named, `body is not JSON (${answer.body.slice(0, 40).replace(/\s+/g, ' ')}...)`)
    }
  }

  function getJson(url: string, request: { headers?: Record<string, string>; searchParams?: Record<string, string | number> } = {}): Promise<JsonResponse> {
    let target = url
    if (request.searchParams) {
      const withParams = new URL(url)
      for (const [key, value] of Object.entries(request.searchParams)) withParams.searchParams.set(key, String(value))
      target = withParams.href
    }
    return json(target, 'GET', lowerCased(request.headers ?? {}), undefined, url)
  }

  function postJson(url: string, body: unknown, request: { headers?: Record<string, string> } = {}): Promise<JsonResponse> {
    return json(url, 'POST', { 'content-type': 'application/json; charset=utf-8', ...lowerCased(request.headers ?? {}) }, JSON.stringify(body), url)
  }

  return {
    getJson,
    postJson,
    get requests() {
      return requests
    },
    get rateLimit() {
      return rateLimit
    },
  }
}

function lowerCased(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key.toLowerCase(), value]))
}
