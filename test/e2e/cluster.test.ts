// `activity cluster --provider ssh` on a real multi-node swarm: three hosts (network namespaces, each with its own dockerd,
// hostname and sshd) on a private bridge, reached over ssh exactly as a user's machines are.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { ensureNodeLabels } from '../../stacks/deploy/swarm.ts'
import { runActivity, type CliRun } from '../support/cli.ts'
import { HostLab, missingPrograms } from '../support/netns-hosts.ts'

const test = suite('cluster on several machines (ssh provider)')
const lab = new HostLab('/run/act-cluster', 'act', [
  { name: 'act-m1', address: '10.77.0.11' },
  { name: 'act-w1', address: '10.77.0.12' },
  { name: 'act-w2', address: '10.77.0.13' },
])
const [m1, w1, w2] = lab.hosts as [(typeof lab.hosts)[0], (typeof lab.hosts)[0], (typeof lab.hosts)[0]]
const image = 'debian:bookworm-slim'
const dir = mkdtempSync(join(tmpdir(), 'activity-cluster-'))
const timings: string[] = []
let started = Date.now()

/** activity.yml with the hosts given: what a user writes for their machines. */
function config(name: string, hosts: typeof lab.hosts): string {
  const file = join(dir, name)
  const nodes = hosts.map((h) => `    - {name: ${h.name}, host: ${h.address}}`).join('\n')
  writeFileSync(
    file,
    `sources:\n  dockerhub:\n    targets: [prom]\n\ncluster:\n  provider: ssh\n  managers: 1\n  nodes:\n${nodes}\n  ssh:\n    user: root\n    port: 22\n    identityFile: ${lab.key}\n    knownHostsFile: ${lab.knownHosts}\n    connectTimeout: 5\n`,
  )
  return file
}

const cluster = async (args: string[]): Promise<CliRun> => {
  const run = await runActivity(['cluster', ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ACTIVITY_SSH_CONTROL_DIR: lab.sshControlDir }, cwd: dir })
  if (process.env.TEST_VERBOSE) process.stdout.write(`$ activity cluster ${args.join(' ')}\n${run.stdout}${run.stderr}\n`)
  return run
}

/** The status table's line of one node. */
const statusLine = (run: CliRun, node: string) => run.stdout.split('\n').find((line) => line.startsWith(`${node} `)) ?? ''

function lap(what: string): void {
  timings.push(`${what} ${((Date.now() - started) / 1000).toFixed(1)} s`)
  started = Date.now()
}

test.before(async () => {
  const missing = missingPrograms()
  if (missing) throw new Error(missing)
  await lab.cleanup() // what a killed run left
  try {
    lab.create()
    await Promise.all(lab.hosts.map((h) => lab.startDocker(h)))
    lab.loadImage(image)
    for (const host of lab.hosts) await lab.startSshd(host)
  } catch (error) {
    await lab.cleanup() // uvu runs no after hook when before fails
    throw error
  }
  lap('three hosts up (namespaces, dockerd, image, sshd)')
})

test.after(async () => {
  await lab.cleanup()
  rmSync(dir, { recursive: true, force: true })
  process.stdout.write(`timings: ${timings.join('; ')}\n`)
})

test('init checks each engine, raises vm.max_map_count on the manager, builds a manager and a worker over ssh, and join adds a second worker', async () => {
  const init = await cluster(['init', '--provider', 'ssh', '--config', config('two.yml', [m1, w1])])
  assert.is(init.code, 0, init.stdout + init.stderr)
  assert.match(init.stdout, /act-m1: initialised the swarm/)
  assert.match(init.stdout, /act-w1: joined as worker/)
  // Each engine checked, and the manager (where Elasticsearch may run) gets vm.max_map_count for good; the worker not.
  assert.match(init.stdout, /act-m1 +Docker \S+ \(API [\d.]+, \w+ image store\), vm\.max_map_count set \(was 65530\)/)
  assert.match(init.stdout, /act-w1 +Docker \S+ \(API [\d.]+, \w+ image store\)\n/)
  assert.is(readFileSync(lab.kernel(m1).proc, 'utf8').trim(), '262144')
  assert.match(readFileSync(`${lab.kernel(m1).sysctlDir}/99-activity.conf`, 'utf8'), /^vm\.max_map_count = 262144$/m)
  assert.is(readFileSync(lab.kernel(w1).proc, 'utf8').trim(), '65530')
  const join = await cluster(['join', 'act-w2', '--config', config('three.yml', [m1, w1, w2])])
  assert.is(join.code, 0, join.stdout + join.stderr)
  assert.match(join.stdout, /act-w2: joined as worker/)
  assert.not.match(join.stdout, /act-w1: joined/)
  lap('init (2 nodes) + join')
})

test('status shows three ready nodes with their role and storage labels', async () => {
  const status = await cluster(['status', '--config', join(dir, 'three.yml')])
  assert.is(status.code, 0, status.stdout + status.stderr)
  assert.match(statusLine(status, 'act-m1'), /10\.77\.0\.11\s+manager \(leader\)\s+ready\s+active\s+ssh ok, engine ok\s+activity\.role=manager,activity\.storage=true/)
  for (const worker of ['act-w1', 'act-w2']) assert.match(statusLine(status, worker), /worker\s+ready\s+active\s+ssh ok, engine ok\s+activity\.role=worker,activity\.storage=false/)
  assert.match(status.stdout, /status: all 3 nodes ready/)
  // The hostnames are the hosts' own: the swarm sees three machines.
  assert.equal(lab.docker(m1, ['node', 'ls', '--format', '{{.Hostname}}']).trim().split('\n').sort(), ['act-m1', 'act-w1', 'act-w2'])
})

test('init run again changes nothing', async () => {
  const again = await cluster(['init', '--config', join(dir, 'three.yml')])
  assert.is(again.code, 0, again.stdout + again.stderr)
  assert.match(again.stdout, /init: nothing to change/)
  assert.match(again.stdout, /act-m1: already the manager/)
  assert.match(again.stdout, /act-w2: already a worker/)
  assert.match(again.stdout, /act-w2: activity\.role=worker activity\.storage=false \(unchanged\)/)
  assert.match(again.stdout, /act-m1 +Docker .*vm\.max_map_count already 262144/)
})

test('images only the manager has (what up builds there) reach every node, and run on every node', async () => {
  // up builds the project's images on the engine it talks to, the first manager: here, a tag only act-m1 has.
  const built = 'activity-test/probe:1'
  lab.docker(m1, ['tag', image, built])
  const images = (args: string[]) => runActivity(['cluster', 'images', ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ACTIVITY_SSH_CONTROL_DIR: lab.sshControlDir, DOCKER_HOST: m1.dockerHost }, cwd: dir })
  const copy = await images([built, '--config', join(dir, 'three.yml')])
  assert.is(copy.code, 0, copy.stdout + copy.stderr)
  assert.match(copy.stdout, /act-m1: has the image/)
  for (const worker of ['act-w1', 'act-w2']) assert.match(copy.stdout, new RegExp(`${worker}: copying ${built}`))
  assert.match(copy.stdout, /images: copied to act-w1, act-w2/)
  const again = await images([built, '--config', join(dir, 'three.yml')])
  assert.match(again.stdout, /images: every node has them/)
  lab.docker(m1, ['service', 'create', '--detach', '--no-resolve-image', '--endpoint-mode', 'dnsrr', '--stop-grace-period', '1s', '--mode', 'global', '--name', 'probe', built, 'sleep', 'infinity'])
  await lab.waitFor('a running probe task on each node', 60_000, () => lab.docker(m1, ['service', 'ps', 'probe', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}']).split('\n').filter((l) => l.startsWith('Running')).length === 3)
  lab.docker(m1, ['service', 'rm', 'probe'])
  lap('images copied to the workers')
})

test("the metrics stack's Prometheus constraint places it on the storage node the labels name", async () => {
  const metrics = parse(readFileSync(new URL('../../stacks/metrics.yml', import.meta.url), 'utf8')) as { services: Record<string, { deploy: { placement: { constraints: string[] } } }> }
  const constraints = metrics.services.prometheus!.deploy.placement.constraints
  assert.equal(constraints, ['node.labels.activity.storage == true'])
  lab.docker(m1, ['service', 'create', '--detach', '--endpoint-mode', 'dnsrr', '--stop-grace-period', '1s', '--replicas', '3', '--name', 'storage', ...constraints.flatMap((c) => ['--constraint', c]), image, 'sleep', 'infinity'])
  await lab.waitFor('3 running tasks of storage', 60_000, () => lab.docker(m1, ['service', 'ps', 'storage', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}']).split('\n').filter((l) => l.startsWith('Running')).length === 3)
  assert.equal([...new Set(lab.docker(m1, ['service', 'ps', 'storage', '--filter', 'desired-state=running', '--format', '{{.Node}}']).trim().split('\n'))], ['act-m1'])
  lab.docker(m1, ['service', 'rm', 'storage'])
})

test("up's labelling of a single node (the local provider) sets only what is missing", async () => {
  const before = process.env.DOCKER_HOST
  process.env.DOCKER_HOST = m1.dockerHost
  try {
    lab.docker(m1, ['node', 'update', '--label-rm', 'activity.storage', 'act-m1'])
    assert.equal(await ensureNodeLabels({ 'activity.role': 'manager', 'activity.storage': 'true' }), ['activity.storage=true'])
    assert.equal(await ensureNodeLabels({ 'activity.role': 'manager', 'activity.storage': 'true' }), [])
  } finally {
    if (before === undefined) delete process.env.DOCKER_HOST
    else process.env.DOCKER_HOST = before
  }
})

test('a global service runs a task on every node, and status lists them', async () => {
  const service = ['service', 'create', '--detach', '--endpoint-mode', 'dnsrr', '--stop-grace-period', '1s']
  lab.docker(m1, [...service, '--mode', 'global', '--name', 'everywhere', image, 'sleep', 'infinity'])
  lab.docker(m1, [...service, '--replicas', '3', '--name', 'spread', '--constraint', 'node.labels.activity.role!=none', image, 'sleep', 'infinity'])
  await lab.waitFor('3 running tasks of everywhere and of spread', 60_000, () => {
    const running = lab.docker(m1, ['service', 'ps', 'everywhere', 'spread', '--filter', 'desired-state=running', '--format', '{{.Name}} {{.Node}} {{.CurrentState}}'])
    return running.split('\n').filter((l) => / Running /.test(l)).length === 6
  })
  const status = await cluster(['status', '--config', join(dir, 'three.yml')])
  for (const node of ['act-m1', 'act-w1', 'act-w2']) assert.match(statusLine(status, node), /\| .*everywhere/, `${node} runs a task of everywhere`)
  lap('services converged')
})

test("a worker whose engine stops is reported down, and its replicated task moves to the other nodes", async () => {
  const before = lab.docker(m1, ['service', 'ps', 'spread', '--filter', 'desired-state=running', '--format', '{{.Node}}']).trim().split('\n')
  assert.ok(before.includes('act-w2'), `a task of spread runs on act-w2 (${before.join(', ')})`)
  await lab.stopDocker(w2)
  let status: CliRun | undefined
  await lab.waitFor('status to report act-w2 down', 60_000, async () => {
    status = await cluster(['status', '--config', join(dir, 'three.yml')])
    return /\bdown\b/.test(statusLine(status, 'act-w2'))
  })
  assert.is(status!.code, 1, 'status exits 1 while a node is down')
  assert.match(statusLine(status!, 'act-w2'), /ssh ok, ENGINE DOWN/)
  assert.match(status!.stdout, /status: 1 node not ready: act-w2 \(down/)
  lap('worker reported down')
  await lab.waitFor("spread's 3 tasks running on act-m1 and act-w1", 60_000, () => {
    const lines = lab.docker(m1, ['service', 'ps', 'spread', '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}']).trim().split('\n')
    return lines.length === 3 && lines.every((l) => /^act-(m1|w1) Running/.test(l))
  })
  lap('its task moved')
})

test('clean makes every node leave the swarm', async () => {
  await lab.startDocker(w2) // back, so that it can leave too
  lab.docker(m1, ['service', 'rm', 'everywhere', 'spread'])
  const clean = await cluster(['clean', '--config', join(dir, 'three.yml')])
  assert.is(clean.code, 0, clean.stdout + clean.stderr)
  for (const host of lab.hosts) assert.is(lab.docker(host, ['info', '--format', '{{.Swarm.LocalNodeState}}']).trim(), 'inactive', `${host.name} left`)
  const again = await cluster(['clean', '--config', join(dir, 'three.yml')])
  assert.match(again.stdout, /clean: nothing to do/)
  const status = await cluster(['status', '--config', join(dir, 'three.yml')])
  assert.is(status.code, 1)
  assert.match(status.stdout, /status: no swarm/)
  lap('clean')
})

test("the local provider makes the engine it talks to a labelled single-node swarm, and clean leaves it", async () => {
  // act-m1's engine stands for "this machine's engine": the tests share the real one with others.
  writeFileSync(join(dir, 'local.yml'), 'sources:\n  dockerhub:\n    targets: [prom]\n')
  const local = (command: string) => runActivity(['cluster', command, '--config', join(dir, 'local.yml')], { env: { PATH: process.env.PATH, HOME: process.env.HOME, DOCKER_HOST: m1.dockerHost }, cwd: dir })
  const init = await local('init')
  assert.is(init.code, 0, init.stdout + init.stderr)
  assert.match(init.stdout, /initialised the swarm .* \(advertise address 127\.0\.0\.1\)/)
  // The node is named after the machine running the CLI (here not act-m1, whose engine stands in for it).
  assert.match(init.stdout, /\n\S+ +127\.0\.0\.1 +manager \(leader\) +ready +active +engine ok +activity\.role=manager,activity\.storage=true/)
  assert.match((await local('init')).stdout, /init: nothing to change/)
  const clean = await local('clean')
  assert.is(clean.code, 0, clean.stdout + clean.stderr)
  assert.is(lab.docker(m1, ['info', '--format', '{{.Swarm.LocalNodeState}}']).trim(), 'inactive')
})

test.run()
