// The dashboard files: generated from dashboards/src, Grafana 11.3's model, wired to provisioned datasources, variables defined, every collector metric shown.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Panel, RowPanel } from '@grafana/grafana-foundation-sdk/dashboard'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { healthSpecs, successSpecs } from '../../collectors/runtime/run.ts'
import { dashboards, render } from '../../dashboards/src/index.ts'
import {
  allPanels,
  builtInVariables,
  dashboardFiles,
  elasticsearchProblems,
  indexTemplate,
  labelValuesQuery,
  metricNames,
  panelQueries,
  provisionedDatasources,
  resolveDatasource,
  variableQuery,
  variables,
  variablesIn,
} from '../support/dashboards.ts'

const test = suite('dashboards')
const files = dashboardFiles()

/** Panel types Grafana 11.3 ships (no plugin to install). */
const corePanels = new Set(['row', 'stat', 'timeseries', 'table', 'bargauge', 'piechart', 'geomap', 'state-timeline', 'text', 'gauge', 'barchart', 'status-history', 'heatmap', 'logs'])
/** Unit ids of Grafana's value formats that the dashboards use. */
const units = new Set(['short', 'none', 's', 'bytes', 'Bps', 'reqps', 'percentunit', 'dateTimeFromNow'])

test('the committed JSON files are exactly what `npm run dashboards` generates from dashboards/src', () => {
  const stale = dashboards.filter(({ file, build }) => files.find((f) => f.file === file)?.text !== render(build())).map((d) => d.file)
  assert.equal(stale, [], `out of date or missing (run npm run dashboards; never edit the JSON by hand): ${stale.join(', ')}`)
  const unknown = files.filter((f) => !dashboards.some((d) => d.file === f.file)).map((f) => f.file)
  assert.equal(unknown, [], `JSON files with no source in dashboards/src/index.ts: ${unknown.join(', ')}`)
})

test('the provisioned files are the nine dashboards, in their folders', () => {
  assert.equal(files.map((f) => f.file).sort(), [
    'activity/adoption.json',
    'activity/dockerhub.json',
    'activity/github.json',
    'activity/overview.json',
    'activity/projects.json',
    'activity/traffic.json',
    'platform/collectors.json',
    'platform/gitops.json',
    'platform/platform.json',
    'website/visitors.json',
  ])
})

test('every dashboard is Grafana 11.3 dashboard JSON: schema version, unique uid and title, core panel types, laid out on the grid without overlaps', () => {
  const problems: string[] = []
  const uids = new Set<string>()
  const titles = new Set<string>()
  for (const { file, dashboard } of files) {
    // Grafana 11.3's DashboardMigrator ends at v40 (refresh always a string); a newer number makes 11.3 skip migrations it should not.
    if (dashboard.schemaVersion !== 40) problems.push(`${file}: schemaVersion ${dashboard.schemaVersion}, Grafana 11.3 writes 40`)
    if (!dashboard.uid || !/^[a-zA-Z0-9_-]{1,40}$/.test(dashboard.uid)) problems.push(`${file}: uid ${dashboard.uid} is not 1-40 letters, digits, - or _`)
    if (uids.has(dashboard.uid!)) problems.push(`${file}: uid ${dashboard.uid} used twice`)
    uids.add(dashboard.uid!)
    if (!dashboard.title || titles.has(dashboard.title)) problems.push(`${file}: title missing or used twice`)
    titles.add(dashboard.title!)
    if (typeof dashboard.refresh !== 'string') problems.push(`${file}: refresh must be a string`)
    if (!dashboard.time?.from || !dashboard.time.to) problems.push(`${file}: no default time range`)

    const ids = new Set<number>()
    const cells = new Map<string, string>()
    for (const panel of allPanels(dashboard)) {
      const name = `${file} "${panel.title}"`
      if (!corePanels.has(panel.type)) problems.push(`${name}: panel type ${panel.type} is not built into Grafana 11.3`)
      if (!panel.id || ids.has(panel.id)) problems.push(`${name}: id ${panel.id} missing or repeated`)
      ids.add(panel.id!)
      const grid = panel.gridPos
      if (!grid || grid.x < 0 || grid.w < 1 || grid.h < 1 || grid.x + grid.w > 24) {
        problems.push(`${name}: gridPos ${JSON.stringify(grid)} is outside the 24-column grid`)
        continue
      }
      for (let x = grid.x; x < grid.x + grid.w; x++) {
        for (let y = grid.y; y < grid.y + grid.h; y++) {
          const other = cells.get(`${x},${y}`)
          if (other) problems.push(`${name} overlaps ${other} at ${x},${y}`)
          cells.set(`${x},${y}`, name)
        }
      }
      if (panel.type === 'row') continue
      const real = panel as Panel
      if (!real.title || !real.description) problems.push(`${name}: every panel says what it answers in its description`)
      const refIds = ((real.targets ?? []) as { refId?: string }[]).map((t) => t.refId)
      if (!refIds.length) problems.push(`${name}: no query`)
      if (new Set(refIds).size !== refIds.length || refIds.some((r) => !r)) problems.push(`${name}: refIds ${refIds.join(',')} are not unique`)
      const fieldUnits = [real.fieldConfig?.defaults?.unit, ...(real.fieldConfig?.overrides ?? []).flatMap((o) => o.properties.filter((p) => p.id === 'unit').map((p) => p.value as string))]
      for (const unit of fieldUnits) if (unit !== undefined && !units.has(unit)) problems.push(`${name}: unknown unit ${unit}`)
    }
    const names = variables(dashboard).map((v) => v.name)
    if (new Set(names).size !== names.length) problems.push(`${file}: variable names repeat: ${names.join(', ')}`)
  }
  assert.equal(problems, [])
})

test('every panel and every query names a datasource provisioned in stacks/admin/grafana/datasources.yml, of the right type', () => {
  const provisioned = provisionedDatasources()
  const problems: string[] = []
  for (const file of files) {
    for (const panel of allPanels(file.dashboard).filter((p): p is Panel => p.type !== 'row')) {
      if (panel.datasource?.uid === '-- Mixed --') continue
      const source = resolveDatasource(file.dashboard, panel.datasource)
      const match = provisioned.find((d) => d.uid === source?.uid)
      if (!match || match.type !== source?.type) problems.push(`${file.file} "${panel.title}": datasource ${JSON.stringify(source)} is not provisioned`)
    }
    for (const query of panelQueries(file)) {
      const match = provisioned.find((d) => d.uid === query.datasource?.uid)
      if (!match || match.type !== query.datasource?.type) problems.push(`${query.where}: datasource ${JSON.stringify(query.datasource)} is not provisioned`)
    }
    for (const variable of variables(file.dashboard)) {
      if (variable.type === 'datasource') {
        const value = variable.current?.value
        const match = provisioned.find((d) => d.uid === value)
        if (!match || match.type !== variable.query) problems.push(`${file.file} $${variable.name}: default ${String(value)} is not a provisioned ${String(variable.query)} datasource`)
      } else if (variable.type === 'query' || variable.type === 'adhoc') {
        const source = resolveDatasource(file.dashboard, variable.datasource)
        if (!provisioned.some((d) => d.uid === source?.uid && d.type === source?.type)) problems.push(`${file.file} $${variable.name}: datasource ${JSON.stringify(source)} is not provisioned`)
      }
    }
  }
  assert.equal(problems, [])
})

test('every variable a query or a variable uses is defined, and defined before the variables that use it', () => {
  const problems: string[] = []
  for (const file of files) {
    const defined = variables(file.dashboard).map((v) => v.name)
    const texts: [string, string][] = panelQueries(file).flatMap((q) => [
      [q.where, q.expr ?? ''],
      [q.where, q.query ?? ''],
      [q.where, JSON.stringify(q.bucketAggs ?? [])],
      [q.where, q.datasource?.uid ?? ''],
    ])
    for (const panel of allPanels(file.dashboard)) texts.push([`${file.file} "${panel.title}" datasource`, (panel as Panel | RowPanel).datasource?.uid ?? ''])
    for (const [where, text] of texts) {
      for (const name of variablesIn(text)) if (!builtInVariables.has(name) && !defined.includes(name)) problems.push(`${where}: $${name} is not defined`)
    }
    variables(file.dashboard).forEach((variable, index) => {
      const text = [variableQuery(variable) ?? '', variable.datasource?.uid ?? ''].join(' ')
      for (const name of variablesIn(text)) {
        if (builtInVariables.has(name)) continue
        const at = defined.indexOf(name)
        if (at < 0 || at >= index) problems.push(`${file.file} $${variable.name}: uses $${name}, which is not defined before it`)
      }
    })
  }
  assert.equal(problems, [])
})

test('every variable query resolves: label_values of a label the series carries, or terms of a keyword field of the index', async () => {
  const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
  const declared = new Map<string, readonly string[]>()
  for (const collector of collectors.values()) for (const [name, spec] of Object.entries(collector.metrics)) declared.set(name, spec.labels)
  for (const [name, spec] of Object.entries({ ...healthSpecs, ...successSpecs })) declared.set(name, spec.labels)
  const fields = indexTemplate()
  const problems: string[] = []
  for (const file of files) {
    for (const variable of variables(file.dashboard)) {
      if (variable.type !== 'query') continue
      const where = `${file.file} $${variable.name}`
      const source = resolveDatasource(file.dashboard, variable.datasource)
      const text = variableQuery(variable) ?? ''
      if (source?.type === 'elasticsearch') {
        const parsed = JSON.parse(text) as { find?: string; field?: string }
        if (parsed.find !== 'terms') problems.push(`${where}: only terms queries are used`)
        else if (fields.get(parsed.field ?? '') !== 'keyword') problems.push(`${where}: terms on ${parsed.field}, which is not a keyword field of the index template`)
        continue
      }
      const parsed = labelValuesQuery(text)
      if (!parsed?.series) {
        problems.push(`${where}: ${text} is not label_values(series, label)`)
        continue
      }
      for (const metric of metricNames(parsed.series)) {
        const labels = declared.get(metric)
        // Collector metrics carry their declared labels plus the Pushgateway grouping (job, target) and the project label.
        if (labels && ![...labels, 'job', 'target', 'project'].includes(parsed.label)) problems.push(`${where}: ${metric} has no label ${parsed.label}`)
      }
    }
  }
  assert.equal(problems, [])
})

test('the GitHub, GitHub traffic, Overview, Adoption and Projects dashboards mark releases: a Prometheus annotation whose values are the github collector\'s release publication times', async () => {
  const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
  const releaseMetric = 'github_repository_latest_release_timestamp_seconds'
  assert.ok(releaseMetric in collectors.get('github')!.metrics, 'the github collector declares the release time')
  const marked = files.filter((file) => (file.dashboard.annotations?.list ?? []).some((a) => a.name === 'Releases'))
  assert.equal(marked.map((file) => file.file).sort(), ['activity/adoption.json', 'activity/github.json', 'activity/overview.json', 'activity/projects.json', 'activity/traffic.json'])
  for (const file of marked) {
    const annotation = file.dashboard.annotations!.list!.find((a) => a.name === 'Releases')! as { expr?: string; useValueForTime?: boolean; datasource: { type?: string; uid?: string }; titleFormat?: string }
    assert.equal(metricNames(annotation.expr ?? ''), [releaseMetric], file.file)
    // Grafana reads the time of each mark from the value, in milliseconds.
    assert.match(annotation.expr ?? '', /\* 1000$/)
    assert.is(annotation.useValueForTime, true)
    assert.equal(annotation.datasource, { type: 'prometheus', uid: '${datasource}' })
    for (const used of variablesIn(annotation.expr ?? '')) assert.ok(variables(file.dashboard).some((v) => v.name === used), `${file.file}: $${used} is defined`)
  }
})

test('every metric a collector declares, and every health metric of the runtime, is shown by at least one panel', async () => {
  const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
  const declared = [...[...collectors.values()].flatMap((c) => Object.keys(c.metrics)), ...Object.keys(healthSpecs), ...Object.keys(successSpecs)]
  const shown = new Set(files.flatMap((file) => panelQueries(file).flatMap((q) => (q.expr ? metricNames(q.expr) : []))))
  const missing = declared.filter((metric) => !shown.has(metric))
  assert.equal(missing, [], `metrics no panel shows (add a panel in dashboards/src, then npm run dashboards): ${missing.join(', ')}`)
  assert.ok(collectors.has('github') && collectors.has('dockerhub'), 'both collectors are loaded')
})

test('Elasticsearch queries use only fields the nginx-access index template maps, with types their aggregations accept', () => {
  const fields = indexTemplate()
  const queries = files.flatMap(panelQueries).filter((q) => q.datasource?.type === 'elasticsearch')
  assert.ok(queries.length >= 15, `the visitors dashboard queries Elasticsearch (${queries.length} queries)`)
  const problems = queries.flatMap((q) => elasticsearchProblems(q, fields).map((p) => `${q.where}: ${p}`))
  assert.equal(problems, [])
})

test('the Elasticsearch field check rejects unmapped fields and aggregations on the wrong type', () => {
  const fields = new Map([
    ['@timestamp', 'date'],
    ['status', 'short'],
    ['path', 'keyword'],
    ['geoip.location', 'geo_point'],
    ['user_agent.original', 'text'],
  ])
  const problems = elasticsearchProblems(
    {
      timeField: '@timestamp',
      query: 'path:$path AND status:[500 TO 599] AND country:FR AND path:[a TO b]',
      metrics: [{ type: 'avg', field: 'path' }],
      bucketAggs: [
        { type: 'terms', field: 'user_agent.original' },
        { type: 'geohash_grid', field: 'geoip.location' },
        { type: 'geohash_grid', field: 'path' },
      ],
    },
    fields,
  )
  assert.equal(problems, [
    'query match on `country`, which the index template does not map',
    'query range on `path`, a keyword field (needs long|integer|short|byte|double|float|half_float|scaled_float|unsigned_long|date|ip)',
    'avg on `path`, a keyword field (needs long|integer|short|byte|double|float|half_float|scaled_float|unsigned_long)',
    'terms on `user_agent.original`, a text field (needs keyword|ip|boolean|long|integer|short|byte|double|float|half_float|scaled_float|unsigned_long)',
    'geohash_grid on `path`, a keyword field (needs geo_point)',
  ])
})

test('metric names are read out of PromQL without labels, functions, grouping or variables', () => {
  assert.equal(
    metricNames('sum by (owner) (round(delta(github_repository_stars{owner=~"$owner"}[$__range]))) * on (job, instance) group_left (version) pushgateway_build_info or vector(0) > bool 2'),
    ['github_repository_stars', 'pushgateway_build_info'],
  )
})

test.run()
