// When a failed deployment is tried again: the backoff schedule, and the clock its timers run on (faked in tests).

/**
 * Seconds before each new attempt at a failed deployment: 30 s after the first failure, doubling after each one,
 * at most 5 minutes (30, 60, 120, 240, 300, 300, ...), until it deploys or a newer commit replaces it.
 */
export const retrySchedule = { firstSeconds: 30, factor: 2, maxSeconds: 300 } as const

/** The wait after `failedAttempts` failures in a row (1 or more). */
export function retryDelaySeconds(failedAttempts: number): number {
  const { firstSeconds, factor, maxSeconds } = retrySchedule
  return Math.min(maxSeconds, firstSeconds * factor ** Math.max(0, failedAttempts - 1))
}

/** Time and timers as the deployer uses them; the system's in the service, a fake one in tests. */
export interface Clock {
  now(): number
  setTimeout(run: () => void, ms: number): unknown
  clearTimeout(timer: unknown): void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  // A pending retry alone does not keep the process alive: the HTTP server does.
  setTimeout: (run, ms) => setTimeout(run, ms).unref(),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
}
