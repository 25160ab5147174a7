// The collectors stack rendered from activity.yml: what `docker stack config` (a real docker CLI) makes of it.
import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { loadConfig, type ActivityConfig } from '../../collectors/runtime/activity-yml.ts'
import type { AnyCollector } from '../../collectors/runtime/define.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { renderCollectors } from '../../stacks/collectors-stack.ts'
import { dockerWithStackConfig, renderStack, stackEnvironment } from '../../stacks/stacks.ts'
import { tempDir } from '../support/servers.ts'
import { runActivity } from '../support/cli.ts'

const repo = new URL('../..', import.meta.url).pathname
const test = suite('activity render collectors')
const dir = tempDir('render')
let docker: string
let collectors: Map<string, AnyCollector>

/** activity.yml files a user might write. */
const examples: Record<string, string> = {
  'both sources, one with its default schedule': `
sources:
  github:
    targets: [prometheus, grafana/grafana]
  dockerhub:
    schedule: "*/15 * * * *"
    targets: [prom]
`,
  'Docker Hub only, on its own domain': `
platform:
  domain: activity.example.org
sources:
  dockerhub:
    targets: [prom, grafana/grafana, library/nginx]
`,
  'GitHub only, every six hours, with options': `
sources:
  github:
    schedule: "15 */6 * * *"
    targets: [nodejs/node]
    options:
      releases: 3
`,
}

interface Service {
  image: string
  command: string[]
  environment: Record<string, string>
  configs: { source: string; target: string }[]
  secrets?: { source: string }[]
  networks: Record<string, unknown>
  deploy: { mode: string; replicas: number; labels: Record<string, string>; restart_policy: { condition: string } }
}
interface Stack {
  services: Record<string, Service>
  configs: Record<string, { name: string; file: string }>
  secrets?: Record<string, { name: string; external: boolean }>
  networks: Record<string, { name: string; external: boolean }>
}

function configFor(name: string, text: string, known = collectors): ActivityConfig {
  const file = join(dir.path, `${name.replace(/\W+/g, '-')}.yml`)
  writeFileSync(file, text)
  return loadConfig(file, known)
}

/** The services a config should have: one per source, and `<source>-history` for a source whose collector has history. */
const expectedServices = (config: ActivityConfig) => config.sources.flatMap((s) => (s.collector.history ? [s.name, `${s.name}-history`] : [s.name])).sort()

/** The rendered stack as `docker stack config` reads it (interpolated, validated against the Compose schema). */
function dockerView(config: ActivityConfig): Stack {
  const file = join(dir.path, 'collectors.yml')
  writeFileSync(file, renderCollectors(config))
  const result = spawnSync(docker, ['stack', 'config', '-c', file], { encoding: 'utf8', env: { ...process.env, ACTIVITY_TAG: '0.1.0-abc1234', REGISTRY: '' } })
  assert.is(result.status, 0, `docker stack config refused the rendered stack: ${result.stderr}`)
  return parse(result.stdout) as Stack
}

test.before(async () => {
  const found = dockerWithStackConfig()
  if ('problem' in found) throw new Error(found.problem)
  docker = found.path
  collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
})
test.after(() => dir.remove())

test('docker stack config accepts the stack of every example, with one service per source (and its history job) and no more', () => {
  for (const [name, text] of Object.entries(examples)) {
    const config = configFor(name, text)
    const stack = dockerView(config)
    assert.equal(Object.keys(stack.services).sort(), expectedServices(config), name)
  }
})

test('a source whose collector has history gets a <source>-history job: `activity history <source>` on historySchedule, into the metrics Prometheus', () => {
  const withHistory = new Map(collectors)
  withHistory.set('github', { ...collectors.get('github')!, history: async () => {} })
  const daily = dockerView(configFor('history-default', examples['both sources, one with its default schedule']!, withHistory))
  const job = daily.services['github-history']!
  assert.equal(job.command, ['history', 'github'])
  assert.is(job.deploy.mode, 'replicated-job')
  assert.is(job.deploy.restart_policy.condition, 'none')
  assert.is(job.deploy.labels['activity.schedule'], '30 4 * * *', 'daily by default')
  assert.is(job.environment.METRICS_PROMETHEUS_URL, 'http://tasks.metrics_prometheus:9090')
  assert.is(job.environment.PUSHGATEWAY_URL, 'http://metrics_pushgateway:9091')
  assert.is(job.environment.GITHUB_TOKEN_FILE, '/run/secrets/github_token')
  assert.equal(job.secrets, [{ source: 'github_token' }])
  assert.is(daily.services['dockerhub-history'], undefined, 'no history job for a collector without history')

  const set = configFor('history-set', 'sources:\n  github:\n    historySchedule: "5 1 * * 0"\n    targets: [prometheus]\n', withHistory)
  assert.is(dockerView(set).services['github-history']!.deploy.labels['activity.schedule'], '5 1 * * 0')
  assert.throws(() => configFor('history-bad', 'sources:\n  github:\n    historySchedule: "daily"\n    targets: [prometheus]\n', withHistory), /:3: sources\.github\.historySchedule: 'daily' is not a cron schedule/)
  assert.throws(() => configFor('history-none', 'sources:\n  dockerhub:\n    historySchedule: "5 1 * * 0"\n    targets: [prom]\n', withHistory), /sources\.dockerhub\.historySchedule: dockerhub has no history to schedule; remove historySchedule/)
})

test('each service runs `activity collect <source>` as a replicated job, its schedule in the activity.schedule label', () => {
  const config = configFor('schedules', examples['both sources, one with its default schedule']!)
  const stack = dockerView(config)
  for (const source of config.sources) {
    const service = stack.services[source.name]!
    assert.equal(service.command, ['collect', source.name])
    assert.is(service.deploy.mode, 'replicated-job')
    assert.is(service.deploy.replicas, 1)
    // A failed run waits for the scheduler instead of retrying against a rate-limited API.
    assert.is(service.deploy.restart_policy.condition, 'none')
    assert.is(service.image, 'local.invalid/activity/collectors:0.1.0-abc1234')
  }
  assert.is(stack.services.github!.deploy.labels['activity.schedule'], collectors.get('github')!.schedule, 'github keeps its default schedule')
  assert.is(stack.services.dockerhub!.deploy.labels['activity.schedule'], '*/15 * * * *')
})

test('activity.yml reaches every task as a config named after its content', () => {
  const first = configFor('content-a', examples['Docker Hub only, on its own domain']!)
  const stack = dockerView(first)
  const service = stack.services.dockerhub!
  assert.equal(service.configs, [{ source: 'activity', target: '/etc/activity/activity.yml' }])
  assert.is(service.environment.ACTIVITY_CONFIG, '/etc/activity/activity.yml')
  assert.is(stack.configs.activity!.file, first.file)
  assert.match(stack.configs.activity!.name, /^collectors_activity_[0-9a-f]{8}$/)

  const same = dockerView(configFor('content-b', examples['Docker Hub only, on its own domain']!))
  assert.is(same.configs.activity!.name, stack.configs.activity!.name, 'the same content keeps its name')
  const changed = dockerView(configFor('content-c', examples['Docker Hub only, on its own domain']!.replace('library/nginx', 'library/redis')))
  assert.is.not(changed.configs.activity!.name, stack.configs.activity!.name, 'a changed activity.yml is a new config')
})

test('only the github service gets the token, as the secret file GITHUB_TOKEN_FILE names', () => {
  const stack = dockerView(configFor('secrets', examples['both sources, one with its default schedule']!))
  assert.equal(stack.services.github!.secrets, [{ source: 'github_token' }])
  assert.is(stack.services.github!.environment.GITHUB_TOKEN_FILE, '/run/secrets/github_token')
  assert.is(stack.services.dockerhub!.secrets, undefined)
  assert.is(stack.services.dockerhub!.environment.GITHUB_TOKEN_FILE, undefined)
  assert.equal(stack.secrets, { github_token: { name: 'github_token', external: true } })
  for (const service of Object.values(stack.services)) assert.is(service.environment.GITHUB_TOKEN, undefined, 'never a token in the environment')

  const noGithub = dockerView(configFor('no-github', examples['Docker Hub only, on its own domain']!))
  assert.is(noGithub.secrets, undefined, 'no secret is required without the github source')
})

test('every job pushes to the Pushgateway over the metrics network', () => {
  const stack = dockerView(configFor('network', examples['both sources, one with its default schedule']!))
  for (const service of Object.values(stack.services)) {
    assert.is(service.environment.PUSHGATEWAY_URL, 'http://metrics_pushgateway:9091')
    assert.equal(Object.keys(service.networks), ['metrics'])
  }
  assert.equal(stack.networks.metrics, { name: 'activity_metrics', external: true })
})

test('removing a source from activity.yml removes its service from the stack', () => {
  const before = dockerView(configFor('before', examples['both sources, one with its default schedule']!))
  const after = dockerView(configFor('after', 'sources:\n  dockerhub:\n    targets: [prom]\n'))
  assert.equal(Object.keys(before.services).sort(), expectedServices(configFor('before', examples['both sources, one with its default schedule']!)))
  assert.equal(Object.keys(after.services).sort(), expectedServices(configFor('after', 'sources:\n  dockerhub:\n    targets: [prom]\n')))
  assert.not.ok(Object.keys(after.services).some((name) => name.startsWith('github')), 'github and its history job are gone')
})

test('renderStack writes the collectors stack for a deploy and removes it afterwards', () => {
  const config = configFor('plan', examples['Docker Hub only, on its own domain']!)
  const plan = renderStack('collectors', { config, endpointMode: 'dnsrr' })
  try {
    assert.is(plan.files.length, 1)
    assert.is(plan.env.DOMAIN, 'activity.example.org')
    assert.equal(plan.secrets.map((s) => s.name), ['github_token'])
    assert.equal(plan.networks.map((n) => n.name), ['activity_metrics'])
    const result = spawnSync(docker, ['stack', 'config', '-c', plan.files[0]!], { encoding: 'utf8', env: { ...process.env, ...plan.env, ACTIVITY_TAG: '1.0.0' } })
    assert.is(result.status, 0, result.stderr)
    assert.match(result.stdout, /endpoint_mode: dnsrr/)
  } finally {
    plan.cleanup()
  }
  assert.not.ok(existsSync(plan.files[0]!), 'cleanup removes the rendered file')
})

test('activity render collectors prints the same stack, and fails on a broken activity.yml with its line', async () => {
  const config = configFor('cli', examples['GitHub only, every six hours, with options']!)
  const run = await activity(['render', 'collectors', '--config', config.file])
  assert.is(run.code, 0, run.stderr)
  assert.is(run.stdout, renderCollectors(config))

  const broken = join(dir.path, 'broken.yml')
  writeFileSync(broken, 'sources:\n  dockerhub:\n    targets: [prom]\n  maven:\n    targets: [junit]\n')
  const failed = await activity(['render', 'collectors', '--config', broken])
  assert.is(failed.code, 2)
  assert.match(failed.stderr, new RegExp(`^activity: ${broken.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4: sources\\.maven: unknown source 'maven'`))
})

test('activity render env prints the config hashes a stack file needs, for a deploy by hand', async () => {
  const run = await activity(['render', 'env', 'monitoring', '--root', repo])
  assert.is(run.code, 0, run.stderr)
  const env = Object.fromEntries(run.stdout.trim().split('\n').map((line) => line.split('=') as [string, string]))
  assert.equal(env, stackEnvironment('monitoring', { root: repo, profiles: [] }))
  const result = spawnSync(docker, ['stack', 'config', '-c', join(repo, 'stacks/monitoring.yml')], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } })
  assert.is(result.status, 0, result.stderr)

  const wrong = await activity(['render', 'env', 'collectors'])
  assert.is(wrong.code, 2)
  assert.match(wrong.stderr, /render env takes one stack: admin, metrics, logs, monitoring, app, gitops/)
})

const activity = (args: string[]) => runActivity(args)

test.run()
