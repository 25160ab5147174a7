// GitHub's rate limits as its documentation states them (primary, secondary, GraphQL's RATE_LIMITED), on one budget
// per run, on a faked clock: the run's waits only move the test's time, and each is asserted.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import github from '../../collectors/github.ts'
import { UsageError } from '../../collectors/runtime/errors.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { runCollector, type TargetResult } from '../../collectors/runtime/run.ts'
import { parse } from '../../collectors/runtime/schema.ts'
import { parseExposition, valueOf, type Sample } from '../support/collect.ts'
import { startGitHubApi, type FakeGitHub } from '../support/github-api.ts'
import { generatedOwner, type GitHubData } from '../support/github-data.ts'
import { graphqlRateLimited, secondaryRateLimit, tooManyRequests } from '../support/github-limits.ts'

/** Time that moves only when the run sleeps, from a whole second; every sleep is kept. */
function fakeClock(start = Math.floor(Date.now() / 1000) * 1000) {
  let now = start
  const waits: number[] = []
  return {
    start,
    waits,
    now: () => now,
    sleep: async (ms: number) => {
      waits.push(ms)
      now += ms
    },
  }
}

interface Run {
  results: TargetResult[]
  logs: Record<string, unknown>[]
  /** What each target printed: `target` (its data, on success) and `target health`. */
  printed: Map<string, Sample[]>
  waits: number[]
}

let fake: FakeGitHub | undefined
async function serve(data: GitHubData): Promise<FakeGitHub> {
  fake = await startGitHubApi(data)
  return fake
}

async function collect(api: FakeGitHub, targets: string[], env: Record<string, string> = {}, clock = fakeClock()): Promise<Run> {
  const logs: Record<string, unknown>[] = []
  let text = ''
  const results = await runCollector(
    { collector: github, targets: targets.map((t) => parse(github.targets, t)), options: parse(github.options!, {}), schedule: github.schedule, print: (chunk) => (text += chunk) },
    {
      env: { GITHUB_API_URL: api.url, GITHUB_TOKEN: 'ghp_test', ...env },
      log: createLogger({ level: 'debug', now: clock.now, write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>) }),
      now: clock.now,
      sleep: clock.sleep,
      http: { timeoutMs: 2000, retries: 4, retryBaseMs: 10 },
    },
  )
  const printed = new Map<string, Sample[]>()
  for (const [, name, exposition] of text.matchAll(/^# github target=(\S+(?: health)?)\n((?:(?!# github target=).*\n)*)/gm)) printed.set(name!, parseExposition(exposition!))
  return { results, logs, printed, waits: clock.waits }
}

const iso = (ms: number) => new Date(ms).toISOString()
const utc = (ms: number) => `${iso(ms).slice(11, 19)} UTC`

const test = suite('github rate limits')
test.after.each(async () => {
  await fake?.close()
  fake = undefined
})

test('a secondary limit without retry-after waits a minute, then twice as long, then the run goes on', async () => {
  const api = await serve({ owners: [generatedOwner('acme', 10)] })
  api.queue(secondaryRateLimit(), secondaryRateLimit())
  const run = await collect(api, ['acme'])
  assert.ok(run.results[0]!.ok, run.results[0]!.error)
  assert.equal(run.waits, [60_000, 120_000], 'at least one minute, then exponentially longer (GitHub: "wait at least one minute", "exponentially increasing")')
  assert.is(api.graphqlRequests, 3)
  assert.is(run.results[0]!.requests, 3)
  assert.equal(run.logs.filter((l) => l.msg === 'retrying').map((l) => [l.status, l.waitMs]), [[403, 60_000], [403, 120_000]])
  assert.is(valueOf(run.printed.get('acme')!, 'github_owner_repositories', { owner: 'acme' }), 10)
})

test('a secondary limit that outlasts GITHUB_MAX_WAIT_SECONDS fails the run with one line naming when to retry', async () => {
  const api = await serve({ owners: [generatedOwner('acme', 10)] })
  api.queue(secondaryRateLimit(), secondaryRateLimit(), secondaryRateLimit())
  const clock = fakeClock()
  const run = await collect(api, ['acme'], { GITHUB_MAX_WAIT_SECONDS: '100' }, clock)
  assert.equal(run.waits, [60_000], 'the second wait (120 s) is longer than the 100 s allowed')
  assert.is(api.graphqlRequests, 2)
  const retryAt = clock.start + 60_000 + 120_000
  assert.is(
    run.results[0]!.error,
    `rate limit exhausted at ${api.url}/graphql until ${iso(retryAt)}: it lifts in 2 min, longer than the 100 s a run may wait (GITHUB_MAX_WAIT_SECONDS); retry after ${utc(retryAt)}; ${github.rateLimitHint}`,
  )
})

test('a secondary limit or a 429 with retry-after waits exactly that long', async () => {
  const api = await serve({ owners: [generatedOwner('acme', 10)] })
  api.queue(secondaryRateLimit(7), tooManyRequests(30))
  const run = await collect(api, ['acme'])
  assert.ok(run.results[0]!.ok, run.results[0]!.error)
  assert.equal(run.waits, [7_000, 30_000])
  assert.is(api.graphqlRequests, 3)
  assert.is(valueOf(run.printed.get('acme health')!, 'activity_collector_duration_seconds'), 37, 'the waits are part of the run’s duration')
})

test('GraphQL RATE_LIMITED that resets within the maximum wait: the run waits for the reset, then succeeds', async () => {
  const api = await serve({ owners: [generatedOwner('acme', 150)] })
  const clock = fakeClock()
  const reset = clock.start / 1000 + 60
  api.queue(graphqlRateLimited(reset))
  const run = await collect(api, ['acme'], {}, clock)
  assert.ok(run.results[0]!.ok, run.results[0]!.error)
  assert.equal(run.waits, [61_000], 'until a second after x-ratelimit-reset (whole seconds)')
  assert.is(api.graphqlRequests, 3, 'the limited request, then both pages')
  const waiting = run.logs.filter((l) => l.msg === 'waiting for the rate limit to reset')
  assert.equal(waiting.map((l) => [l.waitSeconds, l.resetAt]), [[61, iso((reset + 1) * 1000)]])
  assert.is(valueOf(run.printed.get('acme')!, 'github_owner_repositories', { owner: 'acme' }), 150)
})

test('GraphQL RATE_LIMITED that resets later than the maximum wait fails at once, with one line naming when to retry', async () => {
  const api = await serve({ owners: [generatedOwner('acme', 10)] })
  const clock = fakeClock()
  const reset = clock.start / 1000 + 3600
  api.queue(graphqlRateLimited(reset))
  const run = await collect(api, ['acme'], {}, clock)
  assert.equal(run.waits, [])
  assert.is(api.graphqlRequests, 1)
  const retryAt = (reset + 1) * 1000
  assert.is(
    run.results[0]!.error,
    `rate limit exhausted at ${api.url}/graphql until ${iso(retryAt)}: it lifts in 60 min, longer than the 15 min a run may wait (GITHUB_MAX_WAIT_SECONDS); retry after ${utc(retryAt)}; ${github.rateLimitHint}`,
  )
  assert.equal(run.printed.get('acme'), undefined, 'nothing is printed (pushed) for the target')
  assert.is(valueOf(run.printed.get('acme health')!, 'activity_collector_rate_limit_remaining'), 0)
})

test('GITHUB_MAX_WAIT_SECONDS lets a run wait longer, and a value that is not seconds is refused before any request', async () => {
  const api = await serve({ owners: [generatedOwner('acme', 10)] })
  const clock = fakeClock()
  api.queue(graphqlRateLimited(clock.start / 1000 + 1800))
  const patient = await collect(api, ['acme'], { GITHUB_MAX_WAIT_SECONDS: '3600' }, clock)
  assert.ok(patient.results[0]!.ok, patient.results[0]!.error)
  assert.equal(patient.waits, [1_801_000])
  for (const bad of ['soon', '-1', '7200']) {
    const refused = await collect(api, ['acme'], { GITHUB_MAX_WAIT_SECONDS: bad }).then(
      () => undefined,
      (error: unknown) => error,
    )
    assert.instance(refused, UsageError, bad)
    assert.is((refused as Error).message, `GITHUB_MAX_WAIT_SECONDS=${bad} is not a number of seconds from 0 to 3600 (rate limits reset within the hour); unset it for the default 900, or 0 to never wait`)
  }
  assert.is(api.graphqlRequests, 2, 'the refused runs asked nothing')
})

test('the budget runs out in the middle of the second of three targets: the third is not attempted, and the log says so', async () => {
  // 27 points left: acme-a spends 18 (three pages of 6), acme-b's first page 6, its second needs 6 of the 3 left.
  const api = await serve({ owners: ['acme-a', 'acme-b', 'acme-c'].map((login) => generatedOwner(login, 250)), graphqlPoints: { limit: 5000, remaining: 27 } })
  const run = await collect(api, ['acme-a', 'acme-b', 'acme-c'])
  const [a, b, c] = run.results
  assert.equal([a!.ok, a!.requests, a!.points], [true, 3, 18])
  assert.equal([b!.ok, b!.requests, b!.points], [false, 2, 6])
  assert.match(b!.error!, new RegExp(`^rate limit exhausted at ${api.url}/graphql until \\S+Z: it lifts in 60 min, longer than the 15 min a run may wait \\(GITHUB_MAX_WAIT_SECONDS\\); retry after \\d\\d:\\d\\d:\\d\\d UTC; `))
  assert.equal([c!.ok, c!.notAttempted, c!.requests], [false, true, 0])
  assert.is(c!.error, `not attempted: the rate limit ran out before it (${b!.error})`)
  assert.is(api.graphqlRequests, 5, 'nothing was asked for acme-c')
  assert.equal(run.waits, [])
  const stop = run.logs.filter((l) => l.msg === 'rate limit exhausted: the run stops, the remaining targets are not attempted')
  assert.equal(stop.map((l) => l.notAttempted), [['acme-c']])
  assert.not.ok(run.logs.some((l) => l.msg === 'collecting' && l.target === 'acme-c'))
  const finished = run.logs.find((l) => l.msg === 'run finished')!
  assert.equal([finished.targets, finished.failed, finished.notAttempted, finished.requests, finished.points], [3, 2, 1, 5, 24])
  const health = run.printed.get('acme-c health')!
  assert.is(valueOf(health, 'activity_collector_last_run_success'), 0)
  assert.is(valueOf(health, 'activity_collector_api_requests'), 0)
  assert.is(valueOf(health, 'activity_collector_rate_limit_remaining'), 3, 'the budget the targets share, as acme-b left it')
  assert.is(valueOf(run.printed.get('acme-a health')!, 'activity_collector_rate_limit_points'), 18)
})

test('a target after one that spent the budget asks nothing before the reset (REST without a token)', async () => {
  // Two requests left of the anonymous 60: acme-a's two pages take them.
  const api = await serve({ owners: [generatedOwner('acme-a', 200), generatedOwner('acme-b', 50), generatedOwner('acme-c', 50)], restRequests: { anonymous: 60, remaining: 2 } })
  const run = await collect(api, ['acme-a', 'acme-b', 'acme-c'], { GITHUB_TOKEN: '' })
  const [a, b, c] = run.results
  assert.equal([a!.ok, a!.requests, a!.points], [true, 2, 2])
  assert.equal([b!.ok, b!.requests], [false, 0])
  assert.match(b!.error!, new RegExp(`^rate limit exhausted at ${api.url}/users/acme-b/repos\\?per_page=100&page=1 until \\S+Z: it lifts in 60 min`))
  assert.equal([c!.ok, c!.notAttempted], [false, true])
  assert.is(api.restRequests, 2)
  assert.equal(run.waits, [])
})

test.run()
