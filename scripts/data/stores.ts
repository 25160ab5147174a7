// Which stores a backup covers and where each one is: the platform's own (as the backup job sees them), or a stores
// file (YAML) for anything else: a restore from a manager's shell, a test, a platform run by hand.
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import * as v from 'valibot'
import { ConfigError } from '../../collectors/runtime/errors.ts'
import { check } from '../../collectors/runtime/schema.ts'
import { elasticsearchStore } from './elasticsearch-store.ts'
import { folderStore } from './folder.ts'
import { postgresStore } from './postgres.ts'
import { prometheusStore } from './prometheus.ts'
import { pushgatewayStore } from './pushgateway.ts'
import { sqliteStore } from './sqlite.ts'
import type { Control, Store } from './store.ts'
import { jobMounts } from '../../stacks/backup-job.ts'
import { commandControl, resolveVolumePath, serviceControl } from './swarm.ts'

const control = {
  /** A Swarm service scaled to 0 and back around the restore. */
  service: v.optional(v.string()),
  /** Or commands that stop and start whatever writes to the store. */
  stop: v.optional(v.string()),
  start: v.optional(v.string()),
}

const url = v.pipe(v.string(), v.url('must be a URL such as http://127.0.0.1:9090'))

const specSchema = v.variant('kind', [
  v.strictObject({ kind: v.literal('prometheus'), url, data: v.string(), ...control }),
  v.strictObject({ kind: v.literal('pushgateway'), url: v.optional(url), file: v.string(), ...control }),
  v.strictObject({ kind: v.literal('sqlite'), file: v.string(), url: v.optional(url), ...control }),
  v.strictObject({ kind: v.literal('folder'), path: v.string(), url: v.optional(url), ...control }),
  v.strictObject({ kind: v.literal('postgres'), url: v.pipe(v.string(), v.regex(/^postgres(ql)?:\/\/[^:@/]+@/, 'must be postgres://USER@HOST:PORT/DATABASE (the password goes in passwordFile)')), passwordFile: v.optional(v.string()), ...control }),
  v.strictObject({
    kind: v.literal('elasticsearch'),
    url,
    repository: v.optional(v.string()),
    repositoryPath: v.optional(v.string()),
    apiKeyFile: v.optional(v.string()),
    username: v.optional(v.string()),
    passwordFile: v.optional(v.string()),
    ...control,
  }),
])

export type StoreSpec = v.InferOutput<typeof specSchema> & { name: string }

const nameSchema = v.pipe(v.string(), v.regex(/^[a-z][a-z0-9-]*$/, 'must be lower case letters, digits and dashes'))

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
    const named = check(nameSchema, name)
    if (!named.ok) throw new ConfigError(file, undefined, name, named.problem.message, 'rename it')
    const parsed = check(specSchema, value)
    if (!parsed.ok) {
      const { path, message, missing, unknown } = parsed.problem
      const field = [name, ...path].join('.')
      if (path[0] === 'kind') throw new ConfigError(file, undefined, `${name}.kind`, 'is missing or unknown', 'kind is one of prometheus, pushgateway, sqlite, postgres, elasticsearch, folder')
      if (unknown) throw new ConfigError(file, undefined, field, 'unknown field', 'check its spelling')
      throw new ConfigError(file, undefined, field, missing ? 'is missing' : message, undefined)
    }
    const spec = parsed.value
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
    // gitops' clone, deploy state and deploy ledger.
    { name: 'gitops', kind: 'folder', path: at('gitops_gitops-state'), url: 'http://gitops_gitops:8080/healthz', service: 'gitops_gitops' },
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
      case 'folder':
        stores.push(folderStore({ ...common, path: await resolveVolumePath(spec.path), url: spec.url }))
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
