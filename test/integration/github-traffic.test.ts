// GitHub traffic kept for good: the bundled CLI collects from the fake GitHub on two different days of GitHub's and
// writes the days into Debian's Prometheus by remote write (the metrics stack's receiver and out-of-order window).
import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse as parseYaml } from 'yaml'
import { runActivity } from '../support/cli.ts'
import { startGitHubApi, type FakeGitHub } from '../support/github-api.ts'
import { owner, repository } from '../support/github-data.ts'
import { dayOf, generatedDays, windowOf, type TrafficCount } from '../support/github-traffic.ts'
import { startPrometheus, startPushgateway, type Prometheus, type Pushgateway } from '../support/prometheus.ts'
import { tempDir } from '../support/servers.ts'

const stackConfig = new URL('../../stacks/metrics/prometheus.yml', import.meta.url).pathname
const storage = parseYaml(readFileSync(stackConfig, 'utf8')).storage as { tsdb: { out_of_order_time_window: string } }

const test = suite('github traffic into a real Prometheus')
const dayMs = 86_400_000
const today = dayOf(Date.now())
const yesterday = dayOf(Date.now() - dayMs)
const views = generatedDays(11, today, 40)
const clones = generatedDays(12, today, 40)
const dir = tempDir('github-traffic-prometheus')
let api: FakeGitHub
let gateway: Pushgateway
let prometheus: Prometheus

test.before(async () => {
  api = await startGitHubApi({
    owners: [owner('acme', [repository('app', { stargazerCount: 77 })])],
    traffic: { permissions: { ghp_push: 'ADMIN' }, repositories: { 'acme/app': { views, clones, referrers: [{ referrer: 'Google', count: 40, uniques: 9 }], paths: [] } } },
  })
  gateway = await startPushgateway()
  prometheus = await startPrometheus({
    pushgateways: [gateway.url],
    // Prometheus deletes what is older than its retention (15 days unless set) at its next head compaction.
    flags: ['--web.enable-remote-write-receiver', '--storage.tsdb.retention.time=1y'],
    extraConfig: `storage:\n  tsdb:\n    out_of_order_time_window: ${storage.tsdb.out_of_order_time_window}\n`,
  })
})
test.after(async () => {
  await Promise.all([api?.close(), gateway?.stop(), prometheus?.stop()])
  dir.remove()
})

const collect = () =>
  runActivity(['collect', 'github', '--target', 'acme/app', '--pushgateway', gateway.url, '--prometheus', prometheus.url], {
    env: { PATH: process.env.PATH, HTTP_RETRIES: '0', GITHUB_API_URL: api.url, GITHUB_TOKEN: 'ghp_push' },
    cwd: dir.path,
  })

/** Every raw sample Prometheus holds for a series over the last 40 days: [unix seconds, value]. */
async function raw(selector: string): Promise<[number, number][]> {
  const response = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(`${selector}[40d]`)}`)
  const body = (await response.json()) as { data: { result: { values: [number, string][] }[] } }
  assert.is(body.data.result.length, 1, `one series for ${selector}`)
  return body.data.result[0]!.values.map(([t, v]) => [t, Number(v)])
}

/**
 * What the README promises: each day of GitHub's window that has been over for 3 hours at the run, at its 00:00 UTC,
 * with GitHub's count (0 for a day GitHub leaves out); computed from the fake's own data.
 */
function expected(days: Record<string, TrafficCount>, runs: { githubToday: string; at: number }[], field: keyof TrafficCount): [number, number][] {
  const out = new Map<number, number>()
  for (const run of runs) {
    for (const day of windowOf(run.githubToday)) {
      const start = Date.parse(`${day}T00:00:00Z`)
      if (start + dayMs + 3 * 3_600_000 <= run.at) out.set(start / 1000, days[day]?.[field] ?? 0)
    }
  }
  return [...out].sort(([a], [b]) => a - b)
}

test('two runs on different days with overlapping 14-day windows give one sample per day, at 00:00 UTC, with GitHub\'s counts', async () => {
  // GitHub's yesterday, then its today: windows of 14 days that share 13.
  api.data.traffic!.today = yesterday
  const first = await collect()
  assert.is(first.code, 0, first.stderr)
  const firstAt = Date.now()
  api.data.traffic!.today = today
  const second = await collect()
  assert.is(second.code, 0, second.stderr)
  const secondAt = Date.now()
  // The 13 shared days are written again with the same values: Prometheus takes them without complaint.
  for (const run of [first, second]) assert.not.match(run.stderr, /not written/)
  const runs = [
    { githubToday: yesterday, at: firstAt },
    { githubToday: today, at: secondAt },
  ]

  const series = (name: string) => `${name}{job="github",target="acme/app",owner="acme",repository="app"}`
  const viewDays = await raw(series('github_repository_traffic_views'))
  assert.equal(viewDays, expected(views, runs, 'count'))
  assert.equal(await raw(series('github_repository_traffic_unique_visitors')), expected(views, runs, 'uniques'))
  assert.equal(await raw(series('github_repository_traffic_clones')), expected(clones, runs, 'count'))
  assert.equal(await raw(series('github_repository_traffic_unique_cloners')), expected(clones, runs, 'uniques'))
  // 15 days seen by the two windows; the newest one (GitHub's today, still counting) is never written.
  assert.ok(viewDays.length >= 13 && viewDays.length <= 14, `${viewDays.length} days`)
  assert.ok(viewDays.every(([t]) => t % 86_400 === 0), 'every sample at 00:00 UTC')
  assert.not.ok(viewDays.some(([t]) => t === Date.parse(`${today}T00:00:00Z`) / 1000), 'today is not written: it is not over')

  // The referrers are current values, scraped from the Pushgateway next to the stars.
  const google = await prometheus.queryUntil('github_repository_traffic_referrer_views{owner="acme",repository="app",referrer="Google"}', 'the referrer scraped from the Pushgateway')
  assert.is(google[0]!.value, 40)
})

test.run()
