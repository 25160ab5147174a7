// The longterm profile with real programs: Debian's Prometheus, with the retention flags activity.yml gives and the
// remote_write of stacks/metrics/prometheus.longterm.yml, sends what it scrapes from a real Pushgateway to Debian's
// VictoriaMetrics, whose Prometheus API then answers with the pushed values.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseConfig } from '../../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { dataStackEnvironment } from '../../stacks/data-env.ts'
import { queryPrometheus, startPrometheus, startPushgateway, type Prometheus, type Pushgateway } from '../support/prometheus.ts'
import { requireBinary, startProgram, tempDir, waitFor, type Started } from '../support/servers.ts'

const test = suite('long-term metrics in VictoriaMetrics')
const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
const config = parseConfig('sources:\n  dockerhub:\n    targets: [prom]\nmetrics:\n  retention: 400d\n  retentionSize: 20GB\n  longTerm:\n    enabled: true\n    retention: 3y\n', 'activity.yml', collectors)
const env = dataStackEnvironment(config)
const storage = tempDir('victoriametrics')
let victoria: Started
let gateway: Pushgateway
let prometheus: Prometheus

test.before(async () => {
  const binary = requireBinary('victoria-metrics', 'victoria-metrics')
  // The flags of stacks/metrics.longterm.yml, with the retention activity.yml gave (and, for the test, samples
  // searchable after 1 s instead of 30 s).
  victoria = await startProgram(binary, (port) => [`-storageDataPath=${join(storage.path, 'data')}`, `-retentionPeriod=${env.LONGTERM_RETENTION}`, `-httpListenAddr=127.0.0.1:${port}`, '-loggerLevel=WARN', '-search.latencyOffset=1s'], '/health')
  gateway = await startPushgateway()
  const longterm = parse(readFileSync(new URL('../../stacks/metrics/prometheus.longterm.yml', import.meta.url), 'utf8')) as { remote_write: { url: string }[] }
  const remoteWrite = longterm.remote_write.map((target) => ({ ...target, url: target.url.replace('http://metrics_victoriametrics:8428', victoria.url) }))
  assert.is(remoteWrite[0]!.url, `${victoria.url}/api/v1/write`)
  prometheus = await startPrometheus({
    pushgateways: [gateway.url],
    extraConfig: stringify({ remote_write: remoteWrite }),
    flags: [`--storage.tsdb.retention.time=${env.METRICS_RETENTION}`, `--storage.tsdb.retention.size=${env.METRICS_RETENTION_SIZE}`],
  })
})
test.after(async () => {
  await Promise.all([prometheus?.stop(), gateway?.stop(), victoria?.stop()])
  storage.remove()
})

test('VictoriaMetrics answers PromQL with the values pushed to the Pushgateway, through remote_write', async () => {
  const response = await fetch(`${gateway.url}/metrics/job/github/target/prometheus`, {
    method: 'PUT',
    body: 'github_repository_stars{owner="prometheus",repository="prometheus"} 55123\ngithub_repository_stars{owner="prometheus",repository="alertmanager"} 6600\n',
  })
  assert.ok(response.ok)
  await prometheus.queryUntil('github_repository_stars{repository="prometheus"}')
  const stars = await waitFor('VictoriaMetrics to answer with the pushed stars', async () => {
    const result = await queryPrometheus(victoria.url, 'github_repository_stars{job="github",target="prometheus"}')
    return result.length === 2 ? result : undefined
  }, 60_000)
  const byRepository = Object.fromEntries(stars.map((s) => [s.metric.repository, s.value]))
  assert.equal(byRepository, { prometheus: 55123, alertmanager: 6600 })
})

test('the retention settings of activity.yml reach Prometheus and VictoriaMetrics as flags', async () => {
  const flags = (await (await fetch(`${prometheus.url}/api/v1/status/flags`)).json()) as { data: Record<string, string> }
  assert.is(flags.data['storage.tsdb.retention.time'], '400d')
  assert.is(flags.data['storage.tsdb.retention.size'], '20GiB', 'Prometheus counts GB in powers of two')
  const victoriaFlags = await (await fetch(`${victoria.url}/flags`)).text()
  assert.match(victoriaFlags, /^-retentionPeriod="3y"$/m)
})

test.run()
