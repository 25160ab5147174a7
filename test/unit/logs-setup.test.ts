// activity logs setup against a server that answers as Elasticsearch does (Elasticsearch cannot run here): which
// endpoints it calls with which bodies, that a second run writes nothing, and one clear line for each error.
import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, flatSettings } from '../../scripts/data/elasticsearch.ts'
import { ElasticsearchError } from '../../scripts/data/errors.ts'
import { esDuration, logsNames, setupLogs } from '../../scripts/data/logs-setup.ts'
import { emptyElasticsearch, esError, startElasticsearchApi, type ElasticsearchApi } from '../support/elasticsearch-api.ts'
import type { RecordedRequest, Reply } from '../support/servers.ts'

const test = suite('activity logs setup')
const template = JSON.parse(readFileSync(new URL('../../stacks/logs/nginx-access-template.json', import.meta.url), 'utf8'))
const errorTemplate = JSON.parse(readFileSync(new URL('../../stacks/logs/nginx-error-template.json', import.meta.url), 'utf8'))
const logs = { retention: '8w', nodes: 1 as const }
let api: ElasticsearchApi
let fault: ((request: RecordedRequest) => Reply | undefined) | undefined
const lines: string[] = []

test.before.each(async () => {
  fault = undefined
  lines.length = 0
  api = await startElasticsearchApi(emptyElasticsearch(), (request) => fault?.(request))
})
test.after.each(async () => {
  await api.close()
})

const setup = (settings = logs) => setupLogs(connect({ url: api.url, maxRetries: 1 }), settings, (line) => lines.push(line))
const bodyOf = (method: string, path: string) => {
  const request = api.requests.find((r) => r.method === method && r.url.split('?')[0] === path)
  assert.ok(request, `${method} ${path} was sent (sent: ${api.requests.map((r) => `${r.method} ${r.url}`).join(', ')})`)
  return JSON.parse(request.body)
}

async function failure(run: Promise<unknown>): Promise<string> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  )
  assert.instance(error, ElasticsearchError)
  const message = (error as Error).message
  assert.not.match(message, /\n/, 'one line')
  return message
}

test('a first run creates the repository, the ILM policy, the index template and the SLM policy', async () => {
  const result = await setup()
  assert.equal(
    api.writes().map((r) => `${r.method} ${r.url.split('?')[0]}`),
    [
      'PUT /_snapshot/activity-backups',
      'PUT /_ilm/policy/nginx-access',
      'PUT /_index_template/nginx-access',
      'PUT /_ilm/policy/nginx-error',
      'PUT /_index_template/nginx-error',
      'PUT /_slm/policy/nginx-access-weekly',
    ],
  )
  assert.equal(bodyOf('PUT', '/_snapshot/activity-backups'), { type: 'fs', settings: { location: '/usr/share/elasticsearch/snapshots', compress: true } })
  assert.equal(bodyOf('PUT', '/_ilm/policy/nginx-access').policy.phases, {
    hot: { min_age: '0ms', actions: { set_priority: { priority: 100 } } },
    delete: { min_age: '63d', actions: { delete: { delete_searchable_snapshot: true } } },
  })
  // The templates are the files the Logstash pipeline also installs, sent as they are.
  assert.equal(bodyOf('PUT', '/_index_template/nginx-access'), template)
  assert.equal(bodyOf('PUT', '/_index_template/nginx-error'), errorTemplate)
  assert.equal(bodyOf('PUT', '/_ilm/policy/nginx-error').policy.phases, bodyOf('PUT', '/_ilm/policy/nginx-access').policy.phases, 'error lines are kept as long as visits')
  const slm = bodyOf('PUT', '/_slm/policy/nginx-access-weekly')
  assert.is(slm.schedule, '0 30 1 ? * SUN')
  assert.is(slm.repository, 'activity-backups')
  assert.equal(slm.config.indices, ['nginx-access-*', 'nginx-error-*'], 'the snapshots take the error indices too')
  assert.is(slm.retention.expire_after, '63d')
  assert.is(result.written.length, 6)
  assert.ok(lines.includes('logs setup: ILM policy nginx-access: created'), lines.join('\n'))
})

test('the template carries the fields the dashboards read with the types they need', () => {
  const properties = template.template.mappings.properties
  assert.is(properties['@timestamp'].type, 'date')
  assert.is(properties.client_ip.type, 'ip')
  assert.is(properties.status.type, 'short')
  assert.is(properties.geoip.properties.location.type, 'geo_point')
  assert.is(properties.path.type, 'keyword')
  assert.is(properties.user_agent.properties.original.type, 'keyword')
  const settings = flatSettings(template.template.settings)
  assert.is(settings['index.lifecycle.name'], logsNames.policy, 'new weekly indices fall under the ILM policy')
  assert.is(settings['index.auto_expand_replicas'], '0-1', 'one replica once there are nodes for it (logs.nodes: 3)')
})

test('the error indices have their template too: no replica a single node cannot allocate, under their own ILM policy', () => {
  assert.equal(errorTemplate.index_patterns, ['nginx-error-*'])
  const settings = flatSettings(errorTemplate.template.settings)
  assert.is(settings['index.auto_expand_replicas'], '0-1', 'a single node stays green (the yellow alert would fire for good)')
  assert.is(settings['index.number_of_shards'], '1')
  assert.is(settings['index.lifecycle.name'], logsNames.errorPolicy)
  const pipeline = readFileSync(new URL('../../stacks/logs/logstash.conf', import.meta.url), 'utf8')
  assert.match(pipeline, /index => "nginx-error-%\{\+xxxx\.ww\}"[\s\S]*?template => "\/usr\/share\/logstash\/templates\/nginx-error\.json"[\s\S]*?template_name => "nginx-error"/, 'Logstash installs it before the first error index')
})

test('a second run reads everything back and writes nothing, and says so', async () => {
  await setup()
  const writes = api.writes().length
  lines.length = 0
  const result = await setup()
  assert.is(api.writes().length, writes, `no write: ${api.writes().slice(writes).map((r) => `${r.method} ${r.url}`).join(', ')}`)
  assert.equal(result.written, [])
  assert.is(lines.at(-1), 'logs setup: everything was up to date; nothing written')
})

test('a changed logs.retention rewrites the ILM and SLM policies only', async () => {
  await setup()
  const writes = api.writes().length
  const result = await setup({ retention: '12w', nodes: 1 })
  assert.equal(api.writes().slice(writes).map((r) => `${r.method} ${r.url.split('?')[0]}`), ['PUT /_ilm/policy/nginx-access', 'PUT /_ilm/policy/nginx-error', 'PUT /_slm/policy/nginx-access-weekly'])
  assert.ok(result.written.includes('ILM policy nginx-access: updated (phases.delete.min_age: "63d" → "91d")'), result.written.join('\n'))
})

test('a template edited by hand in Elasticsearch is put back; a removed phase counts as a change', async () => {
  await setup()
  const stored = api.state.templates['nginx-access'] as { template: { mappings: { properties: Record<string, unknown> } } }
  stored.template.mappings.properties.extra = { type: 'text' }
  api.state.policies['nginx-access']!.policy = { ...api.state.policies['nginx-access']!.policy, phases: { ...(api.state.policies['nginx-access']!.policy.phases as object), warm: { actions: {} } } }
  const writes = api.writes().length
  await setup()
  assert.equal(api.writes().slice(writes).map((r) => `${r.method} ${r.url.split('?')[0]}`), ['PUT /_ilm/policy/nginx-access', 'PUT /_index_template/nginx-access'])
})

test('indices created before the policy existed are put under it', async () => {
  api.state.indices['nginx-access-2026.46'] = { docs: 1200, settings: {} }
  api.state.indices['nginx-access-2026.47'] = { docs: 900, settings: { 'index.lifecycle.name': 'nginx-access' } }
  api.state.indices['nginx-error-2026.46'] = { docs: 12, settings: {} }
  await setup()
  assert.equal(bodyOf('PUT', '/nginx-access-2026.46/_settings'), { 'index.lifecycle.name': 'nginx-access' })
  assert.is(api.state.indices['nginx-access-2026.46']!.settings['index.lifecycle.name'], 'nginx-access')
  assert.equal(bodyOf('PUT', '/nginx-error-2026.46/_settings'), { 'index.lifecycle.name': 'nginx-error' })
})

test('retention durations become days or hours, a week longer than asked so that a whole week is kept', () => {
  assert.is(esDuration('8w', 7), '63d')
  assert.is(esDuration('1y'), '365d')
  assert.is(esDuration('36h', 7), '204h')
})

test('a red cluster is refused before anything is written', async () => {
  api.state.health = 'red'
  const message = await failure(setup())
  assert.match(message, /^Elasticsearch at http:\/\/127\.0\.0\.1:\d+, checking the cluster health: cluster_red \(1 unassigned shards, 0 active primaries\); a primary shard is missing, so logs setup was not started: see GET _cluster\/allocation\/explain; nothing was changed$/)
  assert.equal(api.writes(), [])
})

test('401: says which credentials to give', async () => {
  fault = () => esError(401, 'security_exception', 'missing authentication credentials for REST request [/_cluster/health]', { 'www-authenticate': 'Basic realm="security" charset="UTF-8"' })
  const message = await failure(setup())
  assert.match(message, /^Elasticsearch at http:\/\/127\.0\.0\.1:\d+, reading the cluster health: answered 401 security_exception \(missing authentication credentials for REST request \[\/_cluster\/health\]\); it wants credentials: set ELASTICSEARCH_API_KEY_FILE, or ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD_FILE$/)
})

test('429: says it is overloaded and what to do, naming what was being done', async () => {
  fault = (request) => (request.url.startsWith('/_ilm') && request.method === 'PUT' ? esError(429, 'es_rejected_execution_exception', 'rejected execution of coordinating operation') : undefined)
  const message = await failure(setup())
  assert.match(message, /, writing ILM policy nginx-access: answered 429 es_rejected_execution_exception \(rejected execution of coordinating operation\); Elasticsearch is overloaded and rejected the request: retry later, or give it more heap \(ES_HEAP in the logs stack\)$/)
})

test('503 is retried by the client, then one line says to wait for a master', async () => {
  fault = () => esError(503, 'master_not_discovered_exception', null as unknown as string)
  const message = await failure(setup())
  assert.match(message, /reading the cluster health: answered 503 master_not_discovered_exception; the cluster has not elected a master: check that its nodes see each other \(docker service logs logs_elasticsearch\)$/)
  assert.is(api.requests.length, 2, 'one retry (maxRetries: 1)')
})

test('an address where nothing answers says to deploy the logs stack', async () => {
  await api.close()
  const message = await failure(setupLogs(connect({ url: api.url, maxRetries: 0 }), logs, () => {}))
  assert.match(message, /^Elasticsearch at http:\/\/127\.0\.0\.1:\d+, reading the cluster health: unreachable \(.*ECONNREFUSED.*\); is the logs stack deployed, and is this its address on the logs network\?$/)
  api = await startElasticsearchApi()
})

test('a server that is not Elasticsearch is named as such', async () => {
  fault = () => ({ status: 200, body: { status: 'green' } })
  const message = await failure(setup())
  assert.match(message, /not_elasticsearch \(the server did not say it is Elasticsearch \(no x-elastic-product header\)\); check the URL/)
})

test.run()
