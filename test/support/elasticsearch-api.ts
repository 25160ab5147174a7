// A local server that answers as Elasticsearch 8 does, for the parts of its API the data commands use, and records
// every request. Elasticsearch cannot run on these machines; this is where its lifecycle code is tested.
// Answers follow Elasticsearch's documented shapes: GETs echo settings as strings, templates' settings nested under
// "index", ILM policies with defaults added (min_age, delete_searchable_snapshot), errors as {error: {type, reason}}.
import { startApiServer, type ApiServer, type RecordedRequest, type Reply } from './servers.ts'

export interface FakeIndex {
  docs: number
  settings: Record<string, string>
}

export interface FakeSnapshot {
  snapshot: string
  uuid: string
  indices: string[]
  state: 'SUCCESS' | 'IN_PROGRESS' | 'PARTIAL'
  /** The documents per index when it was taken. */
  docs: Record<string, number>
}

export interface ElasticsearchState {
  health: 'green' | 'yellow' | 'red'
  repositories: Record<string, { type: string; settings: Record<string, unknown> }>
  policies: Record<string, { version: number; policy: Record<string, unknown> }>
  templates: Record<string, Record<string, unknown>>
  snapshotPolicies: Record<string, { version: number; policy: Record<string, unknown> }>
  indices: Record<string, FakeIndex>
  snapshots: Record<string, FakeSnapshot[]>
  /** Snapshots IN_PROGRESS, listed by GET _snapshot/<repo>/_current until `finishAfter` more polls. */
  running: { repository: string; snapshot: string; finishAfter: number } | undefined
}

export function emptyElasticsearch(): ElasticsearchState {
  return { health: 'green', repositories: {}, policies: {}, templates: {}, snapshotPolicies: {}, indices: {}, snapshots: {}, running: undefined }
}

export interface ElasticsearchApi extends ApiServer {
  state: ElasticsearchState
  /** Requests that change something (PUT, POST, DELETE). */
  writes(): RecordedRequest[]
}

const product = { 'x-elastic-product': 'Elasticsearch' }

export function esError(status: number, type: string, reason: string, headers: Record<string, string> = {}): Reply {
  return { status, headers: { ...product, ...headers }, body: { error: { root_cause: [{ type, reason }], type, reason }, status } }
}

function ok(body: unknown): Reply {
  return { status: 200, headers: product, body }
}

function stringify(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stringify)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stringify(v)]))
  return value === undefined ? value : String(value)
}

/** Dotted or nested settings as Elasticsearch stores them: nested objects under "index", values as strings. */
function nestedSettings(settings: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const put = (path: string[], value: unknown) => {
    let at = out
    for (const key of path.slice(0, -1)) at = (at[key] ??= {}) as Record<string, unknown>
    at[path[path.length - 1]!] = value
  }
  const walk = (value: unknown, path: string[]) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) walk(v, [...path, ...k.split('.')])
    else put(path[0] === 'index' ? path : ['index', ...path], String(value))
  }
  walk(settings, [])
  return out
}

function flat(settings: Record<string, unknown>, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(settings)) {
    const name = prefix ? `${prefix}.${k}` : k
    if (v !== null && typeof v === 'object') Object.assign(out, flat(v as Record<string, unknown>, name))
    else out[name.startsWith('index.') ? name : `index.${name}`] = String(v)
  }
  return out
}

function matches(pattern: string, name: string): boolean {
  return pattern.split(',').some((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(name))
}

/** Adds what Elasticsearch adds to a stored ILM policy. */
function withIlmDefaults(policy: Record<string, unknown>): Record<string, unknown> {
  const phases = (policy.phases ?? {}) as Record<string, { min_age?: string; actions?: Record<string, Record<string, unknown>> }>
  const filled: Record<string, unknown> = {}
  for (const [name, phase] of Object.entries(phases)) {
    const actions = { ...(phase.actions ?? {}) }
    if (actions.delete) actions.delete = { delete_searchable_snapshot: true, ...actions.delete }
    filled[name] = { min_age: phase.min_age ?? '0ms', actions }
  }
  return { ...policy, phases: filled }
}

export async function startElasticsearchApi(state: ElasticsearchState = emptyElasticsearch(), fault?: (request: RecordedRequest) => Reply | undefined): Promise<ElasticsearchApi> {
  let uuid = 0
  const route = (request: RecordedRequest): Reply => {
    const injected = fault?.(request)
    if (injected) return injected
    const url = new URL(request.url, 'http://es')
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent)
    const body = request.body ? (JSON.parse(request.body) as Record<string, unknown>) : {}
    const method = request.method
    const [first, second, third, fourth] = parts

    if (first === '_cluster' && second === 'health') {
      const total = Object.keys(state.indices).length
      return ok({ cluster_name: 'activity', status: state.health, timed_out: false, number_of_nodes: 1, number_of_data_nodes: 1, active_primary_shards: state.health === 'red' ? Math.max(0, total - 1) : total, active_shards: total, relocating_shards: 0, initializing_shards: 0, unassigned_shards: state.health === 'green' ? 0 : 1 })
    }

    if (first === '_snapshot' && second && !third) {
      if (method === 'GET') {
        const repository = state.repositories[second]
        return repository ? ok({ [second]: { type: repository.type, settings: stringify(repository.settings) } }) : esError(404, 'repository_missing_exception', `[${second}] missing`)
      }
      if (method === 'PUT') {
        const { type, settings } = body as { type: string; settings: Record<string, unknown> }
        state.repositories[second] = { type, settings }
        return ok({ acknowledged: true })
      }
      if (method === 'DELETE') {
        if (!state.repositories[second]) return esError(404, 'repository_missing_exception', `[${second}] missing`)
        delete state.repositories[second]
        return ok({ acknowledged: true })
      }
    }
    if (first === '_snapshot' && second && third) {
      if (!state.repositories[second]) return esError(404, 'repository_missing_exception', `[${second}] missing`)
      const list = (state.snapshots[second] ??= [])
      if (third === '_current' && method === 'GET') {
        if (state.running?.repository === second) {
          if (state.running.finishAfter <= 0) state.running = undefined
          else state.running.finishAfter--
        }
        const running = state.running?.repository === second ? state.running : undefined
        return ok({ snapshots: running ? [{ snapshot: running.snapshot, uuid: 'running', state: 'IN_PROGRESS', indices: [] }] : [], total: running ? 1 : 0, remaining: 0 })
      }
      if (method === 'PUT' && !fourth) {
        if (state.running) return esError(503, 'concurrent_snapshot_execution_exception', `[${second}:${third}] a snapshot is already running`)
        if (list.some((s) => s.snapshot === third)) return esError(400, 'invalid_snapshot_name_exception', `[${second}:${third}] Invalid snapshot name [${third}], snapshot with the same name already exists`)
        const indices = Object.keys(state.indices).filter((name) => matches(String(body.indices ?? '*'), name))
        const snapshot: FakeSnapshot = { snapshot: third, uuid: `uuid-${++uuid}`, indices, state: 'SUCCESS', docs: Object.fromEntries(indices.map((i) => [i, state.indices[i]!.docs])) }
        list.push(snapshot)
        return ok({ snapshot: { snapshot: third, uuid: snapshot.uuid, repository: second, indices, state: 'SUCCESS', shards: { total: indices.length, failed: 0, successful: indices.length } } })
      }
      const snapshot = list.find((s) => s.snapshot === third)
      if (method === 'GET') {
        return snapshot ? ok({ snapshots: [{ snapshot: snapshot.snapshot, uuid: snapshot.uuid, repository: second, indices: snapshot.indices, state: snapshot.state }], total: 1, remaining: 0 }) : esError(404, 'snapshot_missing_exception', `[${second}:${third}] is missing`)
      }
      if (method === 'POST' && fourth === '_restore') {
        if (!snapshot) return esError(404, 'snapshot_missing_exception', `[${second}:${third}] is missing`)
        for (const index of snapshot.indices) {
          if (state.indices[index]) return esError(500, 'snapshot_restore_exception', `[${second}:${third}] cannot restore index [${index}] because an open index with same name already exists in the cluster`)
        }
        for (const index of snapshot.indices) state.indices[index] = { docs: snapshot.docs[index] ?? 0, settings: { 'index.lifecycle.name': 'nginx-access' } }
        return ok({ snapshot: { snapshot: third, indices: snapshot.indices, shards: { total: snapshot.indices.length, failed: 0, successful: snapshot.indices.length } } })
      }
    }

    if (first === '_ilm' && second === 'policy' && third) {
      if (method === 'GET') {
        const stored = state.policies[third]
        return stored ? ok({ [third]: { version: stored.version, modified_date: '2026-11-25T00:00:00.000Z', policy: withIlmDefaults(stored.policy), in_use_by: { indices: [], data_streams: [], composable_templates: [] } } }) : esError(404, 'resource_not_found_exception', `Lifecycle policy not found: ${third}`)
      }
      if (method === 'PUT') {
        state.policies[third] = { version: (state.policies[third]?.version ?? 0) + 1, policy: body.policy as Record<string, unknown> }
        return ok({ acknowledged: true })
      }
    }

    if (first === '_index_template' && second) {
      if (method === 'GET') {
        const stored = state.templates[second]
        if (!stored) return esError(404, 'resource_not_found_exception', `index template matching [${second}] not found`)
        const template = (stored.template ?? {}) as Record<string, unknown>
        return ok({ index_templates: [{ name: second, index_template: { ...stored, composed_of: [], template: { ...template, settings: nestedSettings((template.settings ?? {}) as Record<string, unknown>) } } }] })
      }
      if (method === 'PUT') {
        state.templates[second] = body
        return ok({ acknowledged: true })
      }
    }

    if (first === '_slm' && second === 'policy' && third) {
      if (method === 'GET') {
        const stored = state.snapshotPolicies[third]
        return stored ? ok({ [third]: { version: stored.version, modified_date_millis: 1764028800000, policy: stored.policy, next_execution_millis: 1764466200000, stats: { policy: third, snapshots_taken: 0 } } }) : esError(404, 'resource_not_found_exception', `snapshot lifecycle policy or policies [${third}] not found`)
      }
      if (method === 'PUT') {
        state.snapshotPolicies[third] = { version: (state.snapshotPolicies[third]?.version ?? 0) + 1, policy: body }
        return ok({ acknowledged: true })
      }
    }

    if (first === '_cat' && second === 'indices') {
      const names = Object.keys(state.indices).filter((name) => matches(third ?? '*', name)).sort()
      return ok(names.map((index) => ({ index, 'docs.count': String(state.indices[index]!.docs) })))
    }

    if (first && second === '_settings') {
      const names = Object.keys(state.indices).filter((name) => matches(first, name))
      if (method === 'GET') {
        const wanted = (third ?? '').split(',').filter(Boolean)
        return ok(Object.fromEntries(names.map((name) => [name, { settings: Object.fromEntries(Object.entries(state.indices[name]!.settings).filter(([k]) => !wanted.length || wanted.includes(k))) }])))
      }
      if (method === 'PUT') {
        for (const name of names) Object.assign(state.indices[name]!.settings, flat(body))
        return ok({ acknowledged: true })
      }
    }

    if (first && !second && method === 'DELETE') {
      for (const name of first.split(',')) {
        if (name.includes('*')) return esError(400, 'illegal_argument_exception', 'Wildcard expressions or all indices are not allowed')
        if (!state.indices[name]) return esError(404, 'index_not_found_exception', `no such index [${name}]`)
        delete state.indices[name]
      }
      return ok({ acknowledged: true })
    }

    return esError(400, 'fake_does_not_know', `${method} ${url.pathname} is not answered by the test's Elasticsearch`)
  }
  const server = await startApiServer((request) => route(request))
  return { ...server, state, writes: () => server.requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD') }
}
