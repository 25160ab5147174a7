// The registry collectors as a user runs them: the built `activity` command against local npm, pypistats and crates.io.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseExposition, valueOf } from '../support/collect.ts'
import { runActivity } from '../support/cli.ts'
import { dayMsOf, days, isoDay, pypiDay, startRegistryApi, type CratesData, type RegistryApi } from '../support/registry-apis.ts'

const test = suite('registry collectors, built CLI')
const yesterday = isoDay(Date.now() - 86_400_000)
const npmData = {
  lastDay: yesterday,
  packages: { 'left-pad': days(isoDay(Date.now() - 40 * 86_400_000), yesterday, (i) => 50 + i), '@acme/tool': days('2023-05-01', yesterday, (i) => 7 + (i % 3)), fresh: [] },
}
const pypiData = { packages: { requests: days(isoDay(Date.now() - 180 * 86_400_000), yesterday, (i) => 900 + i).map((d) => pypiDay(d.date, d.downloads)) } }
const crateDays = days(isoDay(Date.now() - 90 * 86_400_000), yesterday, (i) => 300 + i)
const cratesData: CratesData = {
  crates: {
    serde: {
      downloads: 1_200_000,
      recent_downloads: 90_000,
      versions: [{ id: 901, num: '1.0.1', downloads: 700_000 }],
      version_downloads: crateDays.map((d) => ({ version: 901, date: d.date, downloads: d.downloads })),
      extra_downloads: crateDays.map((d) => ({ date: d.date, downloads: 4 })),
    },
  },
}
let npmApi: RegistryApi
let pypiApi: RegistryApi
let cratesApi: RegistryApi
let throttled = 0

const activity = (args: string[], env: Record<string, string>) => runActivity(args, { env: { PATH: process.env.PATH, HTTP_RETRIES: '2', ...env } })
/** `name{labels} value timestamp` lines of the OpenMetrics part (history), as [labels text, value, timestamp]. */
function historyLines(text: string, name: string): { labels: string; value: number; at: number }[] {
  return [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+) (\\d+)$`, 'gm'))].map((m) => ({ labels: m[1]!, value: Number(m[2]), at: Number(m[3]) }))
}

test.before(async () => {
  npmApi = await startRegistryApi('npm', npmData)
  cratesApi = await startRegistryApi('crates', cratesData)
  pypiApi = await startRegistryApi('pypi', pypiData, (request) => (request.url.includes('/python_minor') && throttled++ === 0 ? { status: 429, headers: { 'retry-after': '1' }, body: { message: 'Too Many Requests' } } : undefined))
})
test.after(async () => {
  await npmApi.close()
  await pypiApi.close()
  await cratesApi.close()
})

test('collect npm --stdout prints the sums and every day with its own timestamp; one bulk request for the unscoped', async () => {
  const run = await activity(['collect', 'npm', '--target', 'left-pad', '--target', 'fresh', '--target', '@acme/tool', '--stdout'], { NPM_API_URL: npmApi.url })
  assert.is(run.code, 0, run.stderr)
  assert.equal(npmApi.requests.map((r) => decodeURIComponent(r.url)), ['/downloads/range/last-month/left-pad,fresh', '/downloads/range/last-month/@acme/tool'])
  // The exposition of each target's group; the history lines (with a timestamp) are read below.
  const pushed = parseExposition(run.stdout.replace(/^npm_package_daily_downloads\{.*$/gm, ''))
  const leftPad = npmData.packages['left-pad']
  assert.is(valueOf(pushed, 'npm_package_downloads_last_day', { package: 'left-pad' }), leftPad.at(-1)!.downloads)
  assert.is(valueOf(pushed, 'npm_package_downloads_last_month', { package: 'fresh' }), 0)
  const days = historyLines(run.stdout, 'npm_package_daily_downloads').filter((l) => l.labels.includes('package="left-pad"'))
  assert.is(days.length, 30)
  assert.is(days.at(-1)!.at, dayMsOf(yesterday) / 1000)
  assert.is(days.at(-1)!.value, leftPad.at(-1)!.downloads)
  assert.match(days[0]!.labels, /job="npm"/)
  assert.match(days[0]!.labels, /target="left-pad"/)
})

test('history npm --openmetrics splits a scoped package\'s years into 18-month requests and writes from its first download', async () => {
  const before = npmApi.requests.length
  const run = await activity(['history', 'npm', '--target', '@acme/tool', '--openmetrics'], { NPM_API_URL: npmApi.url })
  assert.is(run.code, 0, run.stderr)
  const asked = npmApi.requests.slice(before).map((r) => decodeURIComponent(r.url))
  const span = (dayMsOf(isoDay(Date.now())) - dayMsOf('2015-01-10')) / 86_400_000 + 1
  assert.is(asked.length, Math.ceil(span / 540), asked.join('\n'))
  for (const url of asked) {
    const [from, to] = /range\/(\S+):(\S+)\/@acme\/tool$/.exec(url)!.slice(1) as [string, string]
    assert.ok((dayMsOf(to) - dayMsOf(from)) / 86_400_000 + 1 <= 540, url)
  }
  const written = historyLines(run.stdout, 'npm_package_daily_downloads')
  const expected = npmData.packages['@acme/tool']
  assert.is(written.length, expected.length)
  assert.is(written[0]!.at, dayMsOf('2023-05-01') / 1000)
  assert.is(written[0]!.value, expected[0]!.downloads)
  assert.match(run.stdout, /# EOF\n$/)
})

test('collect npm: a package that does not exist fails alone, in one line', async () => {
  const run = await activity(['collect', 'npm', '--target', 'nope', '--target', '@acme/nope', '--stdout'], { NPM_API_URL: npmApi.url })
  assert.is(run.code, 1)
  const lines = run.stderr.split('\n').filter((l) => l.startsWith('activity: '))
  assert.equal(lines.length, 2)
  assert.match(lines[1]!, /^activity: npm @acme\/nope: .*npm has no package '@acme\/nope'; check the name in activity.yml/)
})

test('collect pypi waits out a 429 with retry-after, then prints the days by Python version and system', async () => {
  const started = Date.now()
  const run = await activity(['collect', 'pypi', '--target', 'requests', '--stdout'], { PYPISTATS_API_URL: pypiApi.url })
  assert.is(run.code, 0, run.stderr)
  assert.ok(Date.now() - started >= 1000, 'waited the second retry-after asked for')
  assert.is(pypiApi.requests.length, 4)
  assert.match(run.stderr, /"retrying".*"status":429/)
  const last = pypiData.packages.requests.at(-1)!
  const python = historyLines(run.stdout, 'pypi_package_daily_downloads_by_python').find((l) => l.labels.includes('python="3.11"') && l.at === dayMsOf(last.date) / 1000)
  assert.is(python?.value, last.python['3.11'])
  assert.is(historyLines(run.stdout, 'pypi_package_daily_downloads').length, 180)
})

test('collect crates sends CRATES_USER_AGENT, prints the totals and each day per crate and version; a crate that does not exist fails alone, in one line', async () => {
  const run = await activity(['collect', 'crates', '--target', 'serde', '--target', 'nope', '--stdout'], { CRATES_API_URL: cratesApi.url, CRATES_USER_AGENT: 'acme-activity (ops@acme.example)' })
  assert.is(run.code, 1, 'one target failed')
  assert.ok(cratesApi.requests.every((r) => r.headers['user-agent'] === 'acme-activity (ops@acme.example)'))
  assert.equal(cratesApi.requests.map((r) => r.url).slice(0, 2), ['/api/v1/crates/serde', '/api/v1/crates/serde/downloads'])
  const failed = run.stderr.split('\n').filter((l) => l.startsWith('activity: '))
  assert.equal(failed.length, 1)
  assert.match(failed[0]!, /^activity: crates nope: .*crates.io has no crate 'nope'/)
  const pushed = parseExposition(run.stdout.replace(/^crates_(crate|version)_daily_downloads\{.*$/gm, ''))
  assert.is(valueOf(pushed, 'crates_crate_downloads', { crate: 'serde' }), 1_200_000)
  assert.is(valueOf(pushed, 'crates_version_downloads', { crate: 'serde', version: '1.0.1' }), 700_000)
  const last = crateDays.at(-1)!
  const perCrate = historyLines(run.stdout, 'crates_crate_daily_downloads')
  assert.is(perCrate.length, crateDays.length)
  assert.equal([perCrate.at(-1)!.at, perCrate.at(-1)!.value], [dayMsOf(last.date) / 1000, last.downloads + 4])
  const other = historyLines(run.stdout, 'crates_version_daily_downloads').find((l) => l.labels.includes('version="other"') && l.at === dayMsOf(last.date) / 1000)
  assert.is(other?.value, 4)
})

test.run()
