// GitHub's history through the built `activity history github` (a child process) into Debian's Prometheus with the
// metrics stack's remote-write receiver and out-of-order window: the values of past days, a run killed half way and
// run again, and a run that stops at its share of the rate limit. Expected values come from the fake GitHub's data.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse as parseYaml } from 'yaml'
import { cliPath, runActivity } from '../support/cli.ts'
import { startGitHubApi, type FakeGitHub } from '../support/github-api.ts'
import { owner, type GitHubData } from '../support/github-data.ts'
import { badGateway } from '../support/github-limits.ts'
import type { RepositoryHistory } from '../support/github-history-api.ts'
import { generatedHistory, historyRepository, tenYears, type HistorySize } from '../support/github-history-data.ts'
import { expectedAt } from '../support/github-history-run.ts'
import { startPrometheus, startPushgateway, type Prometheus, type Pushgateway } from '../support/prometheus.ts'
import { waitFor } from '../support/servers.ts'

const stackConfig = new URL('../../stacks/metrics/prometheus.yml', import.meta.url).pathname
const storage = parseYaml(readFileSync(stackConfig, 'utf8')).storage as { tsdb: { out_of_order_time_window: string } }

const day = 86_400
const today = Math.floor(Date.now() / 1000 / day) * day
const end = Math.floor(Date.now() / 1000) - 7200

const test = suite('github history into a real Prometheus')
let gateway: Pushgateway
let prometheus: Prometheus
const fakes: FakeGitHub[] = []

test.before(async () => {
  gateway = await startPushgateway()
  prometheus = await startPrometheus({
    pushgateways: [gateway.url],
    // Retention covers the ten years, as metrics.retention must for history (README): with Prometheus' default 15d the
    // oldest days, compacted out of the head, would be deleted at once.
    flags: ['--web.enable-remote-write-receiver', '--storage.tsdb.retention.time=30y'],
    extraConfig: `storage:\n  tsdb:\n    out_of_order_time_window: ${storage.tsdb.out_of_order_time_window}\n`,
  })
})
test.after(async () => {
  await Promise.all([gateway?.stop(), prometheus?.stop(), ...fakes.map((f) => f.close())])
})

async function serve(data: GitHubData): Promise<FakeGitHub> {
  const fake = await startGitHubApi(data)
  fakes.push(fake)
  return fake
}

function environment(api: FakeGitHub, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, GITHUB_API_URL: api.url, GITHUB_TOKEN: 'ghp_history', METRICS_PROMETHEUS_URL: prometheus.url, PUSHGATEWAY_URL: gateway.url, HTTP_RETRIES: '1', ...extra }
}

async function queryAt(promql: string, seconds: number): Promise<number[]> {
  const response = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(promql)}&time=${seconds}`)
  const body = (await response.json()) as { status: string; error?: string; data: { result: { value: [number, string] }[] } }
  if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`)
  return body.data.result.map((r) => Number(r.value[1]))
}

/** Every raw sample of one series over `days` days before now: [timestamp, value]. */
async function rawSamples(selector: string, days: number): Promise<[number, number][]> {
  const response = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(`${selector}[${days}d]`)}&time=${today + 60}`)
  const body = (await response.json()) as { data: { result: { values: [number, string][] }[] } }
  assert.ok(body.data.result.length <= 1, `${selector}: one series`)
  return (body.data.result[0]?.values ?? []).map(([t, v]) => [t, Number(v)])
}

const big = generatedHistory('prometheus/prometheus', tenYears, end)

test('after `activity history github`, Prometheus answers at five past days the stars, open issues, merged pull requests and forks of those days', async () => {
  const api = await serve({ owners: [owner('prometheus', [historyRepository('prometheus', big)])] })
  const run = await runActivity(['history', 'github', '--target', 'prometheus/prometheus'], { env: environment(api) })
  assert.is(run.code, 0, run.stderr)
  const series = (name: string) => `${name}{job="github",target="prometheus/prometheus",owner="prometheus",repository="prometheus"}`
  const first = Math.ceil(big.createdAt / day) * day
  for (const midnight of [first + 3 * day, first + 1000 * day, first + 2345 * day, today - 200 * day, today - day]) {
    const want = expectedAt(big, midnight)
    for (const name of ['github_repository_stars', 'github_repository_open_issues', 'github_repository_merged_pull_requests', 'github_repository_forks'] as const) {
      assert.equal(await queryAt(series(name), midnight), [want[name]], `${name} on ${new Date(midnight * 1000).toISOString().slice(0, 10)}`)
    }
  }
  assert.equal(await queryAt(`count_over_time(${series('github_repository_stars')}[3700d])`, today + 60), [(today - first) / day + 1], 'one sample a day')
  await prometheus.queryUntil('github_history_complete{owner="prometheus",repository="prometheus"} == 1', 'the history marked complete through the Pushgateway')
})

const small: HistorySize = { years: 3, stars: 2_000, issues: 1_500, pullRequests: 900, forks: 300, releases: 20, commits: 1_200 }
const every = ['github_repository_stars', 'github_repository_open_issues', 'github_repository_closed_issues', 'github_repository_open_pull_requests', 'github_repository_merged_pull_requests', 'github_repository_closed_pull_requests', 'github_repository_forks', 'github_repository_releases', 'github_repository_commits'] as const

async function assertEveryDay(history: RepositoryHistory, target: string, repository: string): Promise<void> {
  const first = Math.ceil(history.createdAt / day) * day
  for (const name of every) {
    const samples = await rawSamples(`${name}{job="github",target="${target}",repository="${repository}"}`, 4 * 365)
    assert.equal(samples.map(([t]) => t), Array.from({ length: (today - first) / day + 1 }, (_, i) => first + i * day), `${name}: every day once, none missing`)
    for (const [t, value] of samples) {
      if (value !== expectedAt(history, t)[name]) assert.unreachable(`${name} on ${new Date(t * 1000).toISOString()}: ${value}, the data says ${expectedAt(history, t)[name]}`)
    }
  }
}

test('a job the server fails half way and that is then killed, run again, leaves every day once with its value', async () => {
  const history = generatedHistory('acme/halfway', small, end)
  const api = await serve({ owners: [owner('acme', [historyRepository('halfway', history)])] })
  // Stars, issues, then the first pull-request pages answer; after that every GraphQL request fails with a 502.
  let graphql = 0
  api.intercept = (request) => (request.url.startsWith('/graphql') && ++graphql > 22 ? badGateway() : undefined)
  const child = spawn(process.execPath, [cliPath, 'history', 'github', '--target', 'acme/halfway'], { env: environment(api, { HTTP_RETRIES: '20' }), stdio: 'ignore' })
  await waitFor('the job retrying against the failing server', () => graphql > 26, 30_000)
  child.kill('SIGKILL')
  await new Promise((resolve) => child.once('exit', resolve))
  const written = await rawSamples('github_repository_open_issues{job="github",target="acme/halfway"}', 4 * 365)
  assert.ok(written.length > 0, 'the issues finished before the failure are written')
  assert.is((await rawSamples('github_repository_commits{job="github",target="acme/halfway"}', 4 * 365)).length, 0, 'the commits were not reached')

  api.intercept = undefined
  const before = api.graphql.length
  const again = await runActivity(['history', 'github', '--target', 'acme/halfway'], { env: environment(api) })
  assert.is(again.code, 0, again.stderr)
  assert.not.ok(api.graphql.slice(before).some((r) => /History_issues/.test(r.query)), 'the issues are not read again')
  await assertEveryDay(history, 'acme/halfway', 'halfway')
})

test('with 500 points left and 2,000 needed the run stops at its 20% and says so; the next run continues where it stopped', async () => {
  const size: HistorySize = { years: 2, stars: 40, issues: 5_000, pullRequests: 2_500, forks: 900, releases: 50, commits: 1_500 }
  const repositories = Array.from({ length: 20 }, (_, i) => historyRepository(`tool-${String(i).padStart(2, '0')}`, generatedHistory(`budget/${i}`, size, end)))
  const api = await serve({ owners: [owner('budget', repositories)], graphqlPoints: { limit: 5000, remaining: 500 } })
  const walked = (from: number) => new Set(api.graphql.slice(from).flatMap((r) => /^query History_(\w+)\(/.exec(r.query)?.slice(1).map((walk) => `${String(r.variables.name)} ${walk}`) ?? []))

  const first = await runActivity(['history', 'github', '--target', 'budget'], { env: environment(api) })
  assert.is(first.code, 0, first.stderr)
  assert.ok(api.points <= 100, `the first run spent ${api.points} points, at most 20% of 500`)
  assert.match(first.stderr, /history stopped at this run's share of the GitHub rate limit \(20% of what remained, GITHUB_HISTORY_BUDGET_PERCENT\); the next run continues/)
  const firstWalks = walked(0)
  assert.ok(firstWalks.size > 0, 'the first run writes some')
  const spent = api.points
  const requests = api.graphql.length

  const second = await runActivity(['history', 'github', '--target', 'budget'], { env: environment(api) })
  assert.is(second.code, 0, second.stderr)
  assert.ok(api.points - spent <= Math.floor((500 - spent) * 0.2), `the second run spent ${api.points - spent} of the ${500 - spent} left`)
  const secondWalks = walked(requests)
  assert.ok(secondWalks.size > 0, 'the second run writes more')
  assert.equal([...secondWalks].filter((walk) => firstWalks.has(walk)), [], 'nothing the first run finished is read again')
  await prometheus.queryUntil('github_history_points_needed{owner="budget",repository="tool-19"} > 0', 'the points still needed')
})

test.run()
