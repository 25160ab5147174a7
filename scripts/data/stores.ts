// Which stores a backup covers and where each one is: the platform's own (as the backup job sees them), or a stores
// file (YAML) for anything else: a restore from a manager's shell, a test, a platform run by hand.
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { z } from 'zod'
import { ConfigError } from '../../collectors/runtime/errors.ts'
import { elasticsearchStore } from './elasticsearch-store.ts'
import { postgresStore } from './postgres.ts'
import { prometheusStore } from './prometheus.ts'
import { pushgatewayStore } from './pushgateway.ts'
import { sqliteStore } from './sqlite.ts'
import type { Control, Store } from './store.ts'
import { commandControl, jobMounts, resolveVolumePath, serviceControl } from './swarm.ts'

const control = {
  /** A Swarm service scaled to 0 and back around the restore. */
  service: z.string().optional(),
  /** Or commands that stop and start whatever writes to the store. */
  stop: z.string().optional(),
  start: z.string().optional(),
}

const specSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('prometheus'), url: z.string().url(), data: z.string(), ...control }).strict(),
  z.object({ kind: z.literal('pushgateway'), url: z.string().url().optional(), file: z.string(), ...control }).strict(),
  z.object({ kind: z.literal('sqlite'), file: z.string(), url: z.string().url().optional(), ...control }).strict(),
  z.object({ kind: z.literal('postgres'), url: z.string().regex(/^postgres(ql)?:\/\/[^:@/]+@/, 'must be postgres://USER@HOST:PORT/DATABASE (the password goes in passwordFile)'), passwordFile: z.string().optional(), ...control }).strict(),
  z
    .object({
      kind: z.literal('elasticsearch'),
      url: z.string().url(),
      repository: z.string().optional(),
      repositoryPath: z.string().optional(),
      apiKeyFile: z.string().optional(),
      username: z.string().optional(),
      passwordFile: z.string().optional(),
      ...control,
    })
    .strict(),
])

export type StoreSpec = z.infer<typeof specSchema> & { name: string }

const nameSchema = z.string().regex(/^[a-z][a-z0-9-]*$/, 'must be lower case letters, digits and dashes')

/** Reads a stores file: a mapping of part names to specs. Every problem names the file and the field. */
export function readStoresFile(file: string): StoreSpec[] {
  let raw: unknown
  try {
    raw = parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new ConfigError(file, undefined, '(file)', (error as Error).message.split('\n')[0]!, 'pass --stores FILE with a YAML mapping of store names to their kind and address')
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, undefined, '(top level)', 'must be a mapping of store names', 'e.g. metrics: {kind: prometheus, url: ..., data: ...}')
  return Object.entries(raw as Record<string, unknown>).map(([name, value]) => {
    const named = nameSchema.safeParse(name)
    if (!named.success) throw new ConfigError(file, undefined, name, named.error.issues[0]!.message, 'rename it')
    const parsed = specSchema.safeParse(value)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      const field = [name, ...issue.path].join('.')
      if (issue.code === 'invalid_union_discriminator') throw new ConfigError(file, undefined, `${name}.kind`, 'is missing or unknown', 'kind is one of prometheus, pushgateway, sqlite, postgres, elasticsearch')
      if (issue.code === 'unrecognized_keys') throw new ConfigError(file, undefined, `${name}.${issue.keys[0]}`, 'unknown field', 'check its spelling')
      throw new ConfigError(file, undefined, field, issue.message.replace(/^Required$/, 'is missing'), undefined)
    }
    const spec = parsed.data
    if ((spec.stop === undefined) !== (spec.start === undefined)) throw new ConfigError(file, undefined, `${name}.${spec.stop ? 'start' : 'stop'}`, 'is missing', 'give both stop: and start:, or a service:')
    return { ...spec, name }
  })
}

/**
 * The platform's stores as the scheduled backup job sees them: services by their Swarm names on the overlay networks,
 * volumes mounted under /stores/<volume> (see backupJobService).
 */
export function platformStores(options: { grafana: 'sqlite' | 'postgres'; without?: readonly string[] }): StoreSpec[] {
  const at = (volume: string, path = '') => `${jobMounts.stores}/${volume}${path}`
  const all: StoreSpec[] = [
    { name: 'metrics', kind: 'prometheus', url: 'http://metrics_prometheus:9090', data: at('metrics_prometheus-data'), service: 'metrics_prometheus' },
    { name: 'monitoring', kind: 'prometheus', url: 'http://monitoring_prometheus:9090', data: at('monitoring_prometheus-data'), service: 'monitoring_prometheus' },
    { name: 'pushgateway', kind: 'pushgateway', url: 'http://metrics_pushgateway:9091', file: at('metrics_pushgateway-data', '/metrics.db'), service: 'metrics_pushgateway' },
    options.grafana === 'sqlite'
      ? { name: 'grafana', kind: 'sqlite', file: at('admin_grafana-data', '/grafana.db'), url: 'http://admin_grafana:3000/api/health', service: 'admin_grafana' }
      : { name: 'grafana', kind: 'postgres', url: 'postgres://grafana@admin_postgres:5432/grafana', passwordFile: '/run/secrets/postgres_password', service: 'admin_grafana' },
    { name: 'logs', kind: 'elasticsearch', url: 'http://logs_elasticsearch:9200', repositoryPath: at('logs_elasticsearch-snapshots') },
  ]
  return all.filter((spec) => !options.without?.includes(spec.name))
}

/** Turns specs into stores: volume: paths resolved through docker, service:/stop:/start: into a Control. */
export async function storesFrom(specs: StoreSpec[], options: { controls?: boolean } = {}): Promise<Store[]> {
  const stores: Store[] = []
  for (const spec of specs) {
    const controlOf = (): Control | undefined => {
      if (options.controls === false) return undefined
      if (spec.service) return serviceControl(spec.service)
      if (spec.stop && spec.start) return commandControl(spec.stop, spec.start)
      return undefined
    }
    const common = { name: spec.name, control: controlOf() }
    switch (spec.kind) {
      case 'prometheus':
        stores.push(prometheusStore({ ...common, url: spec.url, dataDir: await resolveVolumePath(spec.data) }))
        break
      case 'pushgateway':
        stores.push(pushgatewayStore({ ...common, url: spec.url, file: await resolveVolumePath(spec.file) }))
        break
      case 'sqlite':
        stores.push(sqliteStore({ ...common, url: spec.url, file: await resolveVolumePath(spec.file) }))
        break
      case 'postgres':
        stores.push(postgresStore({ ...common, url: spec.url, passwordFile: spec.passwordFile }))
        break
      case 'elasticsearch':
        stores.push(
          elasticsearchStore({
            ...common,
            elasticsearch: { url: spec.url, apiKeyFile: spec.apiKeyFile, username: spec.username, passwordFile: spec.passwordFile },
            repository: spec.repository,
            repositoryPath: spec.repositoryPath === undefined ? undefined : await resolveVolumePath(spec.repositoryPath),
          }),
        )
        break
    }
  }
  return stores
}
