// The virtualbox provider at its command boundary: VBoxManage, ssh, genisoimage and rpcinfo are stand-ins on PATH that record
// every call and answer as the real programs do (test/support/standins). No VirtualBox runs here.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runActivity, type CliRun } from '../support/cli.ts'
import { tempDir } from '../support/servers.ts'

const test = suite('cluster --provider virtualbox (VBoxManage stand-in)')
const dir = tempDir('cluster-vbox')
const standins = new URL('../support/standins', import.meta.url).pathname
const calls = join(dir.path, 'standin', 'calls.log')
const vbDir = join(dir.path, 'vb')
const folder = join(dir.path, 'data')
const exportsFile = join(dir.path, 'exports')

function setUp(): void {
  rmSync(join(dir.path, 'standin'), { recursive: true, force: true })
  mkdirSync(join(dir.path, 'standin'), { recursive: true })
  writeFileSync(join(dir.path, 'debian-12-generic-amd64.raw'), 'raw disk')
  writeFileSync(join(dir.path, 'id_ed25519'), 'private')
  writeFileSync(join(dir.path, 'id_ed25519.pub'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStandIn user@laptop\n')
  writeFileSync(
    join(dir.path, 'activity.yml'),
    [
      'sources:',
      '  dockerhub:',
      '    targets: [prom]',
      'cluster:',
      '  provider: virtualbox',
      '  managers: 1',
      '  nodes: 3',
      '  shared: {path: /data}',
      '  ssh:',
      `    identityFile: ${join(dir.path, 'id_ed25519')}`,
      '  virtualbox:',
      '    cpus: 2',
      '    memory: 2048',
      `    image: ${join(dir.path, 'debian-12-generic-amd64.raw')}`,
      `    dir: ${vbDir}`,
      `    folder: ${folder}`,
      '',
    ].join('\n'),
  )
}

const cluster = (args: string[]): Promise<CliRun> =>
  runActivity(['cluster', ...args], {
    cwd: dir.path,
    env: { PATH: `${standins}:${process.env.PATH}`, HOME: dir.path, STANDIN_DIR: join(dir.path, 'standin'), ACTIVITY_NFS_EXPORTS: exportsFile, ACTIVITY_VM_BOOT_TIMEOUT: '5' },
  })

/** The calls recorded since the last look, and forget them. */
function recorded(): string[] {
  const lines = existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n').filter(Boolean) : []
  rmSync(calls, { force: true })
  return lines
}

/** VBoxManage calls that change something (not --version, list or showvminfo). */
const changes = (lines: string[]) => lines.filter((l) => l.startsWith('VBoxManage ') && !/^VBoxManage (--version|list |showvminfo )/.test(l))
const verbs = (lines: string[]) => changes(lines).map((l) => l.split(' ').slice(1, 3).join(' ').replace(/ (activity-\S+|\/\S+)$/, ''))

test.before(setUp)
test.after(() => dir.remove())

test('init refuses to start while the host does not export the shared folder, and prints the exact /etc/exports line', async () => {
  writeFileSync(exportsFile, '# nothing exported\n')
  const run = await cluster(['init'])
  assert.is(run.code, 1)
  assert.is(
    run.stderr.trim(),
    `activity: host: nfs: ${exportsFile} does not export ${folder} to 192.168.56.0/24; add this line to ${exportsFile}: ${folder} 192.168.56.0/24(rw,sync,no_subtree_check,no_root_squash) then run: sudo exportfs -ra`,
  )
  assert.equal(changes(recorded()), [], 'nothing was made')
})

test('init refuses when the NFS server does not run, and says how to start it', async () => {
  writeFileSync(join(dir.path, 'standin', 'nfs-down'), '')
  const run = await cluster(['init'])
  rmSync(join(dir.path, 'standin', 'nfs-down'))
  assert.is(run.code, 1)
  assert.match(run.stderr, /^activity: host: nfs: the NFS server is installed but not running; start it: sudo (systemctl enable --now nfs-server|service nfs-kernel-server start|rc-service nfs start)|start rpc\.nfsd/)
  recorded()
})

test('init on a clean host makes the network, the disk, three VMs with their seeds, starts them, and builds the swarm over ssh', async () => {
  writeFileSync(exportsFile, `${folder} 192.168.56.0/24(rw,sync,no_subtree_check,no_root_squash)\n`)
  const run = await cluster(['init'])
  assert.is(run.code, 0, run.stdout + run.stderr)
  const lines = recorded()
  const perVm = ['createvm --name', 'modifyvm', 'clonemedium disk', 'modifymedium disk', 'storagectl', 'storageattach', 'storageattach']
  assert.equal(verbs(lines), ['hostonlyif create', 'hostonlyif ipconfig', 'convertfromraw', ...perVm, ...perVm, ...perVm, 'startvm', 'startvm', 'startvm'])
  assert.ok(lines.includes('VBoxManage hostonlyif ipconfig vboxnet0 --ip 192.168.56.1 --netmask 255.255.255.0'))
  assert.ok(lines.includes('VBoxManage startvm activity-worker2 --type headless'))
  const modify = lines.find((l) => l.startsWith('VBoxManage modifyvm activity-manager1 '))!
  assert.match(modify, /--cpus 2 --memory 2048 --nic1 nat .*--nic2 hostonly --hostonlyadapter2 vboxnet0/)
  // The seed: the user's key for root, Docker, and the VM's own host-only address.
  const seed = readFileSync(join(vbDir, 'activity-worker1-seed.iso'), 'utf8')
  assert.match(seed, /ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStandIn/)
  assert.match(seed, /packages: \[docker\.io, nfs-common\]/)
  assert.match(seed, /addresses: \[192\.168\.56\.12\/24\]/)
  assert.match(seed, /local-hostname: worker1/)
  // Then the swarm steps over ssh: the manager initialises, the workers join and mount the host's folder.
  const ssh = lines.filter((l) => l.startsWith('ssh '))
  assert.ok(ssh.includes(`ssh 192.168.56.11: docker swarm init --advertise-addr '192.168.56.11'`))
  assert.ok(ssh.some((l) => l.startsWith("ssh 192.168.56.12: docker swarm join --token 'SWMTKN-1-standin' --advertise-addr '192.168.56.12' '192.168.56.11:2377'")))
  assert.equal([...new Set(ssh.filter((l) => l.endsWith(': set -e')).map((l) => l.split(':')[0]))], ['ssh 192.168.56.12', 'ssh 192.168.56.13'], 'only the workers mount /data')
  // Every engine is read; only the manager (where Elasticsearch may run) gets vm.max_map_count raised.
  assert.equal(ssh.filter((l) => l.includes(": docker version --format '{{json .}}'")).map((l) => l.split(':')[0]), ['ssh 192.168.56.11', 'ssh 192.168.56.12', 'ssh 192.168.56.13'])
  assert.equal(ssh.filter((l) => l.endsWith(': # vm.max_map_count for Elasticsearch')).map((l) => l.split(':')[0]), ['ssh 192.168.56.11'])
  assert.match(run.stdout, new RegExp(`192\\.168\\.56\\.1:${folder.replaceAll('/', '\\/')} at \\/data: worker1: mounted; worker2: mounted`))
  assert.match(run.stdout, /status: all 3 nodes ready/)
})

test('init run again creates nothing', async () => {
  const run = await cluster(['init'])
  assert.is(run.code, 0, run.stdout + run.stderr)
  assert.equal(changes(recorded()), [])
  assert.match(run.stdout, /init: nothing to change/)
  assert.match(run.stdout, /every VM runs already/)
})

test('remount touches only the workers', async () => {
  const run = await cluster(['remount'])
  assert.is(run.code, 0, run.stdout + run.stderr)
  const lines = recorded()
  assert.equal(changes(lines), [])
  assert.equal(lines.filter((l) => l.startsWith('VBoxManage showvminfo')).map((l) => l.split(' ')[2]), ['activity-worker1', 'activity-worker2'])
  assert.equal(lines.filter((l) => l.startsWith('ssh ')).map((l) => l.split(':')[0]), ['ssh 192.168.56.12', 'ssh 192.168.56.13'])
})

test('stop powers the VMs off through ACPI, start starts them again', async () => {
  const stop = await cluster(['stop'])
  assert.is(stop.code, 0, stop.stdout + stop.stderr)
  assert.equal(verbs(recorded()), ['controlvm', 'controlvm', 'controlvm'])
  const status = await cluster(['status'])
  assert.is(status.code, 1)
  assert.match(status.stdout, /manager1: poweroff, worker1: poweroff, worker2: poweroff/)
  recorded()
  const start = await cluster(['start'])
  assert.is(start.code, 0, start.stdout + start.stderr)
  assert.equal(verbs(recorded()), ['startvm', 'startvm', 'startvm'])
})

test('clean removes exactly what init made, and a second clean has nothing to do', async () => {
  const run = await cluster(['clean'])
  assert.is(run.code, 0, run.stdout + run.stderr)
  const lines = changes(recorded())
  assert.equal(lines.filter((l) => l.startsWith('VBoxManage unregistervm')), ['worker2', 'worker1', 'manager1'].map((n) => `VBoxManage unregistervm activity-${n} --delete`))
  assert.ok(lines.includes(`VBoxManage closemedium disk ${join(vbDir, 'base.vdi')} --delete`))
  assert.ok(lines.includes('VBoxManage hostonlyif remove vboxnet0'))
  assert.equal(readdirSync(join(dir.path, 'standin', 'vbox', 'vms')), [], 'no VM left')
  assert.equal(readdirSync(join(dir.path, 'standin', 'vbox', 'ifs')), [], 'no interface left')
  assert.equal(readdirSync(vbDir), [], 'no file left in the VMs folder')
  assert.ok(existsSync(folder), 'the shared folder (data) stays')
  const again = await cluster(['clean'])
  assert.match(again.stdout, /clean: nothing to do/)
  assert.equal(changes(recorded()), [])
})

test('an existing host-only interface at .1 is used, and clean leaves it', async () => {
  mkdirSync(join(dir.path, 'standin', 'vbox', 'ifs'), { recursive: true })
  writeFileSync(join(dir.path, 'standin', 'vbox', 'ifs', 'vboxnet0'), '192.168.56.1\n')
  const init = await cluster(['init'])
  assert.is(init.code, 0, init.stdout + init.stderr)
  assert.not.ok(changes(recorded()).some((l) => l.startsWith('VBoxManage hostonlyif')))
  const clean = await cluster(['clean'])
  assert.is(clean.code, 0)
  assert.not.ok(changes(recorded()).some((l) => l.startsWith('VBoxManage hostonlyif')))
  assert.equal(readdirSync(join(dir.path, 'standin', 'vbox', 'ifs')), ['vboxnet0'])
})

test.run()
