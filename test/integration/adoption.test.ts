// Adoption in a real Prometheus: the registry collectors run as the built CLI write their days into Debian's Prometheus
// (the metrics stack's remote-write receiver and out-of-order window), and the metrics stack's own recording rules turn
// two pushed Docker Hub totals into the pulls of a day.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse as parseYaml } from 'yaml'
import { createRemoteWriteSink } from '../../collectors/runtime/remote-write.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { pushGroup } from '../../collectors/runtime/push.ts'
import { runActivity } from '../support/cli.ts'
import { tempDir } from '../support/servers.ts'
import { startPrometheus, startPushgateway, type Prometheus, type Pushgateway } from '../support/prometheus.ts'
import { dayMsOf, days, isoDay, pypiDay, startRegistryApi, type RegistryApi } from '../support/registry-apis.ts'

const metricsStack = new URL('../../stacks/metrics/', import.meta.url).pathname
const storage = parseYaml(readFileSync(`${metricsStack}prometheus.yml`, 'utf8')).storage as { tsdb: { out_of_order_time_window: string } }
const test = suite('adoption in a real Prometheus')
const log = createLogger({ write: () => {} })
const yesterday = isoDay(Date.now() - 86_400_000)
const npmData = { lastDay: yesterday, packages: { 'prom-client': days('2019-03-01', yesterday, (i) => 1000 + (i % 97)), '@grafana/data': days('2022-06-15', yesterday, (i) => 40 + (i % 13)) } }
const pypiData = { packages: { 'prometheus-client': days(isoDay(Date.now() - 180 * 86_400_000), yesterday, (i) => 5000 + i).map((d) => pypiDay(d.date, d.downloads)) } }
let gateway: Pushgateway
let prometheus: Prometheus
let npmApi: RegistryApi
let pypiApi: RegistryApi

test.before(async () => {
  gateway = await startPushgateway()
  prometheus = await startPrometheus({
    pushgateways: [gateway.url],
    flags: ['--web.enable-remote-write-receiver'],
    extraConfig: `rule_files:\n  - ${metricsStack}rules.yml\nstorage:\n  tsdb:\n    out_of_order_time_window: ${storage.tsdb.out_of_order_time_window}\n`,
  })
  npmApi = await startRegistryApi('npm', npmData)
  pypiApi = await startRegistryApi('pypi', pypiData)
})
test.after(async () => {
  await Promise.all([gateway?.stop(), prometheus?.stop(), npmApi?.close(), pypiApi?.close()])
})

async function valueAt(promql: string, seconds: number): Promise<number[]> {
  const response = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(promql)}&time=${seconds}`)
  const body = (await response.json()) as { data: { result: { value: [number, string] }[] } }
  return body.data.result.map((r) => Number(r.value[1]))
}
const activity = (args: string[], env: Record<string, string>) =>
  runActivity(args, { env: { PATH: process.env.PATH, HTTP_RETRIES: '1', PUSHGATEWAY_URL: gateway.url, METRICS_PROMETHEUS_URL: prometheus.url, ...env } })
const on = (name: keyof typeof npmData.packages, date: string) => npmData.packages[name].find((d) => d.date === date)!.downloads

test('after npm history and collect, PromQL answers the downloads of given past days, and the sums pushed today', async () => {
  const history = await activity(['history', 'npm', '--target', 'prom-client', '--target', '@grafana/data'], { NPM_API_URL: npmApi.url })
  assert.is(history.code, 0, history.stderr)
  const collect = await activity(['collect', 'npm', '--target', 'prom-client', '--target', '@grafana/data'], { NPM_API_URL: npmApi.url })
  assert.is(collect.code, 0, collect.stderr)
  for (const date of ['2019-03-01', '2020-02-29', '2024-12-31', yesterday]) {
    assert.equal(await valueAt('npm_package_daily_downloads{package="prom-client"}', dayMsOf(date) / 1000), [on('prom-client', date)], date)
  }
  assert.equal(await valueAt('npm_package_daily_downloads{package="@grafana/data"}', dayMsOf('2023-01-01') / 1000), [on('@grafana/data', '2023-01-01')])
  assert.equal(await valueAt('npm_package_daily_downloads{package="@grafana/data"}', dayMsOf('2022-06-14') / 1000), [], 'nothing before its first download')
  const days2024 = npmData.packages['prom-client'].filter((d) => d.date.startsWith('2024-')).reduce((sum, d) => sum + d.downloads, 0)
  assert.equal(await valueAt('sum_over_time(npm_package_daily_downloads{package="prom-client"}[366d])', dayMsOf('2024-12-31') / 1000 + 1), [days2024], 'the year 2024 summed')
  await prometheus.queryUntil(`npm_package_downloads_last_day{package="prom-client"} == ${on('prom-client', yesterday)}`, 'the pushed last day')
})

test('after a pypi run, PromQL answers a past day by Python version, mirrors excluded', async () => {
  const run = await activity(['collect', 'pypi', '--target', 'prometheus-client'], { PYPISTATS_API_URL: pypiApi.url })
  assert.is(run.code, 0, run.stderr)
  const day = pypiData.packages['prometheus-client'][40]!
  assert.equal(await valueAt('pypi_package_daily_downloads{package="prometheus-client"}', dayMsOf(day.date) / 1000), [day.downloads])
  assert.equal(await valueAt('pypi_package_daily_downloads_by_python{package="prometheus-client",python="3.12"}', dayMsOf(day.date) / 1000), [day.python['3.12']!])
})

test("a target's project (activity.yml projects:) labels its pushed series and its days in Prometheus", async () => {
  const dir = tempDir('adoption-projects')
  try {
    const config = join(dir.path, 'activity.yml')
    writeFileSync(config, 'sources:\n  npm:\n    targets: [prom-client, "@grafana/data"]\nprojects:\n  prometheus:\n    npm: [prom-client]\n')
    const run = await activity(['collect', 'npm', '--config', config], { NPM_API_URL: npmApi.url })
    assert.is(run.code, 0, run.stderr)
    await prometheus.queryUntil('npm_package_downloads_last_day{project="prometheus",package="prom-client"}', 'the pushed sum with its project')
    await prometheus.queryUntil('activity_collector_last_run_success{job="npm",project="@grafana/data"}', 'a target in no project, its own')
    assert.equal(await valueAt('npm_package_daily_downloads{project="prometheus"}', dayMsOf(yesterday) / 1000), [on('prom-client', yesterday)])
  } finally {
    dir.remove()
  }
})

test('the recording rule gives the Docker Hub pulls of a day from two pushed totals', async () => {
  const labels = { namespace: 'prom', repository: 'prometheus' }
  const now = Math.floor(Date.now() / 1000)
  // The total a day ago, as a push then would have left it (written with its times), and the total pushed now.
  const dayAgo = Array.from({ length: 15 }, (_, i) => ({ name: 'dockerhub_repository_pulls', labels, timestampSeconds: now - 86_400 - 300 + i * 60, value: 1_000_000 }))
  await createRemoteWriteSink(prometheus.url, { job: 'dockerhub', target: 'prom', project: 'prom' }, { dockerhub_repository_pulls: { help: 'Pulls.', labels: ['namespace', 'repository'] } }, { log }).write(dayAgo)
  await pushGroup(gateway.url, { job: 'dockerhub', target: 'prom' }, 'dockerhub_repository_pulls{namespace="prom",repository="prometheus",project="prom"} 1002400\n', { log })
  const recorded = await prometheus.queryUntil('dockerhub_repository_pulls:increase1d{namespace="prom",repository="prometheus"}', 'the recorded pulls of the last day')
  assert.equal(recorded.map((s) => [s.metric.job, s.metric.target, s.metric.project, s.value]), [['dockerhub', 'prom', 'prom', 2400]])
})

test.run()
