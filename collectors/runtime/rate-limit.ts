// Rate limits as the APIs document them: what each answer's headers say, how long each kind of limit asks a client to
// wait, and the one budget every target of a run shares (GitHub's limits are per token or address, not per target).
import { RateLimitError, UsageError } from './errors.ts'

export interface RateLimit {
  remaining: number
  limit?: number
  resetAt?: Date
  resource?: string
}

type HeaderBag = Record<string, string | string[] | undefined>

function header(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** The rate-limit state an answer reports (x-ratelimit-* headers); undefined when it reports none. */
export function readRateLimit(headers: HeaderBag): RateLimit | undefined {
  const remaining = Number(header(headers, 'x-ratelimit-remaining'))
  if (header(headers, 'x-ratelimit-remaining') === undefined || !Number.isFinite(remaining)) return undefined
  const limit = Number(header(headers, 'x-ratelimit-limit'))
  return {
    remaining,
    limit: Number.isFinite(limit) ? limit : undefined,
    resetAt: resetOf(headers, 0),
    resource: header(headers, 'x-ratelimit-resource'),
  }
}

/** x-ratelimit-reset (Unix seconds) as a time, `marginMs` later; undefined when absent. */
export function resetOf(headers: HeaderBag, marginMs = 1000): Date | undefined {
  const reset = Number(header(headers, 'x-ratelimit-reset'))
  return Number.isFinite(reset) && reset > 0 ? new Date(reset * 1000 + marginMs) : undefined
}

/**
 * How long the API asks us to wait before the next attempt: retry-after (seconds or a date), else, when the limit is
 * spent (x-ratelimit-remaining 0), until a second after x-ratelimit-reset (whole seconds); undefined when it does not say.
 */
export function requestedWaitMs(headers: HeaderBag, now: number): number | undefined {
  const retryAfter = header(headers, 'retry-after')
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter)
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
    const date = Date.parse(retryAfter)
    if (Number.isFinite(date)) return Math.max(0, date - now)
  }
  if (header(headers, 'x-ratelimit-remaining') === '0') {
    const reset = resetOf(headers)
    if (reset) return Math.max(0, reset.getTime() - now)
  }
  return undefined
}

/** A 403 or 429 that is a rate limit (primary or secondary), not a refusal. */
export function isRateLimited(status: number, headers: HeaderBag, body: string): boolean {
  if (status === 429) return true
  if (status !== 403) return false
  return header(headers, 'retry-after') !== undefined || header(headers, 'x-ratelimit-remaining') === '0' || /rate limit/i.test(body)
}

/**
 * The wait for a limit that names no time (a secondary limit without retry-after): GitHub asks for at least a minute,
 * then exponentially longer while the limit persists. `earlier`: such waits since the last answer that was not limited.
 */
export function unnamedLimitWaitMs(earlier: number): number {
  return 60_000 * 2 ** earlier
}

/** Time as the run sees it: tests fake both, so a wait of an hour takes no time. */
export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

export const defaultMaxWaitSeconds = 15 * 60
const maxWaitCeilingSeconds = 3600

/** `<SOURCE>_MAX_WAIT_SECONDS` (GITHUB_MAX_WAIT_SECONDS, ...): the setting that bounds a source's rate-limit waits. */
export function maxWaitSetting(source: string): string {
  return `${source.toUpperCase()}_MAX_WAIT_SECONDS`
}

/** The longest one rate-limit wait may be, in seconds, from the environment; a UsageError naming the setting when it is not one. */
export function maxWaitSecondsFrom(env: Record<string, string | undefined>, setting: string): number {
  const value = env[setting]
  if (value === undefined || value.trim() === '') return defaultMaxWaitSeconds
  const seconds = Number(value)
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > maxWaitCeilingSeconds) {
    throw new UsageError(
      `${setting}=${value} is not a number of seconds from 0 to ${maxWaitCeilingSeconds} (rate limits reset within the hour); unset it for the default ${defaultMaxWaitSeconds}, or 0 to never wait`,
    )
  }
  return seconds
}

/** A duration for a person: seconds under two minutes, whole minutes above. */
export function spoken(ms: number): string {
  return ms < 120_000 ? `${Math.ceil(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`
}

/**
 * The rate limits every target of one run draws on. Each answer's state is kept per resource (GitHub: core, graphql,
 * search), so a target starts with what the targets before it left; a limit the run cannot wait out stops the run.
 */
export interface Budget {
  /** The longest one wait for a rate limit may be; a limit that resets later fails the run. */
  readonly maxWaitMs: number
  /** The setting that changes maxWaitMs, for messages. */
  readonly maxWaitSetting: string | undefined
  /** Records an answer of `url`: its rate-limit state, and whether it was refused for a limit. */
  observe(url: string, state: RateLimit | undefined, limited: boolean): void
  /** The last state of the limit `url` draws on, when an answer has told. */
  stateFor(url: string): RateLimit | undefined
  /** The last state any answer reported. */
  readonly last: RateLimit | undefined
  /** Waits for limits that named no time since the last answer that was not limited (they grow with each). */
  readonly unnamedWaits: number
  countUnnamedWait(): void
  /** Marks the run as out of budget: the targets after this one are not attempted. Returns `limit`. */
  stop(limit: RateLimitError): RateLimitError
  readonly stopped: RateLimitError | undefined
  /** Spaces the run's requests to the API's documented rates, when it has any. */
  readonly pacer: Pacer | undefined
}

export function createBudget(options: { maxWaitMs?: number; maxWaitSetting?: string; requestRate?: readonly RequestRate[] } = {}): Budget {
  const byResource = new Map<string, RateLimit>()
  /** origin + path → the resource its answers named; origin → every resource seen there. */
  const resourceOfPath = new Map<string, string>()
  const resourcesOfOrigin = new Map<string, Set<string>>()
  let last: RateLimit | undefined
  let unnamedWaits = 0
  let stopped: RateLimitError | undefined
  const pacer = options.requestRate?.length ? createPacer(options.requestRate) : undefined

  const resourceOf = (url: string): string | undefined => {
    const { origin, pathname } = new URL(url)
    const known = resourceOfPath.get(origin + pathname)
    if (known !== undefined) return known
    // A path not asked before (the next target's listing) draws on the limit its origin has shown, if only one.
    const seen = resourcesOfOrigin.get(origin)
    return seen?.size === 1 ? [...seen][0] : undefined
  }

  return {
    maxWaitMs: options.maxWaitMs ?? defaultMaxWaitSeconds * 1000,
    maxWaitSetting: options.maxWaitSetting,
    observe(url, state, limited) {
      if (!limited) unnamedWaits = 0
      if (!state) return
      last = state
      const resource = state.resource ?? ''
      const { origin, pathname } = new URL(url)
      byResource.set(resource, state)
      resourceOfPath.set(origin + pathname, resource)
      resourcesOfOrigin.set(origin, (resourcesOfOrigin.get(origin) ?? new Set()).add(resource))
    },
    stateFor(url) {
      const resource = resourceOf(url)
      return resource === undefined ? undefined : byResource.get(resource)
    },
    get last() {
      return last
    },
    get unnamedWaits() {
      return unnamedWaits
    },
    countUnnamedWait() {
      unnamedWaits++
    },
    stop(limit) {
      stopped ??= limit
      return limit
    },
    get stopped() {
      return stopped
    },
    pacer,
  }
}

/** The error for a limit that resets later than the run may wait: it names when to retry. */
export function tooLongToWait(url: string, resetAt: Date, waitMs: number, maxWait: { ms: number; setting?: string | undefined }, hint: string): RateLimitError {
  const setting = maxWait.setting ? ` (${maxWait.setting})` : ''
  return new RateLimitError(url, resetAt, hint, `it lifts in ${spoken(waitMs)}, longer than the ${spoken(maxWait.ms)} a run may wait${setting}; retry after ${resetAt.toISOString().slice(11, 19)} UTC`)
}

/** A documented request rate: at most `requests` in any `seconds` (pypistats: 5 a second and 30 a minute). */
export interface RequestRate {
  requests: number
  seconds: number
}

/**
 * Spaces requests so that no window of any documented rate holds more than it allows: before each request, waits (on
 * the run's clock) until the oldest request of a full window has left it. One pacer per run: the rate is per address.
 */
export interface Pacer {
  /** Waits until one more request fits every rate, then counts it as sent. */
  take(clock: Clock): Promise<void>
  /** The longest a request waited for its turn, and all waits summed, in ms. */
  readonly waitedMs: number
}

export function createPacer(rates: readonly RequestRate[]): Pacer {
  const sent: number[] = []
  const longest = Math.max(0, ...rates.map((r) => r.seconds * 1000))
  let waitedMs = 0
  return {
    async take(clock) {
      for (;;) {
        const now = clock.now()
        while (sent.length && sent[0]! <= now - longest) sent.shift()
        let wait = 0
        for (const rate of rates) {
          const inWindow = sent.filter((at) => at > now - rate.seconds * 1000)
          if (inWindow.length >= rate.requests) wait = Math.max(wait, inWindow[inWindow.length - rate.requests]! + rate.seconds * 1000 - now)
        }
        if (wait <= 0) {
          sent.push(now)
          return
        }
        waitedMs += wait
        await clock.sleep(wait)
      }
    },
    get waitedMs() {
      return waitedMs
    },
  }
}
