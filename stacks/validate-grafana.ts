// Grafana's provisioning as the stacks mount it: datasources (each with a uid), dashboard providers (whose paths the
// dashboards must be mounted under), and the dashboards in dashboards/ (all provisioned, unique uids, datasources that
// exist).
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isMapping } from './stacks.ts'
import { filesUnder, listOf, parseQuietly, unique, type Validation } from './validate-core.ts'

export interface GrafanaFiles {
  datasources: string[]
  providers: string[]
  dashboards: { file: string; target: string }[]
}

type Datasources = Map<string, { type: string; name: string }>

export function checkGrafana(v: Validation, files: GrafanaFiles): void {
  const datasources = provisionedDatasources(v, files.datasources)
  const providerPaths = dashboardProviderPaths(v, files.providers)
  const mounted = new Set<string>()
  const uids = new Map<string, string>()
  for (const { file, target } of files.dashboards) {
    mounted.add(file)
    if (providerPaths.length && !providerPaths.some((path) => target.startsWith(path + '/'))) {
      v.report(file, `mounted at ${target}, outside every dashboard provider path (${providerPaths.join(', ')}): Grafana would not load it`)
    }
    checkDashboard(v, file, datasources, uids)
  }
  const dashboardsDir = join(v.root, 'dashboards')
  for (const file of existsSync(dashboardsDir) ? filesUnder(dashboardsDir).filter((f) => f.endsWith('.json')) : []) {
    if (mounted.has(file)) continue
    v.report(file, 'is not provisioned: add it to the configs of the grafana service in stacks/admin.yml')
    checkDashboard(v, file, datasources, uids)
  }
  v.checked.push(`${datasources.size} Grafana datasources, ${mounted.size} dashboards`)
}

/** The datasources the provisioning files declare, by uid; what is missing or twice is reported. */
function provisionedDatasources(v: Validation, files: string[]): Datasources {
  const datasources: Datasources = new Map()
  for (const file of unique(files)) {
    const data: unknown = parseQuietly(file)
    if (!isMapping(data)) continue
    if (data.apiVersion !== 1) v.report(file, 'apiVersion: must be 1')
    listOf(data.datasources).forEach((entry, index) => {
      if (!isMapping(entry)) return v.report(file, `datasources[${index}]: must be a mapping`)
      const label = `datasources[${index}]${typeof entry.name === 'string' ? ` (${entry.name})` : ''}`
      for (const field of ['name', 'type', 'uid', 'url']) {
        if (typeof entry[field] !== 'string' || !entry[field]) v.report(file, `${label}: ${field} is missing${field === 'uid' ? '; dashboards refer to datasources by uid' : ''}`)
      }
      if (typeof entry.uid === 'string') {
        if (datasources.has(entry.uid)) v.report(file, `${label}: uid ${entry.uid} is used twice`)
        datasources.set(entry.uid, { type: String(entry.type), name: String(entry.name) })
      }
    })
  }
  return datasources
}

/** The folders Grafana's dashboard providers load dashboards from. */
function dashboardProviderPaths(v: Validation, files: string[]): string[] {
  const providerPaths: string[] = []
  for (const file of unique(files)) {
    const data: unknown = parseQuietly(file)
    if (!isMapping(data)) continue
    listOf(data.providers).forEach((entry, index) => {
      const path = isMapping(entry) && isMapping(entry.options) ? entry.options.path : undefined
      if (typeof path !== 'string') v.report(file, `providers[${index}]: options.path is missing`)
      else providerPaths.push(path.replace(/\/+$/, ''))
    })
  }
  return providerPaths
}

function checkDashboard(v: Validation, file: string, datasources: Datasources, uids: Map<string, string>): void {
  let data: unknown
  try {
    data = JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    v.report(file, `JSON: ${(error as Error).message}`)
    return
  }
  if (!isMapping(data)) return v.report(file, 'must be a dashboard object')
  if (typeof data.title !== 'string' || !data.title) v.report(file, 'title is missing')
  if (typeof data.uid === 'string') {
    const other = uids.get(data.uid)
    if (other) v.report(file, `uid ${data.uid} is also the uid of ${v.rel(other)}; Grafana keeps only one`)
    uids.set(data.uid, file)
  }
  if ('__inputs' in data) v.report(file, '__inputs: an export for sharing; provisioned dashboards refer to datasources by uid (prometheus, monitoring, elasticsearch)')
  const templating = isMapping(data.templating) ? listOf(data.templating.list) : []
  const variables = new Set(templating.filter(isMapping).filter((t) => t.type === 'datasource').map((t) => String(t.name)))
  const walk = (node: unknown, where: string) => {
    if (Array.isArray(node)) return node.forEach((item, index) => walk(item, `${where}[${index}]`))
    if (!isMapping(node)) return
    for (const [key, value] of Object.entries(node)) {
      const path = where ? `${where}.${key}` : key
      if (key === 'datasource') checkDatasourceReference(v, file, value, path, datasources, variables)
      else walk(value, path)
    }
  }
  walk(data, '')
}

const builtinDatasources = new Set(['grafana', '-- Grafana --', '-- Mixed --', '-- Dashboard --', 'dashboard'])

/** A panel's or target's datasource: a variable of the dashboard, a built-in, or a provisioned one of the right type. */
function checkDatasourceReference(v: Validation, file: string, reference: unknown, where: string, datasources: Datasources, variables: Set<string>): void {
  if (reference === null || reference === undefined) return
  const uid = typeof reference === 'string' ? reference : isMapping(reference) ? reference.uid : undefined
  const type = isMapping(reference) ? reference.type : undefined
  if (uid === undefined || uid === null) return
  if (typeof uid !== 'string') return v.report(file, `${where}: datasource uid must be a string`)
  if (uid.startsWith('$')) {
    const name = uid.replace(/^\$\{?/, '').replace(/\}$/, '')
    if (!variables.has(name)) v.report(file, `${where}: datasource ${uid} names no datasource variable of this dashboard`)
    return
  }
  if (builtinDatasources.has(uid)) return
  const byName = [...datasources.entries()].find(([, ds]) => ds.name === uid)
  const datasource = datasources.get(uid) ?? byName?.[1]
  if (!datasource) return v.report(file, `${where}: datasource uid ${uid} is not provisioned (known: ${[...datasources.keys()].join(', ')})`)
  if (typeof type === 'string' && type !== datasource.type) v.report(file, `${where}: datasource ${uid} is of type ${datasource.type}, not ${type}`)
}
