// The Elasticsearch client the data commands share: auth from files, errors turned into one line that says what to do.
import { readFileSync } from 'node:fs'
import { Client, errors } from '@elastic/elasticsearch'
import { ElasticsearchError } from './errors.ts'

export interface ElasticsearchSettings {
  /** e.g. http://logs_elasticsearch:9200 */
  url: string
  /** A file holding an API key (a Swarm secret). */
  apiKeyFile?: string
  username?: string
  passwordFile?: string
  /** Retries of 502/503/504 and connection errors (the client's own). */
  maxRetries?: number
  requestTimeoutMs?: number
}

export interface Elasticsearch {
  url: string
  client: Client
  /** Runs one call; any failure becomes an ElasticsearchError naming `action`. */
  call<T>(action: string, run: (client: Client) => Promise<T>): Promise<T>
  /** Like call, but a 404 is undefined instead of an error (reading something that may not exist yet). */
  find<T>(action: string, run: (client: Client) => Promise<T>): Promise<T | undefined>
}

function secret(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').trim()
  } catch (error) {
    throw new ElasticsearchError('(settings)', `reading ${what}`, undefined, 'unreadable_file', `${file}: ${(error as NodeJS.ErrnoException).code}`, 'mount the secret or fix the path')
  }
}

export function connect(settings: ElasticsearchSettings): Elasticsearch {
  const auth = settings.apiKeyFile
    ? { apiKey: secret(settings.apiKeyFile, 'the API key') }
    : settings.username && settings.passwordFile
      ? { username: settings.username, password: secret(settings.passwordFile, 'the password') }
      : undefined
  const client = new Client({ node: settings.url, auth, maxRetries: settings.maxRetries ?? 3, requestTimeout: settings.requestTimeoutMs ?? 60_000 })
  const url = settings.url.replace(/\/+$/, '')
  const call = async <T>(action: string, run: (client: Client) => Promise<T>): Promise<T> => {
    try {
      return await run(client)
    } catch (error) {
      throw translate(url, action, error)
    }
  }
  return {
    url,
    client,
    call,
    find: async (action, run) => {
      try {
        return await run(client)
      } catch (error) {
        if (error instanceof errors.ResponseError && error.statusCode === 404) return undefined
        throw translate(url, action, error)
      }
    },
  }
}

interface ErrorBody {
  error?: { type?: string; reason?: string; root_cause?: { type?: string; reason?: string }[] } | string
  status?: number
}

/** One line for any failure of the client: what Elasticsearch said and what a person should do about it. */
export function translate(url: string, action: string, error: unknown): ElasticsearchError {
  if (error instanceof ElasticsearchError) return error
  if (error instanceof errors.ResponseError) {
    const status = error.statusCode ?? error.meta.statusCode
    const body = (error.body ?? {}) as ErrorBody
    const detail = typeof body.error === 'object' ? body.error : undefined
    const type = detail?.type ?? (typeof body.error === 'string' ? body.error : 'error')
    const reason = (detail?.reason ?? detail?.root_cause?.[0]?.reason ?? '').replace(/\s*\n\s*/g, ' ')
    return new ElasticsearchError(url, action, status, type, reason, fixFor(status, type))
  }
  if (error instanceof errors.ProductNotSupportedError) {
    return new ElasticsearchError(url, action, undefined, 'not_elasticsearch', 'the server did not say it is Elasticsearch (no x-elastic-product header)', 'check the URL: it must point at Elasticsearch 8')
  }
  if (error instanceof errors.TimeoutError) {
    return new ElasticsearchError(url, action, undefined, 'timeout', 'no answer in time', 'it may be overloaded or still starting; retry in a minute')
  }
  if (error instanceof errors.ConnectionError || error instanceof errors.NoLivingConnectionsError) {
    const code = ((error as Error & { cause?: { code?: string } }).cause?.code ?? error.message).replace(/\s*\n\s*/g, ' ')
    return new ElasticsearchError(url, action, undefined, 'unreachable', code, 'is the logs stack deployed, and is this its address on the logs network?')
  }
  const message = error instanceof Error ? error.message : String(error)
  return new ElasticsearchError(url, action, undefined, 'error', message.replace(/\s*\n\s*/g, ' '), 'see the Elasticsearch log')
}

function fixFor(status: number | undefined, type: string): string {
  if (type === 'concurrent_snapshot_execution_exception' || type === 'snapshot_in_progress_exception') return 'another snapshot is running: wait for it to finish (GET _snapshot/_status) and retry'
  if (type === 'repository_exception' || type === 'repository_verification_exception') return 'the snapshot folder must be listed in path.repo and writable by Elasticsearch (the logs stack mounts it at /usr/share/elasticsearch/snapshots)'
  if (type === 'master_not_discovered_exception') return 'the cluster has not elected a master: check that its nodes see each other (docker service logs logs_elasticsearch)'
  switch (status) {
    case 401:
      return 'it wants credentials: set ELASTICSEARCH_API_KEY_FILE, or ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD_FILE'
    case 403:
      return 'the credentials lack a privilege: grant manage_ilm, manage_index_templates, manage_slm, create_snapshot and monitor'
    case 429:
      return 'Elasticsearch is overloaded and rejected the request: retry later, or give it more heap (ES_HEAP in the logs stack)'
    case 503:
      return 'Elasticsearch is unavailable (starting, or no master): retry in a minute, and check docker service logs logs_elasticsearch'
    default:
      return 'see the Elasticsearch log'
  }
}

/** Checks that the cluster can take writes: red means a primary shard is missing, and nothing should be changed. */
export async function requireHealthy(es: Elasticsearch, purpose: string): Promise<string> {
  const health = await es.call('reading the cluster health', (c) => c.cluster.health())
  if (health.status === 'red') {
    throw new ElasticsearchError(
      es.url,
      'checking the cluster health',
      undefined,
      'cluster_red',
      `${health.unassigned_shards} unassigned shards, ${health.active_primary_shards} active primaries`,
      `a primary shard is missing, so ${purpose} was not started: see GET _cluster/allocation/explain; nothing was changed`,
    )
  }
  return health.status
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

/**
 * The first place where `current` (as Elasticsearch echoes it) differs from `desired`, or undefined when it does not.
 * Elasticsearch returns numbers and booleans of settings as strings and adds defaults (min_age, delete_searchable_snapshot),
 * so scalars compare as text and extra keys are allowed, except in objects `exact` names (phases, actions, mapped fields),
 * where a key removed from the desired definition must count as a change.
 */
export function difference(desired: unknown, current: unknown, exact: (path: string[]) => boolean = () => false, path: string[] = []): string | undefined {
  const at = path.join('.') || '(top)'
  if (desired === null || typeof desired !== 'object') {
    if (current === null || typeof current === 'object' || current === undefined) return `${at}: ${JSON.stringify(current)} → ${JSON.stringify(desired)}`
    return String(desired) === String(current) ? undefined : `${at}: ${JSON.stringify(current)} → ${JSON.stringify(desired)}`
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(current) || current.length !== desired.length) return `${at}: ${JSON.stringify(current)} → ${JSON.stringify(desired)}`
    for (let i = 0; i < desired.length; i++) {
      const found = difference(desired[i], current[i], exact, [...path, String(i)])
      if (found) return found
    }
    return undefined
  }
  if (current === null || typeof current !== 'object' || Array.isArray(current)) return `${at}: ${JSON.stringify(current)} → an object`
  const have = current as Record<string, Json>
  for (const [key, value] of Object.entries(desired as Record<string, Json>)) {
    if (!(key in have)) return `${[...path, key].join('.')}: missing`
    const found = difference(value, have[key], exact, [...path, key])
    if (found) return found
  }
  if (exact(path)) {
    const extra = Object.keys(have).find((key) => !(key in (desired as Record<string, Json>)))
    if (extra !== undefined) return `${[...path, extra].join('.')}: not wanted any more`
  }
  return undefined
}

/** Settings in any shape (nested or dotted, with or without "index.") as flat dotted keys with text values. */
export function flatSettings(settings: unknown): Record<string, string> {
  const flat: Record<string, string> = {}
  const walk = (value: unknown, name: string): void => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value as Record<string, unknown>)) walk(inner, name ? `${name}.${key}` : key)
    } else if (name) {
      flat[name.startsWith('index.') ? name : `index.${name}`] = Array.isArray(value) ? value.join(',') : String(value)
    }
  }
  walk(settings, '')
  return flat
}
