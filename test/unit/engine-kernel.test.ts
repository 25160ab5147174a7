// vm.max_map_count on the nodes that may run Elasticsearch: which nodes those are, up's refusal, and what activity
// cluster init runs on each node (the engine's verdict, then the setting raised now and for good where it is too low).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseConfig } from '../../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { mayPlace } from '../../stacks/deploy/kernel.ts'
import { checkNodes, elasticsearchPlacement, engineScript, mapCountScript } from '../../scripts/cluster/kernel.ts'
import { exec, type NodeShell } from '../../scripts/cluster/shell.ts'
import { checkNodes as checkUpNodes } from '../../scripts/lib/prerequisites.ts'
import { createOutput } from '../../scripts/lib/output.ts'

const test = suite('vm.max_map_count and the engine on each node')
const dir = mkdtempSync(join(tmpdir(), 'activity-kernel-'))
const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
const repository = new URL('../..', import.meta.url).pathname
const fixture = (name: string) => readFileSync(new URL(`../fixtures/engine/${name}`, import.meta.url), 'utf8').trim()
const ssh = parseConfig('sources:\n  dockerhub:\n    targets: [prom]\ncluster:\n  provider: ssh\n  nodes:\n    - {name: m1, host: 10.0.0.11}\n    - {name: w1, host: 10.0.0.12}\n', 'activity.yml', collectors).cluster
const local = parseConfig('sources:\n  dockerhub:\n    targets: [prom]\n', 'activity.yml', collectors).cluster

/** A node's kernel setting and sysctl.d file, in a folder of its own. */
function kernel(name: string, count: number): { proc: string; file: string } {
  mkdirSync(join(dir, name), { recursive: true })
  writeFileSync(join(dir, name, 'max_map_count'), `${count}\n`)
  return { proc: join(dir, name, 'max_map_count'), file: join(dir, name, '99-activity.conf') }
}

/**
 * A node reached over ssh, which cannot exist here: it answers the engine script with recorded outputs, and runs every
 * other script with this machine's sh (they only touch the files `kernel` made). Records what it was asked to run.
 */
function node(name: string, engine: string, count: number, ran: string[]): NodeShell {
  return {
    node: ssh.nodes.find((n) => n.name === name)!,
    run: async (script) => {
      ran.push(script)
      if (script.startsWith('docker version')) return { code: 0, stdout: `${fixture(`${engine}-version.json`)}\n--activity--\n${fixture(`${engine}-info.json`)}\n--activity--\n${count}\n`, stderr: '' }
      return exec('sh', ['-c', script])
    },
    unreachable: () => undefined,
  }
}

test.after(() => rmSync(dir, { recursive: true, force: true }))

test('placement constraints on role and labels decide which nodes may run a store', () => {
  const manager = { role: 'manager', labels: { 'activity.storage': 'true' } }
  const worker = { role: 'worker', labels: { 'activity.storage': 'false' } }
  assert.ok(mayPlace(['node.role == manager'], manager))
  assert.not.ok(mayPlace(['node.role == manager'], worker))
  assert.ok(mayPlace(['node.labels.activity.storage == true'], manager))
  assert.not.ok(mayPlace(['node.labels.activity.storage==true'], worker))
  assert.ok(mayPlace(['node.role != manager'], worker))
  assert.ok(mayPlace(['node.hostname == somewhere'], worker), 'what cannot be told from here counts as a match')
  assert.ok(mayPlace(['node.labels.activity.elasticsearch == true'], worker), 'so does a label the node is not known to carry or lack')
  assert.ok(mayPlace([], worker))
})

test("Elasticsearch's nodes: the manager with the storage label, not a plain worker (stacks/logs.yml); outside a repository, managers and storage nodes", () => {
  const [m1, w1] = ssh.nodes as [(typeof ssh.nodes)[0], (typeof ssh.nodes)[0]]
  assert.equal([m1, w1].map(elasticsearchPlacement(repository)), [true, false])
  assert.equal([m1, w1].map(elasticsearchPlacement(dir)), [true, false])
})

test('the setting is raised now and for good when too low, and left alone when high enough', async () => {
  const low = kernel('low', 65530)
  assert.is((await exec('sh', ['-c', mapCountScript(low)])).stdout, 'set (was 65530)\n')
  assert.is(readFileSync(low.proc, 'utf8'), '262144\n')
  assert.is(readFileSync(low.file, 'utf8'), '# activity cluster init: Elasticsearch needs at least this many memory map areas\nvm.max_map_count = 262144\n')
  assert.is((await exec('sh', ['-c', mapCountScript(low)])).stdout, 'already 262144\n')
  const high = kernel('high', 1048576)
  assert.is((await exec('sh', ['-c', mapCountScript(high)])).stdout, 'already 1048576\n')
  assert.not.ok(existsSync(high.file), 'a higher value is not lowered at the next boot')
})

test('up refuses a too low map count on this machine with the fix, and says nothing without Elasticsearch', async () => {
  const { proc } = kernel('up', 65530)
  try {
    await checkUpNodes(['node.role == manager'], local, [], proc)
    assert.unreachable('refused')
  } catch (error) {
    assert.is(
      (error as Error).message,
      'prerequisites: vm.max_map_count is 65530 on this machine; Elasticsearch needs 262144 and will not start; on this machine: sudo sysctl -w vm.max_map_count=262144, and keep it with echo vm.max_map_count=262144 | sudo tee /etc/sysctl.d/99-activity.conf (activity cluster init does both on the nodes it manages), or deploy --without elasticsearch',
    )
  }
  await checkUpNodes(undefined, local, [], proc)
  await checkUpNodes(['node.role == manager'], local, [], kernel('up-ok', 262144).proc)
})

test("up on a cluster: every node's engine over ssh (ssh stand-in, recorded outputs), the map count where Elasticsearch may run", async () => {
  const state = join(dir, 'standin')
  mkdirSync(join(state, 'nodes'), { recursive: true })
  const nodeState = (host: string, what: string, value: string) => writeFileSync(join(state, 'nodes', `${host}.${what}`), `${value}\n`)
  const saved = { PATH: process.env.PATH, STANDIN_DIR: process.env.STANDIN_DIR }
  process.env.PATH = `${new URL('../support/standins', import.meta.url).pathname}:${process.env.PATH}`
  process.env.STANDIN_DIR = state
  const refused = async (run: Promise<unknown>) => run.then(() => 'accepted', (error: Error) => error.message)
  try {
    const storage = ['node.labels.activity.storage == true']
    nodeState('10.0.0.11', 'mapcount', '65530')
    nodeState('10.0.0.12', 'mapcount', '65530')
    assert.is(
      await refused(checkUpNodes(storage, ssh, [])),
      'prerequisites: vm.max_map_count is 65530 on m1; Elasticsearch needs 262144 and will not start; on m1: sudo sysctl -w vm.max_map_count=262144, and keep it with echo vm.max_map_count=262144 | sudo tee /etc/sysctl.d/99-activity.conf (activity cluster init does both on the nodes it manages), or deploy --without elasticsearch',
    )
    nodeState('10.0.0.11', 'mapcount', '262144')
    const old = "Docker Engine 20.10.24+dfsg1 is older than 24 and past upstream's support; it has what up uses (API 1.41: replicated jobs), and CI runs 20.10, but upgrade when you can"
    assert.equal(await checkUpNodes(storage, ssh, []), [`m1: ${old}`, `w1: ${old}`], 'the worker may keep 65530: no Elasticsearch there')
    nodeState('10.0.0.12', 'engine', '29')
    assert.is(
      await refused(checkUpNodes(undefined, ssh, ['gcr.io/cadvisor/cadvisor:v0.49.1'])),
      'prerequisites: w1: Docker Engine 29.0.0 keeps images in the containerd image store, where gcr.io/cadvisor/cadvisor:v0.49.1 sees no container, so the container panels stay empty (google/cadvisor#3643); pin cAdvisor v0.54.0 or later in stacks/monitoring.yml, or turn the store off ("features": {"containerd-snapshotter": false} in /etc/docker/daemon.json, then restart docker), or deploy --without cadvisor',
    )
  } finally {
    process.env.PATH = saved.PATH
    if (saved.STANDIN_DIR === undefined) delete process.env.STANDIN_DIR
    else process.env.STANDIN_DIR = saved.STANDIN_DIR
  }
})

test('cluster init: each engine is read, and only the node that may run Elasticsearch gets the setting', async () => {
  const files = kernel('m1', 65530)
  const ran: Record<string, string[]> = { m1: [], w1: [] }
  const printed: string[] = []
  const out = createOutput(6, (text) => printed.push(text))
  const changed = await checkNodes(ssh, out, [node('m1', '20.10', 65530, ran.m1!), node('w1', '24', 65530, ran.w1!)], dir, files)
  assert.ok(changed)
  assert.equal(ran.m1, [engineScript(files.proc), mapCountScript(files)])
  assert.equal(ran.w1, [engineScript(files.proc)])
  assert.is(readFileSync(files.proc, 'utf8'), '262144\n')
  assert.equal(printed, [
    '[1/6] engine        2 nodes checked; set vm.max_map_count 262144 on m1\n',
    '      m1           Docker 20.10.24+dfsg1 (API 1.41, graphdriver image store), vm.max_map_count set (was 65530)\n',
    "      m1           warning: Docker Engine 20.10.24+dfsg1 is older than 24 and past upstream's support; it has what up uses (API 1.41: replicated jobs), and CI runs 20.10, but upgrade when you can\n",
    '      w1           Docker 24.0.7 (API 1.43, graphdriver image store)\n',
  ])
  // Run again: nothing to change.
  assert.not.ok(await checkNodes(ssh, createOutput(6, () => {}), [node('m1', '20.10', 262144, [])], dir, files))
})

test("cluster init refuses a node whose engine cannot run the repository's pins, naming the node and the fix", async () => {
  const root = join(dir, 'repository')
  mkdirSync(join(root, 'stacks'), { recursive: true })
  writeFileSync(join(root, 'stacks', 'admin.yml'), 'services:\n  traefik:\n    image: traefik:v3.1.6\n')
  try {
    await checkNodes(ssh, createOutput(6, () => {}), [node('m1', '29', 262144, [])], root, kernel('m1-29', 262144))
    assert.unreachable('refused')
  } catch (error) {
    assert.is(
      (error as Error).message,
      'm1: engine: Docker Engine 29.0.0 accepts API 1.44 and up, and traefik:v3.1.6 asks for 1.24, so it would route nothing (traefik/traefik#12253); pin Traefik v3.6.1 or later in stacks/admin.yml, or start dockerd with DOCKER_MIN_API_VERSION=1.24, or deploy --without traefik',
    )
  }
})

test('the local provider only tells: this machine is not changed behind the user', async () => {
  const files = kernel('local', 65530)
  const printed: string[] = []
  const localNode: NodeShell = { ...node('m1', '20.10', 65530, []), node: { ...ssh.nodes[0]!, name: 'here' } }
  assert.not.ok(await checkNodes(local, createOutput(6, (text) => printed.push(text)), [localNode], dir, files))
  assert.is(readFileSync(files.proc, 'utf8'), '65530\n')
  assert.match(printed.join(''), /here +warning: vm\.max_map_count is 65530 on this machine and Elasticsearch needs 262144: up refuses to deploy it until you run sudo sysctl -w vm\.max_map_count=262144 and keep it with echo vm\.max_map_count=262144 \| sudo tee \/etc\/sysctl\.d\/99-activity\.conf\n/)
})

test.run()
