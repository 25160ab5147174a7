// `activity logs setup`: the index templates of the nginx access-log and error-log indices, their ILM policies (delete
// after logs.retention) and a weekly SLM snapshot of both, put into Elasticsearch only where they differ from what is
// there. A second run writes nothing.
import type { LogsConfig } from '../../collectors/runtime/activity-yml.ts'
import template from '../../stacks/logs/nginx-access-template.json' with { type: 'json' }
import errorTemplate from '../../stacks/logs/nginx-error-template.json' with { type: 'json' }
import { difference, flatSettings, requireHealthy, type Elasticsearch } from './elasticsearch.ts'
import type { Progress } from './files.ts'

/** Names the platform's Elasticsearch objects go by; the logs stack and Grafana rely on the index pattern. */
export const logsNames = {
  template: 'nginx-access',
  policy: 'nginx-access',
  /** The error-log indices (nginx-error-YYYY.WW): their own template and policy, the same retention. */
  errorTemplate: 'nginx-error',
  errorPolicy: 'nginx-error',
  /** Covers both kinds (its name is kept from when it covered the access log only). */
  snapshotPolicy: 'nginx-access-weekly',
  repository: 'activity-backups',
  /** The fs repository's folder inside the Elasticsearch container; listed in path.repo by the logs stack. */
  repositoryLocation: '/usr/share/elasticsearch/snapshots',
  /** Every index the platform writes: what the snapshots and backups take. */
  indices: 'nginx-access-*,nginx-error-*',
} as const

/** The two kinds of log index, each with its template, ILM policy and index pattern. */
const kinds = [
  { template: logsNames.template, policy: logsNames.policy, indices: 'nginx-access-*' },
  { template: logsNames.errorTemplate, policy: logsNames.errorPolicy, indices: 'nginx-error-*' },
] as const

/** A duration of activity.yml (8w, 90d, 1y, 36h) in a unit Elasticsearch reads (it has no weeks or years), plus `extraDays`. */
export function esDuration(duration: string, extraDays = 0): string {
  const match = /^(\d+)(h|d|w|y)$/.exec(duration)
  if (!match) throw new Error(`${duration}: not a duration such as 8w`)
  const n = Number(match[1])
  if (match[2] === 'h') return `${n + extraDays * 24}h`
  return `${n * { d: 1, w: 7, y: 365 }[match[2] as 'd' | 'w' | 'y'] + extraDays}d`
}

export interface LogsDefinitions {
  repository: { type: 'fs'; settings: { location: string; compress: boolean } }
  policy: { phases: Record<string, { min_age: string; actions: Record<string, Record<string, unknown>> }>; _meta: Record<string, string> }
  template: typeof template
  errorTemplate: typeof errorTemplate
  snapshotPolicy: {
    name: string
    schedule: string
    repository: string
    config: { indices: string[]; include_global_state: boolean; ignore_unavailable: boolean }
    retention: { expire_after: string; min_count: number; max_count: number }
  }
  /** What every existing index of a kind must have, by its ILM policy's name. */
  indexSettings: (policy: string) => Record<string, string>
}

/** What Elasticsearch should hold for the logs, from activity.yml's logs: section. */
export function logsDefinitions(logs: LogsConfig): LogsDefinitions {
  return {
    repository: { type: 'fs', settings: { location: logsNames.repositoryLocation, compress: true } },
    policy: {
      phases: {
        hot: { min_age: '0ms', actions: { set_priority: { priority: 100 } } },
        // A weekly index is created with the week's first request; waiting a week more keeps every request for at least logs.retention.
        delete: { min_age: esDuration(logs.retention, 7), actions: { delete: { delete_searchable_snapshot: true } } },
      },
      _meta: { managed_by: 'activity logs setup', retention: logs.retention },
    },
    template,
    errorTemplate,
    snapshotPolicy: {
      name: '<nginx-access-weekly-{now/d}>',
      schedule: '0 30 1 ? * SUN', // Sundays 01:30 UTC (Elasticsearch cron: seconds first)
      repository: logsNames.repository,
      config: { indices: logsNames.indices.split(','), include_global_state: false, ignore_unavailable: true },
      retention: { expire_after: esDuration(logs.retention, 7), min_count: 1, max_count: 520 },
    },
    indexSettings: (policy) => ({ 'index.lifecycle.name': policy }),
  }
}

export interface SetupResult {
  /** One entry per object written: "ILM policy nginx-access: created". */
  written: string[]
  upToDate: string[]
}

const isPhaseOrActions = (path: string[]) => (path.length === 1 && path[0] === 'phases') || (path.length === 3 && path[0] === 'phases' && path[2] === 'actions')
const isMappedFields = (path: string[]) => path[path.length - 1] === 'properties'

/** Puts what differs, in dependency order (repository before the SLM policy that uses it; ILM policy before the template naming it). */
export async function setupLogs(es: Elasticsearch, logs: LogsConfig, progress: Progress): Promise<SetupResult> {
  const want = logsDefinitions(logs)
  const result: SetupResult = { written: [], upToDate: [] }
  const health = await requireHealthy(es, 'logs setup')
  progress(`logs setup: Elasticsearch at ${es.url} is ${health}`)

  const record = (what: string, change: string | undefined, existed: boolean) => {
    if (change === undefined) {
      result.upToDate.push(what)
      progress(`logs setup: ${what}: up to date`)
    } else {
      const line = `${what}: ${existed ? `updated (${change})` : 'created'}`
      result.written.push(line)
      progress(`logs setup: ${line}`)
    }
  }

  // Snapshot repository
  const repositories = await es.find(`reading snapshot repository ${logsNames.repository}`, (c) => c.snapshot.getRepository({ name: logsNames.repository }))
  const repository = repositories?.[logsNames.repository]
  const repositoryChange = repository ? difference(want.repository, repository) : 'missing'
  if (repositoryChange) await es.call(`registering snapshot repository ${logsNames.repository}`, (c) => c.snapshot.createRepository({ name: logsNames.repository, repository: want.repository }))
  record(`snapshot repository ${logsNames.repository}`, repositoryChange, repository !== undefined)

  for (const kind of kinds) {
    // ILM policy
    const policies = await es.find(`reading ILM policy ${kind.policy}`, (c) => c.ilm.getLifecycle({ name: kind.policy }))
    const policy = policies?.[kind.policy]?.policy
    const policyChange = policy ? difference(want.policy, policy, isPhaseOrActions) : 'missing'
    if (policyChange) await es.call(`writing ILM policy ${kind.policy}`, (c) => c.ilm.putLifecycle({ name: kind.policy, policy: want.policy as never }))
    record(`ILM policy ${kind.policy}`, policyChange, policy !== undefined)

    // Index template
    const wanted = kind.template === logsNames.template ? want.template : want.errorTemplate
    const templates = await es.find(`reading index template ${kind.template}`, (c) => c.indices.getIndexTemplate({ name: kind.template }))
    const current = templates?.index_templates.find((t) => t.name === kind.template)?.index_template
    let templateChange: string | undefined = 'missing'
    if (current) {
      const { settings: wantSettings, ...wantRest } = wanted.template
      const { settings: haveSettings, ...haveRest } = current.template ?? {}
      templateChange =
        difference(flatSettings(wantSettings), flatSettings(haveSettings), () => true, ['template', 'settings']) ??
        difference({ ...wanted, template: wantRest }, { ...current, template: haveRest }, isMappedFields)
    }
    if (templateChange) await es.call(`writing index template ${kind.template}`, (c) => c.indices.putIndexTemplate({ name: kind.template, ...(wanted as object) }))
    record(`index template ${kind.template}`, templateChange, current !== undefined)
  }

  // SLM policy
  const snapshotPolicies = await es.find(`reading SLM policy ${logsNames.snapshotPolicy}`, (c) => c.slm.getLifecycle({ policy_id: logsNames.snapshotPolicy }))
  const snapshotPolicy = snapshotPolicies?.[logsNames.snapshotPolicy]?.policy
  const snapshotChange = snapshotPolicy ? difference(want.snapshotPolicy, snapshotPolicy) : 'missing'
  if (snapshotChange) await es.call(`writing SLM policy ${logsNames.snapshotPolicy}`, (c) => c.slm.putLifecycle({ policy_id: logsNames.snapshotPolicy, ...want.snapshotPolicy }))
  record(`SLM policy ${logsNames.snapshotPolicy}`, snapshotChange, snapshotPolicy !== undefined)

  // Indices created before the template named the policy
  for (const kind of kinds) {
    const indexSettings = want.indexSettings(kind.policy)
    const settings = await es.call(`reading the settings of ${kind.indices}`, (c) =>
      c.indices.getSettings({ index: kind.indices, name: Object.keys(indexSettings), flat_settings: true, allow_no_indices: true, expand_wildcards: 'open' }),
    )
    const behind = Object.entries(settings)
      .filter(([, value]) => difference(indexSettings, flatSettings(value.settings ?? {})) !== undefined)
      .map(([index]) => index)
      .sort()
    if (behind.length) {
      await es.call(`applying ILM policy ${kind.policy} to ${behind.length} indices`, (c) => c.indices.putSettings({ index: behind.join(','), settings: indexSettings }))
      result.written.push(`indices ${behind.join(', ')}: ILM policy ${kind.policy} applied`)
      progress(`logs setup: indices ${behind.join(', ')}: ILM policy ${kind.policy} applied`)
    } else {
      result.upToDate.push(`existing ${kind.indices} indices`)
    }
  }

  progress(result.written.length ? `logs setup: ${result.written.length} written, ${result.upToDate.length} up to date` : 'logs setup: everything was up to date; nothing written')
  return result
}
