// The collectors stack, rendered from activity.yml: one replicated-job service per source (and one more for a source
// whose collector has history), and the backup job.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { stringify } from 'yaml'
import type { ActivityConfig } from '../collectors/runtime/activity-yml.ts'
import { backupJobService } from './backup-job.ts'

/** First 8 hex digits of the SHA-256 of a file's bytes: the suffix that makes a changed config a new Swarm config. */
export function contentHash(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 8)
}

/** Where a collector task finds things; the names are the platform's contracts (see the metrics stack). */
export const collectorRuntime = {
  image: '${REGISTRY:-local.invalid}/activity/collectors:${ACTIVITY_TAG:?set by scripts/up to the package version and git commit}',
  configTarget: '/etc/activity/activity.yml',
  pushgateway: 'http://metrics_pushgateway:9091',
  /** The metrics Prometheus: history samples go to its remote-write receiver (tasks.<service> works without the Swarm VIP). */
  prometheus: 'http://tasks.metrics_prometheus:9090',
  network: 'activity_metrics',
} as const

/** Secrets a source's collector reads, by source name: mounted at /run/secrets/<secret>, announced in <env>. */
export const sourceSecrets: Record<string, { secret: string; env: string }[]> = {
  github: [{ secret: 'github_token', env: 'GITHUB_TOKEN_FILE' }],
}

/** The service of a source's history job: `<source>-history` (collectors_github-history in the swarm). */
export function historyJobName(source: string): string {
  return `${source}-history`
}

/** The image of the scheduled backup job: the gitops image has the data commands and the programs they run. */
export const backupJobImage = '${REGISTRY:-local.invalid}/activity/gitops:${ACTIVITY_TAG:?set by scripts/up to the package version and a hash of the sources}'

export interface CollectorsRenderOptions {
  endpointMode?: 'vip' | 'dnsrr'
  /** Adds the scheduled `backup` job (scripts/data/swarm.ts): the profiles deployed and the stores left out. */
  backup?: { profiles: readonly string[]; without: readonly string[] }
}

/**
 * The collectors stack for activity.yml: one `replicated-job` service per configured source, running
 * `activity collect <source>` once per deploy or scheduler run, and one `<source>-history` job running
 * `activity history <source>` for a source whose collector has history; no other services but the backup job.
 * The schedule is the service label activity.schedule, which the gitops scheduler reads.
 */
export function renderCollectors(config: ActivityConfig, options: CollectorsRenderOptions = {}): string {
  const activityFile = resolve(config.file)
  const hash = contentHash(activityFile)
  const services: Record<string, unknown> = {}
  const secrets: Record<string, unknown> = {}
  for (const source of config.sources) {
    const mounted = sourceSecrets[source.name] ?? []
    const environment: Record<string, string> = {
      ACTIVITY_CONFIG: collectorRuntime.configTarget,
      PUSHGATEWAY_URL: collectorRuntime.pushgateway,
      METRICS_PROMETHEUS_URL: collectorRuntime.prometheus,
      LOG_LEVEL: '${LOG_LEVEL:-info}',
    }
    for (const { secret, env } of mounted) {
      environment[env] = `/run/secrets/${secret}`
      secrets[secret] = { external: true }
    }
    const job = (command: string[], schedule: string, labels: Record<string, string>, env: Record<string, string>) => ({
      image: collectorRuntime.image,
      command,
      environment: env,
      configs: [{ source: 'activity', target: collectorRuntime.configTarget }],
      ...(mounted.length ? { secrets: mounted.map((m) => m.secret) } : {}),
      networks: ['metrics'],
      deploy: {
        mode: 'replicated-job',
        replicas: 1,
        // A failed run waits for its next scheduled run instead of hammering a rate-limited API.
        restart_policy: { condition: 'none' },
        labels: { 'activity.source': source.name, ...labels, 'activity.schedule': schedule },
        resources: { limits: { memory: '256M' } },
        // dnsrr for the Swarm e2e on machines without IPVS (test/e2e/overlay/README.md).
        ...(options.endpointMode ? { endpoint_mode: options.endpointMode } : {}),
      },
    })
    services[source.name] = job(['collect', source.name], source.schedule, {}, environment)
    // The source's past (stars since creation, ...): a job of its own, so a repository added to activity.yml gets its
    // history on the next run without any command, and a long backfill never delays the current values.
    if (source.collector.history) {
      const name = historyJobName(source.name)
      if (config.sources.some((s) => s.name === name)) throw new Error(`${config.file}: sources: a source named ${name} clashes with the history job of ${source.name}; rename it`)
      services[name] = job(['history', source.name], source.historySchedule, { 'activity.job': 'history' }, { ...environment, HISTORY_SCHEDULE: source.historySchedule })
    }
  }
  let networks: Record<string, unknown> = { metrics: { name: collectorRuntime.network, external: true } }
  let volumes: Record<string, unknown> = {}
  if (options.backup) {
    const job = backupJobService(config, { image: backupJobImage, pushgateway: collectorRuntime.pushgateway, ...options.backup })
    for (const [name, service] of Object.entries(job.services)) {
      if (services[name]) throw new Error(`${config.file}: sources: a source named ${name} clashes with the backup job; rename it`)
      services[name] = options.endpointMode ? { ...(service as object), deploy: { ...(service as { deploy: object }).deploy, endpoint_mode: options.endpointMode } } : service
    }
    networks = { ...networks, ...job.networks }
    volumes = job.volumes
    Object.assign(secrets, job.secrets)
  }
  const stack = {
    version: '3.9',
    services,
    networks,
    ...(Object.keys(volumes).length ? { volumes } : {}),
    configs: { activity: { name: `collectors_activity_${hash}`, file: activityFile } },
    ...(Object.keys(secrets).length ? { secrets } : {}),
  }
  const header = [
    `# collectors stack, rendered by \`activity render collectors\` from ${config.file} (content ${hash}).`,
    '# Never committed and never edited: change activity.yml, and the next deploy renders it again.',
    '',
  ].join('\n')
  return header + stringify(stack, { lineWidth: 0 })
}
