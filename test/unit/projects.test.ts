// activity.yml projects: the targets of every source that make one project, carried as the project label of their series.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseConfig } from '../../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { configProblem } from '../support/config-errors.ts'
import { days, startRegistryApi } from '../support/registry-apis.ts'
import { runCollector } from '../../collectors/runtime/run.ts'
import { createLogger } from '../../collectors/runtime/log.ts'

const test = suite('projects')
const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
const sources = `sources:
  github:
    targets: [prometheus, grafana/grafana]
  dockerhub:
    targets: [prom, grafana/grafana]
  npm:
    targets: [prom-client, "@grafana/data"]
  pypi:
    targets: [Prometheus_Client]
`
const parse = (text: string) => parseConfig(text, 'activity.yml', collectors)
const problem = (text: string) => configProblem(() => parse(text))

test('each target named by a project carries it; a target in no project is its own', () => {
  const config = parse(`${sources}projects:
  prometheus:
    github: [prometheus]
    dockerhub: [prom]
    npm: [prom-client]
    pypi: [prometheus-client]
  grafana:
    github: [grafana/grafana]
    npm: ["@grafana/data"]
`)
  const projectOf = (source: string, id: string) => config.sources.find((s) => s.name === source)!.targets.find((t) => t.id === id)!.project
  assert.is(projectOf('github', 'prometheus'), 'prometheus')
  assert.is(projectOf('pypi', 'prometheus-client'), 'prometheus', 'a PyPI name matches as PyPI normalises it')
  assert.is(projectOf('npm', '@grafana/data'), 'grafana')
  assert.is(projectOf('dockerhub', 'grafana/grafana'), undefined, 'in no project: its own')
  assert.equal(config.projects.projects.map((p) => p.name), ['prometheus', 'grafana'])
})

test('a project naming an unknown source is refused on its line, naming the sources there are', () => {
  assert.is(
    problem(`${sources}projects:\n  prometheus:\n    github: [prometheus]\n    crates: [prometheus]\n`),
    "activity.yml:13: projects.prometheus.crates: 'crates' is not a source of this file; name one of the sources under sources: (github, dockerhub, npm, pypi)",
  )
})

test('a target in two projects is refused where it appears the second time, naming the first', () => {
  assert.is(
    problem(`${sources}projects:\n  a:\n    dockerhub: [prom]\n  b:\n    github: [grafana/grafana]\n    dockerhub: [prom]\n`),
    "activity.yml:15: projects.b.dockerhub[0]: 'prom' is already in project 'a' (projects.a.dockerhub[0]); a target belongs to one project: remove it from one of them",
  )
})

test('an empty project is refused', () => {
  assert.is(problem(`${sources}projects:\n  prometheus:\n  grafana:\n    github: [grafana/grafana]\n`), 'activity.yml:11: projects.prometheus: is an empty project; list its targets per source, e.g. github: [prometheus]; or remove it')
  assert.is(problem(`${sources}projects:\n  prometheus: {}\n`), 'activity.yml:11: projects.prometheus: is an empty project; list its targets per source, e.g. github: [prometheus]; or remove it')
  assert.match(problem(`${sources}projects:\n  prometheus:\n    github: []\n`), /^activity\.yml:12: projects\.prometheus\.github: must be a non-empty list of targets of that source/)
})

test('a target its source does not watch is refused', () => {
  assert.is(
    problem(`${sources}projects:\n  prometheus:\n    npm: [prom-client, express]\n`),
    "activity.yml:12: projects.prometheus.npm[1]: 'express' is not a target of sources.npm; add it to sources.npm.targets, or remove it here",
  )
})

test('the project label is on every series a run pushes (data and health) and on every history sample', async () => {
  const api = await startRegistryApi('npm', { lastDay: '2026-12-01', packages: { 'prom-client': days('2026-10-01', '2026-12-01', () => 5), 'left-pad': days('2026-10-01', '2026-12-01', () => 3) } })
  try {
    const config = parse('sources:\n  npm:\n    targets: [prom-client, left-pad]\nprojects:\n  prometheus:\n    npm: [prom-client]\n')
    const npm = config.sources[0]!
    let text = ''
    const results = await runCollector(
      { collector: npm.collector, targets: npm.targets, options: npm.options, schedule: npm.schedule, print: (chunk) => (text += chunk) },
      { env: { NPM_API_URL: api.url }, log: createLogger({ write: () => {} }) },
    )
    assert.ok(results.every((r) => r.ok))
    // Each printed block is one group (data or health) or the history of one target: `# npm target=<id>` heads it.
    const blocks = text.split(/^# npm target=/m).slice(1)
    assert.is(blocks.length, 6, "data, history and health of each target")
    const expected: Record<string, string> = { 'prom-client': 'prometheus', 'left-pad': 'left-pad' }
    for (const block of blocks) {
      const target = block.split(/[\s]/)[0]!
      const lines = block.split('\n').slice(1).filter((line) => /^[a-z]/.test(line))
      assert.ok(lines.length > 0, block.slice(0, 80))
      for (const line of lines) assert.match(line, `project="${expected[target]}"`, `${target}: ${line}`)
    }
    const history = [...text.matchAll(/^npm_package_daily_downloads\{([^}]*)\}/gm)].map((m) => m[1]!)
    assert.is(history.length, 60, 'the last 30 days of both packages')
    for (const labels of history) assert.match(labels, labels.includes('package="prom-client"') ? 'project="prometheus"' : 'project="left-pad"')
  } finally {
    await api.close()
  }
})

test.run()
