// What activity.yml's settings and what `npm run up` was given turn into in the stacks that up and gitops deploy: the
// resolved specs (resolveForDeploy, through the Docker CLI's own `docker stack config`) carry the literal values
// written here; a setting set twice, differently, is refused naming both; the profiles' overlays; the admin API kept
// internal; and the scheduled backup job.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfig, parseConfig } from '../../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { logsNames } from '../../scripts/data/logs-setup.ts'
import { backupJobService, storesLeftOut } from '../../stacks/backup-job.ts'
import { isLeftOut, type ComposeFile, type ComposeService } from '../../stacks/deploy/deploy.ts'
import { defaultProfile, resolveForDeploy } from '../../stacks/deploy/profile.ts'
import { requireBinary, tempDir } from '../support/servers.ts'

const test = suite('data settings in the stacks')
const root = new URL('../..', import.meta.url).pathname
const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
const yaml = (path: string) => parse(readFileSync(join(root, path), 'utf8'))
const config = (extra = '') => parseConfig(`sources:\n  dockerhub:\n    targets: [prom]\n${extra}`, 'activity.yml', collectors)

const work = tempDir('data-stacks')
test.after(() => work.remove())
let written = 0

/** What up (or gitops) would hand `docker stack deploy` for `stack`, with this activity.yml and what up was given. */
async function resolved(stack: 'admin' | 'metrics' | 'logs' | 'monitoring' | 'collectors', activity: string, given: { profiles?: string[]; settings?: Record<string, string> } = {}): Promise<ComposeFile> {
  const file = join(work.path, `activity-${++written}.yml`)
  writeFileSync(file, `sources:\n  github:\n    schedule: "41 5 * * *"\n    targets: [prometheus]\n${activity}`)
  const config = loadConfig(file, collectors)
  const profile = { ...defaultProfile('registry.test:5000'), profiles: given.profiles ?? [], settings: given.settings ?? {} }
  const stackDir = mkdtempSync(join(work.path, `${stack}-`))
  return (await resolveForDeploy(stack, { root, config, profile, tag: '1.0.0-test', workDir: stackDir })).compose
}
const service = (compose: ComposeFile, name: string) => compose.services![name] as ComposeService & { command: string[]; environment: Record<string, string> }

/** The message of what `run` throws. */
async function refusal(run: () => Promise<unknown>): Promise<string> {
  try {
    await run()
  } catch (error) {
    return (error as Error).message
  }
  throw new Error('expected a refusal, and it was deployed')
}

test('metrics.retention, retentionSize and longTerm reach the flags of Prometheus and VictoriaMetrics as written', async () => {
  const compose = await resolved('metrics', 'metrics:\n  retention: 400d\n  retentionSize: 7GB\n  longTerm:\n    enabled: true\n    retention: 3y\n')
  const prometheus = service(compose, 'prometheus').command
  assert.ok(prometheus.includes('--storage.tsdb.retention.time=400d'), prometheus.join(' '))
  assert.ok(prometheus.includes('--storage.tsdb.retention.size=7GB'), prometheus.join(' '))
  assert.ok(prometheus.includes('--config.file=/etc/prometheus/longterm/prometheus.yml'), 'longTerm.enabled: Prometheus writes to VictoriaMetrics')
  assert.ok(service(compose, 'victoriametrics').command.includes('-retentionPeriod=3y'))

  const defaults = await resolved('metrics', '')
  assert.ok(service(defaults, 'prometheus').command.includes('--storage.tsdb.retention.time=1y'), 'a year by default (README)')
  assert.ok(service(defaults, 'prometheus').command.includes('--storage.tsdb.retention.size=0'), 'no size limit by default')
  assert.not.ok(defaults.services!.victoriametrics, 'no VictoriaMetrics unless longTerm.enabled')
})

test("what up was given reaches its services, and the deployer's own environment does not", async () => {
  const saved = { ...process.env }
  Object.assign(process.env, { METRICS_RETENTION: '9y', MONITORING_RETENTION: '9y', ACTIVITY_PROFILES: 'ha', LOG_LEVEL: 'debug' })
  try {
    const plain = await resolved('metrics', '')
    assert.ok(service(plain, 'prometheus').command.includes('--storage.tsdb.retention.time=1y'), 'METRICS_RETENTION of this process is not read')
    assert.ok(service(await resolved('monitoring', ''), 'prometheus').command.includes('--storage.tsdb.retention.time=30d'), 'MONITORING_RETENTION of this process is not read')
    assert.is(service(await resolved('collectors', ''), 'github').environment.LOG_LEVEL, 'info', 'LOG_LEVEL of this process is not read')
    assert.not.ok((await resolved('admin', '')).services!.postgres, 'ACTIVITY_PROFILES of this process is not read')

    const settings = { METRICS_RETENTION: '2y', MONITORING_RETENTION: '45d', ES_HEAP: '3g', LOG_LEVEL: 'warn' }
    const metrics = await resolved('metrics', '', { settings })
    assert.ok(service(metrics, 'prometheus').command.includes('--storage.tsdb.retention.time=2y'), 'activity.yml is silent: what up was given applies')
    assert.ok(service(await resolved('monitoring', '', { settings }), 'prometheus').command.includes('--storage.tsdb.retention.time=45d'))
    assert.is(service(await resolved('logs', '', { settings }), 'elasticsearch').environment.ES_JAVA_OPTS, '-Xms3g -Xmx3g')
    const collectors = await resolved('collectors', '', { settings })
    assert.is(service(collectors, 'github').environment.LOG_LEVEL, 'warn')
    assert.is(service(collectors, 'backup').environment.LOG_LEVEL, 'warn')

    const admin = await resolved('admin', '', { profiles: ['ha'] })
    assert.is(admin.services!.postgres?.image, 'postgres:15.19')
    assert.is(service(admin, 'grafana').environment.GF_DATABASE_TYPE, 'postgres')
  } finally {
    for (const name of ['METRICS_RETENTION', 'MONITORING_RETENTION', 'ACTIVITY_PROFILES', 'LOG_LEVEL']) {
      if (saved[name] === undefined) delete process.env[name]
      else process.env[name] = saved[name]
    }
  }
})

test('a setting that activity.yml and up both set, differently, is refused naming both; the same value is accepted', async () => {
  const retention = 'metrics:\n  retention: 400d\n'
  assert.is(
    await refusal(() => resolved('metrics', retention, { settings: { METRICS_RETENTION: '2y' } })),
    `${join(work.path, `activity-${written}.yml`)}:6: metrics.retention: 400d here, but npm run up was given METRICS_RETENTION=2y; keep one: remove metrics.retention from activity.yml, or run npm run up without METRICS_RETENTION`,
  )
  const same = await resolved('metrics', retention, { settings: { METRICS_RETENTION: '400d' } })
  assert.ok(service(same, 'prometheus').command.includes('--storage.tsdb.retention.time=400d'))
  assert.match(await refusal(() => resolved('metrics', 'metrics:\n  longTerm: {enabled: false}\n', { profiles: ['longterm'] })), /:6: metrics\.longTerm\.enabled: false here, but npm run up was given ACTIVITY_PROFILES=longterm; keep one: remove metrics\.longTerm\.enabled from activity\.yml, or run npm run up without longterm in ACTIVITY_PROFILES$/)
  assert.match(await refusal(() => resolved('logs', 'logs:\n  nodes: 1\n', { profiles: ['nodes3'] })), /:6: logs\.nodes: 1 here, but npm run up was given ACTIVITY_PROFILES=nodes3;/)
})

test('a profile no stack has, or a setting value a service cannot take, is refused before anything is deployed', async () => {
  assert.is(
    await refusal(() => resolved('admin', '', { profiles: ['hx'] })),
    "the environment of npm run up: ACTIVITY_PROFILES: 'hx' is not a profile of any stack (no stacks/<stack>.hx.yml); use ha, longterm, nodes3, or leave it out",
  )
  assert.is(await refusal(() => resolved('metrics', '', { settings: { METRICS_RETENTION: '2 years' } })), "the environment of npm run up: METRICS_RETENTION: '2 years' must be a number and a unit (h, d, w or y); e.g. METRICS_RETENTION=2y")
  assert.is(await refusal(() => resolved('logs', '', { settings: { ES_HEAP: '3GB' } })), "the environment of npm run up: ES_HEAP: '3GB' must be a JVM heap size in m or g; e.g. ES_HEAP=2g")
  assert.is(await refusal(() => resolved('collectors', '', { settings: { LOG_LEVEL: 'verbose' } })), "the environment of npm run up: LOG_LEVEL: 'verbose' must be debug, info, warn or error; e.g. LOG_LEVEL=warn")
})

test('longTerm.enabled and logs.nodes: 3 turn on the overlays of the stacks they change, Grafana included', async () => {
  const settings = 'metrics:\n  longTerm: {enabled: true}\nlogs:\n  nodes: 3\n'
  const grafana = service(await resolved('admin', settings), 'grafana')
  assert.ok((grafana.configs as unknown as { target: string }[]).some((c) => c.target === '/etc/grafana/provisioning/datasources/victoriametrics.yml'))
  const elasticsearch = service(await resolved('logs', settings), 'elasticsearch')
  const deploy = elasticsearch.deploy as { replicas: number; endpoint_mode: string; placement: { constraints: string[]; max_replicas_per_node: number } }
  assert.is(deploy.replicas, 3)
  assert.is(elasticsearch.environment['discovery.seed_hosts'], 'tasks.logs_elasticsearch')
  // Each node publishes its own task address, not the service's VIP (elastic/elasticsearch#20961).
  assert.is(deploy.endpoint_mode, 'dnsrr')
  // On the three nodes labelled for them, one each, not all on the one storage node.
  assert.equal(deploy.placement.constraints, ['node.labels.activity.elasticsearch == true'])
  assert.is(deploy.placement.max_replicas_per_node, 1)
  // One node: on the storage node, with the other stores and where the backup job mounts the snapshot volume.
  const single = service(await resolved('logs', ''), 'elasticsearch').deploy as { endpoint_mode?: string; placement: { constraints: string[] } }
  assert.equal(single.placement.constraints, ['node.labels.activity.storage == true'])
  const job = backupJobService(config(), { image: 'x', profiles: [], without: [] }).services.backup as { deploy: { placement: { constraints: string[] } } }
  assert.equal(job.deploy.placement.constraints, single.placement.constraints, 'the backup job mounts the snapshot volume on the node Elasticsearch uses')
  // up's ACTIVITY_PROFILES may turn them on too, where activity.yml is silent.
  assert.ok(service(await resolved('metrics', '', { profiles: ['longterm'] }), 'victoriametrics'))
})

test('platform.domain, the sources schedules and backup: reach the services; the jobs see only sources:', async () => {
  const settings = 'platform:\n  domain: activity.example.org\nbackup:\n  keep: 3\n  schedule: "17 4 * * 6"\n  archive: tar.gz\n'
  const prometheus = service(await resolved('metrics', settings), 'prometheus')
  assert.ok(prometheus.command.includes('--web.external-url=https://prometheus.activity.example.org/'))
  assert.ok((prometheus.deploy!.labels as Record<string, string>)['traefik.http.routers.prometheus.rule']!.startsWith('Host(`prometheus.activity.example.org`)'))
  const collectors = await resolved('collectors', settings)
  assert.is((service(collectors, 'github').deploy!.labels as Record<string, string>)['activity.schedule'], '41 5 * * *')
  const backup = service(collectors, 'backup')
  assert.is((backup.deploy!.labels as Record<string, string>)['activity.schedule'], '17 4 * * 6')
  assert.equal(backup.command.slice(0, 8), ['data', 'backup', '--to', '/backups', '--keep', '3', '--archive', 'tar.gz'])
  // The jobs' copy of activity.yml holds sources: alone, so retention or comments leave the collectors stack as it is.
  const config = Object.values(collectors.configs!)[0]!
  assert.equal(parse(readFileSync(config.file!, 'utf8')), { sources: { github: { schedule: '41 5 * * *', targets: ['prometheus'] } } })
})

test('the longterm profile runs the pinned VictoriaMetrics and gives Prometheus the same config plus remote_write to it', () => {
  const overlay = yaml('stacks/metrics.longterm.yml')
  assert.is(overlay.services.victoriametrics.image, 'victoriametrics/victoria-metrics:v1.150.0')
  assert.is(overlay.configs.prometheus_longterm.file, './metrics/prometheus.longterm.yml')
  assert.equal(overlay.services.prometheus.configs, [
    { source: 'prometheus_longterm', target: '/etc/prometheus/longterm/prometheus.yml' },
    { source: 'rules', target: '/etc/prometheus/longterm/rules.yml' },
  ])
  const baseService = yaml('stacks/metrics.yml').services.prometheus
  assert.is(overlay.services.prometheus.image, baseService.image)
  assert.equal(
    overlay.services.prometheus.command,
    (baseService.command as string[]).map((flag) => (flag.startsWith('--config.file=') ? '--config.file=/etc/prometheus/longterm/prometheus.yml' : flag)),
    'the same flags as metrics.yml, but the config',
  )
  const base = yaml('stacks/metrics/prometheus.yml')
  const { remote_write: remoteWrite, ...rest } = yaml('stacks/metrics/prometheus.longterm.yml')
  assert.equal(rest, base, 'prometheus.longterm.yml is prometheus.yml with remote_write added: keep them equal')
  assert.is(remoteWrite[0].url, 'http://metrics_victoriametrics:8428/api/v1/write')
  const check = spawnSync(requireBinary('promtool', 'prometheus'), ['check', 'config', join(root, 'stacks/metrics/prometheus.longterm.yml')], { encoding: 'utf8' })
  assert.is(check.status, 0, check.stdout + check.stderr)
})

test('with the longterm profile, Grafana has a victoriametrics datasource pointing at it', () => {
  const overlay = yaml('stacks/admin.longterm.yml')
  assert.equal(overlay.services.grafana.configs, [{ source: 'grafana_datasources_longterm', target: '/etc/grafana/provisioning/datasources/victoriametrics.yml' }])
  const [datasource] = yaml('stacks/admin/grafana/datasources.longterm.yml').datasources
  assert.equal([datasource.uid, datasource.type, datasource.url], ['victoriametrics', 'prometheus', 'http://metrics_victoriametrics:8428'])
})

test('three Elasticsearch nodes find each other through the Swarm tasks of the service', () => {
  const elasticsearch = yaml('stacks/logs.nodes3.yml').services.elasticsearch
  assert.is(elasticsearch.environment['discovery.seed_hosts'], 'tasks.logs_elasticsearch')
  assert.is(elasticsearch.environment['discovery.type'], 'multi-node', 'replaces single-node of logs.yml')
  assert.is(elasticsearch.environment['cluster.initial_master_nodes'], 'es-1,es-2,es-3')
  assert.is(elasticsearch.environment['node.name'], 'es-{{.Task.Slot}}')
  assert.is(elasticsearch.deploy.replicas, 3)
  assert.is(elasticsearch.deploy.placement.max_replicas_per_node, 1)
})

test("the Prometheus admin APIs are on for snapshots and never routed through Traefik; Elasticsearch's repository folder is path.repo", () => {
  for (const [file, router] of [['stacks/metrics.yml', 'prometheus'], ['stacks/monitoring.yml', 'monitoring']] as const) {
    const prometheus = yaml(file).services.prometheus
    assert.ok((prometheus.command as string[]).includes('--web.enable-admin-api'), file)
    const rule = (prometheus.deploy.labels as string[]).find((l) => l.startsWith(`traefik.http.routers.${router}.rule=`))!
    assert.match(rule, /&& !PathPrefix\(`\/api\/v1\/admin`\)( && |$)/, file)
  }
  // The metrics Prometheus takes history by remote write from the metrics network only.
  const metrics = yaml('stacks/metrics.yml').services.prometheus
  assert.ok((metrics.command as string[]).includes('--web.enable-remote-write-receiver'))
  assert.match((metrics.deploy.labels as string[]).find((l) => l.startsWith('traefik.http.routers.prometheus.rule='))!, /&& !Path\(`\/api\/v1\/write`\) &&/)
  const logs = yaml('stacks/logs.yml').services.elasticsearch
  assert.is(logs.environment['path.repo'], logsNames.repositoryLocation)
  assert.ok((logs.volumes as string[]).includes(`elasticsearch-snapshots:${logsNames.repositoryLocation}`))
})

test('the backup job is a replicated-job on the backup schedule, mounting the stores it backs up', () => {
  const fragment = backupJobService(config('backup:\n  keep: 3\n  schedule: "15 2 * * *"\n  archive: tar.zst\n'), { image: 'registry/activity/gitops:1', profiles: [], without: [] })
  const job = fragment.services.backup as { entrypoint: string[]; command: string[]; volumes: string[]; networks: string[]; deploy: { mode: string; labels: Record<string, string>; restart_policy: unknown } }
  assert.is(job.deploy.mode, 'replicated-job')
  assert.is(job.deploy.labels['activity.schedule'], '15 2 * * *')
  assert.equal(job.deploy.restart_policy, { condition: 'none' })
  assert.equal(job.command, ['data', 'backup', '--to', '/backups', '--keep', '3', '--archive', 'tar.zst', '--grafana', 'sqlite'])
  assert.ok(job.volumes.includes('metrics_prometheus-data:/stores/metrics_prometheus-data'))
  assert.ok(job.volumes.includes('logs_elasticsearch-snapshots:/stores/logs_elasticsearch-snapshots'))
  assert.equal(fragment.volumes['metrics_prometheus-data'], { name: 'metrics_prometheus-data', external: true })
  assert.equal(job.networks, ['metrics', 'monitoring', 'logs'])
  assert.equal(job.entrypoint, ['node', '/app/dist/scripts/activity.js'], 'the gitops image runs the activity CLI, not the gitops service')

  // Rendered into the collectors stack, it reports each run to the Pushgateway with its schedule (the alert rules read it).
  const reporting = backupJobService(config('backup:\n  schedule: "15 2 * * *"\n'), { image: 'x', profiles: [], without: [], pushgateway: 'http://metrics_pushgateway:9091' })
  assert.equal((reporting.services.backup as { command: string[] }).command.slice(-4), ['--pushgateway', 'http://metrics_pushgateway:9091', '--schedule', '15 2 * * *'])

  const ha = backupJobService(config(), { image: 'x', profiles: ['ha'], without: ['logs'] })
  const haJob = ha.services.backup as { command: string[]; secrets: string[]; networks: string[] }
  assert.equal(haJob.command.slice(-4), ['--grafana', 'postgres', '--without', 'logs'])
  assert.equal(haJob.secrets, ['postgres_password'])
  assert.equal(haJob.networks, ['metrics', 'monitoring', 'database'])
  assert.not.ok(Object.keys(ha.volumes).includes('admin_grafana-data'))
})

test("the stores up --without leaves out are the ones whose service it names, and the backup job mounts none of theirs", () => {
  const without = ['admin_grafana', 'logs_elasticsearch', 'kibana']
  const leftOut = storesLeftOut((stack, service) => isLeftOut(stack, service, without))
  assert.equal(leftOut, ['grafana', 'logs'])
  const job = backupJobService(config(), { image: 'x', profiles: [], without: leftOut }).services.backup as { volumes: string[] }
  assert.equal(job.volumes, ['metrics_prometheus-data:/stores/metrics_prometheus-data', 'monitoring_prometheus-data:/stores/monitoring_prometheus-data', 'metrics_pushgateway-data:/stores/metrics_pushgateway-data', 'gitops_gitops-state:/stores/gitops_gitops-state', 'backups:/backups'])
  assert.equal(storesLeftOut(() => false), [])
})

test('the collectors\' settings up was given reach each source\'s job and its history job', async () => {
  const file = join(work.path, `activity-${++written}.yml`)
  writeFileSync(file, 'sources:\n  github:\n    targets: [prometheus]\n  dockerhub:\n    targets: [prom]\n')
  const collectorSettings = { GITHUB_API_URL: 'https://ghe.example/api/v3', GITHUB_HISTORY_BUDGET_PERCENT: '35' }
  const profile = { ...defaultProfile('registry.test:5000'), collectorSettings }
  const compose = (await resolveForDeploy('collectors', { root, config: loadConfig(file, collectors), profile, tag: '1.0.0-test', workDir: mkdtempSync(join(work.path, 'collectors-')) })).compose
  for (const name of ['github', 'github-history', 'dockerhub']) {
    assert.is(service(compose, name).environment.GITHUB_API_URL, 'https://ghe.example/api/v3', name)
    assert.is(service(compose, name).environment.GITHUB_HISTORY_BUDGET_PERCENT, '35', name)
  }
})

test.run()
