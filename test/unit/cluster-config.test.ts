// The cluster: section of activity.yml: what each provider reads, and one line per mistake naming the line, the field and the fix.
import { createServer } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseConfig } from '../../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { configProblem } from '../support/config-errors.ts'
import { runActivity } from '../support/cli.ts'
import { tempDir } from '../support/servers.ts'

const test = suite('activity.yml cluster:')
const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
const sources = 'sources:\n  dockerhub:\n    targets: [prom]\n'

const cluster = (text: string) => parseConfig(`${sources}cluster:\n${text}`, 'activity.yml', collectors).cluster

function problem(text: string): string {
  return configProblem(() => cluster(text))
}

test('without a cluster: section the cluster is the local engine', () => {
  const config = parseConfig(sources, 'activity.yml', collectors).cluster
  assert.is(config.provider, 'local')
  assert.equal(config.nodes, [])
})

test('ssh hosts: the first managers are managers, the first manager keeps the data, the workers mount the shared folder', () => {
  const config = cluster('  provider: ssh\n  nodes:\n    - {name: m1, host: 10.0.0.11}\n    - {name: w1, host: 10.0.0.12, address: 10.1.0.12}\n    - {name: w2, host: 10.0.0.13}\n  shared: {source: "nfs.example:/export/activity"}\n  ssh: {user: admin, port: 2222, identityFile: ~/.ssh/activity}\n')
  assert.equal(
    config.nodes.map((n) => [n.name, n.role, n.host, n.address, n.storage, n.shared]),
    [
      ['m1', 'manager', '10.0.0.11', '10.0.0.11', true, false],
      ['w1', 'worker', '10.0.0.12', '10.1.0.12', false, true],
      ['w2', 'worker', '10.0.0.13', '10.0.0.13', false, true],
    ],
  )
  assert.is(config.nodes[1]!.hostLine, 8)
  assert.equal(config.shared, { path: '/data', source: 'nfs.example:/export/activity' })
  assert.is(config.ssh.user, 'admin')
  assert.is(config.ssh.port, 2222)
  assert.is(config.ssh.identityFile, `${process.env.HOME}/.ssh/activity`)
})

test('virtualbox: a count of nodes gets names and addresses on the host-only network, and the host folder is the export', () => {
  const config = cluster('  provider: virtualbox\n  nodes: 3\n  shared: {}\n  virtualbox: {folder: /srv/activity, cpus: 4, memory: 4096}\n')
  assert.equal(config.nodes.map((n) => `${n.name}=${n.host}`), ['manager1=192.168.56.11', 'worker1=192.168.56.12', 'worker2=192.168.56.13'])
  assert.is(config.shared.source, '192.168.56.1:/srv/activity')
  assert.is(config.virtualbox.cpus, 4)
})

test('an unknown provider names the ones there are', () => {
  assert.is(problem('  provider: kubernetes\n'), 'activity.yml:5: cluster.provider: must be one of local, virtualbox, ssh; e.g. provider: ssh (existing hosts), virtualbox (VMs made here) or local (this engine)')
})

test('duplicate node names point at the second one', () => {
  assert.is(problem('  provider: ssh\n  nodes:\n    - {name: m1, host: 10.0.0.11}\n    - {name: w1, host: 10.0.0.12}\n    - {name: w1, host: 10.0.0.13}\n'), "activity.yml:9: cluster.nodes[2]: duplicate node name 'w1' (also nodes[1]); give each node its own name")
})

test('a cluster without a manager is refused', () => {
  assert.is(problem('  provider: ssh\n  managers: 0\n  nodes:\n    - {name: m1, host: 10.0.0.11}\n'), 'activity.yml:6: cluster.managers: no manager: a swarm needs at least one; set managers: 1 (or 3 to survive losing one)')
  assert.is(problem('  provider: virtualbox\n  managers: 3\n  nodes: 2\n'), 'activity.yml:6: cluster.managers: 3 managers but only 2 nodes; list more nodes or set managers: 2')
})

test('an ssh node without a host says how to write one', () => {
  assert.is(problem('  provider: ssh\n  nodes: [m1, w1]\n'), "activity.yml:6: cluster.nodes[0]: node 'm1' has no host; the ssh provider reaches each node by its address: - {name: m1, host: 10.0.0.11}")
})

test('storage and shared nodes must be nodes of the cluster; unknown fields name the allowed ones', () => {
  assert.is(problem('  provider: virtualbox\n  nodes: 2\n  storage: [manager2]\n'), "activity.yml:7: cluster.storage[0]: 'manager2' is not a node of the cluster; use one of: manager1, worker1")
  assert.is(problem('  provider: ssh\n  nodes:\n    - {name: m1, host: 10.0.0.11, port: 22}\n'), 'activity.yml:7: cluster.nodes[0].port: unknown field; allowed: name, host, address')
  assert.match(problem('  virtualbox: {cpu: 2}\n'), /^activity\.yml:5: cluster\.virtualbox\.cpu: unknown field; allowed: prefix, cpus, memory, disk, image, network, dir, folder$/)
})

test('an unreachable host is one line naming the line of its address', async () => {
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
  const dir = tempDir('cluster-unreachable')
  try {
    writeFileSync(join(dir.path, 'activity.yml'), `${sources}cluster:\n  provider: ssh\n  nodes:\n    - name: m1\n      host: 127.0.0.1\n  ssh: {port: ${port}, knownHostsFile: ${join(dir.path, 'known_hosts')}, connectTimeout: 3}\n`)
    const run = await runActivity(['cluster', 'init'], { cwd: dir.path, env: { PATH: process.env.PATH, HOME: dir.path } })
    assert.is(run.code, 2)
    assert.match(run.stderr.trim(), new RegExp(`^activity: activity\\.yml:8: cluster\\.nodes\\[0\\]\\.host: m1 \\(127\\.0\\.0\\.1:${port}\\) does not answer ssh: .*Connection refused; check the address, that sshd runs there and accepts root's key, or remove the node$`))
  } finally {
    dir.remove()
  }
})

test.run()
