import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import npm from '../../collectors/npm.ts'
import { check } from '../../collectors/runtime/schema.ts'
import { valueOf } from '../support/collect.ts'
import { collectAll, historyAll, memoryProgress, memorySink, virtualClock } from '../support/history-memory.ts'
import { dayMsOf, days, startRegistryApi, type NpmData, type RegistryApi } from '../support/registry-apis.ts'

const test = suite('npm collector')
const lastDay = '2026-12-01'
const data: NpmData = {
  lastDay,
  packages: {
    'left-pad': days('2016-03-01', lastDay, (i) => (i % 5) + 1),
    express: days('2015-01-10', lastDay, (i) => 1000 + i),
    '@acme/tool': days('2023-05-01', lastDay, (i) => 7 + (i % 3)),
    fresh: [],
  },
}
const at = (date: string) => dayMsOf(date) / 1000
const valueOn = (name: string, date: string) => data.packages[name]!.find((d) => d.date === date)!.downloads
let api: RegistryApi
const env = () => ({ NPM_API_URL: api.url })
const paths = () => api.requests.map((r) => decodeURIComponent(new URL(r.url, api.url).pathname))
// The day after npm's last counted one, at noon UTC.
const noon = () => virtualClock(dayMsOf('2026-12-02') + 12 * 3_600_000)

test.before.each(async () => {
  api = await startRegistryApi('npm', data)
})
test.after.each(() => api.close())

test('collect asks the unscoped packages of a run in one bulk request and a scoped one alone', async () => {
  const sink = memorySink()
  const run = await collectAll(npm, ['left-pad', 'express', 'fresh', '@acme/tool'], env(), sink, noon())
  assert.ok(run.results.every((r) => r.ok), JSON.stringify(run.results))
  assert.equal(paths(), ['/downloads/range/last-month/left-pad,express,fresh', '/downloads/range/last-month/@acme/tool'])
  assert.is(valueOf(run.samples, 'npm_package_downloads_last_day', { package: 'express' }), valueOn('express', lastDay))
  const lastWeek = data.packages['left-pad']!.slice(-7).reduce((sum, d) => sum + d.downloads, 0)
  assert.is(valueOf(run.samples, 'npm_package_downloads_last_week', { package: 'left-pad' }), lastWeek)
  assert.is(valueOf(run.samples, 'npm_package_last_counted_day_timestamp_seconds', { package: '@acme/tool' }), at(lastDay))
  assert.is(sink.series('npm_package_daily_downloads', { package: 'express' }).length, 30)
  assert.is(sink.valueAt('npm_package_daily_downloads', { package: '@acme/tool' }, at('2026-11-20')), valueOn('@acme/tool', '2026-11-20'))
})

test('a package with no downloads yet records 0, one that does not exist fails alone with one line', async () => {
  const sink = memorySink()
  const run = await collectAll(npm, ['fresh', 'nope', 'left-pad'], env(), sink, noon())
  const [fresh, nope, leftPad] = run.results
  assert.ok(fresh!.ok && leftPad!.ok)
  assert.is(valueOf(run.samples, 'npm_package_downloads_last_month', { package: 'fresh' }), 0)
  assert.not.ok(nope!.ok)
  assert.match(nope!.error!, /npm has no package 'nope'; check the name in activity.yml/)
  assert.not.match(nope!.error!, /\n/)
  assert.is(api.requests.length, 1, 'the three shared one bulk request')
})

test('history takes every day since the first download: 365 days a bulk request, 540 a scoped one', async () => {
  const sink = memorySink()
  const runs = await historyAll(npm, ['left-pad', 'express', '@acme/tool'], env(), sink, { clock: noon() })
  assert.ok(runs.every((r) => r.ok), JSON.stringify(runs))
  const span = (dayMsOf('2026-12-02') - dayMsOf('2015-01-10')) / 86_400_000 + 1
  const bulk = paths().filter((p) => p.includes(','))
  const scoped = paths().filter((p) => p.includes('@acme'))
  assert.is(bulk.length, Math.ceil(span / 365))
  assert.is(scoped.length, Math.ceil(span / 540))
  assert.is(api.requests.length, bulk.length + scoped.length)
  for (const name of ['left-pad', 'express', '@acme/tool']) {
    const series = sink.series('npm_package_daily_downloads', { package: name })
    assert.is(series.length, data.packages[name]!.length, `${name}: one sample per day since its first`)
    assert.is(series[0]!.timestampSeconds, at(data.packages[name]![0]!.date))
    assert.is(series.at(-1)!.timestampSeconds, at(lastDay))
  }
  assert.is(sink.valueAt('npm_package_daily_downloads', { package: 'express' }, at('2019-07-04')), valueOn('express', '2019-07-04'))
  assert.is(sink.valueAt('npm_package_daily_downloads', { package: '@acme/tool' }, at('2024-02-29')), valueOn('@acme/tool', '2024-02-29'))
})

test('history resumes where it stopped, and --since writes nothing older', async () => {
  const progress = memoryProgress()
  await historyAll(npm, ['@acme/tool'], env(), memorySink(), { clock: noon(), progress })
  assert.is(progress.values.get('npm/@acme/tool'), at(lastDay))
  const before = api.requests.length
  const again = memorySink()
  await historyAll(npm, ['@acme/tool'], env(), again, { clock: noon(), progress })
  assert.is(api.requests.length - before, 1, 'one request for the days after the last written')
  assert.is(again.samples.length, 0)

  const since = memorySink()
  await historyAll(npm, ['express'], env(), since, { clock: noon(), since: at('2026-06-01') })
  const series = since.series('npm_package_daily_downloads', { package: 'express' })
  assert.is(series[0]!.timestampSeconds, at('2026-06-01'))
  assert.is(series.length, (dayMsOf(lastDay) - dayMsOf('2026-06-01')) / 86_400_000 + 1)
})

test('targets: npm names, scoped or not; anything else refused with what is allowed', () => {
  assert.equal(check(npm.targets, '@acme/tool'), { ok: true, value: { id: '@acme/tool' } })
  const refused = check(npm.targets, 'Left Pad')
  assert.ok(!refused.ok && /must be an npm package name/.test(refused.problem.message))
})

test.run()
