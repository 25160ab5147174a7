import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import pypi from '../../collectors/pypi.ts'
import { valueOf } from '../support/collect.ts'
import { collectAll, historyAll, memorySink, virtualClock } from '../support/history-memory.ts'
import { busiestWindow, dayMsOf, days, pypiDay, startRegistryApi, type PypiData, type RegistryApi } from '../support/registry-apis.ts'
import type { Reply } from '../support/servers.ts'

const test = suite('pypi collector')
const lastDay = '2026-12-01'
const firstKept = '2026-06-05' // pypistats.org keeps 180 days
const series = (base: number) => days(firstKept, lastDay, (i) => base + i).map((d) => pypiDay(d.date, d.downloads))
const data: PypiData = {
  packages: { requests: series(3000), 'prometheus-client': series(600), fresh: [], ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`pkg-${i}`, series(i)])) },
}
const at = (date: string) => dayMsOf(date) / 1000
const day = (name: string, date: string) => data.packages[name]!.find((d) => d.date === date)!
let api: RegistryApi
let intercept: ((index: number) => Reply | undefined) | undefined
const env = () => ({ PYPISTATS_API_URL: api.url })

test.before.each(async () => {
  intercept = undefined
  api = await startRegistryApi('pypi', data, (_, index) => intercept?.(index))
})
test.after.each(() => api.close())

test('collect writes every day pypistats keeps (mirrors excluded), by Python version and system, and pushes the recent sums', async () => {
  const sink = memorySink()
  const run = await collectAll(pypi, ['Prometheus_Client'], env(), sink)
  assert.ok(run.results[0]!.ok, run.results[0]!.error)
  assert.equal(
    api.requests.map((r) => r.url),
    ['/api/packages/prometheus-client/overall?mirrors=false', '/api/packages/prometheus-client/python_minor', '/api/packages/prometheus-client/system'],
  )
  const labels = { package: 'prometheus-client' }
  assert.is(sink.series('pypi_package_daily_downloads', labels).length, 180)
  assert.is(sink.valueAt('pypi_package_daily_downloads', labels, at('2026-09-15')), day('prometheus-client', '2026-09-15').downloads)
  assert.is(sink.valueAt('pypi_package_daily_downloads_by_python', { ...labels, python: '3.11' }, at('2026-09-15')), day('prometheus-client', '2026-09-15').python['3.11'])
  assert.is(sink.valueAt('pypi_package_daily_downloads_by_python', { ...labels, python: 'unknown' }, at(lastDay)), day('prometheus-client', lastDay).python['null'])
  assert.is(sink.valueAt('pypi_package_daily_downloads_by_system', { ...labels, system: 'Windows' }, at(lastDay)), day('prometheus-client', lastDay).system['Windows'])
  assert.is(valueOf(run.samples, 'pypi_package_downloads_last_day', labels), day('prometheus-client', lastDay).downloads)
  const month = data.packages['prometheus-client']!.slice(-30).reduce((sum, d) => sum + d.downloads, 0)
  assert.is(valueOf(run.samples, 'pypi_package_downloads_last_month', labels), month)
  assert.is(valueOf(run.samples, 'pypi_package_last_counted_day_timestamp_seconds', labels), at(lastDay))
})

test('a package with no downloads yet records nothing, one that does not exist fails alone with one line', async () => {
  const sink = memorySink()
  const run = await collectAll(pypi, ['fresh', 'nope', 'requests'], env(), sink)
  const [fresh, nope, requests] = run.results
  assert.ok(fresh!.ok && requests!.ok)
  assert.is(sink.series('pypi_package_daily_downloads', { package: 'fresh' }).length, 0)
  assert.is(valueOf(run.samples, 'pypi_package_downloads_last_day', { package: 'fresh' }), undefined)
  assert.not.ok(nope!.ok)
  assert.match(nope!.error!, /pypistats.org has no package 'nope'; check the name/)
})

test('a 429 with retry-after is waited out as the API asks, then asked again', async () => {
  intercept = (index) => (index === 0 ? { status: 429, headers: { 'retry-after': '7' }, body: { message: 'rate limited' } } : undefined)
  const clock = virtualClock(Date.now())
  const run = await collectAll(pypi, ['requests'], env(), memorySink(), clock)
  assert.ok(run.results[0]!.ok, run.results[0]!.error)
  assert.ok(clock.waits.includes(7000), `waited ${clock.waits.join(', ')} ms`)
  assert.is(api.requests.length, 4)
  assert.is(valueOf(run.samples, 'activity_collector_api_requests', {}), 4)
})

test('a run keeps pypistats.org\'s rates: 5 requests a second and 30 a minute, on the run\'s clock', async () => {
  const clock = virtualClock(Date.now())
  const sent: number[] = []
  intercept = () => void sent.push(clock.now())
  const names = Array.from({ length: 12 }, (_, i) => `pkg-${i}`)
  const run = await collectAll(pypi, names, env(), memorySink(), clock)
  assert.ok(run.results.every((r) => r.ok))
  assert.is(sent.length, 36)
  assert.ok(busiestWindow(sent, 1) <= 5, `busiest second: ${busiestWindow(sent, 1)}`)
  assert.ok(busiestWindow(sent, 60) <= 30, `busiest minute: ${busiestWindow(sent, 60)}`)
  assert.ok(sent.at(-1)! - sent[0]! >= 60_000, 'the 31st request waited for the minute')
})

test('history writes the days pypistats keeps from --since on', async () => {
  const sink = memorySink()
  const runs = await historyAll(pypi, ['requests'], env(), sink, { since: at('2026-11-01') })
  assert.ok(runs[0]!.ok, runs[0]!.error)
  const written = sink.series('pypi_package_daily_downloads', { package: 'requests' })
  assert.is(written.length, 31)
  assert.is(written[0]!.value, day('requests', '2026-11-01').downloads)
})

test.run()
