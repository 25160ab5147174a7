// The virtualbox provider: VMs made with VBoxManage from a cloud image, a cloud-init seed (NoCloud ISO) that installs
// Docker, a host-only network and the host's folder over NFS; then the same swarm steps as the ssh provider.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { virtualboxHostAddress, type ClusterConfig, type ClusterNode } from '../../collectors/runtime/activity-yml-cluster.ts'
import { StepError } from '../../collectors/runtime/errors.ts'
import { seconds, type Output } from '../lib/output.ts'
import { swarmCommand, type Command } from './commands.ts'
import { exec, lastLine, type ShellResult } from './shell.ts'
import { probe, swarmStatus, type ClusterContext } from './swarm.ts'

/** What init made that is not a VM, so that clean removes exactly that (VMs are found by name). */
interface Made {
  /** The host-only interface (Linux) or network (macOS) init created; one that existed stays. */
  hostOnly?: string
  /** The VDI converted from the cloud image. */
  baseDisk?: string
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export function vmName(config: ClusterConfig, node: ClusterNode): string {
  return `${config.virtualbox.prefix}-${node.name}`
}

async function vbox(args: string[]): Promise<ShellResult> {
  return exec('VBoxManage', args)
}

/** VBoxManage that must succeed; the failure says which node (or the host), which step, and what to do. */
async function mustVbox(where: string, step: string, args: string[], fix: string): Promise<string> {
  const result = await vbox(args)
  if (result.code !== 0) throw new StepError(`${where}: ${step}`, `VBoxManage ${args[0]} failed: ${lastLine(result.stderr || result.stdout) || `exit ${result.code}`}`, fix)
  return result.stdout
}

/** The VM's state (running, poweroff, saved, aborted, ...), or undefined when no VM has that name. */
async function vmState(name: string): Promise<string | undefined> {
  const result = await vbox(['showvminfo', name, '--machinereadable'])
  if (result.code !== 0) {
    if (/Could not find a registered machine|VBOX_E_OBJECT_NOT_FOUND/.test(result.stderr)) return undefined
    throw new StepError(`${name}: state`, `VBoxManage showvminfo failed: ${lastLine(result.stderr)}`, 'check VirtualBox (VBoxManage list vms)')
  }
  return /^VMState="([^"]+)"/m.exec(result.stdout)?.[1] ?? 'unknown'
}

function statePath(config: ClusterConfig): string {
  return join(config.virtualbox.dir, 'made.json')
}

function readMade(config: ClusterConfig): Made {
  return existsSync(statePath(config)) ? (JSON.parse(readFileSync(statePath(config), 'utf8')) as Made) : {}
}

function writeMade(config: ClusterConfig, made: Made): void {
  mkdirSync(config.virtualbox.dir, { recursive: true })
  writeFileSync(statePath(config), JSON.stringify(made, null, 2) + '\n')
}

/** MAC addresses the seed's network-config matches: 08:00:27 (VirtualBox's prefix), then the NIC and the node's address. */
function mac(index: number, nic: 1 | 2): string {
  return `080027AC0${nic}${(11 + index).toString(16).padStart(2, '0').toUpperCase()}`
}

const colons = (mac: string) => mac.toLowerCase().match(/../g)!.join(':')

/** The cloud-init NoCloud files of one VM: the user's key for root, Docker and the NFS client, its host-only address. */
export function seedFiles(config: ClusterConfig, node: ClusterNode, index: number, publicKey: string): Record<string, string> {
  return {
    'user-data': [
      '#cloud-config',
      `hostname: ${node.name}`,
      'disable_root: false',
      'ssh_pwauth: false',
      'ssh_authorized_keys:',
      `  - ${publicKey.trim()}`,
      'package_update: true',
      'packages: [docker.io, nfs-common]',
      'runcmd:',
      '  - [systemctl, enable, --now, docker]',
      '',
    ].join('\n'),
    'meta-data': `instance-id: ${vmName(config, node)}\nlocal-hostname: ${node.name}\n`,
    'network-config': [
      'version: 2',
      'ethernets:',
      '  nat:',
      `    match: {macaddress: "${colons(mac(index, 1))}"}`,
      '    dhcp4: true',
      '  hostonly:',
      `    match: {macaddress: "${colons(mac(index, 2))}"}`,
      `    addresses: [${node.host}/24]`,
      '',
    ].join('\n'),
  }
}

/** The program that writes the seed ISO here, with its arguments; undefined when none is installed. */
async function isoWriter(): Promise<((iso: string, dir: string, files: string[]) => [string, string[]]) | undefined> {
  const has = async (program: string) => (await exec('sh', ['-c', `command -v ${program}`])).code === 0
  if (process.platform === 'darwin') return (iso, dir) => ['hdiutil', ['makehybrid', '-o', iso, '-iso', '-joliet', '-default-volume-name', 'cidata', dir]]
  for (const program of ['genisoimage', 'mkisofs']) {
    if (await has(program)) return (iso, _dir, files) => [program, ['-output', iso, '-volid', 'cidata', '-joliet', '-rock', ...files]]
  }
  if (await has('xorriso')) return (iso, _dir, files) => ['xorriso', ['-as', 'mkisofs', '-output', iso, '-volid', 'cidata', '-joliet', '-rock', ...files]]
  return undefined
}

/** The line /etc/exports needs so the VMs' network may mount the folder. */
export function exportLine(platform: NodeJS.Platform, folder: string, network: string): string {
  const base = network.replace(/\/24$/, '')
  return platform === 'darwin' ? `${folder} -network ${base} -mask 255.255.255.0 -maproot=root` : `${folder} ${network}(rw,sync,no_subtree_check,no_root_squash)`
}

/** The host's NFS server: installed, running, and exporting the folder to the VMs' network; each failure says how to fix it here. */
async function checkNfs(config: ClusterConfig, env: NodeJS.ProcessEnv): Promise<string> {
  const { folder, network } = config.virtualbox
  const platform = process.platform
  const has = async (program: string) => (await exec('sh', ['-c', `command -v ${program} || [ -x /usr/sbin/${program} ]`])).code === 0
  if (platform === 'darwin') {
    const status = await exec('nfsd', ['status'])
    if (!/is running/.test(status.stdout)) throw new StepError('host: nfs', "the NFS server (nfsd) is not running", 'enable it: sudo nfsd enable')
  } else {
    if (!(await has('exportfs'))) throw new StepError('host: nfs', 'no NFS server is installed here', 'install one: sudo apt-get install nfs-kernel-server (Debian, Ubuntu), sudo dnf install nfs-utils (Fedora)')
    if ((await exec('rpcinfo', ['-t', '127.0.0.1', 'nfs'])).code !== 0) {
      const how = (await has('systemctl')) ? 'sudo systemctl enable --now nfs-server' : (await has('service')) ? 'sudo service nfs-kernel-server start' : (await has('rc-service')) ? 'sudo rc-service nfs start' : 'start rpc.nfsd and rpc.mountd with your init system'
      throw new StepError('host: nfs', 'the NFS server is installed but not running', `start it: ${how}`)
    }
  }
  mkdirSync(folder, { recursive: true })
  const exportsFile = env.ACTIVITY_NFS_EXPORTS ?? '/etc/exports'
  const text = existsSync(exportsFile) ? readFileSync(exportsFile, 'utf8') : ''
  const base = network.replace(/\/24$/, '')
  const exported = text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .some((line) => line.split(/\s+/)[0] === folder && line.includes(base))
  if (!exported) {
    throw new StepError('host: nfs', `${exportsFile} does not export ${folder} to ${network}`, `add this line to ${exportsFile}: ${exportLine(platform, folder, network)} then run: ${platform === 'darwin' ? 'sudo nfsd update' : 'sudo exportfs -ra'}`)
  }
  return `NFS exports ${folder} to ${network}`
}

/** The host-only interface (Linux) or host-only network (macOS, where VirtualBox 7 has no interfaces) at the network's .1; created when there is none. */
async function ensureHostOnly(config: ClusterConfig, made: Made): Promise<{ name: string; created: boolean }> {
  const hostAddress = virtualboxHostAddress(config.virtualbox.network)
  if (process.platform === 'darwin') {
    const nets = await mustVbox('host', 'network', ['list', 'hostonlynets'], 'check VirtualBox (VBoxManage list hostonlynets)')
    for (const block of nets.split(/\n\s*\n/)) {
      const name = /^Name:\s+(.+)$/m.exec(block)?.[1]?.trim()
      if (name && new RegExp(`^LowerIP:\\s+${hostAddress.replaceAll('.', '\\.')}\\s*$`, 'm').test(block)) return { name, created: false }
    }
    const name = config.virtualbox.prefix
    await mustVbox('host', 'network', ['hostonlynet', 'add', `--name=${name}`, '--netmask=255.255.255.0', `--lower-ip=${hostAddress}`, `--upper-ip=${hostAddress.replace(/1$/, '254')}`, '--enable'], 'create a host-only network in VirtualBox (File > Tools > Network Manager) and run init again')
    made.hostOnly = name
    writeMade(config, made)
    return { name, created: true }
  }
  const list = await mustVbox('host', 'network', ['list', 'hostonlyifs'], 'check VirtualBox (VBoxManage list hostonlyifs)')
  for (const block of list.split(/\n\s*\n/)) {
    const name = /^Name:\s+(.+)$/m.exec(block)?.[1]?.trim()
    if (name && new RegExp(`^IPAddress:\\s+${hostAddress.replaceAll('.', '\\.')}\\s*$`, 'm').test(block)) return { name, created: false }
  }
  const created = await mustVbox('host', 'network', ['hostonlyif', 'create'], 'on Linux, load the vboxnetadp module (sudo modprobe vboxnetadp), or create one in VirtualBox')
  const name = /Interface '([^']+)' was successfully created/.exec(created)?.[1]
  if (!name) throw new StepError('host: network', `VBoxManage hostonlyif create said: ${lastLine(created)}`, 'create the interface in VirtualBox and run init again')
  made.hostOnly = name
  writeMade(config, made)
  await mustVbox('host', 'network', ['hostonlyif', 'ipconfig', name, '--ip', hostAddress, '--netmask', '255.255.255.0'], `on Linux, allow the address in /etc/vbox/networks.conf (* ${config.virtualbox.network.replace(/\/24$/, '/24')})`)
  return { name, created: true }
}

/** The disk every VM is cloned from: the cloud image itself (VDI, VMDK) or a VDI converted from it (raw). */
async function ensureBaseDisk(config: ClusterConfig, made: Made): Promise<{ path: string; created: boolean }> {
  const image = config.virtualbox.image
  if (!image) throw new StepError('host: image', 'cluster.virtualbox.image is not set', 'download a Debian cloud image with Docker-capable kernel, e.g. debian-12-generic-amd64.raw from cloud.debian.org/images/cloud/bookworm/latest/, and set cluster.virtualbox.image to its path')
  if (!existsSync(image)) throw new StepError('host: image', `${image} (cluster.virtualbox.image) does not exist`, 'download the cloud image to that path, or fix the path')
  if (/\.(vdi|vmdk)$/i.test(image)) return { path: image, created: false }
  const base = join(config.virtualbox.dir, 'base.vdi')
  if (existsSync(base)) return { path: base, created: false }
  mkdirSync(config.virtualbox.dir, { recursive: true })
  await mustVbox('host', 'image', ['convertfromraw', image, base, '--format', 'VDI'], 'check that the image is a raw disk image (debian-12-generic-amd64.raw), or give a .vdi/.vmdk')
  made.baseDisk = base
  writeMade(config, made)
  return { path: base, created: true }
}

/** Creates one VM: seed ISO, VM, NICs (NAT for packages, host-only for the swarm), its disk and the seed attached. */
async function createVm(config: ClusterConfig, node: ClusterNode, index: number, hostOnly: string, baseDisk: string, publicKey: string): Promise<void> {
  const name = vmName(config, node)
  const vb = config.virtualbox
  const vmDir = join(vb.dir, name)
  const seedDir = join(vb.dir, `${name}-seed`)
  mkdirSync(seedDir, { recursive: true })
  const files = seedFiles(config, node, index, publicKey)
  for (const [file, text] of Object.entries(files)) writeFileSync(join(seedDir, file), text)
  const iso = join(vb.dir, `${name}-seed.iso`)
  const writer = (await isoWriter())!
  const [program, args] = writer(iso, seedDir, Object.keys(files))
  const made = await exec(program, args, { cwd: seedDir })
  if (made.code !== 0) throw new StepError(`${node.name}: seed`, `${program} failed: ${lastLine(made.stderr)}`, `check that ${vb.dir} is writable`)
  const fail = `see VirtualBox's log for ${name}; activity cluster clean removes the half-made VM`
  await mustVbox(node.name, 'create', ['createvm', '--name', name, '--ostype', 'Debian_64', '--basefolder', vb.dir, '--register'], fail)
  const nic2 = process.platform === 'darwin' ? ['--nic2', 'hostonlynet', '--host-only-net2', hostOnly] : ['--nic2', 'hostonly', '--hostonlyadapter2', hostOnly]
  await mustVbox(node.name, 'configure', ['modifyvm', name, '--cpus', String(vb.cpus), '--memory', String(vb.memory), '--nic1', 'nat', '--nictype1', 'virtio', '--macaddress1', mac(index, 1), ...nic2, '--nictype2', 'virtio', '--macaddress2', mac(index, 2), '--uart1', '0x3F8', '4', '--uartmode1', 'file', join(vmDir, 'console.log')], fail)
  const disk = join(vmDir, 'disk.vdi')
  await mustVbox(node.name, 'disk', ['clonemedium', 'disk', baseDisk, disk, '--format', 'VDI'], fail)
  await mustVbox(node.name, 'disk', ['modifymedium', 'disk', disk, '--resize', String(vb.disk)], fail)
  await mustVbox(node.name, 'disk', ['storagectl', name, '--name', 'SATA', '--add', 'sata', '--controller', 'IntelAhci', '--portcount', '2'], fail)
  await mustVbox(node.name, 'disk', ['storageattach', name, '--storagectl', 'SATA', '--port', '0', '--device', '0', '--type', 'hdd', '--medium', disk], fail)
  await mustVbox(node.name, 'seed', ['storageattach', name, '--storagectl', 'SATA', '--port', '1', '--device', '0', '--type', 'dvddrive', '--medium', iso], fail)
}

/** Starts the VMs that are not running; returns those started. */
async function startVms(config: ClusterConfig, nodes: ClusterNode[], out: Output): Promise<string[]> {
  const started: string[] = []
  for (const node of nodes) {
    const name = vmName(config, node)
    const state = await vmState(name)
    if (state === undefined) throw new StepError(`${node.name}: start`, `there is no VM ${name}`, 'make it: activity cluster init --provider virtualbox')
    if (state === 'running') continue
    await mustVbox(node.name, 'start', ['startvm', name, '--type', 'headless'], `see VirtualBox's log of ${name} (VBoxManage showvminfo ${name} --log 0)`)
    started.push(node.name)
  }
  out.step('start', started.length ? `started ${started.join(', ')}` : 'every VM runs already')
  return started
}

/** Waits until every VM answers ssh with Docker running (cloud-init installs it on the first boot: minutes). */
async function waitForDocker(ctx: ClusterContext, timeoutMs: number): Promise<void> {
  const started = Date.now()
  const waiting = new Set(ctx.shells)
  let last = ''
  while (waiting.size) {
    for (const shell of [...waiting]) {
      const p = await probe(shell)
      if (p.swarm) {
        waiting.delete(shell)
        ctx.out.detail(`${shell.node.name}: Docker ${p.version} answers (${seconds(started)})`)
      } else last = `${shell.node.name}: ${p.unreachable ? `no ssh yet (${p.unreachable})` : `ssh answers, Docker not yet (${p.engineProblem})`}`
    }
    if (!waiting.size) break
    if (Date.now() - started > timeoutMs) {
      const node = [...waiting][0]!.node
      throw new StepError(`${node.name}: boot`, `no Docker after ${Math.round(timeoutMs / 1000)} s (${last})`, `look at ${join(ctx.config.virtualbox.dir, vmName(ctx.config, node), 'console.log')} (cloud-init's progress), then run init again`)
    }
    await sleep(3000)
  }
}

/** Host checks init needs before it makes anything. */
async function checkHost(ctx: ClusterContext, env: NodeJS.ProcessEnv): Promise<string> {
  const { config } = ctx
  const version = await vbox(['--version'])
  if (version.code !== 0) throw new StepError('host: virtualbox', version.code === 127 ? 'VBoxManage is not installed' : `VBoxManage --version failed: ${lastLine(version.stderr)}`, 'install VirtualBox 7 so that VBoxManage is on PATH')
  const key = config.ssh.identityFile!
  if (!existsSync(`${key}.pub`)) throw new StepError('host: ssh key', `${key}.pub does not exist (the VMs let root in with it)`, `make one: ssh-keygen -t ed25519 -f ${key}, or set cluster.ssh.identityFile`)
  if (!(await isoWriter())) throw new StepError('host: seed', 'no program here writes the cloud-init seed ISO', 'install genisoimage (Debian, Ubuntu: apt-get install genisoimage) or xorriso')
  const facts = [`VirtualBox ${version.stdout.trim()}`, `key ${key}`]
  if (config.shared.source && config.nodes.some((n) => n.shared)) facts.push(await checkNfs(config, env))
  return facts.join(', ')
}

export async function virtualboxCommand(command: Command, ctx: ClusterContext, names: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { config, out } = ctx
  const started = Date.now()
  const bootTimeout = Number(env.ACTIVITY_VM_BOOT_TIMEOUT ?? 900) * 1000
  switch (command) {
    case 'init':
    case 'join': {
      const nodes = command === 'join' ? config.nodes.filter((n) => names.includes(n.name)) : config.nodes
      out.step('host', await checkHost(ctx, env))
      const made = readMade(config)
      const hostOnly = await ensureHostOnly(config, made)
      out.step('network', `${hostOnly.name} (${virtualboxHostAddress(config.virtualbox.network)}, ${config.virtualbox.network})${hostOnly.created ? ': created' : ': exists'}`)
      const missing: ClusterNode[] = []
      for (const node of nodes) if ((await vmState(vmName(config, node))) === undefined) missing.push(node)
      out.step('vms', missing.length ? `making ${missing.map((n) => vmName(config, n)).join(', ')}${missing.length < nodes.length ? '; the others exist' : ''}` : `${nodes.map((n) => vmName(config, n)).join(', ')}: exist`)
      const publicKey = readFileSync(`${config.ssh.identityFile}.pub`, 'utf8')
      const baseDisk = missing.length ? (await ensureBaseDisk(config, made)).path : undefined
      for (const node of missing) {
        await createVm(config, node, config.nodes.indexOf(node), hostOnly.name, baseDisk!, publicKey)
        out.detail(`${node.name}: VM ${vmName(config, node)} made (${config.virtualbox.cpus} CPUs, ${config.virtualbox.memory} MiB, ${node.host})`)
      }
      await startVms(config, nodes, out)
      const joining = { ...ctx, shells: ctx.shells.filter((s) => nodes.includes(s.node)) }
      out.step('boot', `waiting for ssh and Docker on ${nodes.map((n) => n.name).join(', ')}`)
      await waitForDocker(joining, bootTimeout)
      return swarmCommand(command, ctx, names, started)
    }
    case 'start': {
      await startVms(config, config.nodes, out)
      out.step('boot', `waiting for ssh and Docker on ${config.nodes.map((n) => n.name).join(', ')}`)
      await waitForDocker(ctx, bootTimeout)
      out.step('shared', 'mounted at boot from /etc/fstab')
      out.line()
      return (await swarmStatus(ctx)).healthy ? 0 : 1
    }
    case 'stop': {
      const stopped: string[] = []
      for (const node of config.nodes) {
        const name = vmName(config, node)
        if ((await vmState(name)) !== 'running') continue
        await mustVbox(node.name, 'stop', ['controlvm', name, 'acpipowerbutton'], `force it: VBoxManage controlvm ${name} poweroff`)
        const deadline = Date.now() + 90_000
        while ((await vmState(name)) === 'running' && Date.now() < deadline) await sleep(2000)
        if ((await vmState(name)) === 'running') await mustVbox(node.name, 'stop', ['controlvm', name, 'poweroff'], `see VBoxManage showvminfo ${name}`)
        stopped.push(node.name)
      }
      out.step('stop', stopped.length ? `stopped ${stopped.join(', ')}` : 'no VM was running')
      return 0
    }
    case 'remount': {
      const sharing = config.nodes.filter((n) => n.shared)
      for (const node of sharing) {
        const state = await vmState(vmName(config, node))
        if (state !== 'running') throw new StepError(`${node.name}: remount`, `its VM is ${state ?? 'absent'}`, 'start it: activity cluster start')
      }
      out.step('vms', sharing.length ? `${sharing.map((n) => n.name).join(', ')}: running` : 'no node mounts the shared folder')
      return swarmCommand('remount', ctx, names, started)
    }
    case 'status': {
      const states = await Promise.all(config.nodes.map(async (n) => [n, await vmState(vmName(config, n))] as const))
      out.step('vms', states.map(([n, s]) => `${n.name}: ${s ?? 'absent'}`).join(', '))
      if (!states.some(([, s]) => s === 'running')) {
        out.line(states.some(([, s]) => s) ? 'status: no VM runs; activity cluster start starts them' : 'status: no VM; activity cluster init makes them')
        return 1
      }
      const running = { ...ctx, shells: ctx.shells.filter((s) => states.find(([n]) => n === s.node)?.[1] === 'running') }
      const healthy = (await swarmStatus(running)).healthy
      return healthy && states.every(([, s]) => s === 'running') ? 0 : 1
    }
    case 'clean': {
      const removed: string[] = []
      for (const node of [...config.nodes].reverse()) {
        const name = vmName(config, node)
        const state = await vmState(name)
        if (state === undefined) continue
        if (state === 'running' || state === 'paused' || state === 'stuck') await mustVbox(node.name, 'power off', ['controlvm', name, 'poweroff'], `see VBoxManage showvminfo ${name}`)
        await mustVbox(node.name, 'remove', ['unregistervm', name, '--delete'], `remove it in VirtualBox, then run clean again`)
        removed.push(name)
      }
      for (const node of config.nodes) {
        rmSync(join(config.virtualbox.dir, `${vmName(config, node)}-seed.iso`), { force: true })
        rmSync(join(config.virtualbox.dir, `${vmName(config, node)}-seed`), { recursive: true, force: true })
        rmSync(join(config.virtualbox.dir, vmName(config, node)), { recursive: true, force: true })
      }
      out.step('vms', removed.length ? `removed ${removed.join(', ')}` : 'no VM of the cluster exists')
      const made = readMade(config)
      if (made.baseDisk) {
        await mustVbox('host', 'image', ['closemedium', 'disk', made.baseDisk, '--delete'], `remove ${made.baseDisk} by hand`)
        out.step('image', `removed ${made.baseDisk}`)
      } else out.step('image', 'none made by init')
      if (made.hostOnly) {
        const remove = process.platform === 'darwin' ? ['hostonlynet', 'remove', `--name=${made.hostOnly}`] : ['hostonlyif', 'remove', made.hostOnly]
        await mustVbox('host', 'network', remove, `remove ${made.hostOnly} in VirtualBox`)
        out.step('network', `removed ${made.hostOnly}`)
      } else out.step('network', 'none made by init (an interface that existed before stays)')
      rmSync(statePath(config), { force: true })
      if (config.ssh.knownHostsFile?.startsWith(config.virtualbox.dir)) rmSync(config.ssh.knownHostsFile, { force: true })
      out.step('shared', `${config.virtualbox.folder} stays on this host: it holds the data`)
      out.line(removed.length || made.baseDisk || made.hostOnly ? `clean: done (${seconds(started)})` : `clean: nothing to do (${seconds(started)})`)
      return 0
    }
  }
}
