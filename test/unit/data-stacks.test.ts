// What activity.yml's metrics:, logs: and backup: sections turn into in the stacks: variables, profiles and their
// overlays (VictoriaMetrics, three Elasticsearch nodes), the admin API kept internal, and the scheduled backup job.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseConfig } from '../../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { logsNames } from '../../scripts/data/logs-setup.ts'
import { dataProfiles, dataStackEnvironment } from '../../stacks/data-env.ts'
import { backupJobService, storesLeftOut } from '../../stacks/backup-job.ts'
import { isLeftOut } from '../../stacks/deploy/deploy.ts'
import { stackFiles } from '../../stacks/stacks.ts'
import { requireBinary } from '../support/servers.ts'

const test = suite('data settings in the stacks')
const root = new URL('../..', import.meta.url).pathname
const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
const yaml = (path: string) => parse(readFileSync(join(root, path), 'utf8'))
const config = (extra = '') => parseConfig(`sources:\n  dockerhub:\n    targets: [prom]\n${extra}`, 'activity.yml', collectors)

test('metrics retention and the long-term retention become the variables the stack files read', () => {
  assert.equal(dataStackEnvironment(config()), { METRICS_RETENTION: '1y', METRICS_RETENTION_SIZE: '0', LONGTERM_RETENTION: '5y' })
  assert.equal(dataStackEnvironment(config('metrics:\n  retention: 2y\n  retentionSize: 100GB\n  longTerm: {enabled: true, retention: 10y}\n')), { METRICS_RETENTION: '2y', METRICS_RETENTION_SIZE: '100GB', LONGTERM_RETENTION: '10y' })
  const metrics = yaml('stacks/metrics.yml').services.prometheus.command as string[]
  assert.ok(metrics.includes('--storage.tsdb.retention.time=${METRICS_RETENTION:-1y}'))
  assert.ok(metrics.includes('--storage.tsdb.retention.size=${METRICS_RETENTION_SIZE:-0}'))
  assert.ok((yaml('stacks/metrics.longterm.yml').services.victoriametrics.command as string[]).includes('-retentionPeriod=${LONGTERM_RETENTION:-5y}'))
})

test('longTerm.enabled and logs.nodes: 3 turn on the overlays of the stacks they change', () => {
  assert.equal(dataProfiles(config()), [])
  const profiles = dataProfiles(config('metrics:\n  longTerm: {enabled: true}\nlogs:\n  nodes: 3\n'))
  assert.equal(profiles, ['longterm', 'nodes3'])
  assert.equal(stackFiles('metrics', { root, profiles }).map((f) => f.slice(root.length)), ['stacks/metrics.yml', 'stacks/metrics.longterm.yml'])
  assert.equal(stackFiles('admin', { root, profiles }).map((f) => f.slice(root.length)), ['stacks/admin.yml', 'stacks/admin.longterm.yml'])
  assert.equal(stackFiles('logs', { root, profiles }).map((f) => f.slice(root.length)), ['stacks/logs.yml', 'stacks/logs.nodes3.yml'])
})

test('the longterm profile runs the pinned VictoriaMetrics and gives Prometheus the same config plus remote_write to it', () => {
  const overlay = yaml('stacks/metrics.longterm.yml')
  assert.is(overlay.services.victoriametrics.image, 'victoriametrics/victoria-metrics:v1.102.1')
  assert.is(overlay.configs.prometheus_longterm.file, './metrics/prometheus.longterm.yml')
  assert.equal(overlay.services.prometheus.configs, [{ source: 'prometheus_longterm', target: '/etc/prometheus/longterm/prometheus.yml' }])
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
    assert.match(rule, /&& !PathPrefix\(`\/api\/v1\/admin`\)$/, file)
  }
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
  assert.equal(job.volumes, ['metrics_prometheus-data:/stores/metrics_prometheus-data', 'monitoring_prometheus-data:/stores/monitoring_prometheus-data', 'metrics_pushgateway-data:/stores/metrics_pushgateway-data', 'backups:/backups'])
  assert.equal(storesLeftOut(() => false), [])
})

test.run()
