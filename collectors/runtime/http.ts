// The one HTTP client collectors use: timeouts, retries with backoff, rate-limit waits, request counting.
import got, { HTTPError, RequestError, type Headers as GotHeaders, type Response } from 'got'
import { HttpError, NetworkError, RateLimitError, ResponseError } from './errors.ts'
import type { Logger } from './log.ts'

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
  /**
   * A fetch() for libraries that take one (@octokit/graphql): same retries, counting and errors. It answers with a
   * small Response look-alike (status, url, headers, text/json/arrayBuffer) rather than a real Response, because the
   * first real Response or Headers loads undici, which costs a short collector run a fifth of its CPU time.
   */
  fetch: typeof fetch
  /** HTTP requests sent so far, retries included: what the API bills. */
  readonly requests: number
  /** The last rate-limit state an API reported (x-ratelimit-* headers). */
  readonly rateLimit: RateLimit | undefined
}

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
  const maxRateLimitWaitMs = options.maxRateLimitWaitMs ?? 120_000
  const hint = options.rateLimitHint ?? 'wait for the reset or use credentials'
  let requests = 0
  let rateLimit: RateLimit | undefined

  const client = got.extend({
    timeout: { request: options.timeoutMs ?? 30_000 },
    headers: { 'user-agent': options.userAgent ?? 'activity-platform' },
    responseType: 'text',
    followRedirect: true,
    retry: {
      limit: options.retries ?? 4,
      methods: ['GET', 'POST', 'PUT', 'HEAD'],
      statusCodes: retriedStatuses,
      errorCodes: retriedCodes,
      calculateDelay: ({ attemptCount, error, computedValue }) => {
        if (computedValue === 0) return 0
        const backoff = retryBaseMs * 2 ** (attemptCount - 1) * (0.75 + Math.random() / 2)
        const response = error.response
        if (!response) return backoff
        const status = response.statusCode
        const body = typeof response.body === 'string' ? response.body : ''
        if (status === 403 && !isRateLimited(status, response.headers, body)) return 0
        const asked = requestedWaitMs(response.headers, now())
        const wait = asked ?? backoff
        if (wait > maxRateLimitWaitMs) return 0
        options.log.warn('retrying', { url: error.options.url?.toString(), status, attempt: attemptCount, waitMs: Math.round(wait) })
        return Math.max(wait, 1) // got reads 0 as: do not retry
      },
    },
    hooks: {
      beforeRequest: [() => void requests++],
      beforeRetry: [(error) => {
        if (!error.response) options.log.warn('retrying', { url: error.options.url?.toString(), code: error.code })
      }],
      afterResponse: [(response) => {
        rateLimit = readRateLimit(response.headers) ?? rateLimit
        return response
      }],
    },
  })

  function failure(error: unknown, url: string): Error {
    if (error instanceof HTTPError) {
      const response = error.response as Response<string>
      const body = typeof response.body === 'string' ? response.body : ''
      if (isRateLimited(response.statusCode, response.headers, body)) {
        const wait = requestedWaitMs(response.headers, now())
        return new RateLimitError(url, wait === undefined ? undefined : new Date(now() + wait), hint)
      }
      return new HttpError(response.statusCode, url, briefBody(body))
    }
    if (error instanceof RequestError) return new NetworkError(url, error.code === 'ETIMEDOUT' ? 'no answer in time (ETIMEDOUT)' : error.code)
    return error instanceof Error ? error : new Error(String(error))
  }

  async function getJson(url: string, request: { headers?: Record<string, string>; searchParams?: Record<string, string | number> } = {}): Promise<JsonResponse> {
    let response: Response<string>
    try {
      response = await client.get(url, { headers: request.headers, searchParams: request.searchParams })
    } catch (error) {
      throw failure(error, url)
    }
    try {
      return { status: response.statusCode, headers: response.headers, body: JSON.parse(response.body) }
    } catch {
      throw new ResponseError(url, `body is not JSON (${response.body.slice(0, 40).replace(/\s+/g, ' ')}...)`)
    }
  }

  async function fetchLike(input: string | URL | Request, init: RequestInit = {}): Promise<globalThis.Response> {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url
    const headers: Record<string, string> = {}
    if (Array.isArray(init.headers)) for (const [key, value] of init.headers) headers[key!.toLowerCase()] = value!
    else if (init.headers && typeof (init.headers as Headers).forEach === 'function') (init.headers as Headers).forEach((value, key) => (headers[key] = value))
    else for (const [key, value] of Object.entries((init.headers ?? {}) as Record<string, string>)) headers[key.toLowerCase()] = String(value)
    let response: Response<string>
    try {
      response = await client(url, {
        method: (init.method ?? 'GET') as 'GET',
        headers,
        body: typeof init.body === 'string' ? init.body : undefined,
      })
    } catch (error) {
      throw failure(error, url)
    }
    return fetchResponse(response)
  }

  return {
    getJson,
    fetch: fetchLike,
    get requests() {
      return requests
    },
    get rateLimit() {
      return rateLimit
    },
  }
}

/** The parts of a fetch Response that fetch-taking libraries read, over a got response. */
function fetchResponse(response: Response<string>): globalThis.Response {
  const entries = Object.entries(response.headers as GotHeaders)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => [key, Array.isArray(value) ? value.join(', ') : String(value)] as [string, string])
  const headerMap = new Map(entries)
  const headers = {
    get: (name: string) => headerMap.get(name.toLowerCase()) ?? null,
    has: (name: string) => headerMap.has(name.toLowerCase()),
    forEach: (callback: (value: string, key: string) => void) => headerMap.forEach(callback),
    entries: () => headerMap.entries(),
    [Symbol.iterator]: () => headerMap.entries(),
  }
  const text = response.body
  const like = {
    status: response.statusCode,
    statusText: response.statusMessage ?? '',
    ok: response.statusCode >= 200 && response.statusCode < 300,
    url: response.url,
    redirected: response.redirectUrls.length > 0,
    headers,
    body: null,
    bodyUsed: false,
    text: async () => text,
    json: async () => JSON.parse(text) as unknown,
    arrayBuffer: async () => new TextEncoder().encode(text).buffer,
  }
  return like as unknown as globalThis.Response
}
