// The GitHub dashboard's figures over time on a real Prometheus that holds both kinds of samples: a year of daily
// history (remote write, as `activity history` writes it) and the value the bundled CLI pushes today, scraped from a
// real Pushgateway. The panel's own query must draw them as one line, without a gap or a seam.
import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse as parseYaml } from 'yaml'
import { createLogger } from '../../collectors/runtime/log.ts'
import { createRemoteWriteSink } from '../../collectors/runtime/remote-write.ts'
import { runActivity } from '../support/cli.ts'
import { dashboardFiles, panelQueries, substitute } from '../support/dashboards.ts'
import { startGitHubApi, type FakeGitHub } from '../support/github-api.ts'
import { owner, repository } from '../support/github-data.ts'
import { startPrometheus, startPushgateway, type Prometheus, type Pushgateway } from '../support/prometheus.ts'
import { tempDir } from '../support/servers.ts'

const stackConfig = new URL('../../stacks/metrics/prometheus.yml', import.meta.url).pathname
const storage = parseYaml(readFileSync(stackConfig, 'utf8')).storage as { tsdb: { out_of_order_time_window: string } }

const test = suite('GitHub dashboard: history and today as one line')
const today = Math.floor(Date.now() / 86_400_000) * 86_400
const daysAgo = (n: number) => today - n * 86_400
/** Stars n days ago: the test's own history, growing by 3 a day. */
const starsOn = (n: number) => 5000 - 3 * n
const current = 5002
const dir = tempDir('dashboards-history')
let api: FakeGitHub
let gateway: Pushgateway
let prometheus: Prometheus

test.before(async () => {
  api = await startGitHubApi({ owners: [owner('acme', [repository('app', { stargazerCount: current })])] })
  gateway = await startPushgateway()
  prometheus = await startPrometheus({
    pushgateways: [gateway.url],
    // Prometheus deletes what is older than its retention (15 days unless set) at its next head compaction.
    flags: ['--web.enable-remote-write-receiver', '--storage.tsdb.retention.time=2y'],
    extraConfig: `storage:\n  tsdb:\n    out_of_order_time_window: ${storage.tsdb.out_of_order_time_window}\n`,
  })
  // A year of history up to today's 00:00 (a backfill run today), with the labels the history path gives (job and
  // target of the collect run).
  const history = Array.from({ length: 366 }, (_, i) => i).map((n) => ({ name: 'github_repository_stars', labels: { owner: 'acme', repository: 'app' }, timestampSeconds: daysAgo(n), value: starsOn(n) }))
  const specs = { github_repository_stars: { help: 'Stars of the repository.', labels: ['owner', 'repository'] } }
  await createRemoteWriteSink(prometheus.url, { job: 'github', target: 'acme/app', project: 'acme/app' }, specs, { log: createLogger({ write: () => {} }) }).write(history)
  const run = await runActivity(['collect', 'github', '--target', 'acme/app', '--pushgateway', gateway.url], {
    env: { PATH: process.env.PATH, HTTP_RETRIES: '0', GITHUB_API_URL: api.url, GITHUB_TOKEN: 'ghp_reader' },
    cwd: dir.path,
  })
  assert.is(run.code, 0, run.stderr)
  // A few scrapes, so that the first one is over a second old when the tests ask at whole seconds.
  await prometheus.queryUntil(`count_over_time(github_repository_stars{owner="acme",repository="app"}[5s]) >= 3`, 'the pushed value, scraped three times')
})
test.after(async () => {
  await Promise.all([api?.close(), gateway?.stop(), prometheus?.stop()])
  dir.remove()
})

/** The GitHub dashboard's "Stars" panel query, its variables set to acme/app. */
function starsQuery(stepSeconds: number, rangeSeconds: number): string {
  const file = dashboardFiles().find((f) => f.file === 'activity/github.json')!
  const query = panelQueries(file).find((q) => q.where.includes('"Stars"') && q.panelType === 'timeseries')
  assert.ok(query?.expr, 'the GitHub dashboard has a Stars panel over time')
  const values = new Map([
    ['owner', ['acme']],
    ['repository', ['app']],
  ])
  return substitute(query.expr, values, { rangeSeconds, intervalSeconds: stepSeconds, scrapeSeconds: 15 })
}

async function range(promql: string, start: number, end: number, step: number): Promise<[number, number][][]> {
  const response = await fetch(`${prometheus.url}/api/v1/query_range?${new URLSearchParams({ query: promql, start: String(start), end: String(end), step: String(step) })}`)
  const body = (await response.json()) as { status: string; error?: string; data: { result: { values: [number, string][] }[] } }
  assert.is(body.status, 'success', body.error)
  return body.data.result.map((r) => r.values.map(([t, v]) => [t, Number(v)]))
}

test('history samples and the scraped value are one series (same labels)', async () => {
  const series = await prometheus.query('count(count_over_time(github_repository_stars{owner="acme",repository="app"}[400d]))')
  assert.equal(series.map((s) => s.value), [1])
})

test('over a year at one point a day (steps on UTC midnights, as Grafana aligns them), each day shows its own value; now, the scraped one', async () => {
  const now = Math.floor(Date.now() / 1000)
  const [line, ...more] = await range(starsQuery(86_400, 400 * 86_400), daysAgo(365), now, 86_400)
  assert.is(more.length, 0, 'one line')
  assert.equal(line, Array.from({ length: 366 }, (_, i) => 365 - i).map((n) => [daysAgo(n), starsOn(n)]))
  const [atNow] = await prometheus.query(starsQuery(86_400, 400 * 86_400))
  assert.is(atNow?.value, current)
})

test('the last three days at a point every 10 minutes: no gap and no seam where the platform took over', async () => {
  const now = Math.floor(Date.now() / 1000)
  const step = 600
  const start = now - 3 * 86_400 // so that the last step is now
  const [line, ...more] = await range(starsQuery(step, now - start), start, now, step)
  assert.is(more.length, 0, 'one line')
  assert.is(line!.length, Math.floor((now - start) / step) + 1, 'a value at every step')
  for (const [t, value] of line!) {
    // A point shows the last sample of the day before it: a daily one, or (once scraped) the current value.
    const n = Math.max(0, Math.ceil((today - t) / 86_400))
    if (value !== current) assert.is(value, starsOn(n), `at ${new Date(t * 1000).toISOString()}`)
  }
  assert.is(line!.at(-1)![1], current)
})

test.run()
