import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HttpError, NetworkError, RateLimitError, ResponseError } from '../../collectors/runtime/errors.ts'
import { createHttp, requestedWaitMs } from '../../collectors/runtime/http.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { startApiServer, type ApiServer, type Reply } from '../support/servers.ts'

const test = suite('http client')
let api: ApiServer
let replies: Reply[] = []
const logs: string[] = []

test.before.each(async () => {
  logs.length = 0
  api = await startApiServer(() => replies.shift() ?? { body: { ok: true } })
})
test.after.each(() => api.close())

const client = (options: { timeoutMs?: number; retries?: number; maxRateLimitWaitMs?: number } = {}) =>
  createHttp({ log: createLogger({ write: (line) => logs.push(line) }), retryBaseMs: 10, timeoutMs: 2000, ...options, rateLimitHint: 'set GITHUB_TOKEN' })

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error('expected the call to fail')
}

test('a 502 is retried and the second answer is used; both requests are counted', async () => {
  replies = [{ status: 502, body: 'bad gateway' }]
  const http = client()
  const response = await http.getJson(api.url + '/x')
  assert.equal(response.body, { ok: true })
  assert.is(http.requests, 2)
  assert.is(api.requests.length, 2)
})

test('a 429 waits as long as retry-after says before trying again', async () => {
  replies = [{ status: 429, headers: { 'retry-after': '1' }, body: { message: 'slow down' } }]
  const http = client()
  const started = Date.now()
  await http.getJson(api.url + '/x')
  assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`)
  assert.is(http.requests, 2)
})

test("GitHub's secondary rate limit (403 with retry-after) is waited out, then the call succeeds", async () => {
  replies = [{ status: 403, headers: { 'retry-after': '0' }, body: { message: 'You have exceeded a secondary rate limit.' } }]
  const http = client()
  assert.equal((await http.getJson(api.url + '/x')).body, { ok: true })
  assert.is(http.requests, 2)
})

test('a 403 that is not a rate limit fails at once, without retrying', async () => {
  replies = [{ status: 403, body: { message: 'Resource not accessible by integration' } }]
  const http = client()
  const error = await rejection(http.getJson(api.url + '/x'))
  assert.instance(error, HttpError)
  assert.is((error as HttpError).status, 403)
  assert.match(error.message, /Resource not accessible by integration/)
  assert.is(http.requests, 1)
})

test('a rate limit that resets later than the run may wait fails at once, saying when and what to do', async () => {
  const reset = Math.floor(Date.now() / 1000) + 3600
  replies = [{ status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-limit': '60', 'x-ratelimit-reset': String(reset) }, body: { message: 'API rate limit exceeded' } }]
  const http = client({ maxRateLimitWaitMs: 60_000 })
  const error = await rejection(http.getJson(api.url + '/x'))
  assert.instance(error, RateLimitError)
  assert.match(error.message, new RegExp(`until ${new Date((reset + 1) * 1000).toISOString().slice(0, 16)}`))
  assert.match(error.message, /set GITHUB_TOKEN/)
  assert.is(http.requests, 1)
  assert.equal(http.rateLimit?.remaining, 0)
})

test('rate-limit headers are read from every answer', async () => {
  replies = [{ headers: { 'x-ratelimit-remaining': '4321', 'x-ratelimit-limit': '5000', 'x-ratelimit-reset': '1800000000', 'x-ratelimit-resource': 'graphql' }, body: {} }]
  const http = client()
  await http.getJson(api.url + '/x')
  assert.equal(http.rateLimit, { remaining: 4321, limit: 5000, resetAt: new Date(1_800_000_000_000), resource: 'graphql' })
})

test('malformed JSON in a 200 is a clear error, not a crash', async () => {
  replies = [{ body: '{"results": [' }]
  const error = await rejection(client().getJson(api.url + '/x'))
  assert.instance(error, ResponseError)
  assert.match(error.message, /body is not JSON/)
})

test('a hanging request times out, is retried, then fails naming the timeout', async () => {
  replies = [{ hang: true }, { hang: true }]
  const http = client({ timeoutMs: 200, retries: 1 })
  const error = await rejection(http.getJson(api.url + '/x'))
  assert.instance(error, NetworkError)
  assert.match(error.message, /no answer in time/)
  assert.is(http.requests, 2)
})

test('5xx answers that never recover fail after the configured retries', async () => {
  replies = Array.from({ length: 5 }, () => ({ status: 503, body: { message: 'unavailable' } }))
  const http = client({ retries: 2 })
  const error = await rejection(http.getJson(api.url + '/x'))
  assert.instance(error, HttpError)
  assert.is((error as HttpError).status, 503)
  assert.is(http.requests, 3)
})

test('a JSON POST (a GraphQL query) retries and counts the same way, and sends the body as JSON', async () => {
  replies = [{ status: 502, body: 'bad gateway' }, { body: { data: { viewer: { login: 'x' } } }, headers: { 'x-ratelimit-remaining': '10' } }]
  const http = client()
  const response = await http.postJson(api.url + '/graphql', { query: '{viewer{login}}' }, { headers: { Authorization: 'bearer t' } })
  assert.is(response.status, 200)
  assert.equal(response.body, { data: { viewer: { login: 'x' } } })
  assert.is(http.requests, 2)
  assert.is(api.requests[1]!.method, 'POST')
  assert.is(api.requests[1]!.headers.authorization, 'bearer t')
  assert.is(api.requests[1]!.headers['content-type'], 'application/json; charset=utf-8')
  assert.is(api.requests[1]!.body, '{"query":"{viewer{login}}"}')
  assert.is(http.rateLimit?.remaining, 10)
})

test('retry-after may be a date, and x-ratelimit-reset is used when the limit is spent', () => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  assert.is(requestedWaitMs({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }, now), 30_000)
  assert.is(requestedWaitMs({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now / 1000 + 10) }, now), 11_000)
  assert.is(requestedWaitMs({ 'x-ratelimit-remaining': '5', 'x-ratelimit-reset': String(now / 1000 + 10) }, now), undefined)
})

test.run()
