import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfig, parseConfig } from '../../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { configProblem } from '../support/config-errors.ts'

const test = suite('activity.yml')
const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))

function problem(text: string): string {
  return configProblem(() => parseConfig(text, 'activity.yml', collectors))
}

test('the shipped activity.yml watches real projects on GitHub and Docker Hub', () => {
  const config = loadConfig(new URL('../../activity.yml', import.meta.url).pathname, collectors)
  const github = config.sources.find((s) => s.name === 'github')
  const dockerhub = config.sources.find((s) => s.name === 'dockerhub')
  assert.ok(github && github.targets.length > 0)
  assert.ok(dockerhub && dockerhub.targets.length > 0)
  assert.is(config.platform.domain, 'localhost')
})

test('targets are parsed by their collector and the default schedule applies', () => {
  const config = parseConfig('sources:\n  dockerhub:\n    targets: [prom, library/nginx]\n', 'a.yml', collectors)
  assert.equal(config.sources[0]!.targets, [
    { id: 'prom', namespace: 'prom', repository: undefined },
    { id: 'library/nginx', namespace: 'library', repository: 'nginx' },
  ])
  assert.is(config.sources[0]!.schedule, '*/30 * * * *')
})

test('a wrong type names the line and field', () => {
  assert.is(problem('sources:\n  dockerhub:\n    targets: prom\n'), 'activity.yml:3: sources.dockerhub.targets: expected array, received string; list what to watch, e.g. targets: [prom]')
})

test('an unknown source names the sources that exist', () => {
  assert.match(problem('sources:\n  dockerhub:\n    targets: [prom]\n  gitlab:\n    targets: [x]\n'), new RegExp(`^activity\\.yml:4: sources\\.gitlab: unknown source 'gitlab'; known sources: ${[...collectors.keys()].join(', ')}$`))
})

test('missing targets say what to add', () => {
  assert.is(problem('sources:\n  dockerhub:\n    schedule: "0 * * * *"\n'), 'activity.yml:3: sources.dockerhub.targets: is missing; list what to watch, e.g. targets: [prom]')
  assert.is(problem('sources:\n  dockerhub:\n    targets: []\n'), 'activity.yml:3: sources.dockerhub.targets: is empty; list what to watch, e.g. targets: [prom]')
})

test('a bad cron schedule is refused with an example', () => {
  assert.match(problem('sources:\n  dockerhub:\n    schedule: "every hour"\n    targets: [prom]\n'), /^activity\.yml:3: sources\.dockerhub\.schedule: 'every hour' is not a cron schedule \(.+\); use five fields, e\.g\. '0 \* \* \* \*' for hourly$/)
  assert.match(problem('sources:\n  dockerhub:\n    schedule: "61 * * * *"\n    targets: [prom]\n'), /^activity\.yml:3: sources\.dockerhub\.schedule: '61 \* \* \* \*' is not a cron schedule/)
})

test('a duplicate target points at the second one', () => {
  assert.is(problem('sources:\n  dockerhub:\n    targets:\n      - prom\n      - grafana\n      - prom\n'), "activity.yml:6: sources.dockerhub.targets[2]: duplicate target 'prom' (also at targets[0]); remove one of them")
})

test('a malformed target says what a target looks like', () => {
  assert.match(problem('sources:\n  dockerhub:\n    targets:\n      - prom\n      - "Not A Name"\n'), /^activity\.yml:5: sources\.dockerhub\.targets\[1\]: must be a Docker Hub namespace/)
})

test('an unknown field is named with the ones allowed', () => {
  assert.is(problem('sources:\n  dockerhub:\n    targets: [prom]\n    shedule: "0 * * * *"\n'), 'activity.yml:4: sources.dockerhub.shedule: unknown field; allowed: schedule, historySchedule, targets, options')
  assert.match(problem('platform:\n  domain: localhost\nsourcez: {}\n'), /^activity\.yml:3: sourcez: unknown field; allowed: platform, sources/)
})

test('no sources section says what to add', () => {
  assert.match(problem('platform:\n  domain: localhost\n'), /^activity\.yml:1: sources: is missing; add sources:/)
})

test('broken YAML names the line', () => {
  assert.match(problem('sources:\n  dockerhub:\n    targets: [prom\n'), /^activity\.yml:\d: \(yaml\): .+; fix the YAML syntax$/)
})

test('a missing file says how to point at one', () => {
  try {
    loadConfig('/nonexistent/activity.yml', collectors)
    assert.unreachable()
  } catch (error) {
    assert.is((error as Error).message, '/nonexistent/activity.yml: (file): not found; pass --config FILE, or run from the folder holding activity.yml')
  }
})

const minimal = 'sources:\n  dockerhub:\n    targets: [prom]\n'

test('retention, logs and backup settings default to a year of metrics, 8 weeks of logs and 7 daily backups', () => {
  const config = parseConfig(minimal, 'a.yml', collectors)
  assert.equal(config.metrics, { retention: '1y', retentionSize: undefined, longTerm: { enabled: false, retention: '5y' } })
  assert.equal(config.logs, { retention: '8w', nodes: 1 })
  assert.equal(config.backup, { keep: 7, schedule: '0 3 * * *', archive: 'none' })
})

test('metrics, logs and backup sections are read as written', () => {
  const text = `${minimal}metrics:\n  retention: 2y\n  retentionSize: 50GB\n  longTerm: {enabled: true, retention: 10y}\nlogs:\n  retention: 12w\n  nodes: 3\nbackup:\n  keep: 14\n  schedule: "30 2 * * *"\n  archive: tar.gz\n`
  const config = parseConfig(text, 'a.yml', collectors)
  assert.equal(config.metrics, { retention: '2y', retentionSize: '50GB', longTerm: { enabled: true, retention: '10y' } })
  assert.equal(config.logs, { retention: '12w', nodes: 3 })
  assert.equal(config.backup, { keep: 14, schedule: '30 2 * * *', archive: 'tar.gz' })
})

test('a retention that is not a duration names the units', () => {
  assert.is(problem(`${minimal}metrics:\n  retention: one year\n`), 'activity.yml:5: metrics.retention: must be a number and a unit (h, d, w or y), e.g. 1y')
  assert.is(problem(`${minimal}logs:\n  retention: 8 weeks\n`), 'activity.yml:5: logs.retention: must be a number and a unit (h, d, w or y), e.g. 8w')
  assert.is(problem(`${minimal}metrics:\n  retentionSize: 50G\n`), 'activity.yml:5: metrics.retentionSize: must be a number and a unit (KB, MB, GB, TB or PB), e.g. 50GB')
  assert.is(problem(`${minimal}metrics:\n  longTerm:\n    retention: 0y\n`), 'activity.yml:6: metrics.longTerm.retention: must be a number and a unit (h, d, w or y), e.g. 5y')
})

test('Elasticsearch runs on 1 or 3 nodes, nothing else', () => {
  assert.is(problem(`${minimal}logs:\n  nodes: 2\n`), 'activity.yml:5: logs.nodes: must be 1 or 3 (Elasticsearch needs a majority of 3 to survive losing a node)')
})

test('backup settings are checked: keep at least one, a cron schedule, a known archive', () => {
  assert.is(problem(`${minimal}backup:\n  keep: 0\n`), 'activity.yml:5: backup.keep: must be at least 1')
  assert.is(problem(`${minimal}backup:\n  keep: many\n`), 'activity.yml:5: backup.keep: expected a whole number')
  assert.match(problem(`${minimal}backup:\n  schedule: nightly\n`), /^activity\.yml:5: backup\.schedule: 'nightly' is not a cron schedule \(.+\); use five fields, e\.g\. '0 3 \* \* \*' for daily at 03:00 UTC$/)
  assert.is(problem(`${minimal}backup:\n  archive: zip\n`), 'activity.yml:5: backup.archive: must be none, tar.gz or tar.zst')
})

test('an unknown field in a nested section names the fields allowed there', () => {
  assert.is(problem(`${minimal}metrics:\n  longTerm:\n    enable: true\n`), 'activity.yml:6: metrics.longTerm.enable: unknown field; allowed: enabled, retention')
  assert.is(problem(`${minimal}backup:\n  kept: 3\n`), 'activity.yml:5: backup.kept: unknown field; allowed: keep, schedule, archive')
})

test.run()
