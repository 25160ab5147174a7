// The thin Swarm adapter: a store's data in a named volume (volume:NAME), a service scaled to 0 and back around a
// restore, and the scheduled backup job's service definition for the collectors stack the gitops render writes.
import type { ActivityConfig } from '../../collectors/runtime/config.ts'
import { runProgram } from './programs.ts'
import type { Control } from './store.ts'

/** `volume:NAME/sub/path` as a path on this node (run on the manager that holds the volume, as root). */
export async function resolveVolumePath(spec: string): Promise<string> {
  const match = /^volume:([A-Za-z0-9][A-Za-z0-9_.-]*)(\/.*)?$/.exec(spec)
  if (!match) return spec
  const mountpoint = (await runProgram('docker', ['volume', 'inspect', '--format', '{{.Mountpoint}}', match[1]!])).trim()
  return mountpoint + (match[2] ?? '')
}

/** Scales a Swarm service to 0 (waiting until its tasks are gone) and back to the replicas it had. */
export function serviceControl(service: string): Control {
  let replicas = '1'
  return {
    describe: `service ${service}`,
    async stop() {
      const current = (await runProgram('docker', ['service', 'inspect', '--format', '{{if .Spec.Mode.Replicated}}{{.Spec.Mode.Replicated.Replicas}}{{end}}', service])).trim()
      if (current && current !== '0') replicas = current
      await runProgram('docker', ['service', 'scale', '--detach=false', `${service}=0`])
    },
    async start() {
      await runProgram('docker', ['service', 'scale', '--detach=false', `${service}=${replicas}`])
    },
  }
}

/** Stop and start commands of a store run by hand (systemd units, ...). */
export function commandControl(stop: string, start: string): Control {
  return {
    describe: `\`${stop}\` / \`${start}\``,
    stop: async () => void (await runProgram('sh', ['-c', stop])),
    start: async () => void (await runProgram('sh', ['-c', start])),
  }
}

/** Where the backup job mounts each store's volume, and the backups volume. */
export const jobMounts = {
  stores: '/stores',
  backups: '/backups',
} as const

/** The platform's volumes the backup job mounts (stack-prefixed names, as docker stack deploy creates them). */
export function backupVolumes(options: { grafana: 'sqlite' | 'postgres'; logs: boolean }): string[] {
  return [
    'metrics_prometheus-data',
    'monitoring_prometheus-data',
    'metrics_pushgateway-data',
    ...(options.grafana === 'sqlite' ? ['admin_grafana-data'] : []),
    ...(options.logs ? ['logs_elasticsearch-snapshots'] : []),
  ]
}

export interface BackupJobOptions {
  /** The collectors image (it holds the activity CLI, sqlite3, pg_dump and zstd). */
  image: string
  /** Profiles deployed (ACTIVITY_PROFILES): ha puts Grafana's database in Postgres. */
  profiles: readonly string[]
  /** Whether the logs stack is deployed (its snapshot is a part). */
  logs: boolean
}

export interface ComposeFragment {
  services: Record<string, unknown>
  volumes: Record<string, unknown>
  networks: Record<string, unknown>
  secrets: Record<string, unknown>
}

/**
 * The `backup` replicated-job service (and the volumes, networks and secrets it needs) to merge into the rendered
 * collectors stack. The gitops scheduler runs it on backup.schedule like a collector (label activity.schedule).
 */
export function backupJobService(config: ActivityConfig, options: BackupJobOptions): ComposeFragment {
  const grafana = options.profiles.includes('ha') ? 'postgres' : 'sqlite'
  const volumes = backupVolumes({ grafana, logs: options.logs })
  const command = ['data', 'backup', '--to', jobMounts.backups, '--keep', String(config.backup.keep), '--archive', config.backup.archive, '--grafana', grafana, ...(options.logs ? [] : ['--without', 'logs'])]
  const networks: Record<string, unknown> = {
    metrics: { name: 'activity_metrics', external: true },
    ...(options.logs ? { logs: { name: 'activity_logs', external: true } } : {}),
    ...(grafana === 'postgres' ? { database: { name: 'admin_database', external: true } } : {}),
  }
  return {
    services: {
      backup: {
        image: options.image,
        command,
        environment: { LOG_LEVEL: '${LOG_LEVEL:-info}' },
        volumes: [...volumes.map((volume) => `${volume}:${jobMounts.stores}/${volume}`), `backups:${jobMounts.backups}`],
        ...(grafana === 'postgres' ? { secrets: ['postgres_password'] } : {}),
        networks: Object.keys(networks),
        deploy: {
          mode: 'replicated-job',
          replicas: 1,
          // The volumes live on the manager that runs the stores.
          placement: { constraints: ['node.role == manager'] },
          restart_policy: { condition: 'none' },
          labels: { 'activity.job': 'backup', 'activity.schedule': config.backup.schedule },
          resources: { limits: { memory: '512M' } },
        },
      },
    },
    volumes: {
      ...Object.fromEntries(volumes.map((volume) => [volume, { name: volume, external: true }])),
      backups: { name: 'activity_backups' },
    },
    networks,
    secrets: grafana === 'postgres' ? { postgres_password: { external: true } } : {},
  }
}

/** The user the Elasticsearch image runs as: its snapshot folder must be theirs. */
export const elasticsearchUser = { uid: 1000, gid: 0 } as const

/**
 * Makes the logs stack's snapshot volume writable by Elasticsearch. A new named volume mounted where the image has no
 * folder belongs to root, and Elasticsearch (uid 1000) could not register the repository there. Run on the manager
 * holding the volume, as root, once the logs stack is deployed and before `activity logs setup`.
 */
export async function prepareElasticsearchSnapshots(volume = 'logs_elasticsearch-snapshots'): Promise<string> {
  const path = await resolveVolumePath(`volume:${volume}`)
  await runProgram('chown', [`${elasticsearchUser.uid}:${elasticsearchUser.gid}`, path])
  return path
}
