// What the user sets is what runs, on the real single-node Swarm: an activity.yml with a non-default value for every
// setting of the README's reference, and `npm run up` with ACTIVITY_PROFILES=ha and settings in its environment. Each
// running service spec (docker service inspect) and the running Prometheus servers carry the literal values written
// here; a second up changes nothing; gitops, pushed an unrelated change, leaves every spec as up made it, and refuses
// a commit that contradicts what up was given. Services with no stand-in here are checked on the spec resolveForDeploy
// hands `docker stack deploy`, and said to be NOT RUN HERE.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfig } from '../../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { serviceStates } from '../../stacks/deploy/converge.ts'
import type { ComposeService } from '../../stacks/deploy/deploy.ts'
import { dockerMaybe } from '../../stacks/deploy/docker.ts'
import { profileConfig, readProfile, resolveForDeploy } from '../../stacks/deploy/profile.ts'
import { cleanPlatform, cleanUp, gitopsAnswering, gitopsRemote, hostPorts, npmRun, platformRepo, platformServices, poll, root, serviceSpecs, type PlatformRepo, type Prepared, type ServiceSpec } from './platform.ts'
import { buildStandIn, pinnedImage, victoriaMetricsStandIn } from './standins.ts'

const test = suite('what activity.yml and npm run up set is what runs')
const log = (line: string) => process.stdout.write(`  ${line}\n`)
const echo = (line: string) => process.stdout.write(`    | ${line}\n`)

/** Every setting of the README's activity.yml reference, none at its default. Schedules fire once a year: no scheduled run changes a spec meanwhile. */
const activityYml = `platform:
  domain: settings.e2e.test

sources:
  github:
    schedule: "11 4 1 1 *"
    targets:
      - prometheus
      - grafana/grafana
  dockerhub:
    schedule: "12 4 1 1 *"
    targets:
      - prom
      - grafana/grafana

metrics:
  retention: 400d
  retentionSize: 7GB
  longTerm:
    enabled: true
    retention: 3y

logs:
  retention: 6w
  nodes: 3

backup:
  keep: 3
  schedule: "13 4 1 1 *"
  archive: tar.gz
`
/** What up is given besides: the ha profile, and settings activity.yml has no field for (and one it has, the same value). */
const upEnvironment = { ACTIVITY_PROFILES: 'ha', METRICS_RETENTION: '400d', MONITORING_RETENTION: '45d', ES_HEAP: '3g', LOG_LEVEL: 'warn' }
/** Stand-in of VictoriaMetrics (test/e2e/images/victoriametrics), built here: only this file runs the longterm profile. */
const victoriaStandIn = victoriaMetricsStandIn
const noStandIn = { 'admin_postgres-exporter': 'no stand-in (prometheuscommunity/postgres-exporter has no Debian package)' }

let prepared: Prepared | undefined
let repo: PlatformRepo | undefined
let overlay = ''
let upArgs: string[] = []
let upEnv: Record<string, string> = {}

const args = (spec: ServiceSpec) => spec.TaskTemplate.ContainerSpec.Args ?? []
const env = (spec: ServiceSpec) => Object.fromEntries((spec.TaskTemplate.ContainerSpec.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))

/** The spec version of every platform service: any update of a service (a deploy, a forced run) changes it. */
async function versions(): Promise<Record<string, string>> {
  const specs = await serviceSpecs()
  return Object.fromEntries([...specs].map(([name, spec]) => [name, JSON.stringify(spec)]).sort())
}

async function flagsOf(port: number): Promise<Record<string, string>> {
  return ((await (await fetch(`http://127.0.0.1:${port}/api/v1/status/flags`)).json()) as { data: Record<string, string> }).data
}

test.before(async () => {
  for (const [service, reason] of Object.entries(noStandIn)) log(`NOT RUN HERE: ${service}: ${reason}`)
  try {
    prepared = await cleanPlatform(log)
    log(`${victoriaStandIn.tag}: ${await buildStandIn(victoriaStandIn, log)}`)
    repo = await platformRepo({ 'activity.yml': activityYml })
    // Services the ha and longterm profiles add get no VIP here, like every other (test/e2e/overlay/README.md).
    overlay = mkdtempSync(join(tmpdir(), 'activity-e2e-settings-overlay-'))
    writeFileSync(join(overlay, 'metrics.yml'), 'version: "3.9"\nservices:\n  victoriametrics:\n    deploy: {endpoint_mode: dnsrr}\n')
    writeFileSync(join(overlay, 'admin.yml'), 'version: "3.9"\nservices:\n  postgres:\n    deploy: {endpoint_mode: dnsrr}\n')
    upArgs = [...prepared.upArgs, '--overlay', overlay, '--config', join(repo.path, 'activity.yml'), '--without', Object.keys(noStandIn).join(',')]
    upEnv = { ...prepared.env, ...upEnvironment }
  } catch (error) {
    log(`SETUP FAILED: ${(error as Error).stack ?? error}`)
    throw error
  }
})

test.after(async () => {
  await cleanUp(prepared, log)
  // The ha profile and settings recorded for gitops go too: the next up records its own.
  await dockerMaybe(['config', 'rm', profileConfig])
  repo?.remove()
  if (overlay) rmSync(overlay, { recursive: true, force: true })
})

test('up refuses a setting that activity.yml and its environment set differently, naming both, and deploys nothing', async () => {
  const run = await npmRun('up', upArgs, { ...upEnv, METRICS_RETENTION: '2y' }, echo)
  assert.is(run.code, 1)
  assert.match(run.output, /activity\.yml:17: metrics\.retention: 400d here, but npm run up was given METRICS_RETENTION=2y; keep one: remove metrics\.retention from activity\.yml, or run npm run up without METRICS_RETENTION/)
  assert.equal(await platformServices(), [], 'no service was deployed')
})

test('up deploys every setting: each running service spec carries the value written in activity.yml or given to up', async () => {
  const run = await npmRun('up', upArgs, upEnv, echo)
  log(`up with every setting: ${run.seconds.toFixed(1)} s`)
  assert.is(run.code, 0, 'npm run up exited non-zero')
  const specs = await serviceSpecs()
  const spec = (name: string) => {
    const found = specs.get(name)
    if (!found) throw new Error(`${name} is not deployed (deployed: ${[...specs.keys()].join(', ')})`)
    return found
  }

  // metrics.retention, metrics.retentionSize, metrics.longTerm.enabled, platform.domain: the metrics Prometheus.
  const metrics = args(spec('metrics_prometheus'))
  for (const flag of ['--storage.tsdb.retention.time=400d', '--storage.tsdb.retention.size=7GB', '--config.file=/etc/prometheus/longterm/prometheus.yml', '--web.external-url=https://prometheus.settings.e2e.test/']) {
    assert.ok(metrics.includes(flag), `metrics_prometheus runs with ${flag}: ${metrics.join(' ')}`)
  }
  assert.is(spec('metrics_prometheus').Labels!['traefik.http.routers.prometheus.rule'], 'Host(`prometheus.settings.e2e.test`) && !Path(`/api/v1/write`) && !PathPrefix(`/api/v1/admin`)')
  const metricsFlags = await poll('the metrics Prometheus to answer', () => flagsOf(hostPorts.metricsPrometheus).catch(() => undefined), 120_000)
  assert.is(metricsFlags['storage.tsdb.retention.time'], '400d', 'the running metrics Prometheus says so itself')
  assert.is(metricsFlags['storage.tsdb.retention.size'], '7GiB', 'Prometheus counts GB in powers of two')
  // metrics.longTerm.retention: VictoriaMetrics (a stand-in from Debian's package).
  assert.ok(args(spec('metrics_victoriametrics')).includes('-retentionPeriod=3y'), args(spec('metrics_victoriametrics')).join(' '))
  // MONITORING_RETENTION given to up: the monitoring Prometheus.
  assert.ok(args(spec('monitoring_prometheus')).includes('--storage.tsdb.retention.time=45d'))
  assert.is((await flagsOf(hostPorts.monitoringPrometheus))['storage.tsdb.retention.time'], '45d')
  // sources.*.schedule and LOG_LEVEL: the collector jobs; backup.*: the backup job.
  assert.is(spec('collectors_github').Labels!['activity.schedule'], '11 4 1 1 *')
  assert.is(spec('collectors_dockerhub').Labels!['activity.schedule'], '12 4 1 1 *')
  assert.is(env(spec('collectors_github')).LOG_LEVEL, 'warn')
  const backup = spec('collectors_backup')
  assert.is(backup.Labels!['activity.schedule'], '13 4 1 1 *')
  assert.equal(args(backup).slice(0, 8), ['data', 'backup', '--to', '/backups', '--keep', '3', '--archive', 'tar.gz'])
  assert.is(env(backup).LOG_LEVEL, 'warn')
  // ACTIVITY_PROFILES=ha: Grafana's Postgres runs.
  assert.is(spec('admin_postgres').TaskTemplate.ContainerSpec.Image.split('@')[0], pinnedImage('postgres'))
  const states = await serviceStates(['admin_postgres', 'metrics_victoriametrics', 'collectors_backup'])
  assert.equal(states.filter((s) => !s.ready).map((s) => `${s.name}: ${s.problem ?? 'not ready'}`), [], 'Postgres and VictoriaMetrics run, the backup job completed')
})

test('a second up changes nothing', async () => {
  const before = await versions()
  const run = await npmRun('up', upArgs, upEnv, echo)
  log(`no-change up: ${run.seconds.toFixed(1)} s`)
  assert.is(run.code, 0)
  assert.match(run.output, /up: nothing to change, the platform was already up/)
  assert.equal(await versions(), before, 'no service spec changed')
})

test('gitops, pushed an unrelated change, leaves every spec as up made it (ha and the settings of up included)', async () => {
  await gitopsAnswering()
  const before = await versions()
  const postgresTask = async () => (await serviceStates(['admin_postgres']))[0]?.tasks.find((t) => t.Status.State === 'running')?.ID
  const postgres = await postgresTask()
  assert.ok(postgres, 'Postgres runs before the push')
  const readme = readFileSync(join(repo!.path, 'README.md'), 'utf8')
  const pushed = await repo!.commitAndPush(gitopsRemote(prepared!), 'README: a line', { 'README.md': `${readme}\nEdited by the settings e2e.\n` })
  pushed.output.split('\n').filter(Boolean).forEach(echo)
  log(`first push to gitops: ${pushed.seconds.toFixed(1)} s`)
  assert.is(pushed.code, 0, 'the push is accepted')
  assert.not.match(pushed.output, /services deployed/, 'gitops deployed no stack anew')
  assert.equal(await versions(), before, 'every service spec is as up made it')
  assert.is(await postgresTask(), postgres, 'Postgres still runs, in the same task')
})

test('gitops refuses a commit whose activity.yml contradicts what up was given, naming both', async () => {
  const before = await versions()
  const pushed = await repo!.commitAndPush(gitopsRemote(prepared!), 'a longer retention', { 'activity.yml': activityYml.replace('retention: 400d', 'retention: 500d') })
  pushed.output.split('\n').filter(Boolean).forEach(echo)
  await repo!.git('reset', '-q', '--hard', 'HEAD~1')
  assert.is.not(pushed.code, 0, 'the push is refused')
  assert.match(pushed.output, /activity\.yml:17: metrics\.retention: 500d here, but npm run up was given METRICS_RETENTION=400d; keep one/)
  assert.equal(await versions(), before, 'nothing running changed')
})

test('NOT RUN HERE: services with no stand-in get their settings in the spec resolveForDeploy gives docker stack deploy', async () => {
  const recorded = await readProfile()
  assert.ok(recorded, `up recorded ${profileConfig}`)
  // As a swarm that runs them would deploy them: what up recorded (its profiles and settings), without this machine's
  // overlays (which give them no task) and with nothing left out.
  const profile = { ...recorded!, overlays: {}, without: [] }
  const config = loadConfig(join(repo!.path, 'activity.yml'), await loadCollectors(new URL('../../collectors/', import.meta.url)))
  const resolve = async (stack: 'admin' | 'logs') => (await resolveForDeploy(stack, { root, config, profile, tag: 'e2e', workDir: mkdtempSync(join(tmpdir(), `activity-e2e-${stack}-`)) })).compose.services!
  const service = (services: Record<string, ComposeService>, name: string) => services[name] as ComposeService & { environment: Record<string, string>; deploy: { replicas: number } }

  const logs = await resolve('logs')
  const elasticsearch = service(logs, 'elasticsearch')
  assert.is(elasticsearch.deploy.replicas, 3, 'logs.nodes: 3')
  assert.is(elasticsearch.environment['discovery.seed_hosts'], 'tasks.logs_elasticsearch')
  const placed = elasticsearch.deploy as unknown as { endpoint_mode: string; placement: { constraints: string[] } }
  assert.is(placed.endpoint_mode, 'dnsrr', 'each node publishes its task address (elastic/elasticsearch#20961)')
  assert.equal(placed.placement.constraints, ['node.labels.activity.elasticsearch == true'], 'logs.nodes: 3 go to the nodes labelled for them')
  assert.is(elasticsearch.environment.ES_JAVA_OPTS, '-Xms3g -Xmx3g', 'ES_HEAP given to up')
  assert.is(service(logs, 'kibana').environment.SERVER_PUBLICBASEURL, 'https://kibana.settings.e2e.test')
  log('NOT RUN HERE: logs_elasticsearch (logs.nodes: 3, ES_HEAP=3g), logs_kibana (platform.domain): checked on the resolved spec only (no stand-in)')
  log('NOT RUN HERE: logs.retention (6w) is the ILM policy activity logs setup installs where Elasticsearch runs; tested at the HTTP boundary in test/unit/logs-setup.test.ts')

  const admin = await resolve('admin')
  const grafana = service(admin, 'grafana')
  assert.is(grafana.environment.GF_DATABASE_TYPE, 'postgres', 'ACTIVITY_PROFILES=ha')
  assert.is(grafana.deploy.replicas, 2)
  assert.is(grafana.environment.GF_SERVER_ROOT_URL, 'https://grafana.settings.e2e.test/')
  assert.ok((grafana.configs as unknown as { target: string }[]).some((c) => c.target === '/etc/grafana/provisioning/datasources/victoriametrics.yml'), 'metrics.longTerm.enabled: the VictoriaMetrics datasource')
  assert.ok(admin['postgres-exporter'], 'ha: the Postgres exporter')
  log('NOT RUN HERE: admin_grafana (ha, metrics.longTerm.enabled, platform.domain), admin_postgres-exporter (ha): checked on the resolved spec only (no stand-in)')
})

test.run()
