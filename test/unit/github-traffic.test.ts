// GitHub traffic, collected by the github collector's run: the bundled CLI against the fake GitHub's traffic endpoints.
import { suite } from 'uvu'
import { writeFileSync } from 'node:fs'
import * as assert from 'uvu/assert'
import { parseExposition, valueOf } from '../support/collect.ts'
import { runActivity } from '../support/cli.ts'
import { startGitHubApi, type FakeGitHub } from '../support/github-api.ts'
import { owner, repository } from '../support/github-data.ts'
import { dayOf, generatedDays, windowOf, type RepositoryTraffic } from '../support/github-traffic.ts'
import { tempDir } from '../support/servers.ts'

const test = suite('github traffic')
const dir = tempDir('github-traffic')
const today = dayOf(Date.now())
const referrers = ['github.com', 'Google', 'news.ycombinator.com', 'reddit.com', 'stackoverflow.com', 'duckduckgo.com', 'bing.com', 'dev.to', 'lobste.rs', 'medium.com', 'x.com', 't.co']

function traffic(seed: number): RepositoryTraffic {
  return {
    views: generatedDays(seed, today, 60),
    clones: generatedDays(seed + 1, today, 60),
    // Twelve referrers: GitHub answers its top 10.
    referrers: referrers.map((referrer, index) => ({ referrer, count: 500 - index * 37 + seed, uniques: 90 - index * 7 })),
    paths: [
      { path: '/acme/app', title: 'acme/app: the app', count: 900 + seed, uniques: 300 },
      { path: '/acme/app/blob/main/README.md', title: 'app/README.md at main · acme/app', count: 120, uniques: 61 },
    ],
  }
}

let api: FakeGitHub

test.before(async () => {
  api = await startGitHubApi({
    owners: [owner('acme', [repository('app', { stargazerCount: 321 }), repository('lib', { stargazerCount: 12 })])],
    traffic: {
      permissions: { ghp_admin: 'ADMIN', ghp_fine: 'ADMIN', ghp_reader: 'READ' },
      withoutAdministration: ['ghp_fine'],
      repositories: { 'acme/app': traffic(3), 'acme/lib': traffic(8) },
    },
  })
})
test.after(async () => {
  await api.close()
  dir.remove()
})

const collect = (target: string, token: string) =>
  runActivity(['collect', 'github', '--target', target, '--stdout'], { env: { PATH: process.env.PATH, HTTP_RETRIES: '0', GITHUB_API_URL: api.url, GITHUB_TOKEN: token }, cwd: dir.path })

/** The log lines (JSON on stderr) whose message mentions traffic. */
const trafficLines = (stderr: string) =>
  stderr
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { level: string; msg: string; permission?: string; refused?: string[]; notAskedCount?: number })
    .filter((line) => /traffic/i.test(line.msg))

/**
 * A run with a token whose traffic GitHub will not give: it exits 0 with the other metrics (`repository`'s stars) and
 * says so in one log line. Returns that line and the traffic requests the run made.
 */
async function collectWithoutTraffic(token: string, repository: string, stars: number) {
  const before = api.requests.length
  const run = await collect('acme', token)
  assert.is(run.code, 0, run.stderr)
  assert.is(valueOf(parseExposition(run.stdout), 'github_repository_stars', { repository }), stars)
  const lines = trafficLines(run.stderr)
  assert.is(lines.length, 1, run.stderr)
  return { run, line: lines[0]!, trafficRequests: api.requests.slice(before).filter((r) => r.url.includes('/traffic/')) }
}

test('the fake answers traffic in GitHub\'s shape: per day, days without traffic left out, the top 10 referrers', async () => {
  const headers = { authorization: 'bearer ghp_admin' }
  const views = (await (await fetch(`${api.url}/repos/acme/app/traffic/views?per=day`, { headers })).json()) as { count: number; uniques: number; views: { timestamp: string; count: number; uniques: number }[] }
  const data = api.data.traffic!.repositories['acme/app']!.views
  const expected = windowOf(today).filter((day) => data[day])
  assert.equal(views.views.map((v) => v.timestamp), expected.map((day) => `${day}T00:00:00Z`))
  assert.is(views.count, expected.reduce((sum, day) => sum + data[day]!.count, 0))
  assert.ok(expected.length < 14, 'some days of the window had no views and are left out')
  const top = (await (await fetch(`${api.url}/repos/acme/app/traffic/popular/referrers`, { headers })).json()) as { referrer: string }[]
  assert.equal(top.map((r) => r.referrer), referrers.slice(0, 10))
  const refused = await fetch(`${api.url}/repos/acme/app/traffic/views`, { headers: { authorization: 'bearer ghp_reader' } })
  assert.is(refused.status, 403)
  assert.is(((await refused.json()) as { message: string }).message, 'Must have push access to repository')
})

test('referrers and popular paths are current values with the top 10 only, next to the stars; 4 REST requests a repository', async () => {
  const before = api.requests.length
  const run = await collect('acme', 'ghp_admin')
  assert.equal(
    api.requests.slice(before).filter((r) => r.url.includes('/traffic/')).map((r) => r.url).sort(),
    ['app', 'lib'].flatMap((name) => [`/repos/acme/${name}/traffic/clones?per=day`, `/repos/acme/${name}/traffic/popular/paths`, `/repos/acme/${name}/traffic/popular/referrers`, `/repos/acme/${name}/traffic/views?per=day`]),
  )
  assert.is(run.code, 0, run.stderr)
  const samples = parseExposition(run.stdout)
  assert.is(valueOf(samples, 'github_repository_stars', { repository: 'app' }), 321)
  for (const [name, seed] of [['app', 3], ['lib', 8]] as const) {
    const shown = samples.filter((s) => s.name === 'github_repository_traffic_referrer_views' && s.labels.repository === name)
    assert.equal(shown.map((s) => s.labels.referrer).sort(), referrers.slice(0, 10).sort())
    assert.is(valueOf(samples, 'github_repository_traffic_referrer_views', { repository: name, referrer: 'Google' }), 500 - 37 + seed)
    assert.is(valueOf(samples, 'github_repository_traffic_referrer_unique_visitors', { repository: name, referrer: 'Google' }), 83)
    assert.is(valueOf(samples, 'github_repository_traffic_path_views', { repository: name, path: '/acme/app' }), 900 + seed)
    assert.is(valueOf(samples, 'github_repository_traffic_path_unique_visitors', { repository: name, path: '/acme/app/blob/main/README.md' }), 61)
  }
  assert.equal(samples.filter((s) => s.name.startsWith('github_repository_traffic_path')).map((s) => Object.keys(s.labels).sort().join(',')).filter((v, i, all) => all.indexOf(v) === i), ['owner,path,project,repository'])
})

test('a token without push access: one log line naming the permission, no traffic request, exit 0 and the other metrics pushed', async () => {
  const { run, line, trafficRequests } = await collectWithoutTraffic('ghp_reader', 'lib', 12)
  assert.match(line.permission!, 'Administration: read')
  assert.is(line.notAskedCount, 2)
  assert.equal(trafficRequests, [])
  assert.not.ok(run.stdout.includes('github_repository_traffic_'))
})

test('a fine-grained token without Administration read: GitHub answers 403, one warning names the permission, exit 0', async () => {
  const { line, trafficRequests } = await collectWithoutTraffic('ghp_fine', 'app', 321)
  assert.is(line.level, 'warn')
  assert.equal(line.refused, ['acme/app', 'acme/lib'])
  assert.match(line.permission!, 'Administration: read')
  // One refused request per repository: after the views request is refused, clones, referrers and paths are not asked.
  assert.is(trafficRequests.length, 2)
})

test('with less than 10% of the hour\'s REST requests left, traffic stops for the run with one line, and nothing fails', async () => {
  const low = await startGitHubApi({
    owners: [owner('acme', [repository('app'), repository('lib'), repository('web')])],
    restRequests: { anonymous: 5000, authenticated: 5000, remaining: 450 },
    traffic: { permissions: { ghp_admin: 'ADMIN' }, repositories: { 'acme/app': traffic(1), 'acme/lib': traffic(2), 'acme/web': traffic(3) } },
  })
  try {
    const run = await runActivity(['collect', 'github', '--target', 'acme', '--stdout'], { env: { PATH: process.env.PATH, HTTP_RETRIES: '0', GITHUB_API_URL: low.url, GITHUB_TOKEN: 'ghp_admin' }, cwd: dir.path })
    assert.is(run.code, 0, run.stderr)
    // The first answer says 449 of 5,000 are left: the repository being asked is finished, the next ones are not asked.
    assert.is(low.requests.filter((r) => r.url.includes('/traffic/')).length, 4)
    const stopped = trafficLines(run.stderr).filter((line) => /stopped/.test(line.msg))
    assert.is(stopped.length, 1, run.stderr)
  } finally {
    await low.close()
  }
})

test('the traffic option turns it off: no traffic request', async () => {
  const before = api.requests.length
  const config = `${dir.path}/activity.yml`
  writeFileSync(config, 'sources:\n  github:\n    targets: [acme/app]\n    options:\n      traffic: false\n')
  const run = await runActivity(['collect', 'github', '--stdout'], { env: { PATH: process.env.PATH, HTTP_RETRIES: '0', GITHUB_API_URL: api.url, GITHUB_TOKEN: 'ghp_admin' }, cwd: dir.path })
  assert.is(run.code, 0, run.stderr)
  assert.is(valueOf(parseExposition(run.stdout), 'github_repository_stars', { repository: 'app' }), 321)
  assert.equal(api.requests.slice(before).filter((r) => r.url.includes('/traffic/')), [])
})

test.run()
