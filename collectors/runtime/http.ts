// The one HTTP client collectors use, on got: timeouts, retries with backoff, rate-limit waits as the API asks for them
// (on the run's clock and budget), request counting, and pages that name the next one.
import got, { HTTPError, RequestError, type Response } from 'got'
import { ActivityError, HttpError, NetworkError, RateLimitError, ResponseError } from './errors.ts'
import type { Logger } from './log.ts'
import {
  createBudget,
  isRateLimited,
  readRateLimit,
  realClock,
  requestedWaitMs,
  spoken,
  tooLongToWait,
  unnamedLimitWaitMs,
  type Budget,
  type Clock,
  type RateLimit,
} from './rate-limit.ts'

export { requestedWaitMs, isRateLimited, readRateLimit, type RateLimit }

export interface HttpOptions {
  log: Logger
  /** Give up on one attempt after this long (no answer, or an answer that stalls). */
  timeoutMs?: number
  /** Attempts after the first one, for network errors, 5xx and rate limits. */
  retries?: number
  /** First backoff; doubles each attempt, with jitter. */
  retryBaseMs?: number
  /** The longest a rate limit may make us wait; beyond it the run fails with RateLimitError. Default: the budget's. */
  maxRateLimitWaitMs?: number
  userAgent?: string
  /** The run's clock: every wait (backoff, rate limit) sleeps on it. */
  clock?: Clock
  /** The rate limits this client shares with the run's other targets; a client of its own without one. */
  budget?: Budget
  /** What to tell a person whose rate limit ran out (e.g. "set GITHUB_TOKEN"). */
  rateLimitHint?: string
}

export interface JsonResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: unknown
}

/** One page of a listing: the URL it was asked at (for errors) and its body, unchecked. */
export interface Page extends JsonResponse {
  url: string
}

export interface Http {
  getJson(url: string, options?: { headers?: Record<string, string>; searchParams?: Record<string, string | number> }): Promise<JsonResponse>
  /** POSTs a JSON body (a GraphQL query) and parses the JSON answer; the same retries, counting and errors as getJson. */
  postJson(url: string, body: unknown, options?: { headers?: Record<string, string> }): Promise<JsonResponse>
  /**
   * Every page of a listing from `first` on, each asked once the one before has been handled. `next` names the page
   * after one (undefined on the last); by default the Link header's rel="next" (GitHub, GitLab).
   */
  pages(first: string, options?: { headers?: Record<string, string>; next?: (page: Page) => string | undefined }): AsyncGenerator<Page>
  /**
   * A rate limit an answer reported in its body (GraphQL's RATE_LIMITED): waits until `limit.resetAt` when that is
   * within the run's maximum wait, else throws it, naming when to retry (and the run stops).
   */
  waitOut(limit: RateLimitError): Promise<void>
  /** Records rate-limit points the API billed (GitHub GraphQL: an answer's rateLimit.cost; REST: one a request). */
  spend(points: number): void
  /** HTTP requests sent so far, retries included: what the API bills. */
  readonly requests: number
  /** Points recorded with spend(); undefined when none were. */
  readonly points: number | undefined
  /** The last rate-limit state an API reported to this client (x-ratelimit-* headers). */
  readonly rateLimit: RateLimit | undefined
}

const retriedStatuses = [403, 408, 429, 500, 502, 503, 504]
const retriedCodes = ['ETIMEDOUT', 'ECONNRESET', 'ECONNREFUSED', 'EADDRINUSE', 'EPIPE', 'ENETUNREACH', 'EAI_AGAIN']

function briefBody(body: unknown): string {
  const text = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : ''
  try {
    const parsed = JSON.parse(text) as { message?: unknown; detail?: unknown }
    const message = parsed.message ?? parsed.detail
    if (typeof message === 'string') return message.slice(0, 200)
  } catch {}
  return text.replace(/\s+/g, ' ').slice(0, 200)
}

const bodyText = (response: Response) => (typeof response.body === 'string' ? response.body : '')

function parsed(response: Response, named: string): JsonResponse {
  try {
    return { status: response.statusCode, headers: response.headers, body: JSON.parse(bodyText(response)) }
  } catch {
    throw new ResponseError(named, `body is not JSON (${bodyText(response).slice(0, 40).replace(/\s+/g, ' ')}...)`)
  }
}

export function createHttp(options: HttpOptions): Http {
  const { log } = options
  const clock = options.clock ?? realClock
  const retryBaseMs = options.retryBaseMs ?? 1000
  const retries = options.retries ?? 4
  const budget = options.budget ?? createBudget({ maxWaitMs: options.maxRateLimitWaitMs })
  const maxWaitMs = options.maxRateLimitWaitMs ?? budget.maxWaitMs
  const maxWait = { ms: maxWaitMs, setting: budget.maxWaitSetting }
  const hint = options.rateLimitHint ?? 'wait for the reset or use credentials'
  let requests = 0
  let points: number | undefined
  let rateLimit: RateLimit | undefined

  /** How long a rate-limited answer asks us to wait: retry-after, the reset of a spent limit, else a growing minute. */
  const limitWaitMs = (response: Response) => requestedWaitMs(response.headers, clock.now()) ?? unnamedLimitWaitMs(budget.unnamedWaits)

  /** How long to wait before retrying a failed attempt, or undefined not to retry it. */
  function retryWait(error: RequestError, attempt: number): number | undefined {
    const backoff = retryBaseMs * 2 ** (attempt - 1) * (0.75 + Math.random() / 2)
    const { response } = error
    if (!response) return backoff
    const status = response.statusCode
    if (status !== 403 && status !== 429) return backoff
    if (!isRateLimited(status, response.headers, bodyText(response))) return undefined
    const wait = limitWaitMs(response)
    if (wait > maxWaitMs) return undefined
    if (requestedWaitMs(response.headers, clock.now()) === undefined) budget.countUnnamedWait()
    return wait
  }

  async function waitOut(limit: RateLimitError): Promise<void> {
    const wait = limit.resetAt ? Math.max(0, limit.resetAt.getTime() - clock.now()) : Number.POSITIVE_INFINITY
    if (!limit.resetAt || wait > maxWaitMs) throw budget.stop(limit.resetAt ? tooLongToWait(limit.url, limit.resetAt, wait, maxWait, hint) : limit)
    log.warn('waiting for the rate limit to reset', { url: limit.url, waitSeconds: Math.ceil(wait / 1000), resetAt: limit.resetAt.toISOString() })
    await clock.sleep(wait)
  }

  const client = got.extend({
    timeout: { request: options.timeoutMs ?? 30_000 },
    headers: { 'user-agent': options.userAgent ?? 'activity-platform' },
    responseType: 'text',
    retry: {
      limit: retries,
      methods: ['GET', 'POST', 'PUT', 'HEAD'],
      statusCodes: retriedStatuses,
      errorCodes: retriedCodes,
      // The wait is decided here, from the answer; got's own limit on retry-after would refuse GitHub's minutes.
      maxRetryAfter: Number.POSITIVE_INFINITY,
      calculateDelay: async ({ attemptCount, error, computedValue }) => {
        if (computedValue === 0) return 0 // got's rules: attempts used up, or not a retried method, status or code
        const wait = retryWait(error, attemptCount)
        if (wait === undefined) return 0
        const url = error.options.url?.toString()
        log.warn('retrying', { url, ...(error.response ? { status: error.response.statusCode } : { code: error.code }), attempt: attemptCount, waitMs: Math.round(wait) })
        // The run's clock does the waiting (tests fake it); got's own timer is left a millisecond.
        await clock.sleep(wait)
        return 1
      },
    },
    hooks: {
      beforeRequest: [
        async (request) => {
          // A limit an earlier answer (of this target or one before it) reported spent is not asked again before it resets.
          const url = request.url!.toString()
          const known = budget.stateFor(url)
          if (known?.remaining === 0 && known.resetAt && known.resetAt.getTime() > clock.now()) {
            await waitOut(new RateLimitError(url, new Date(known.resetAt.getTime() + 1000), hint))
          }
          await budget.pacer?.take(clock)
          requests++
        },
      ],
      afterResponse: [
        (response) => {
          const state = readRateLimit(response.headers)
          rateLimit = state ?? rateLimit
          budget.observe(response.url, state, isRateLimited(response.statusCode, response.headers, bodyText(response)))
          return response
        },
      ],
    },
  })

  /** What got threw, as the runtime's errors naming `url`; a rate limit the run could not wait out also stops the run. */
  function failure(error: unknown, url: string): Error {
    if (error instanceof HTTPError) {
      const response = error.response as Response
      if (!isRateLimited(response.statusCode, response.headers, bodyText(response))) return new HttpError(response.statusCode, url, briefBody(response.body))
      const wait = limitWaitMs(response)
      const resetAt = new Date(clock.now() + wait)
      const limit = wait > maxWaitMs ? tooLongToWait(url, resetAt, wait, maxWait, hint) : new RateLimitError(url, resetAt, hint, `still limited after ${retries} retries; retry in ${spoken(wait)} or later`)
      return budget.stop(limit)
    }
    // A hook's own error (a spent limit the run does not wait for) comes wrapped.
    if (error instanceof RequestError && error.cause instanceof ActivityError) return error.cause
    if (error instanceof RequestError) return new NetworkError(url, error.code === 'ETIMEDOUT' ? 'no answer in time (ETIMEDOUT)' : error.code)
    return error instanceof Error ? error : new Error(String(error))
  }

  async function send(url: string, method: 'GET' | 'POST', headers: Record<string, string>, body: string | undefined, named: string): Promise<JsonResponse> {
    let response: Response
    try {
      response = (await client(url, { method, headers, body })) as Response
    } catch (error) {
      throw failure(error, named)
    }
    return parsed(response, named)
  }

  async function* pages(first: string, request: { headers?: Record<string, string>; next?: (page: Page) => string | undefined } = {}): AsyncGenerator<Page> {
    const next = request.next
    const listing = client.paginate<Page>(first, {
      headers: lowerCased(request.headers ?? {}),
      pagination: {
        transform: (response) => [{ url: response.url, ...parsed(response as Response, response.url) }],
        // Without `next`, got's own: the Link header's rel="next".
        ...(next && { paginate: ({ currentItems }) => (currentItems[0] && next(currentItems[0]) ? { url: new URL(next(currentItems[0])!) } : false) }),
      },
    })
    try {
      yield* listing
    } catch (error) {
      throw failure(error, error instanceof RequestError ? String(error.options.url ?? first) : first)
    }
  }

  return {
    getJson(url, request = {}) {
      let target = url
      if (request.searchParams) {
        const withParams = new URL(url)
        for (const [key, value] of Object.entries(request.searchParams)) withParams.searchParams.set(key, String(value))
        target = withParams.href
      }
      return send(target, 'GET', lowerCased(request.headers ?? {}), undefined, url)
    },
    postJson(url, body, request = {}) {
      return send(url, 'POST', { 'content-type': 'application/json; charset=utf-8', ...lowerCased(request.headers ?? {}) }, JSON.stringify(body), url)
    },
    pages,
    waitOut,
    spend(spent) {
      points = (points ?? 0) + spent
    },
    get requests() {
      return requests
    },
    get points() {
      return points
    },
    get rateLimit() {
      return rateLimit
    },
  }
}

function lowerCased(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key.toLowerCase(), value]))
}
