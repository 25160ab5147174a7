// Errors with their facts attached, on one base; the edge (the CLI, a script) turns each into one line, and its kind
// decides the exit code.

/** What kind of mistake or failure an error is: a person's input (usage, config) exits 2, anything else 1. */
export type ErrorKind = 'usage' | 'config' | 'failure'

const exitCodes: Record<ErrorKind, number> = { usage: 2, config: 2, failure: 1 }

/**
 * The base of every error this project throws on purpose. Its message is one line: where it happened, what is wrong,
 * and (when there is one) what to do: `where: problem; fix`. Subclasses name their facts and their kind.
 */
export class ActivityError extends Error {
  readonly kind: ErrorKind = 'failure'

  constructor(
    readonly where: string,
    readonly problem: string,
    readonly fix?: string,
  ) {
    super(`${where}${where && problem ? ': ' : ''}${problem}${fix ? `; ${fix}` : ''}`)
    this.name = new.target.name
  }
}

/** A problem in activity.yml (or another file a person edits): where it is and how to fix it. */
export class ConfigError extends ActivityError {
  override readonly kind = 'config'

  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly field: string,
    problem: string,
    fix?: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${field}`, problem, fix)
  }
}

/** A command-line mistake. */
export class UsageError extends ActivityError {
  override readonly kind = 'usage'

  constructor(message: string) {
    super('', message)
  }
}

/** A step that failed: what went wrong and what to do about it. Printed as one line by the script's edge. */
export class StepError extends ActivityError {
  constructor(
    readonly step: string,
    problem: string,
    fix: string,
  ) {
    super(step, problem, fix)
  }
}

/** An API answered with an error status, after retries. */
export class HttpError extends ActivityError {
  constructor(
    readonly status: number,
    readonly url: string,
    readonly detail: string,
  ) {
    super(`${url} answered ${status}`, detail)
  }
}

/** The API does not have the target (an unknown package or crate): one line naming it, instead of a bare 404. */
export class NotFoundError extends ActivityError {
  constructor(
    readonly url: string,
    problem: string,
  ) {
    super(url, problem, 'check the name in activity.yml (a typo, or a package that was removed)')
  }
}

/** The API's rate limit is exhausted for longer than the run may wait. `why`: why the run did not wait (and when to retry). */
export class RateLimitError extends ActivityError {
  constructor(
    readonly url: string,
    readonly resetAt: Date | undefined,
    readonly hint: string,
    readonly why = '',
  ) {
    super(`rate limit exhausted at ${url}${resetAt ? ` until ${resetAt.toISOString()}` : ''}`, why, hint)
  }
}

/** No answer in time, or the connection failed, after retries. */
export class NetworkError extends ActivityError {
  constructor(
    readonly url: string,
    readonly code: string,
  ) {
    super(url, code, 'check that the API is reachable from here')
  }
}

/** An API answered 2xx with a body that is not what its documentation promises. */
export class ResponseError extends ActivityError {
  constructor(
    readonly url: string,
    problem: string,
  ) {
    super(url, `unexpected response: ${problem}`)
  }
}

/** The Pushgateway refused or could not be reached, after retries. */
export class PushError extends ActivityError {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`push to ${url} failed`, reason, 'the previous values stay in the Pushgateway')
  }
}

/** The exit code for an error that reached the edge: 2 for a person's input (node's own argument errors too), 1 else. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof ActivityError) return exitCodes[error.kind]
  return (error as { code?: string } | undefined)?.code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1
}

/** One line for a person: the message, without stack, newlines folded. */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error)
  return text.replace(/\s*\n\s*/g, ' ').trim()
}
