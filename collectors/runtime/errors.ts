// Errors with their facts attached; the CLI turns each into one line.

/** A problem in activity.yml (or another file a person edits): where it is and how to fix it. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly field: string,
    readonly problem: string,
    readonly fix?: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${field}: ${problem}${fix ? `; ${fix}` : ''}`)
    this.name = 'ConfigError'
  }
}

/** An API answered with an error status, after retries. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
    readonly detail: string,
  ) {
    super(`${url} answered ${status}${detail ? `: ${detail}` : ''}`)
    this.name = 'HttpError'
  }
}

/** The API's rate limit is exhausted for longer than the run may wait. */
export class RateLimitError extends Error {
  constructor(
    readonly url: string,
    readonly resetAt: Date | undefined,
    readonly hint: string,
  ) {
    super(`rate limit exhausted at ${url}${resetAt ? ` until ${resetAt.toISOString()}` : ''}; ${hint}`)
    this.name = 'RateLimitError'
  }
}

/** No answer in time, or the connection failed, after retries. */
export class NetworkError extends Error {
  constructor(
    readonly url: string,
    readonly code: string,
  ) {
    super(`${url}: ${code}; check that the API is reachable from here`)
    this.name = 'NetworkError'
  }
}

/** An API answered 2xx with a body that is not what its documentation promises. */
export class ResponseError extends Error {
  constructor(
    readonly url: string,
    readonly problem: string,
  ) {
    super(`${url}: unexpected response: ${problem}`)
    this.name = 'ResponseError'
  }
}

/** The Pushgateway refused or could not be reached, after retries. */
export class PushError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`push to ${url} failed: ${reason}; the previous values stay in the Pushgateway`)
    this.name = 'PushError'
  }
}

/** A step that failed: what went wrong and what to do about it. Printed as one line by the script's edge. */
export class StepError extends Error {
  constructor(
    readonly step: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${step}: ${problem}; ${fix}`)
    this.name = 'StepError'
  }
}

/** A command-line mistake. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** One line for a person: the message, without stack, newlines folded. */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error)
  return text.replace(/\s*\n\s*/g, ' ').trim()
}
