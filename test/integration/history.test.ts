// The history path against the real programs: Debian's Prometheus with the metrics stack's remote-write receiver and
// out-of-order window, a real Pushgateway it scrapes, and promtool reading the OpenMetrics text.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse as parseYaml } from 'yaml'
import { defineCollector, type HistoryContext, type Target } from '../../collectors/runtime/define.ts'
import type { HistorySample } from '../../collectors/runtime/history.ts'
import { createPrometheusProgress } from '../../collectors/runtime/history-progress.ts'
import { runHistory } from '../../collectors/runtime/history-run.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { createOpenMetricsDocument } from '../../collectors/runtime/openmetrics.ts'
import { pushGroup } from '../../collectors/runtime/push.ts'
import { createRemoteWriteSink } from '../../collectors/runtime/remote-write.ts'
import { startPrometheus, startPushgateway, type Prometheus, type Pushgateway } from '../support/prometheus.ts'
import { requireBinary, startProgram, tempDir, waitFor, type Started } from '../support/servers.ts'
import { targetsOfGroups, type PushedGroupJson } from '../../scripts/lib/results.ts'
import { spawnSync } from 'node:child_process'

const stackConfig = new URL('../../stacks/metrics/prometheus.yml', import.meta.url).pathname
/** The storage section of the metrics stack's own prometheus.yml: the window this test relies on is the deployed one. */
const storage = parseYaml(readFileSync(stackConfig, 'utf8')).storage as { tsdb: { out_of_order_time_window: string } }

const test = suite('history into a real Prometheus')
let gateway: Pushgateway
let prometheus: Prometheus
const logs: string[] = []
const log = createLogger({ write: (line) => logs.push(line) })

test.before(async () => {
  gateway = await startPushgateway()
  prometheus = await startPrometheus({
    pushgateways: [gateway.url],
    flags: ['--web.enable-remote-write-receiver'],
    extraConfig: `storage:\n  tsdb:\n    out_of_order_time_window: ${storage.tsdb.out_of_order_time_window}\n`,
  })
})
test.after(async () => {
  await Promise.all([gateway?.stop(), prometheus?.stop()])
})

const specs = {
  github_repository_stars: { help: 'Stars of the repository.', labels: ['owner', 'repository'] },
  github_repository_forks: { help: 'Forks of the repository.', labels: ['owner', 'repository'] },
} as const
const today = Math.floor(Date.now() / 86_400_000) * 86_400
/** 00:00 UTC, `n` days before today. */
const daysAgo = (n: number) => today - n * 86_400
/** The stars of day n (n days ago): a value the test can name without the code under test. */
const starsOn = (n: number) => (3650 - n) * 7
const tenYears = Array.from({ length: 3650 }, (_, i) => 3650 - i).map((n): HistorySample => ({
  name: 'github_repository_stars',
  labels: { owner: 'prometheus', repository: 'prometheus' },
  timestampSeconds: daysAgo(n),
  value: starsOn(n),
}))
const owner = { job: 'github', target: 'prometheus/prometheus' }
const series = '{job="github",target="prometheus/prometheus",owner="prometheus",repository="prometheus"}'

/** The values of an instant query at `seconds`, asked of `server` (the suite's Prometheus unless told). */
async function queryAt(promql: string, seconds: number, server = prometheus.url): Promise<number[]> {
  const response = await fetch(`${server}/api/v1/query?query=${encodeURIComponent(promql)}&time=${seconds}`)
  const body = (await response.json()) as { data: { result: { value: [number, string] }[] } }
  return body.data.result.map((r) => Number(r.value[1]))
}

/** A GitHub collector whose backfill is `history`: the runs below differ only in what their backfill writes. */
function collectorWithHistory(history: (target: Target, ctx: HistoryContext<typeof specs>) => Promise<void>) {
  return defineCollector({
    name: 'github',
    description: 'test collector with a history',
    schedule: '0 3 * * *',
    targets: { parse: (raw: unknown) => ({ id: String(raw) }) } as never,
    example: 'a/b',
    metrics: specs,
    async collect() {},
    history,
  })
}

/** `length` days of forks of owner/repository, from `from` days ago towards today; each day's value is its number of days ago. */
const forkDays = (owner: string, repository: string, from: number, length: number): HistorySample[] =>
  Array.from({ length }, (_, i) => ({ name: 'github_repository_forks', labels: { owner, repository }, timestampSeconds: daysAgo(from - i), value: from - i }))

/** What npm run status shows of a target's history runs, read from the real Pushgateway's groups. */
async function historyStatusOf(target: string) {
  const groups = ((await (await fetch(`${gateway.url}/api/v1/metrics`)).json()) as { data: PushedGroupJson[] }).data
  return targetsOfGroups(groups).find((t) => t.target === target)!.history
}

test('ten years of daily samples written by remote write answer at their own days', async () => {
  await createRemoteWriteSink(prometheus.url, owner, specs, { log }).write(tenYears)
  for (const n of [3650, 3000, 1826, 365, 1]) assert.equal(await queryAt(`github_repository_stars${series}`, daysAgo(n)), [starsOn(n)], `${n} days ago`)
})

test('writing the same batch again leaves the same samples, none doubled', async () => {
  await createRemoteWriteSink(prometheus.url, owner, specs, { log }).write(tenYears)
  assert.equal(await queryAt(`count_over_time(github_repository_stars${series}[3651d])`, today), [3650])
  assert.equal(await queryAt(`sum_over_time(github_repository_stars${series}[3651d])`, today), [tenYears.reduce((sum, s) => sum + s.value, 0)])
})

test("a repository's history and the value the Pushgateway holds today are one series", async () => {
  const current = 'github_repository_stars{owner="prometheus",repository="prometheus"} 25560\n'
  await pushGroup(gateway.url, owner, current, { log })
  await prometheus.queryUntil(`github_repository_stars${series} == 25560`, 'the scraped current value')
  // The raw samples of ten years and today, in one range selector: Prometheus answers with one series holding both.
  const url = `${prometheus.url}/api/v1/query?query=${encodeURIComponent(`github_repository_stars${series}[3651d]`)}`
  const body = (await (await fetch(url)).json()) as { data: { result: { metric: Record<string, string>; values: [number, string][] }[] } }
  assert.is(body.data.result.length, 1, 'one series')
  const values = body.data.result[0]!.values
  assert.equal(values[0], [daysAgo(3650), String(starsOn(3650))])
  assert.equal(values[3649], [daysAgo(1), String(starsOn(1))])
  assert.is(values.at(-1)![1], '25560')
  assert.ok(values.at(-1)![0] > today, 'the scraped value is today')
})

test('progress written by one history run is what the next one reads', async () => {
  const target = { job: 'github', target: 'progress/test' }
  const first = await createPrometheusProgress(prometheus.url, target, { log })
  assert.is(await first.get('stars'), undefined)
  await first.set('stars', daysAgo(100))
  await first.set('stars', daysAgo(50))
  await first.set('forks', 7)
  const next = await createPrometheusProgress(prometheus.url, target, { log })
  assert.is(await next.get('stars'), daysAgo(50))
  assert.is(await next.get('forks'), 7)
})

test('a history run that fails half way continues from its progress: every day once, none missing', async () => {
  let failAfter: number | undefined = 100
  const collector = collectorWithHistory(async (target, ctx) => {
    const from = (await ctx.progress.get('forks')) ?? 400
    for (let n = from; n > 0; n -= 50) {
      await ctx.history.write(forkDays('half', target.id, n, 50))
      await ctx.progress.set('forks', n - 50)
      if (failAfter !== undefined && n - 50 <= 400 - failAfter) throw new Error('the API failed')
    }
  })
  const request = { collector, targets: [{ id: 'half/way' }], options: {}, schedule: '0 3 * * *', prometheus: prometheus.url, pushgateway: gateway.url }
  logs.length = 0
  const first = await runHistory(request, { env: {}, log })
  assert.is(first[0]!.ok, false)
  assert.is(first[0]!.samples, 100)
  // This Prometheus keeps its default 15 days: the run says its 100 samples (400 to 301 days old) will be deleted.
  const warning = logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => String(line.msg).startsWith('history older than the metrics Prometheus keeps'))
  assert.equal({ samples: warning?.samples, retentionDays: warning?.retentionDays }, { samples: 100, retentionDays: 15 })
  const afterFailure = await historyStatusOf('half/way')
  assert.equal({ ok: afterFailure?.lastRunOk, written: afterFailure?.samplesWritten, success: afterFailure?.lastSuccessAt }, { ok: false, written: 100, success: undefined })
  failAfter = undefined
  const second = await runHistory(request, { env: {}, log })
  assert.is(second[0]!.ok, true)
  assert.is(second[0]!.samples, 300)
  const afterSuccess = await historyStatusOf('half/way')
  assert.is(afterSuccess?.lastRunOk, true)
  assert.is(afterSuccess?.samplesWritten, 300)
  assert.ok(afterSuccess!.lastSuccessAt! > Date.now() / 1000 - 60)
  const forks = '{job="github",target="half/way",repository="half/way"}'
  assert.equal(await queryAt(`count_over_time(github_repository_forks${forks}[401d])`, today), [400])
  assert.equal(await queryAt(`sum_over_time(github_repository_forks${forks}[401d])`, today), [(400 * 401) / 2])
})

test('a run writes at most its share of samples (HISTORY_MAX_SAMPLES); the targets after it wait, and the next run continues', async () => {
  const collector = collectorWithHistory(async (target, ctx) => {
    for (let n = (await ctx.progress.get('forks')) ?? 200; n > 0; n -= 50) {
      await ctx.history.write(forkDays('share', target.id, n, 50))
      await ctx.progress.set('forks', n - 50)
    }
  })
  const request = { collector, targets: [{ id: 'share/one' }, { id: 'share/two' }], options: {}, schedule: '0 3 * * *', prometheus: prometheus.url, maxSamples: 120 }
  const count = async (id: string) => (await queryAt(`count_over_time(github_repository_forks{target="${id}"}[201d])`, today))[0] ?? 0
  const first = await runHistory(request, { env: {}, log })
  assert.equal(first.map((r) => [r.target, r.ok, r.samples]), [['share/one', true, 100], ['share/two', true, 0]])
  assert.equal([await count('share/one'), await count('share/two')], [100, 0])
  // Runs of at most 120 samples in batches of 50: 100 for share/one, then 100 for share/one, then 100 for share/two each.
  for (const expected of [[200, 0], [200, 100], [200, 200]]) {
    const results = await runHistory(request, { env: {}, log })
    assert.ok(results.reduce((sum, r) => sum + r.samples, 0) <= 120, 'within the share')
    assert.equal([await count('share/one'), await count('share/two')], expected, 'every day once')
  }
  assert.equal(await queryAt(`sum_over_time(github_repository_forks{target="share/two"}[201d])`, today), [(200 * 201) / 2])
})

test('the OpenMetrics text is what promtool turns into blocks, and Prometheus answers from them at each day', async () => {
  const document = createOpenMetricsDocument()
  const days = Array.from({ length: 60 }, (_, i) => 60 - i)
  await document.sinkFor(owner, specs).write(days.map((n) => ({ ...tenYears[3650 - n]! })))
  await document.sinkFor({ job: 'github', target: 'grafana' }, specs).write(days.map((n) => ({ name: 'github_repository_forks', labels: { owner: 'grafana', repository: 'grafana' }, timestampSeconds: daysAgo(n), value: n })))
  const text = document.finish()
  assert.ok(text.endsWith('\n# EOF\n'), 'the last line is # EOF')
  const dir = tempDir('openmetrics')
  try {
    writeFileSync(join(dir.path, 'history.om'), text)
    const promtool = requireBinary('promtool', 'prometheus')
    const made = spawnSync(promtool, ['tsdb', 'create-blocks-from', 'openmetrics', join(dir.path, 'history.om'), join(dir.path, 'data')], { encoding: 'utf8' })
    assert.is(made.status, 0, `promtool refused the text: ${made.stderr}`)
    // Its default retention (15 days) would delete the older blocks at once: the metrics stack sets metrics.retention.
    const fromBlocks = await startPrometheus({ pushgateways: [], storagePath: join(dir.path, 'data'), flags: ['--storage.tsdb.retention.time=20y'] })
    try {
      for (const n of [60, 30, 1]) assert.equal(await queryAt(`github_repository_stars${series}`, daysAgo(n), fromBlocks.url), [starsOn(n)])
      assert.equal(await queryAt('github_repository_forks{job="github",target="grafana"}', daysAgo(10), fromBlocks.url), [10])
    } finally {
      await fromBlocks.stop()
    }
  } finally {
    dir.remove()
  }
})

test.run()

const longterm = suite('history with the longterm profile: VictoriaMetrics gets it too')
let victoria: Started
let forwarding: Prometheus

longterm.before(async () => {
  const work = tempDir('history-longterm')
  victoria = await startProgram(requireBinary('victoria-metrics', 'victoria-metrics'), (port) => [`-storageDataPath=${join(work.path, 'vm')}`, `-httpListenAddr=127.0.0.1:${port}`, '-loggerLevel=WARN', '-search.latencyOffset=1s', '-retentionPeriod=20y'], '/health')
  // The longterm profile's remote_write (stacks/metrics/prometheus.longterm.yml), to this machine's VictoriaMetrics.
  forwarding = await startPrometheus({
    pushgateways: [],
    flags: ['--web.enable-remote-write-receiver', '--storage.tsdb.retention.time=20y'],
    extraConfig: `storage:\n  tsdb:\n    out_of_order_time_window: ${storage.tsdb.out_of_order_time_window}\nremote_write:\n  - url: ${victoria.url}/api/v1/write\n`,
  })
})
longterm.after(async () => {
  await Promise.all([forwarding?.stop(), victoria?.stop()])
})

longterm('a history run writes where the metrics Prometheus forwards: its remote_write does not forward out-of-order samples', async () => {
  // Prometheus' head is at now, as the scraped Pushgateway keeps it: the history is out of order there.
  await createRemoteWriteSink(forwarding.url, { job: 'bench', target: 'clock' }, { clock: { help: 'Clock.', labels: [] } }, { log }).write([{ name: 'clock', labels: {}, timestampSeconds: Math.floor(Date.now() / 1000), value: 1 }])
  const collector = collectorWithHistory(async (target, ctx) => {
    await ctx.history.write(Array.from({ length: 30 }, (_, i) => ({ name: 'github_repository_forks', labels: { owner: 'lt', repository: target.id }, timestampSeconds: daysAgo(30 - i), value: i })))
  })
  const [result] = await runHistory({ collector, targets: [{ id: 'long/term' }], options: {}, schedule: '0 3 * * *', prometheus: forwarding.url }, { env: {}, log })
  assert.is(result!.ok, true, result!.error)
  const inVictoria = await waitFor('VictoriaMetrics to answer the history', async () => {
    const answer = (await (await fetch(`${victoria.url}/api/v1/query?query=${encodeURIComponent('count_over_time(github_repository_forks{target="long/term"}[40d])')}`)).json()) as { data: { result: { value: [number, string] }[] } }
    return answer.data.result[0] ? Number(answer.data.result[0].value[1]) : undefined
  }, 20_000, 500)
  assert.is(inVictoria, 30)
})

longterm.run()
