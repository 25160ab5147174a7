// The GitHub collector's history against the fake GitHub: every day since creation, the values of past days, the
// star-history endpoint and its fallback, resuming after a failure, the run's share of the rate limit.
import { schema as publishedSchema } from '@octokit/graphql-schema'
import { buildClientSchema, parse, validate } from 'graphql'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startGitHubApi, type FakeGitHub } from '../support/github-api.ts'
import { generatedOwner, owner, repository, type GitHubData } from '../support/github-data.ts'
import { badGateway } from '../support/github-limits.ts'
import { generatedHistory, historyRepository, tenYears, type HistorySize } from '../support/github-history-data.ts'
import { starWeeks } from '../support/github-history-api.ts'
import { expectedAt, MemorySink, memoryProgress, runHistory } from '../support/github-history-run.ts'

const day = 86_400
const today = Math.floor(Date.now() / 1000 / day) * day
const end = Math.floor(Date.now() / 1000) - 7200

let fake: FakeGitHub | undefined
async function serve(data: GitHubData): Promise<FakeGitHub> {
  await fake?.close()
  fake = await startGitHubApi(data)
  return fake
}

const test = suite('github history')
test.after.each(async () => {
  await fake?.close()
  fake = undefined
})

const big = generatedHistory('prometheus/prometheus', tenYears, end)
const metricsOfHistory = Object.keys(expectedAt(big, today))

test('the ten-year repository: one sample a day of each series from its first midnight to today, the values of past days as its events say', async () => {
  const api = await serve({ owners: [owner('prometheus', [historyRepository('prometheus', big)])] })
  const sink = new MemorySink()
  const run = await runHistory(api.url, 'prometheus/prometheus', sink, memoryProgress())
  assert.ok(run.ok, String(run.error))
  const first = Math.ceil(big.createdAt / day) * day
  const days = (today - first) / day + 1
  for (const name of metricsOfHistory) {
    const series = sink.series(name, 'prometheus')
    assert.is(series.length, days, `${name}: one sample a day`)
    assert.is(series[0]!.timestampSeconds, first)
    assert.is(series.at(-1)!.timestampSeconds, today)
    assert.equal(series[0]!.labels, { owner: 'prometheus', repository: 'prometheus' })
  }
  for (const midnight of [first, first + 400 * day, first + 1777 * day, today - 90 * day, today]) {
    for (const [name, want] of Object.entries(expectedAt(big, midnight))) assert.is(sink.value(name, 'prometheus', midnight), want, `${name} at ${new Date(midnight * 1000).toISOString()}`)
  }
  assert.is(sink.value('github_repository_stars', 'prometheus', today), big.stars.filter((t) => t < today).length)
  assert.equal(sink.conflicts, [])
  const complete = run.metrics.find((s) => s.name === 'github_history_complete')
  assert.equal(complete, { name: 'github_history_complete', labels: { owner: 'prometheus', repository: 'prometheus' }, value: 1 })
  // Requests: at most one per 100 items of each connection (plus the first question), stars one per 30 weeks.
  const items = [tenYears.issues, tenYears.pullRequests, tenYears.forks, tenYears.releases, tenYears.commits]
  assert.is(api.graphqlRequests, 1 + items.reduce((sum, n) => sum + Math.ceil(n / 100), 0))
  assert.is(api.restRequests, Math.ceil(starWeeks(big, Date.now() / 1000).length / 30))
  assert.is(run.points, api.points + api.restRequests, 'the run counts the points GitHub billed and one per REST request')
})

test('a second run finds the history written and asks only what the repository is', async () => {
  const api = await serve({ owners: [owner('prometheus', [historyRepository('prometheus', big)])] })
  const sink = new MemorySink()
  const progress = memoryProgress()
  assert.ok((await runHistory(api.url, 'prometheus/prometheus', sink, progress)).ok)
  const written = sink.samples.size
  const [graphql, rest] = [api.graphqlRequests, api.restRequests]
  const again = await runHistory(api.url, 'prometheus/prometheus', sink, progress)
  assert.ok(again.ok, String(again.error))
  assert.is(api.graphqlRequests - graphql, 1)
  assert.is(api.restRequests - rest, 0)
  assert.is(sink.samples.size, written)
  assert.equal([...progress.values.values()], Array(6).fill(today), 'each source is written through today')
})

const small: HistorySize = { years: 3, stars: 900, issues: 700, pullRequests: 400, forks: 120, releases: 12, commits: 900 }

test('without the star-history endpoint (GitHub Enterprise Server) the stargazer list gives the same stars, and the log says so', async () => {
  const history = generatedHistory('acme/tool', small, end)
  const api = await serve({ owners: [owner('acme', [historyRepository('tool', history)])], starHistoryEndpoint: false })
  const sink = new MemorySink()
  const run = await runHistory(api.url, 'acme/tool', sink, memoryProgress())
  assert.ok(run.ok, String(run.error))
  assert.ok(run.logs.some((l) => l.level === 'warn' && /no star-history endpoint/.test(String(l.msg)) && /admins and collaborators/.test(String(l.msg))))
  for (const midnight of [today - 700 * day, today - 30 * day, today]) {
    assert.is(sink.value('github_repository_stars', 'tool', midnight), expectedAt(history, midnight).github_repository_stars)
  }
  assert.ok(api.graphql.some((r) => /stargazers\(first: 100/.test(r.query)))
})

test('a run the server fails half way writes what it finished; the next run writes the rest: the same samples, none missing, none written twice', async () => {
  const history = generatedHistory('acme/tool', small, end)
  const data = { owners: [owner('acme', [historyRepository('tool', history)])] }
  const clean = new MemorySink()
  let api = await serve(data)
  assert.ok((await runHistory(api.url, 'acme/tool', clean, memoryProgress())).ok)

  api = await serve(data)
  const sink = new MemorySink()
  const progress = memoryProgress()
  let asked = 0
  api.intercept = (request) => (request.url.startsWith('/graphql') && ++asked > 8 ? badGateway() : undefined)
  const failed = await runHistory(api.url, 'acme/tool', sink, progress)
  assert.not.ok(failed.ok, 'the run fails when GitHub keeps failing')
  const partly = sink.samples.size
  assert.ok(partly > 0 && partly < clean.samples.size, `half written: ${partly} of ${clean.samples.size}`)
  api.intercept = undefined
  const writes = sink.writes
  const resumed = await runHistory(api.url, 'acme/tool', sink, progress)
  assert.ok(resumed.ok, String(resumed.error))
  assert.equal([...sink.samples.keys()].sort(), [...clean.samples.keys()].sort())
  for (const [key, sample] of clean.samples) assert.is(sink.samples.get(key)!.value, sample.value, key)
  assert.equal(sink.conflicts, [])
  assert.ok(sink.writes - writes < 6, 'the sources finished before the failure are not read or written again')
})

test('with 500 points left and 2,000 needed, a run spends its 20% and stops saying so; the next run continues where it stopped', async () => {
  const repositories = Array.from({ length: 20 }, (_, i) => historyRepository(`tool-${String(i).padStart(2, '0')}`, generatedHistory(`acme/${i}`, { years: 2, stars: 50, issues: 5000, pullRequests: 2500, forks: 900, releases: 50, commits: 1500 }, end)))
  const api = await serve({ owners: [owner('acme', repositories)], graphqlPoints: { limit: 5000, remaining: 500 } })
  const sink = new MemorySink()
  const progress = memoryProgress()
  const first = await runHistory(api.url, 'acme', sink, progress)
  assert.ok(first.ok, String(first.error))
  assert.ok(api.points <= 100, `spent ${api.points} of the 100 points (20% of 500)`)
  const stop = first.logs.find((l) => l.level === 'warn' && /share of the GitHub rate limit/.test(String(l.msg)))
  assert.ok(stop, 'the run says it stopped at its share')
  assert.is(stop!.pointsAllowed, 100)
  assert.ok(first.metrics.some((s) => s.name === 'github_history_complete' && s.value === 0))
  const done = new Set(progress.values.keys())
  assert.ok(done.size > 0, 'the first run wrote something')
  const spent = api.points
  const second = await runHistory(api.url, 'acme', sink, progress)
  assert.ok(second.ok, String(second.error))
  assert.ok(api.points - spent <= Math.floor(0.2 * (500 - spent)), `the second run spends at most 20% of the ${500 - spent} left`)
  assert.ok(progress.values.size > done.size, 'the second run writes more')
  assert.ok(!api.graphql.slice(-10).some((r) => r.variables.name === 'tool-00' && /History_issues/.test(r.query) && done.has('acme/tool-00/issues')), 'it does not read again what the first run wrote')
  assert.equal(sink.conflicts, [])
})

test('--since writes nothing older, with the values of those days, and leaves the older days to the next run', async () => {
  const history = generatedHistory('acme/tool', small, end)
  const api = await serve({ owners: [owner('acme', [historyRepository('tool', history)])] })
  const sink = new MemorySink()
  const progress = memoryProgress()
  const since = today - 10 * day + 3600
  assert.ok((await runHistory(api.url, 'acme/tool', sink, progress, {}, since)).ok)
  const stars = sink.series('github_repository_stars', 'tool')
  assert.equal(stars.map((s) => s.timestampSeconds), Array.from({ length: 10 }, (_, i) => today - 9 * day + i * day), 'from the first midnight at or after --since')
  for (const sample of stars) assert.is(sample.value, expectedAt(history, sample.timestampSeconds).github_repository_stars)
  assert.is(progress.values.size, 0, 'a partial past is not remembered as written')
  assert.ok((await runHistory(api.url, 'acme/tool', sink, progress)).ok)
  assert.is(sink.series('github_repository_stars', 'tool').length, (today - Math.ceil(history.createdAt / day) * day) / day + 1)
  assert.equal(sink.conflicts, [])
})

test('an empty repository (no default branch) has no commit history, and the rest of its history is written', async () => {
  const history = { ...generatedHistory('acme/empty', small, end), commits: [] }
  const api = await serve({ owners: [owner('acme', [historyRepository('empty', history, { defaultBranch: null })])] })
  const sink = new MemorySink()
  const run = await runHistory(api.url, 'acme/empty', sink, memoryProgress())
  assert.ok(run.ok, String(run.error))
  assert.is(sink.series('github_repository_commits', 'empty').length, 0)
  assert.is(sink.value('github_repository_forks', 'empty', today), expectedAt(history, today).github_repository_forks)
  assert.equal(run.metrics.find((s) => s.name === 'github_history_complete')?.value, 1)
})

test('every repository of the fake has a past agreeing with its counts (the e2e platform’s history job reads them)', async () => {
  const org = generatedOwner('prometheus', 4)
  const api = await serve({ owners: [org] })
  const sink = new MemorySink()
  const run = await runHistory(api.url, 'prometheus', sink, memoryProgress())
  assert.ok(run.ok, String(run.error))
  for (const repo of org.repositories) {
    assert.is(run.metrics.find((s) => s.name === 'github_history_complete' && s.labels.repository === repo.name)?.value, 1, repo.name)
    const stars = sink.series('github_repository_stars', repo.name)
    assert.ok(stars.length > 0 && stars.at(-1)!.value <= repo.stargazerCount, `${repo.name}: stars up to today's count`)
  }
})

test('without a token the history run writes nothing, says so in one line, and does not fail', async () => {
  const api = await serve({ owners: [owner('acme', [repository('tool')])] })
  const sink = new MemorySink()
  const run = await runHistory(api.url, 'acme/tool', sink, memoryProgress(), { GITHUB_TOKEN: '' })
  assert.ok(run.ok, String(run.error))
  assert.is(sink.samples.size, 0)
  assert.is(run.logs.filter((l) => l.level === 'warn' && /no GitHub token/.test(String(l.msg)) && /GITHUB_TOKEN_FILE/.test(String(l.msg))).length, 1)
  assert.is(api.graphqlRequests + api.restRequests, 0)
})

test('a source larger than a whole run’s share is named in the warning, with the setting that lets it run', async () => {
  const history = generatedHistory('acme/huge', { years: 2, stars: 10, issues: 3000, pullRequests: 10, forks: 1, releases: 1, commits: 10 }, end)
  const api = await serve({ owners: [owner('acme', [historyRepository('huge', history)])], graphqlPoints: { limit: 5000, remaining: 100 } })
  const run = await runHistory(api.url, 'acme/huge', new MemorySink(), memoryProgress())
  assert.ok(run.ok, String(run.error))
  const stop = run.logs.find((l) => l.level === 'warn' && /share of the GitHub rate limit/.test(String(l.msg)))
  assert.is(stop?.tooLargeForOneRun, "acme/huge/issues needs 30 points, more than this run's 20: raise GITHUB_HISTORY_BUDGET_PERCENT for a run")
  assert.ok((await runHistory(api.url, 'acme/huge', new MemorySink(), memoryProgress(), { GITHUB_HISTORY_BUDGET_PERCENT: '100' })).ok)
})

test('GITHUB_HISTORY_BUDGET_PERCENT that is not a percentage is refused before any request', async () => {
  const api = await serve({ owners: [owner('acme', [repository('tool')])] })
  for (const bad of ['0', '101', 'half', '-5']) {
    const run = await runHistory(api.url, 'acme/tool', new MemorySink(), memoryProgress(), { GITHUB_HISTORY_BUDGET_PERCENT: bad })
    assert.not.ok(run.ok)
    assert.match(String((run.error as Error).message), `GITHUB_HISTORY_BUDGET_PERCENT=${bad} is not a percentage from 1 to 100`)
  }
  assert.is(api.graphqlRequests + api.restRequests, 0)
})

test('every GraphQL document the history sends is valid against GitHub’s published schema', async () => {
  const history = generatedHistory('acme/tool', small, end)
  const api = await serve({ owners: [owner('acme', [historyRepository('tool', history)])], starHistoryEndpoint: false })
  assert.ok((await runHistory(api.url, 'acme', new MemorySink(), memoryProgress())).ok)
  assert.ok((await runHistory(api.url, 'acme/tool', new MemorySink(), memoryProgress())).ok)
  const documents = new Set(api.graphql.map((request) => request.query))
  assert.is(documents.size, 8, 'owner, repository, and the six walks (issues, pull requests, forks, releases, commits, stargazers)')
  const schema = buildClientSchema(publishedSchema.json as Parameters<typeof buildClientSchema>[0])
  for (const document of documents) assert.equal(validate(schema, parse(document)).map((e) => e.message), [], document)
})

test.run()
