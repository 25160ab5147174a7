import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import dockerhub from '../../collectors/dockerhub.ts'
import { collectOnce, valueOf } from '../support/collect.ts'
import { hubNamespace, hubRepository, startDockerHubApi, type DockerHubApi } from '../support/dockerhub-api.ts'
import { check } from '../../collectors/runtime/schema.ts'

const test = suite('dockerhub collector')
let api: DockerHubApi

test.before.each(async () => {
  api = await startDockerHubApi({
    namespaces: {
      prom: hubNamespace('prom', 250),
      empty: [],
      sparse: [hubRepository('sparse', 'new', { pull_count: null, star_count: 3, last_updated: null })],
    },
  })
})
test.after.each(() => api.close())

const env = () => ({ DOCKERHUB_API_URL: api.url })

test('collects every repository of a namespace across pages, 100 a page', async () => {
  const run = await collectOnce(dockerhub, 'prom', env())
  assert.ok(run.result.ok, run.result.error)
  assert.is(valueOf(run.samples, 'dockerhub_namespace_repositories', { namespace: 'prom' }), 250)
  assert.is(valueOf(run.samples, 'dockerhub_repository_pulls', { repository: 'image-000' }), 1000)
  assert.is(valueOf(run.samples, 'dockerhub_repository_pulls', { repository: 'image-249' }), 250_000)
  assert.is(valueOf(run.samples, 'dockerhub_repository_stars', { repository: 'image-120' }), 120)
  assert.is(valueOf(run.samples, 'dockerhub_repository_last_updated_timestamp_seconds', { repository: 'image-005' }), Date.parse('2026-10-14T09:21:44.171Z') / 1000)
  assert.equal(api.requests.map((r) => new URL(r.url, api.url).searchParams.get('page')), ['1', '2', '3'])
  assert.is(valueOf(run.samples, 'activity_collector_api_requests'), 3)
})

test('follows the next link on the configured API, not on the host Docker Hub names', async () => {
  await collectOnce(dockerhub, 'prom', env())
  assert.is(api.requests.length, 3, 'all three pages came from the local API')
})

test('a namespace with no repositories records 0 of them', async () => {
  const run = await collectOnce(dockerhub, 'empty', env())
  assert.ok(run.result.ok, run.result.error)
  assert.is(valueOf(run.samples, 'dockerhub_namespace_repositories', { namespace: 'empty' }), 0)
  assert.is(run.samples.filter((s) => s.name === 'dockerhub_repository_pulls').length, 0)
})

test('a repository with null fields records what it has and nothing for the rest', async () => {
  const run = await collectOnce(dockerhub, 'sparse', env())
  assert.ok(run.result.ok, run.result.error)
  assert.is(valueOf(run.samples, 'dockerhub_repository_stars', { repository: 'new' }), 3)
  assert.is(valueOf(run.samples, 'dockerhub_repository_pulls', { repository: 'new' }), undefined)
  assert.is(valueOf(run.samples, 'dockerhub_repository_last_updated_timestamp_seconds', { repository: 'new' }), undefined)
})

test('a single repository target reads that repository only', async () => {
  const run = await collectOnce(dockerhub, 'prom/image-007', env())
  assert.ok(run.result.ok, run.result.error)
  assert.is(valueOf(run.samples, 'dockerhub_repository_pulls', { namespace: 'prom', repository: 'image-007' }), 8000)
  assert.is(run.samples.filter((s) => s.name === 'dockerhub_repository_pulls').length, 1)
  assert.is(api.requests.length, 1)
  assert.is(new URL(api.requests[0]!.url, api.url).pathname, '/v2/namespaces/prom/repositories/image-007')
})

test('an unknown namespace fails with the API answer, and nothing is recorded', async () => {
  const run = await collectOnce(dockerhub, 'nobody', env())
  assert.not.ok(run.result.ok)
  assert.match(run.result.error!, /answered 404: httperror 404: object not found/)
  assert.is(valueOf(run.samples, 'activity_collector_last_run_success'), 0)
  assert.is(run.samples.filter((s) => s.name.startsWith('dockerhub_')).length, 0)
})

test('a target that is not a Docker Hub name is refused with an example', () => {
  const parsed = check(dockerhub.targets, 'Prom/Node Exporter')
  assert.ok(!parsed.ok && /namespace \(prom\) or namespace\/repository/.test(parsed.problem.message), JSON.stringify(parsed))
})

test.run()
