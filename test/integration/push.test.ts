// A collector run against a real Pushgateway scraped by a real Prometheus.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import dockerhub from '../../collectors/dockerhub.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { runCollector } from '../../collectors/runtime/run.ts'
import { parseExposition, valueOf } from '../support/collect.ts'
import { hubNamespace, hubRepository, startDockerHubApi, type DockerHubApi } from '../support/dockerhub-api.ts'
import { gatewayText, startPrometheus, startPushgateway, type Prometheus, type Pushgateway } from '../support/prometheus.ts'
import { waitFor, type Reply } from '../support/servers.ts'
import { parse } from '../../collectors/runtime/schema.ts'

const test = suite('push to a real Pushgateway')
let api: DockerHubApi
let gateway: Pushgateway
let prometheus: Prometheus
let fault: ((url: string) => Reply | undefined) | undefined

test.before(async () => {
  api = await startDockerHubApi(
    { namespaces: { prom: hubNamespace('prom', 150), grafana: [hubRepository('grafana', 'grafana', { pull_count: 5_000_000_000, star_count: 3200 })] } },
    (request) => fault?.(request.url),
  )
  gateway = await startPushgateway()
  prometheus = await startPrometheus({ pushgateways: [gateway.url] })
})
test.after(async () => {
  await Promise.all([api?.close(), gateway?.stop(), prometheus?.stop()])
})
test.before.each(() => {
  fault = undefined
})

const logs: string[] = []
async function collect(targets: string[]) {
  return runCollector(
    { collector: dockerhub, targets: targets.map((t) => parse(dockerhub.targets, t)), options: {}, schedule: dockerhub.schedule, pushgateway: gateway.url },
    { env: { DOCKERHUB_API_URL: api.url }, log: createLogger({ write: (line) => logs.push(line) }), http: { retries: 1, retryBaseMs: 10 }, push: { retryBaseMs: 10, retries: 1 } },
  )
}
const inGateway = async () => parseExposition(await gatewayText(gateway.url))

test('a run pushes every repository, and Prometheus answers with the values', async () => {
  const results = await collect(['prom', 'grafana/grafana'])
  assert.equal(results.map((r) => [r.target, r.ok]), [['prom', true], ['grafana/grafana', true]])
  const stars = await prometheus.queryUntil('dockerhub_repository_pulls{job="dockerhub",target="grafana/grafana"}')
  assert.is(stars[0]!.value, 5_000_000_000)
  assert.is(stars[0]!.metric.repository, 'grafana')
  const pulls = await prometheus.queryUntil('dockerhub_repository_pulls{job="dockerhub",target="prom",repository="image-149"}')
  assert.is(pulls[0]!.value, 150_000)
  const count = await prometheus.queryUntil('count(dockerhub_repository_pulls{target="prom"}) == 150', '150 prom repositories')
  assert.is(count[0]!.value, 150)
  const health = await prometheus.queryUntil('activity_collector_last_run_success{job="dockerhub",target="prom",group="health"}')
  assert.is(health[0]!.value, 1)
  const requests = await prometheus.queryUntil('activity_collector_api_requests{job="dockerhub",target="prom"}')
  assert.is(requests[0]!.value, 2)
})

test('a run that fails midway pushes nothing for that target: the last good values stay', async () => {
  await collect(['prom'])
  const before = await inGateway()
  const lastSuccess = valueOf(before, 'activity_collector_last_success_timestamp_seconds', { target: 'prom' })
  assert.ok(lastSuccess)
  api.data.namespaces.prom![0]!.pull_count = 999 // would change a value, if anything were pushed
  fault = (url) => (url.includes('page=2') ? { status: 500, body: { message: 'internal error' } } : undefined)

  const [result] = await collect(['prom'])
  assert.not.ok(result!.ok)
  assert.match(result!.error!, /answered 500/)
  const after = await inGateway()
  assert.is(valueOf(after, 'dockerhub_repository_pulls', { target: 'prom', repository: 'image-000' }), 1000)
  assert.is(after.filter((s) => s.name === 'dockerhub_repository_pulls' && s.labels.target === 'prom').length, 150)
  assert.is(valueOf(after, 'activity_collector_last_success_timestamp_seconds', { target: 'prom' }), lastSuccess)
  assert.is(valueOf(after, 'activity_collector_last_run_success', { target: 'prom', group: 'health' }), 0)
  api.data.namespaces.prom![0]!.pull_count = 1000
})

test('a repository removed upstream is gone from the Pushgateway after the next run', async () => {
  await collect(['prom'])
  assert.ok(valueOf(await inGateway(), 'dockerhub_repository_pulls', { target: 'prom', repository: 'image-003' }))
  const removed = api.data.namespaces.prom!.splice(3, 1)
  try {
    await collect(['prom'])
    const after = await inGateway()
    assert.is(valueOf(after, 'dockerhub_repository_pulls', { target: 'prom', repository: 'image-003' }), undefined)
    assert.is(valueOf(after, 'dockerhub_namespace_repositories', { target: 'prom' }), 149)
    await waitFor('Prometheus to drop image-003', async () => (await prometheus.query('dockerhub_repository_pulls{repository="image-003"}')).length === 0)
  } finally {
    api.data.namespaces.prom!.splice(3, 0, ...removed)
  }
})

test('one failing target does not stop or spoil the others', async () => {
  fault = (url) => (url.includes('/grafana/') ? { status: 502, body: 'bad gateway' } : undefined)
  const results = await collect(['grafana/grafana', 'prom'])
  assert.equal(results.map((r) => r.ok), [false, true])
  const text = await inGateway()
  assert.is(valueOf(text, 'dockerhub_repository_pulls', { target: 'grafana/grafana' }), 5_000_000_000)
  assert.is(valueOf(text, 'activity_collector_last_run_success', { target: 'grafana/grafana', group: 'health' }), 0)
  assert.is(valueOf(text, 'activity_collector_last_run_success', { target: 'prom', group: 'health' }), 1)
})

test('a Pushgateway that is down fails the run with a clear reason, and its data survives its restart', async () => {
  await collect(['prom'])
  await waitFor('the Pushgateway to persist its groups', async () => (await gatewayText(gateway.url)).includes('image-149'))
  await gateway.process.kill('SIGTERM')
  await waitFor('the Pushgateway to stop', () => gateway.process.exitCode !== null || gateway.process.signalCode !== null)
  const [result] = await collect(['prom'])
  assert.not.ok(result!.ok)
  assert.match(result!.error!, /^push to http:\/\/127\.0\.0\.1:\d+ failed: ECONNREFUSED; the previous values stay in the Pushgateway$/)
  await gateway.restart()
  assert.is(valueOf(await inGateway(), 'dockerhub_repository_pulls', { target: 'prom', repository: 'image-149' }), 150_000)
})

test.run()
