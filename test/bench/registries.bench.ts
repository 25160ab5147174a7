// The full history of 100 npm packages, 100 PyPI packages and 100 crates, taken by the real runtime (runHistory, the
// code of `activity history`) from the local registries: requests, samples and wall time here, and the time a real
// run needs at each registry's documented rate (the run's own clock, on which the pacer waits, moves only by its
// waits here). Targets: no documented limit exceeded in any window, and npm's bulk form used (exits non-zero if not).
import type { AnyCollector } from '../../collectors/runtime/define.ts'
import { runHistory } from '../../collectors/runtime/history-run.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { createOpenMetricsDocument } from '../../collectors/runtime/openmetrics.ts'
import { parse } from '../../collectors/runtime/schema.ts'
import crates from '../../collectors/crates.ts'
import npm from '../../collectors/npm.ts'
import pypi from '../../collectors/pypi.ts'
import { busiestWindow, days, isoDay, pypiDay, startRegistryApi, type CrateData, type RegistryApi } from '../support/registry-apis.ts'

const count = 100
const dayMs = 86_400_000
const today = Date.now()
const yesterday = isoDay(today - dayMs)
const problems: string[] = []

interface Measured {
  requests: number
  samples: number
  wallSeconds: number
  /** Seconds the run's clock moved: the waits the documented rates imposed (requests themselves take no time on it). */
  pacedSeconds: number
  busiest: (seconds: number) => number
  failed: number
}

async function measure(collector: AnyCollector, targets: string[], env: Record<string, string>, api: RegistryApi, sent: number[], clock: { now: () => number; sleep: (ms: number) => Promise<void> }): Promise<Measured> {
  const document = createOpenMetricsDocument()
  const started = performance.now()
  const begin = clock.now()
  const results = await runHistory(
    { collector, targets: targets.map((t) => parse(collector.targets, t)), options: {}, schedule: '30 4 * * *', document },
    { env, log: createLogger({ level: 'error' }), now: clock.now, sleep: clock.sleep, http: { retries: 0, timeoutMs: 30_000 } },
  )
  const wallSeconds = (performance.now() - started) / 1000
  const failed = results.filter((r) => !r.ok)
  for (const f of failed.slice(0, 3)) problems.push(`${collector.name} ${f.target}: ${f.error}`)
  return {
    requests: api.requests.length,
    samples: results.reduce((sum, r) => sum + r.samples, 0),
    wallSeconds,
    pacedSeconds: (clock.now() - begin) / 1000,
    busiest: (seconds) => busiestWindow(sent, seconds),
    failed: failed.length,
  }
}

/** A clock at the real time that moves only when the run sleeps, and the times (on it) at which the server was asked. */
function virtual() {
  let now = Date.now()
  return { now: () => now, sleep: async (ms: number) => void (now += ms) }
}

const line = (label: string, value: string | number, note = '') => console.log(`  ${label.padEnd(40)} ${String(value).padStart(10)}  ${note}`)

// npm: 90 unscoped packages (bulk, 128 a request, 365 days) and 10 scoped ones (one by one, 18 months a request), every
// one published on npm's first counted day, 2015-01-10: the longest history there is.
{
  const names = [...Array.from({ length: 90 }, (_, i) => `pkg-${i}`), ...Array.from({ length: 10 }, (_, i) => `@scope/pkg-${i}`)]
  const data = { lastDay: yesterday, packages: Object.fromEntries(names.map((n, i) => [n, days('2015-01-10', yesterday, (d) => 1 + ((d + i) % 50))])) }
  const clock = virtual()
  const sent: number[] = []
  const api = await startRegistryApi('npm', data, () => void sent.push(clock.now()))
  try {
    const m = await measure(npm as unknown as AnyCollector, names, { NPM_API_URL: api.url }, api, sent, clock)
    const span = Math.round((Date.parse(`${yesterday}T00:00:00Z`) - Date.parse('2015-01-10T00:00:00Z')) / dayMs) + 1
    const bulk = api.requests.filter((r) => r.url.includes(',')).length
    const expectedBulk = Math.ceil((span + 1) / 365)
    console.log(`npm: full history of ${names.length} packages (90 unscoped, 10 scoped), ${span} days each since 2015-01-10`)
    line('requests', m.requests, `${bulk} bulk (90 packages each, 365 days) + ${m.requests - bulk} single (10 scoped, 540 days each)`)
    line('  one by one, without the bulk form', 100 * Math.ceil((span + 1) / 540), 'requests (18 months each)')
    line('samples written', m.samples, `${names.length} x ${span} days`)
    line('wall time here (local registry)', `${m.wallSeconds.toFixed(1)} s`)
    line('time at npm\u2019s documented limits', '0 s waits', 'npm documents no request rate: a real run takes its requests\u2019 latency, ~1 s each at most')
    line('targets failed', m.failed)
    if (bulk > expectedBulk) problems.push(`npm: ${bulk} bulk requests, expected at most ${expectedBulk}`)
    if (m.samples !== names.length * span) problems.push(`npm: ${m.samples} samples, expected ${names.length * span}`)
  } finally {
    await api.close()
  }
}

// PyPI: 100 packages with the 180 days pypistats.org keeps, 3 requests each, paced to 5 a second and 30 a minute.
{
  const names = Array.from({ length: count }, (_, i) => `py-pkg-${i}`)
  const first = isoDay(today - 180 * dayMs)
  const data = { packages: Object.fromEntries(names.map((n, i) => [n, days(first, yesterday, (d) => 100 + i + d).map((d) => pypiDay(d.date, d.downloads))])) }
  const clock = virtual()
  const sent: number[] = []
  const api = await startRegistryApi('pypi', data, () => void sent.push(clock.now()))
  try {
    const m = await measure(pypi as unknown as AnyCollector, names, { PYPISTATS_API_URL: api.url }, api, sent, clock)
    console.log(`\npypi: ${count} packages, the 180 days pypistats.org keeps (overall without mirrors, by Python version, by system)`)
    line('requests', m.requests, '3 a package')
    line('samples written', m.samples)
    line('wall time here (local registry)', `${m.wallSeconds.toFixed(1)} s`, 'the pacer\u2019s waits are on the run\u2019s clock, not slept here')
    line('time at pypistats\u2019 documented limits', `${(m.pacedSeconds / 60).toFixed(1)} min`, `30 requests a minute: at least ${((m.requests - 30) / 30).toFixed(1)} min for ${m.requests}`)
    line('busiest second / minute', `${m.busiest(1)} / ${m.busiest(60)}`, 'limits 5 / 30')
    line('targets failed', m.failed)
    if (m.busiest(1) > 5 || m.busiest(60) > 30) problems.push(`pypi: ${m.busiest(1)} requests in a second or ${m.busiest(60)} in a minute`)
  } finally {
    await api.close()
  }
}

// crates.io: 100 crates with the 90 days crates.io answers, 2 requests each, one a second (its crawler policy).
{
  const names = Array.from({ length: count }, (_, i) => `crate_${i}`)
  const first = isoDay(today - 89 * dayMs)
  const crate = (i: number): CrateData => {
    const span = days(first, yesterday, (d) => 10 + i + d)
    return {
      downloads: 1_000_000 + i,
      recent_downloads: 90_000 + i,
      versions: [
        { id: 2 * i + 2, num: '1.1.0', downloads: 40_000 },
        { id: 2 * i + 1, num: '1.0.0', downloads: 60_000 },
      ],
      version_downloads: span.flatMap((d) => [
        { version: 2 * i + 2, date: d.date, downloads: d.downloads },
        { version: 2 * i + 1, date: d.date, downloads: 1 },
      ]),
      extra_downloads: span.map((d) => ({ date: d.date, downloads: 2 })),
    }
  }
  const data = { crates: Object.fromEntries(names.map((n, i) => [n, crate(i)])) }
  const clock = virtual()
  const sent: number[] = []
  const api = await startRegistryApi('crates', data, () => void sent.push(clock.now()))
  try {
    const m = await measure(crates as unknown as AnyCollector, names, { CRATES_API_URL: api.url }, api, sent, clock)
    console.log(`\ncrates: ${count} crates, the 90 days crates.io answers, per crate and per version`)
    line('requests', m.requests, '2 a crate')
    line('samples written', m.samples)
    line('wall time here (local registry)', `${m.wallSeconds.toFixed(1)} s`)
    line('time at crates.io\u2019s documented limit', `${(m.pacedSeconds / 60).toFixed(1)} min`, `1 request a second: at least ${m.requests - 1} s for ${m.requests}`)
    line('busiest second', m.busiest(1), 'limit 1')
    line('targets failed', m.failed)
    if (m.busiest(1) > 1) problems.push(`crates: ${m.busiest(1)} requests in one second`)
  } finally {
    await api.close()
  }
}

if (problems.length) {
  console.log(`\nmissed:\n  ${problems.join('\n  ')}`)
  process.exitCode = 1
}
