import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfig, parseConfig } from '../../collectors/runtime/config.ts'
import { ConfigError } from '../../collectors/runtime/errors.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'

const test = suite('activity.yml')
const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))

function problem(text: string): string {
  try {
    parseConfig(text, 'activity.yml', collectors)
  } catch (error) {
    assert.instance(error, ConfigError)
    const message = (error as Error).message
    assert.not.match(message, /\n/, 'one line')
    return message
  }
  throw new Error('expected a ConfigError')
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
  assert.is(problem('sources:\n  dockerhub:\n    targets: [prom]\n    shedule: "0 * * * *"\n'), 'activity.yml:4: sources.dockerhub.shedule: unknown field; allowed: schedule, targets, options')
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

test.run()
