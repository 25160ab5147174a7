// The scheduled backup job's service definition, merged into the collectors stack that stacks/collectors-stack.ts
// renders; and where each store of the platform lives (its stack, service and volume).
import type { ActivityConfig } from '../collectors/runtime/activity-yml.ts'

/** Where the backup job mounts each store's volume, and the backups volume. */
export const jobMounts = {
  stores: '/stores',
  backups: '/backups',
} as const

/** Where each store of a backup (by its part name) lives: the stack service that runs it, and its volume (stack-prefixed, as docker stack deploy names it). */
const platformStoreHomes: Record<string, { stack: string; service: string; volume: string }> = {
  metrics: { stack: 'metrics', service: 'prometheus', volume: 'metrics_prometheus-data' },
  monitoring: { stack: 'monitoring', service: 'prometheus', volume: 'monitoring_prometheus-data' },
  pushgateway: { stack: 'metrics', service: 'pushgateway', volume: 'metrics_pushgateway-data' },
  grafana: { stack: 'admin', service: 'grafana', volume: 'admin_grafana-data' },
  logs: { stack: 'logs', service: 'elasticsearch', volume: 'logs_elasticsearch-snapshots' },
  gitops: { stack: 'gitops', service: 'gitops', volume: 'gitops_gitops-state' },
}

/** The platform's volumes the backup job mounts: Grafana's only for its SQLite database; none of a store left out. */
export function backupVolumes(options: { grafana: 'sqlite' | 'postgres'; without?: readonly string[] }): string[] {
  return Object.entries(platformStoreHomes)
    .filter(([store]) => !(store === 'grafana' && options.grafana === 'postgres') && !options.without?.includes(store))
    .map(([, home]) => home.volume)
}

export interface BackupJobOptions {
  /** The image holding the activity CLI with its data commands, sqlite3, pg_dump, zstd and tar: the gitops image. */
  image: string
  /** Profiles deployed (ACTIVITY_PROFILES): ha puts Grafana's database in Postgres. */
  profiles: readonly string[]
  /** Stores not backed up because they do not run on this swarm (their services are left out): logs, grafana, ... */
  without: readonly string[]
  /** Where the job reports each run's health (job="backup"), as the collectors do; none: it reports nothing. */
  pushgateway?: string
}

export interface ComposeFragment {
  services: Record<string, unknown>
  volumes: Record<string, unknown>
  networks: Record<string, unknown>
  secrets: Record<string, unknown>
}

/** Stores of the platform whose services are left out by an `up --without` list (admin_grafana, logs_elasticsearch, ...). */
export function storesLeftOut(isLeftOut: (stack: string, service: string) => boolean): string[] {
  return Object.entries(platformStoreHomes).filter(([, home]) => isLeftOut(home.stack, home.service)).map(([store]) => store)
}

/**
 * The `backup` replicated-job service (and the volumes, networks and secrets it needs) to merge into the rendered
 * collectors stack. The gitops scheduler runs it on backup.schedule like a collector (label activity.schedule).
 */
export function backupJobService(config: ActivityConfig, options: BackupJobOptions): ComposeFragment {
  const grafana = options.profiles.includes('ha') ? 'postgres' : 'sqlite'
  const volumes = backupVolumes({ grafana, without: options.without })
  const logs = !options.without.includes('logs')
  const withGrafana = !options.without.includes('grafana')
  const command = [
    'data', 'backup', '--to', jobMounts.backups, '--keep', String(config.backup.keep), '--archive', config.backup.archive, '--grafana', grafana,
    ...options.without.flatMap((store) => ['--without', store]),
    ...(options.pushgateway ? ['--pushgateway', options.pushgateway, '--schedule', config.backup.schedule] : []),
  ]
  const networks: Record<string, unknown> = {
    metrics: { name: 'activity_metrics', external: true },
    monitoring: { name: 'activity_monitoring', external: true },
    ...(logs ? { logs: { name: 'activity_logs', external: true } } : {}),
    ...(grafana === 'postgres' && withGrafana ? { database: { name: 'admin_database', external: true } } : {}),
  }
  return {
    services: {
      backup: {
        image: options.image,
        entrypoint: ['node', '/app/dist/scripts/activity.js'],
        command,
        environment: { LOG_LEVEL: '${LOG_LEVEL:-info}' },
        volumes: [...volumes.map((volume) => `${volume}:${jobMounts.stores}/${volume}`), `backups:${jobMounts.backups}`],
        ...(grafana === 'postgres' && withGrafana ? { secrets: ['postgres_password'] } : {}),
        networks: Object.keys(networks),
        deploy: {
          mode: 'replicated-job',
          replicas: 1,
          // The stores' volumes live on the storage node (activity cluster init labels it; up labels its single node).
          placement: { constraints: ['node.labels.activity.storage == true'] },
          restart_policy: { condition: 'none' },
          // activity.converge=started: a deployment waits for the run to start, not to finish. A backup's Prometheus
          // snapshot waits for the TSDB's compaction, which takes minutes after a first history backfill (thousands of
          // one-day blocks: README, "Why remote write"); its outcome is reported by its health group and alerts.
          labels: { 'activity.job': 'backup', 'activity.schedule': config.backup.schedule, 'activity.converge': 'started' },
          resources: { limits: { memory: '512M' } },
        },
      },
    },
    volumes: {
      ...Object.fromEntries(volumes.map((volume) => [volume, { name: volume, external: true }])),
      backups: { name: 'activity_backups' },
    },
    networks,
    secrets: grafana === 'postgres' && withGrafana ? { postgres_password: { external: true } } : {},
  }
}

/**
 * The user the Elasticsearch image runs as: its snapshot folder must be theirs. A new named volume mounted where the
 * image has no folder belongs to root; the logs setup container (stacks/deploy/logs-setup.ts) hands it over.
 */
export const elasticsearchUser = { uid: 1000, gid: 0 } as const
