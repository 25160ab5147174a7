// Every Prometheus query of every dashboard, run against the stacks' real Prometheus configurations fed by real collector runs, a real Pushgateway and a real node-exporter.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { suite } from 'uvu'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import * as assert from 'uvu/assert'
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/dashboard'
import crates from '../../collectors/crates.ts'
import dockerhub from '../../collectors/dockerhub.ts'
import github from '../../collectors/github.ts'
import npm from '../../collectors/npm.ts'
import pypi from '../../collectors/pypi.ts'
import type { AnyCollector } from '../../collectors/runtime/define.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { runCollector, type TargetResult } from '../../collectors/runtime/run.ts'
import { dashboardFiles, defaultRangeSeconds, durationSeconds, labelValuesQuery, metricNames, panelQueries, provisionedDatasources, resolveDatasource, root, substitute, variableQuery, variables, type TimeSettings } from '../support/dashboards.ts'
import { hubNamespace, hubRepository, startDockerHubApi, type DockerHubApi } from '../support/dockerhub-api.ts'
import { createRemoteWriteSink } from '../../collectors/runtime/remote-write.ts'
import { days, pypiDay, startRegistryApi, type CrateData, type RegistryApi } from '../support/registry-apis.ts'
import { startGitHubApi, type FakeGitHub } from '../support/github-api.ts'
import { asset, generatedOwner, latestRelease, owner, release, repository } from '../support/github-data.ts'
import { dayOf, generatedDays, type RepositoryTraffic } from '../support/github-traffic.ts'
import { generatedHistory, historyRepository } from '../support/github-history-data.ts'
import { MemorySink, memoryProgress, runHistory } from '../support/github-history-run.ts'
import { pushGroup } from '../../collectors/runtime/push.ts'
import { startGitops, type GitopsService } from '../../gitops/service.ts'
import { createRepo, type TestRepo } from '../support/git.ts'
import { startPushgateway, type Pushgateway } from '../support/prometheus.ts'
import { requireBinary, startProgram, tempDir, waitFor, type Started } from '../support/servers.ts'
import { parse } from '../../collectors/runtime/schema.ts'

/**
 * Metrics whose exporters cannot run on these machines: their queries are still executed (a syntax error fails),
 * but may return nothing. Keep this list short and say why; any other empty query fails the test.
 */
const notProvableHere = [
  // What can be proven without cAdvisor is: each container_* metric queried is in a metric group the monitoring stack's
  // -enable_metrics turns on (test/unit/cadvisor-metrics.test.ts, from cAdvisor's own metric table).
  { prefix: 'container_', why: 'cAdvisor: needs the Docker containers of a running Swarm, and its image cannot be pulled here' },
  { prefix: 'traefik_', why: 'Traefik: no stand-in for it on these machines' },
]
const excuse = (expr: string) => notProvableHere.find((entry) => metricNames(expr).some((metric) => metric.startsWith(entry.prefix)))

/** What makes a failing check visible on the dashboard but must not hide an empty query here: the fallback `or vector(0)`. */
const withoutFallback = (expr: string) => expr.replace(/\s+or\s+vector\(0\)\s*$/, '')

interface PrometheusServer extends Started {
  /** Jobs of the stack's configuration that have no loopback stand-in here, so were left out. */
  leftOut: string[]
  get(path: string, params: Record<string, string | string[]>): Promise<unknown>
}

interface ScrapeConfig {
  job_name: string
  static_configs?: { targets: string[] }[]
  dns_sd_configs?: unknown
  [setting: string]: unknown
}

/**
 * A real Debian Prometheus running a stack's own prometheus.yml (stacks/<stack>/prometheus.yml): the same jobs,
 * relabelling and rule files, with each job's Swarm DNS discovery swapped for the loopback address of the program
 * this test runs in its place (`self` is the Prometheus itself), scraping and evaluating every second.
 */
async function startStackPrometheus(stack: string, targets: Record<string, string | 'self'>): Promise<PrometheusServer> {
  const binary = requireBinary('prometheus', 'prometheus')
  const configFile = join(root, 'stacks', stack, 'prometheus.yml')
  const real = parseYaml(readFileSync(configFile, 'utf8')) as { global?: Record<string, unknown>; storage?: unknown; rule_files?: string[]; alerting?: unknown; scrape_configs: ScrapeConfig[] }
  const dir = tempDir(`dashboards-${stack}`)
  const leftOut = real.scrape_configs.filter((job) => !targets[job.job_name]).map((job) => job.job_name)
  const config = (port: number) => {
    const jobs = real.scrape_configs
      .filter((job) => targets[job.job_name])
      .map(({ dns_sd_configs: _discovery, static_configs: _static, ...job }) => {
        const target = targets[job.job_name]
        return { ...job, static_configs: [{ targets: [target === 'self' ? `127.0.0.1:${port}` : target] }] }
      })
    return stringifyYaml({
      // No Alertmanager runs here: alerts stay in Prometheus (ALERTS), which is what the dashboards read.
      global: { ...real.global, scrape_interval: '1s', evaluation_interval: '1s' },
      // The metrics stack's out-of-order window: history samples (days past) go in by remote write.
      ...(real.storage ? { storage: real.storage } : {}),
      rule_files: (real.rule_files ?? []).map((file) => join(dirname(configFile), file)),
      scrape_configs: jobs,
    })
  }
  const started = await startProgram(
    binary,
    (port) => {
      writeFileSync(join(dir.path, 'prometheus.yml'), config(port))
      // The stack's receiver flag (stacks/metrics.yml): collectors write history samples by remote write.
      return [`--config.file=${join(dir.path, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir.path, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn', '--web.enable-remote-write-receiver']
    },
    '/-/ready',
  )
  return {
    ...started,
    leftOut,
    stop: async () => {
      await started.stop()
      dir.remove()
    },
    async get(path, params) {
      const query = new URLSearchParams()
      for (const [key, value] of Object.entries(params)) for (const one of [value].flat()) query.append(key, one)
      const response = await fetch(`${started.url}${path}?${query}`)
      const body = (await response.json()) as { status: string; error?: string; data: unknown }
      if (body.status !== 'success') throw new Error(body.error ?? `status ${response.status}`)
      return body.data
    },
  }
}

/** 60 days of views and clones, referrers and pages, for the GitHub traffic dashboard. */
function trafficOf(today: string): RepositoryTraffic {
  return {
    views: generatedDays(5, today, 60),
    clones: generatedDays(6, today, 60),
    referrers: [
      { referrer: 'github.com', count: 900, uniques: 300 },
      { referrer: 'Google', count: 400, uniques: 210 },
    ],
    paths: [{ path: '/grafana/grafana', title: 'grafana/grafana', count: 2000, uniques: 800 }],
  }
}

const test = suite('dashboard queries on real data')
const started = Math.floor(Date.now() / 1000)
let hub: DockerHubApi
let registries: RegistryApi[] = []
const registryEnv: Record<string, string> = {}
let gitHub: FakeGitHub
let gateway: Pushgateway
let nodeExporter: Started
let metrics: PrometheusServer
let monitoring: PrometheusServer
let platformRepo: TestRepo
let gitopsState: ReturnType<typeof tempDir>
let gitops: GitopsService
const runs: TargetResult[] = []

async function collect(collector: AnyCollector, targets: string[], now?: () => number) {
  const results = await runCollector(
    { collector, targets: targets.map((t) => parse(collector.targets, t)), options: collector.options ? parse(collector.options, {}) : {}, schedule: collector.schedule, pushgateway: gateway.url, prometheus: metrics.url },
    { env: { DOCKERHUB_API_URL: hub.url, GITHUB_API_URL: gitHub.url, GITHUB_TOKEN: 'ghp_dashboards', ...registryEnv }, log: createLogger({ write: () => {} }), now, http: { retries: 0 } },
  )
  runs.push(...results)
}

async function instant(server: PrometheusServer, expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  return ((await server.get('/api/v1/query', { query: expr })) as { result: { metric: Record<string, string>; value: [number, string] }[] }).result
}

test.before(async () => {
  try {
    await fill()
  } catch (error) {
    // uvu reports a failed hook without its reason
    process.stderr.write(`setting up the data failed: ${(error as Error).stack}\n`)
    throw error
  }
})

async function fill() {
  hub = await startDockerHubApi({ namespaces: { prom: hubNamespace('prom', 6), grafana: [hubRepository('grafana', 'grafana', { pull_count: 5_000_000_000, star_count: 3200 })] } })
  gitHub = await startGitHubApi({
    owners: [
      generatedOwner('prometheus', 8),
      owner('grafana', [
        repository('grafana', {
          stargazerCount: 64_000,
          forkCount: 12_000,
          watchers: 1300,
          issues: { open: 3100, closed: 30_000 },
          pullRequests: { open: 350, closed: 9000, merged: 40_000 },
          releases: [release('v11.3.0', '2024-10-22T12:00:00Z', { assets: [asset('grafana-11.3.0.linux-amd64.tar.gz', 90_000)] })],
        }),
      ]),
      owner('thanos-io', [repository('thanos', { stargazerCount: 13_000 })]),
      owner('acme', [historyRepository('tool', generatedHistory('acme/tool', { years: 2, stars: 300, issues: 200, pullRequests: 150, forks: 40, releases: 6, commits: 400 }, started - 3600))]),
    ],
    // The token may push to every repository; only grafana/grafana has traffic (the others answer empty windows).
    traffic: { permissions: { ghp_dashboards: 'ADMIN' }, repositories: { 'grafana/grafana': trafficOf(dayOf(Date.now())) } },
  })
  await startRegistries()
  gateway = await startPushgateway()
  nodeExporter = await startProgram(requireBinary('prometheus-node-exporter', 'prometheus-node-exporter'), (port) => [`--web.listen-address=127.0.0.1:${port}`], '/metrics')
  // The real gitops service, deploying a platform repository it polls; the Swarm side of each step is recorded, not run.
  platformRepo = await createRepo()
  gitopsState = tempDir('dashboards-gitops')
  let appFails = false
  gitops = await startGitops({
    stateDir: gitopsState.path, port: 0, host: '127.0.0.1', branch: 'main', pollSeconds: 0, remoteUrl: platformRepo.path,
    steps: {
      validate: async () => [],
      buildImage: async () => {},
      deployStack: async (_dir, stack) => {
        if (appFails && stack === 'app') throw new Error('docker stack deploy exited 1')
      },
    },
    log: createLogger({ write: () => {} }),
  })
  assert.is((await gitops.poll())?.outcome, 'deployed')
  // Then one deployment that fails, for the "failed deployments" panel.
  appFails = true
  await platformRepo.commit({ 'stacks/app/nginx.conf': 'events { worker_connections 64; }\n' })
  assert.is((await gitops.poll())?.outcome, 'failed')
  const host = (url: string) => new URL(url).host
  metrics = await startStackPrometheus('metrics', { pushgateway: host(gateway.url) })
  monitoring = await startStackPrometheus('monitoring', { prometheus: 'self', 'metrics-prometheus': host(metrics.url), node: host(nodeExporter.url), pushgateway: host(gateway.url), gitops: host(gitops.url) })
  process.stdout.write(`scrape jobs with no stand-in here (left out): ${[...metrics.leftOut, ...monitoring.leftOut].join(', ')}\n`)

  // A collector that stopped three hours ago: its last success is older than two hourly schedule intervals.
  await collect(github, ['thanos-io/thanos'], () => Date.now() - 3 * 3600_000)
  // Two rounds, so that "change over the range" has something to measure; `ghost` does not exist on Docker Hub and fails.
  await collect(github, ['prometheus', 'grafana/grafana', 'acme/tool'])
  await collect(dockerhub, ['prom', 'grafana/grafana', 'ghost'])
  await collect(npm, ['prom-client', '@grafana/data'])
  await collect(pypi, ['prometheus-client'])
  await collect(crates, ['prometheus'])
  await writeDayAgoTotals()
  await waitFor('the first round in Prometheus', async () => (await instant(metrics, 'github_repository_stars{owner="grafana"} == 64000')).length === 1)
  gitHub.data.owners[1]!.repositories[0]!.stargazerCount += 25
  hub.data.namespaces.grafana![0]!.pull_count! += 40_000
  await collect(github, ['prometheus', 'grafana/grafana', 'acme/tool'])
  await collect(dockerhub, ['prom', 'grafana/grafana', 'ghost'])
  // A history run, for the "history written" panel: what it records goes to the Pushgateway as a history run pushes it.
  const history = await runHistory(gitHub.url, 'acme/tool', new MemorySink(), memoryProgress())
  assert.ok(history.ok, String(history.error))
  await pushGroup(gateway.url, { job: 'github', target: 'acme/tool', group: 'history' }, history.exposition, { log: createLogger({ write: () => {} }) })
  const pushed = Date.now() / 1000
  await waitFor('the second round in Prometheus, scraped a few times', async () => (await instant(metrics, `timestamp(github_repository_stars{owner="grafana"} == 64025) > ${pushed + 2}`)).length === 1)
  await waitFor('node-exporter and the metrics Prometheus scraped a few times by the monitoring one', async () => (await instant(monitoring, 'count_over_time(node_boot_time_seconds[1m]) >= 5 and on () count_over_time(prometheus_tsdb_head_series{job="metrics-prometheus"}[1m]) >= 5')).length > 0)
  await waitFor('the gitops service scraped by the monitoring Prometheus', async () => (await instant(monitoring, 'count(activity_gitops_last_deploy_success) == 7')).length > 0)
  // The failing and the late target trip the stack's real alert rules (pending: their `for` is minutes long).
  await waitFor('alerts of stacks/monitoring/rules.yml for the failing and the late target', async () => (await instant(monitoring, 'count(ALERTS) >= 2')).length > 0)
}

/**
 * The running totals a day ago, as the pushes then would have left them (written with their times by remote write),
 * so that the recording rules of stacks/metrics/rules.yml have a day to subtract: Docker Hub pulls, release downloads.
 */
async function writeDayAgoTotals() {
  const dayAgo = Math.floor(Date.now() / 1000) - 86_400
  const around = (name: string, labels: Record<string, string>, value: number) =>
    Array.from({ length: 15 }, (_, i) => ({ name, labels, timestampSeconds: dayAgo - 300 + i * 60, value }))
  const log = createLogger({ write: () => {} })
  const grafana = hub.data.namespaces.grafana![0]!
  await createRemoteWriteSink(metrics.url, { job: 'dockerhub', target: 'grafana/grafana', project: 'grafana/grafana' }, dockerhub.metrics, { log }).write(
    around('dockerhub_repository_pulls', { namespace: 'grafana', repository: 'grafana' }, grafana.pull_count! - 1_000_000),
  )
  await createRemoteWriteSink(metrics.url, { job: 'github', target: 'grafana/grafana', project: 'grafana/grafana' }, github.metrics, { log }).write(
    around('github_repository_release_downloads', { owner: 'grafana', repository: 'grafana' }, 80_000),
  )
}

/** npm, pypistats.org and crates.io stand-ins with a month of days up to yesterday. */
async function startRegistries() {
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)
  const month = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10)
  const span = days(month, yesterday, (i) => 100 + i)
  const npmApi = await startRegistryApi('npm', { lastDay: yesterday, packages: { 'prom-client': span, '@grafana/data': span } })
  const pypiApi = await startRegistryApi('pypi', { packages: { 'prometheus-client': span.map((d) => pypiDay(d.date, d.downloads)) } })
  const crate: CrateData = {
    downloads: 50_000,
    recent_downloads: 9_000,
    versions: [{ id: 2, num: '0.14.0', downloads: 30_000 }],
    version_downloads: span.map((d) => ({ version: 2, date: d.date, downloads: d.downloads })),
    extra_downloads: span,
  }
  const cratesApi = await startRegistryApi('crates', { crates: { prometheus: crate } })
  registries = [npmApi, pypiApi, cratesApi]
  Object.assign(registryEnv, { NPM_API_URL: npmApi.url, PYPISTATS_API_URL: pypiApi.url, CRATES_API_URL: cratesApi.url })
}

test.after(async () => {
  await Promise.all([...registries.map((r) => r.close()), hub?.close(), gitHub?.close(), gateway?.stop(), nodeExporter?.stop(), metrics?.stop(), monitoring?.stop(), gitops?.close()])
  platformRepo?.remove()
  gitopsState?.remove()
})

test('the collector runs behind the data are real: successes, one failure, one late target', () => {
  const outcome = runs.map((r) => `${r.target} ${r.ok ? 'ok' : 'failed'}`)
  assert.ok(outcome.includes('ghost failed'), outcome.join(', '))
  assert.is(runs.filter((r) => !r.ok).length, 2, outcome.join(', '))
  assert.ok(runs.filter((r) => r.ok).length >= 7, outcome.join(', '))
})

test('every variable and every Prometheus query of every panel returns at least one series, variables substituted', async () => {
  const end = Math.floor(Date.now() / 1000)
  const time: TimeSettings = { rangeSeconds: end - started + 5, intervalSeconds: 1, scrapeSeconds: 1 }
  // Each provisioned Prometheus datasource is answered by the test's stand-in for the stack its URL names (http://<stack>_prometheus:9090).
  const stands: Record<string, PrometheusServer> = { metrics_prometheus: metrics, monitoring_prometheus: monitoring }
  const servers = new Map(provisionedDatasources().filter((d) => d.type === 'prometheus').map((d) => [d.uid, stands[new URL(d.url).hostname]]))
  const serverOf = (ref: DataSourceRef | undefined) => (ref?.type === 'prometheus' ? servers.get(ref.uid ?? '') : undefined)
  const empty: string[] = []
  const broken: string[] = []
  const excused = new Map<string, string[]>()
  let executed = 0

  const check = async (where: string, expr: string, run: (expr: string) => Promise<unknown[]>) => {
    executed++
    let result: unknown[]
    try {
      result = await run(expr)
    } catch (error) {
      broken.push(`${where}: ${expr}\n      ${(error as Error).message}`)
      return
    }
    if (result.length) return
    const reason = excuse(expr)
    if (reason) excused.set(reason.prefix, [...(excused.get(reason.prefix) ?? []), where])
    else empty.push(`${where}: ${expr}`)
  }

  for (const file of dashboardFiles()) {
    const values = new Map<string, string[]>()
    for (const variable of variables(file.dashboard)) {
      if (variable.type === 'datasource') values.set(variable.name, [String(variable.current?.value)])
      if (variable.type !== 'query') continue
      const server = serverOf(resolveDatasource(file.dashboard, variable.datasource))
      if (!server) continue // the Elasticsearch site list: checked against the index template by the unit test
      const parsed = labelValuesQuery(variableQuery(variable) ?? '')
      assert.ok(parsed?.series, `${file.file} $${variable.name}: a label_values(series, label) query`)
      const series = substitute(parsed.series, values, time)
      let found: string[] = []
      await check(`${file.file} $${variable.name}`, series, async () => {
        found = (await server.get(`/api/v1/label/${parsed.label}/values`, { 'match[]': series, start: String(started), end: String(end) })) as string[]
        return found
      })
      values.set(variable.name, found)
    }
    for (const query of panelQueries(file)) {
      if (query.datasource?.type !== 'prometheus') continue
      const server = serverOf(query.datasource)
      if (!server) {
        broken.push(`${query.where}: no Prometheus for datasource ${JSON.stringify(query.datasource)}`)
        continue
      }
      // A panel of one point a day (min interval 1d: history samples at 00:00 UTC) is asked as Grafana asks it: over the
      // dashboard's default range, with steps of its interval aligned to multiples of the step (UTC midnights).
      const step = durationSeconds(query.interval) ?? 0
      const daily = step >= 86_400
      const queryTime: TimeSettings = daily ? { rangeSeconds: defaultRangeSeconds(file.dashboard) ?? step * 30, intervalSeconds: step, scrapeSeconds: 1 } : time
      const from = daily ? Math.floor((end - queryTime.rangeSeconds) / step) * step : started
      const to = daily ? Math.floor(end / step) * step : end
      const expr = substitute(withoutFallback(query.expr ?? ''), values, queryTime)
      await check(query.where, expr, async (promql) =>
        query.instant
          ? ((await server.get('/api/v1/query', { query: promql, time: String(end) })) as { result: unknown[] }).result
          : ((await server.get('/api/v1/query_range', { query: promql, start: String(from), end: String(to), step: String(queryTime.intervalSeconds) })) as { result: unknown[] }).result,
      )
    }
  }

  const report = [...excused].map(([prefix, where]) => `${where.length} queries on ${prefix}* (${notProvableHere.find((e) => e.prefix === prefix)!.why})`)
  process.stdout.write(`executed ${executed} queries; not provable here: ${report.join('; ')}\n`)
  assert.equal(broken, [], `queries Prometheus rejected:\n  ${broken.join('\n  ')}`)
  assert.equal(empty, [], `queries that returned no series:\n  ${empty.join('\n  ')}`)
  const unused = notProvableHere.filter((entry) => !excused.has(entry.prefix)).map((entry) => entry.prefix)
  assert.equal(unused, [], `entries of notProvableHere that excuse nothing (remove them): ${unused.join(', ')}`)
  assert.ok(executed >= 150, `${executed} queries executed`)
})

test("the release annotations mark grafana/grafana's release at the time the fake GitHub says it was published", async () => {
  const end = Math.floor(Date.now() / 1000)
  // The fake GitHub's own record of grafana/grafana's latest release (v11.3.0 in fill()).
  const published = Date.parse(latestRelease(gitHub.data.owners[1]!.repositories[0]!)!.publishedAt!)
  const annotations = dashboardFiles().flatMap((file) => (file.dashboard.annotations?.list ?? []).map((a) => ({ file: file.file, annotation: a as { name: string; expr?: string } })))
  assert.ok(annotations.length >= 2, 'the activity dashboards have release annotations')
  for (const { file, annotation } of annotations) {
    const expr = (annotation.expr ?? '').replaceAll('$owner', '.*').replaceAll('$repository', '.*').replaceAll('$project', '.*')
    // Grafana asks a range; every sample's value is a mark's time.
    const range = (await metrics.get('/api/v1/query_range', { query: expr, start: String(started), end: String(end), step: '1' })) as { result: { metric: Record<string, string>; values: [number, string][] }[] }
    const grafana = range.result.find((series) => series.metric.owner === 'grafana' && series.metric.repository === 'grafana')
    assert.ok(grafana, `${file} ${annotation.name}: a series for grafana/grafana`)
    assert.equal([...new Set(grafana.values.map(([, value]) => Number(value)))], [published], `${file} ${annotation.name}`)
  }
})

test('the growth queries measure what changed between the two runs', async () => {
  const end = Math.floor(Date.now() / 1000)
  const time: TimeSettings = { rangeSeconds: end - started + 5, intervalSeconds: 1, scrapeSeconds: 1 }
  const all = new Map([
    ['owner', ['grafana']],
    ['repository', ['grafana']],
    ['namespace', ['grafana']],
  ])
  const overview = dashboardFiles().find((f) => f.file === 'activity/overview.json')!
  const stars = panelQueries(overview).find((q) => q.where.includes('"Stars gained"'))!
  const pulls = panelQueries(overview).find((q) => q.where.includes('"Docker Hub pulls gained"'))!
  const [starsGained] = await instant(metrics, substitute(stars.expr!, all, time))
  const [pullsGained] = await instant(metrics, substitute(pulls.expr!, all, time))
  process.stdout.write(`gained in the range: stars ${starsGained?.value[1]}, pulls ${pullsGained?.value[1]}\n`)
  // delta() extrapolates towards the ends of the range, so a step seen over a few one-second scrapes reads slightly high.
  assert.ok(Number(starsGained!.value[1]) >= 25 && Number(starsGained!.value[1]) <= 35, `stars gained ${starsGained!.value[1]}`)
  assert.ok(Number(pullsGained!.value[1]) >= 40_000 && Number(pullsGained!.value[1]) <= 56_000, `pulls gained ${pullsGained!.value[1]}`)
})

test.run()
