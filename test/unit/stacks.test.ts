// The deploy helpers of stacks/stacks.ts against a real `docker stack config`: content-hashed config names, profiles,
// secrets, networks, deploy order, and the Swarm e2e overlays.
import { spawnSync } from 'node:child_process'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import {
  deployOrder,
  dockerWithStackConfig,
  fileStacks,
  htpasswdLine,
  networksOf,
  renderStack,
  secretsOf,
  stackConfigs,
  stackEnvironment,
  stackFiles,
  stackNames,
  type StackName,
} from '../../stacks/stacks.ts'
import { tempDir } from '../support/servers.ts'

const repo = new URL('../..', import.meta.url).pathname.replace(/\/$/, '')
const test = suite('stacks')
const dirs: { remove(): void }[] = []
let docker: string

interface Service {
  image?: string
  ports?: { published: number; target: number; mode: string }[]
  deploy?: { mode?: string; replicas?: number; endpoint_mode?: string }
  environment?: Record<string, string>
}
interface Stack {
  services: Record<string, Service>
  configs?: Record<string, { name: string; file: string }>
  [key: string]: unknown
}

test.before(() => {
  const found = dockerWithStackConfig()
  if ('problem' in found) throw new Error(found.problem)
  docker = found.path
})
test.after(() => {
  for (const dir of dirs) dir.remove()
})

/** `docker stack config` of files, interpolated with the environment a deploy would have. */
function dockerView(files: string[], env: Record<string, string>): Stack {
  const result = spawnSync(docker, ['stack', 'config', ...files.flatMap((f) => ['-c', f])], { encoding: 'utf8', env: { ...process.env, ACTIVITY_TAG: '0.1.0-abc1234', ...env } })
  assert.is(result.status, 0, `docker stack config ${files.join(' ')}: ${result.stderr}`)
  return parse(result.stdout) as Stack
}

function view(stack: StackName, profiles: string[] = []): Stack {
  return dockerView(stackFiles(stack, { root: repo, profiles }), stackEnvironment(stack, { root: repo, profiles }))
}

test('docker stack config names every config <stack>_<key>_<content hash> from the environment stackEnvironment gives', () => {
  for (const stack of fileStacks) {
    const expected = Object.fromEntries(stackConfigs(stack, { root: repo, profiles: [] }).map((c) => [c.key, c.name]))
    const names = Object.fromEntries(Object.entries(view(stack).configs ?? {}).map(([key, c]) => [key, c.name]))
    assert.equal(names, expected, stack)
    for (const name of Object.values(names)) assert.match(name, new RegExp(`^${stack}_[a-z0-9_]+_[0-9a-f]{8}$`))
  }
})

test('a changed config file gets a new name, and the others keep theirs', () => {
  const dir = tempDir('stacks')
  dirs.push(dir)
  cpSync(join(repo, 'stacks'), join(dir.path, 'stacks'), { recursive: true })
  const before = stackEnvironment('monitoring', { root: dir.path, profiles: [] })
  const rules = join(dir.path, 'stacks/monitoring/alertmanager.yml')
  writeFileSync(rules, readFileSync(rules, 'utf8').replace('repeat_interval: 12h', 'repeat_interval: 4h'))
  const after = stackEnvironment('monitoring', { root: dir.path, profiles: [] })
  assert.is.not(after.CONFIG_MONITORING_ALERTMANAGER, before.CONFIG_MONITORING_ALERTMANAGER)
  assert.is(after.CONFIG_MONITORING_PROMETHEUS, before.CONFIG_MONITORING_PROMETHEUS)
  assert.is(after.CONFIG_MONITORING_RULES, before.CONFIG_MONITORING_RULES)
})

test('a deploy by hand without the hashes stops with a message saying where they come from', () => {
  const result = spawnSync(docker, ['stack', 'config', '-c', join(repo, 'stacks/metrics.yml')], { encoding: 'utf8', env: { PATH: process.env.PATH } })
  assert.is.not(result.status, 0)
  // The CLI names the first missing variable it meets, in Go's map order: either config's hash (seen both ways here).
  assert.match(result.stderr, /CONFIG_METRICS_(PROMETHEUS|RULES) is missing a value: is a content hash; deploy with scripts\/up or see activity render env/)
})

test('the ha profile merges Postgres and a second Grafana over the admin stack', () => {
  assert.equal(stackFiles('admin', { root: repo, profiles: ['ha'] }).map((f) => f.slice(repo.length + 1)), ['stacks/admin.yml', 'stacks/admin.ha.yml'])
  assert.equal(stackFiles('metrics', { root: repo, profiles: ['ha'] }).map((f) => f.slice(repo.length + 1)), ['stacks/metrics.yml'], 'stacks without the profile are unchanged')
  const plain = view('admin')
  const ha = view('admin', ['ha'])
  assert.is(plain.services.grafana!.deploy!.replicas, 1)
  assert.is(plain.services.grafana!.environment!.GF_DATABASE_TYPE, undefined, 'SQLite by default')
  assert.is(plain.services.postgres, undefined)
  assert.is(ha.services.grafana!.deploy!.replicas, 2)
  assert.is(ha.services.grafana!.environment!.GF_DATABASE_TYPE, 'postgres')
  assert.is(ha.services.grafana!.environment!.GF_DATABASE_PASSWORD__FILE, '/run/secrets/postgres_password')
  assert.is(ha.services.postgres!.image, 'postgres:15.19')
  assert.equal(secretsOf('admin', { root: repo, profiles: [] }).map((s) => s.name), ['traefik_basic_auth', 'grafana_admin_password'])
  assert.equal(secretsOf('admin', { root: repo, profiles: ['ha'] }).map((s) => s.name), ['traefik_basic_auth', 'grafana_admin_password', 'postgres_password'])
})

test('secretsOf lists what each stack mounts, and networksOf the shared networks it joins', () => {
  const secrets = Object.fromEntries(stackNames.map((stack) => [stack, secretsOf(stack, { root: repo, profiles: [] }).map((s) => s.name)]))
  assert.equal(secrets, {
    admin: ['traefik_basic_auth', 'grafana_admin_password'],
    metrics: [],
    logs: [],
    monitoring: [],
    app: [],
    collectors: ['github_token'],
    gitops: ['gitops_webhook_secret', 'gitops_push_password'],
  })
  assert.equal(networksOf('app', { root: repo, profiles: [] }).map((n) => n.name), ['activity_ingress', 'activity_logs'])
  assert.equal(networksOf('collectors', { root: repo, profiles: [] }).map((n) => n.name), ['activity_metrics'])
  const all = new Set(stackNames.flatMap((stack) => networksOf(stack, { root: repo, profiles: ['ha'] }).map((n) => n.name)))
  assert.equal([...all].sort(), ['activity_ingress', 'activity_logs', 'activity_metrics', 'activity_monitoring'])
})

test('the basic-auth secret is an htpasswd bcrypt line for the password the note tells once', () => {
  const spec = secretsOf('admin', { root: repo, profiles: [] }).find((s) => s.name === 'traefik_basic_auth')!
  const generated = spec.generate({})
  const password = /password (\S+)$/.exec(generated.note ?? '')?.[1]
  assert.ok(password, generated.note)
  const [user, hash] = generated.value.trim().split(':')
  assert.is(user, 'admin')
  assert.match(hash!, /^\$2y\$10\$/)
  assert.ok(bcrypt.compareSync(password!, hash!.replace(/^\$2y\$/, '$2b$')), 'the hash verifies the password')
  assert.not.ok(bcrypt.compareSync(password! + 'x', hash!.replace(/^\$2y\$/, '$2b$')))
  assert.is.not(spec.generate({}).value, generated.value, 'a new random password each time')
  assert.match(htpasswdLine('ops', 'pw'), /^ops:\$2y\$10\$.{53}$/)
})

test('github_token is the token in GITHUB_TOKEN when set, blank with a note saying how to set it otherwise', () => {
  const spec = secretsOf('collectors').find((s) => s.name === 'github_token')!
  assert.equal(spec.generate({ GITHUB_TOKEN: 'ghp_example' }), { value: 'ghp_example' })
  const blank = spec.generate({})
  assert.is(blank.value.trim(), '')
  assert.ok(blank.value.length > 0, 'Swarm refuses an empty secret')
  assert.match(blank.note!, /docker secret create github_token/)
})

test('deployOrder deploys every stack once: admin first, what a stack needs before it, gitops last', () => {
  assert.equal([...deployOrder].sort(), [...stackNames].sort())
  const at = (stack: StackName) => deployOrder.indexOf(stack)
  assert.is(at('admin'), 0)
  assert.is(at('gitops'), deployOrder.length - 1)
  assert.ok(at('metrics') < at('collectors'), 'the Pushgateway before the jobs that push to it')
  assert.ok(at('logs') < at('app'), 'Logstash before the nginx that resolves it at start')
})

test('nothing is published but Traefik on 80 and 443, in host mode', () => {
  const published: string[] = []
  for (const stack of fileStacks) {
    for (const [name, service] of Object.entries(view(stack, ['ha']).services)) {
      for (const port of service.ports ?? []) published.push(`${stack}/${name} ${port.published} ${port.mode}`)
    }
  }
  assert.equal(published.sort(), ['admin/traefik 443 host', 'admin/traefik 80 host'])
})

test('renderStack gives a committed stack its files, environment, secrets and networks, overlays last', () => {
  const overlay = join(repo, 'test/e2e/overlay/metrics.yml')
  const plan = renderStack('metrics', { root: repo, profiles: [], overlays: [overlay] })
  assert.equal(plan.files, [join(repo, 'stacks/metrics.yml'), overlay])
  assert.equal(plan.env, stackEnvironment('metrics', { root: repo, profiles: [] }))
  assert.equal(plan.secrets, [])
  assert.equal(plan.networks.map((n) => n.name), ['activity_metrics', 'activity_ingress'])
})

test('the e2e overlays merge: every service dnsrr, the documented host ports, and no task for what has no stand-in', () => {
  const ports: string[] = []
  for (const stack of fileStacks) {
    const overlay = join(repo, `test/e2e/overlay/${stack}.yml`)
    const merged = dockerView([...stackFiles(stack, { root: repo, profiles: [] }), overlay], stackEnvironment(stack, { root: repo, profiles: [] }))
    const absent = Object.keys((parse(readFileSync(overlay, 'utf8')) as { 'x-e2e-absent'?: Record<string, string> })['x-e2e-absent'] ?? {})
    for (const [name, service] of Object.entries(merged.services)) {
      assert.is(service.deploy?.endpoint_mode, 'dnsrr', `${stack}/${name} has no VIP`)
      if (absent.includes(name)) assert.is(service.deploy?.replicas, 0, `${stack}/${name} has no stand-in: no task`)
      else assert.is.not(service.deploy?.replicas, 0, `${stack}/${name} runs`)
      for (const port of service.ports ?? []) {
        assert.is(port.mode, 'host', `${stack}/${name}`)
        ports.push(`${stack}/${name} ${port.published}->${port.target}`)
      }
    }
  }
  assert.equal(ports.sort(), [
    'admin/traefik 443->443',
    'admin/traefik 80->80',
    'app/nginx 8080->8080',
    'gitops/gitops 8088->8080',
    'metrics/prometheus 9090->9090',
    'metrics/pushgateway 9091->9091',
    'monitoring/alertmanager 9094->9093',
    'monitoring/prometheus 9093->9090',
  ])
})

test.run()
