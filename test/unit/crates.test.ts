import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import crates from '../../collectors/crates.ts'
import { valueOf } from '../support/collect.ts'
import { collectAll, historyAll, memorySink, virtualClock } from '../support/history-memory.ts'
import { busiestWindow, dayMsOf, days, startRegistryApi, type CrateData, type CratesData, type RegistryApi } from '../support/registry-apis.ts'

const test = suite('crates collector')
const lastDay = '2026-12-01'
const first = '2026-09-03' // crates.io answers the last 90 days
function crate(base: number): CrateData {
  const span = days(first, lastDay, (i) => base + i)
  return {
    downloads: 1_000_000 + base,
    recent_downloads: 90_000 + base,
    versions: [
      { id: 901, num: '1.0.1', downloads: 40_000 + base },
      { id: 900, num: '1.0.0', downloads: 60_000 + base },
    ],
    version_downloads: span.flatMap((d) => [
      { version: 901, date: d.date, downloads: d.downloads },
      { version: 900, date: d.date, downloads: 2 * d.downloads },
    ]),
    extra_downloads: span.map((d) => ({ date: d.date, downloads: 3 })),
  }
}
const data: CratesData = {
  crates: { serde: crate(100), tokio: crate(7), fresh: { downloads: 0, recent_downloads: 0, versions: [{ id: 1, num: '0.1.0', downloads: 0 }], version_downloads: [], extra_downloads: [] } },
}
const at = (date: string) => dayMsOf(date) / 1000
let api: RegistryApi
let onRequest: (() => void) | undefined
const env = (extra: Record<string, string> = {}) => ({ CRATES_API_URL: api.url, ...extra })

test.before.each(async () => {
  onRequest = undefined
  api = await startRegistryApi('crates', data, () => void onRequest?.())
})
test.after.each(() => api.close())

test('collect pushes the totals per crate and version, and writes each day per crate and per version', async () => {
  const sink = memorySink()
  const run = await collectAll(crates, ['serde'], env(), sink)
  assert.ok(run.results[0]!.ok, run.results[0]!.error)
  assert.equal(api.requests.map((r) => r.url), ['/api/v1/crates/serde', '/api/v1/crates/serde/downloads'])
  const serde = data.crates.serde!
  assert.is(valueOf(run.samples, 'crates_crate_downloads', { crate: 'serde' }), serde.downloads)
  assert.is(valueOf(run.samples, 'crates_crate_recent_downloads', { crate: 'serde' }), serde.recent_downloads)
  assert.is(valueOf(run.samples, 'crates_version_downloads', { crate: 'serde', version: '1.0.0' }), serde.versions[1]!.downloads)
  const on = (version: number, date: string) => serde.version_downloads.find((d) => d.version === version && d.date === date)!.downloads
  const extra = serde.extra_downloads.find((d) => d.date === '2026-10-10')!.downloads
  assert.is(sink.valueAt('crates_crate_daily_downloads', { crate: 'serde' }, at('2026-10-10')), on(900, '2026-10-10') + on(901, '2026-10-10') + extra)
  assert.is(sink.valueAt('crates_version_daily_downloads', { crate: 'serde', version: '1.0.1' }, at('2026-10-10')), on(901, '2026-10-10'))
  assert.is(sink.valueAt('crates_version_daily_downloads', { crate: 'serde', version: 'other' }, at('2026-10-10')), extra)
  assert.is(sink.series('crates_crate_daily_downloads', { crate: 'serde' }).length, 90)
})

test("every request carries the User-Agent crates.io requires: CRATES_USER_AGENT, or the platform's own", async () => {
  await collectAll(crates, ['serde'], env({ CRATES_USER_AGENT: 'acme-activity (ops@acme.example)' }), memorySink())
  assert.ok(api.requests.every((r) => r.headers['user-agent'] === 'acme-activity (ops@acme.example)'))
  await collectAll(crates, ['serde'], env(), memorySink())
  assert.match(String(api.requests.at(-1)!.headers['user-agent']), /^activity-platform/)
})

test('a crate with no downloads yet records its zero totals, one that does not exist fails alone with one line', async () => {
  const sink = memorySink()
  const run = await collectAll(crates, ['fresh', 'nope', 'tokio'], env(), sink)
  const [fresh, nope, tokio] = run.results
  assert.ok(fresh!.ok && tokio!.ok)
  assert.is(valueOf(run.samples, 'crates_crate_downloads', { crate: 'fresh' }), 0)
  assert.is(sink.series('crates_crate_daily_downloads', { crate: 'fresh' }).length, 0)
  assert.not.ok(nope!.ok)
  assert.match(nope!.error!, /crates.io has no crate 'nope'; check the name/)
})

test('a run keeps to one request a second, on its clock', async () => {
  const clock = virtualClock(Date.now())
  const sent: number[] = []
  onRequest = () => sent.push(clock.now())
  await collectAll(crates, ['serde', 'tokio', 'fresh'], env(), memorySink(), clock)
  assert.is(sent.length, 6)
  assert.is(busiestWindow(sent, 1), 1)
  assert.ok(sent.at(-1)! - sent[0]! >= 5000, 'six requests took at least five seconds')
})

test('history writes the 90 days from --since on', async () => {
  const sink = memorySink()
  const runs = await historyAll(crates, ['serde'], env(), sink, { since: at('2026-11-22') })
  assert.ok(runs[0]!.ok, runs[0]!.error)
  assert.is(sink.series('crates_crate_daily_downloads', { crate: 'serde' }).length, 10)
})

test.run()
