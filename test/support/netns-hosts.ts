// Test hosts on this machine: network namespaces on a private bridge, each with its own dockerd, hostname and sshd.
// The bridge lives in a namespace of its own (the host's FORWARD policy, set by the main engine, would drop bridged
// traffic); one veth gives the host 10.77.0.1 so the ssh client of the code under test reaches the hosts.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface LabHost {
  name: string
  address: string
  dir: string
  /** DOCKER_HOST of its engine. */
  dockerHost: string
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Programs the lab needs, with the Debian package that brings each. */
const programs: Record<string, string> = {
  ip: 'iproute2',
  nsenter: 'util-linux',
  unshare: 'util-linux',
  dockerd: 'docker.io',
  docker: 'docker.io',
  '/usr/sbin/sshd': 'openssh-server',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
}

/** The programs that are missing, as one message saying what to install; undefined when all are there. */
export function missingPrograms(): string | undefined {
  const missing = Object.entries(programs).filter(([program]) => spawnSync('sh', ['-c', `command -v ${program}`]).status !== 0)
  if (process.getuid?.() !== 0) return 'the multi-node test makes network namespaces and runs dockerd: run it as root'
  if (!missing.length) return undefined
  return `missing ${missing.map(([p]) => p).join(', ')}: apt-get install -y ${[...new Set(missing.map(([, pkg]) => pkg))].join(' ')} (or run .ci/run)`
}

function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  return execFileSync(command, args, { encoding: 'utf8', env: options.env ?? process.env, input: options.input, stdio: ['pipe', 'pipe', 'pipe'] })
}

function tryRun(command: string, args: string[]): void {
  spawnSync(command, args, { stdio: 'ignore' })
}

export class HostLab {
  readonly hosts: LabHost[]
  readonly key: string
  readonly knownHosts: string
  /** ACTIVITY_SSH_CONTROL_DIR for the code under test: its ssh connection masters are named after it, so cleanup finds them. */
  readonly sshControlDir: string

  constructor(
    readonly root: string,
    readonly prefix: string,
    hosts: { name: string; address: string }[],
    readonly hostAddress = '10.77.0.1',
    readonly bridge = 'actbr0',
  ) {
    this.hosts = hosts.map((h) => ({ ...h, dir: join(root, h.name), dockerHost: `unix://${join(root, h.name, 'docker.sock')}` }))
    this.key = join(root, 'id_ed25519')
    this.knownHosts = join(root, 'known_hosts')
    this.sshControlDir = join(root, 'ssh')
  }

  /** A host's namespace is named as the host; the bridge's is <prefix>-sw. */
  private ns(host: LabHost | 'sw'): string {
    return host === 'sw' ? `${this.prefix}-sw` : host.name
  }

  /** Removes everything a previous run may have left: processes running from the lab's folder, mounts, namespaces, links, files. */
  async cleanup(): Promise<void> {
    const ours = () =>
      readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
        .filter((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(this.root + '/')
          } catch {
            return false
          }
        })
        .map(Number)
    // dockerd first: it stops its containers and unmounts its layers itself.
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const pids = ours()
      if (!pids.length) break
      for (const pid of pids) {
        try {
          process.kill(pid, signal)
        } catch {
          // gone already
        }
      }
      for (let i = 0; i < 60 && ours().length; i++) await sleep(250)
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '')
      .filter((point) => point === this.root || point.startsWith(this.root + '/'))
      .sort((a, b) => b.length - a.length)
    for (const point of mounts) tryRun('umount', ['-l', point])
    for (const ns of [this.ns('sw'), ...this.hosts.map((h) => this.ns(h))]) tryRun('ip', ['netns', 'del', ns])
    tryRun('ip', ['link', 'del', `${this.prefix}-host`])
    rmSync(this.root, { recursive: true, force: true })
  }

  /** The namespaces, the bridge, one veth per host and one to this machine; a throwaway ssh key. */
  create(): void {
    mkdirSync(this.sshControlDir, { recursive: true })
    const sw = this.ns('sw')
    run('ip', ['netns', 'add', sw])
    run('ip', ['-n', sw, 'link', 'add', this.bridge, 'type', 'bridge'])
    run('ip', ['-n', sw, 'link', 'set', this.bridge, 'up'])
    for (const host of this.hosts) {
      const ns = this.ns(host)
      const port = `${ns}-e`
      run('ip', ['netns', 'add', ns])
      run('ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
      run('ip', ['link', 'set', port, 'netns', sw])
      run('ip', ['-n', sw, 'link', 'set', port, 'master', this.bridge, 'up'])
      run('ip', ['-n', ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0'])
      run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up'])
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
      mkdirSync(host.dir, { recursive: true })
    }
    const hostPort = `${this.prefix}-host`
    run('ip', ['link', 'add', hostPort, 'type', 'veth', 'peer', 'name', `${this.prefix}-up`, 'netns', sw])
    run('ip', ['-n', sw, 'link', 'set', `${this.prefix}-up`, 'master', this.bridge, 'up'])
    run('ip', ['addr', 'add', `${this.hostAddress}/24`, 'dev', hostPort])
    run('ip', ['link', 'set', hostPort, 'up'])
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'activity-cluster-test', '-f', this.key])
    writeFileSync(join(this.root, 'authorized_keys'), readFileSync(`${this.key}.pub`), { mode: 0o600 })
  }

  private pid(host: LabHost, what: 'docker' | 'sshd'): number | undefined {
    const file = join(host.dir, `${what}.pid`)
    return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) || undefined : undefined
  }

  /** Its own dockerd: own data and exec roots and socket, no bridge, no iptables, in the host's namespace and hostname. */
  async startDocker(host: LabHost): Promise<void> {
    const log = openSync(join(host.dir, 'dockerd.log'), 'a')
    const dockerd = [
      'dockerd',
      `--data-root=${join(host.dir, 'data')}`,
      `--exec-root=${join(host.dir, 'exec')}`,
      `-H=${host.dockerHost}`,
      `--pidfile=${join(host.dir, 'docker.pid')}`,
      '--bridge=none',
      '--iptables=false',
      '--ip-masq=false',
      '--ip-forward=false',
    ].join(' ')
    // nsenter, not ip netns exec: that one remounts /sys and hides the devices cgroup from dockerd.
    const child = spawn('nsenter', [`--net=/var/run/netns/${this.ns(host)}`, 'unshare', '--uts', 'sh', '-c', `hostname ${host.name} && exec ${dockerd}`], {
      detached: true,
      stdio: ['ignore', log, log],
    })
    child.unref()
    closeSync(log)
    await this.waitFor(`dockerd of ${host.name}`, 60_000, () => spawnSync('docker', ['info', '--format', '{{.ID}}'], { env: { ...process.env, DOCKER_HOST: host.dockerHost }, stdio: 'ignore' }).status === 0, join(host.dir, 'dockerd.log'))
  }

  /** Stops a host's dockerd, as a machine whose engine died (its containers stop with it). */
  async stopDocker(host: LabHost): Promise<void> {
    const pid = this.pid(host, 'docker')
    if (!pid) return
    process.kill(pid, 'SIGTERM')
    await this.waitFor(`dockerd of ${host.name} to exit`, 60_000, () => !existsSync(`/proc/${pid}`))
  }

  /** sshd on port 22 of the host's address; root by key only; sessions talk to the host's own engine (SetEnv DOCKER_HOST). */
  async startSshd(host: LabHost): Promise<void> {
    mkdirSync('/run/sshd', { recursive: true })
    const hostKey = join(host.dir, 'ssh_host_ed25519_key')
    if (!existsSync(hostKey)) run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey])
    const config = join(host.dir, 'sshd_config')
    writeFileSync(
      config,
      [
        `ListenAddress ${host.address}:22`,
        `HostKey ${hostKey}`,
        `PidFile ${join(host.dir, 'sshd.pid')}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        // The lab's folder is under /run, not a home: sshd's ownership checks of ~/.ssh do not apply.
        'StrictModes no',
        `AuthorizedKeysFile ${join(this.root, 'authorized_keys')}`,
        `SetEnv DOCKER_HOST=${host.dockerHost}`,
        '',
      ].join('\n'),
    )
    const dockerd = this.pid(host, 'docker')
    const uts = dockerd ? [`--uts=/proc/${dockerd}/ns/uts`] : []
    // vm.max_map_count is one for the whole kernel, and /etc/sysctl.d is this machine's: each host's sessions see files
    // of its own there (a mount namespace), so that what activity cluster init sets on a node changes that node only.
    const { proc, sysctlDir } = this.kernel(host)
    if (!existsSync(proc)) writeFileSync(proc, '65530\n')
    mkdirSync(sysctlDir, { recursive: true })
    const sshd = `mount --bind ${proc} /proc/sys/vm/max_map_count && mount --bind ${sysctlDir} /etc/sysctl.d && exec /usr/sbin/sshd -f ${config} -E ${join(host.dir, 'sshd.log')}`
    run('nsenter', [`--net=/var/run/netns/${this.ns(host)}`, ...uts, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', sshd])
    await this.waitFor(`sshd of ${host.name}`, 20_000, () => existsSync(join(host.dir, 'sshd.pid')), join(host.dir, 'sshd.log'))
  }

  /** A host's own vm.max_map_count (65530, the kernel's default, until something sets it) and /etc/sysctl.d, as its ssh sessions see them. */
  kernel(host: LabHost): { proc: string; sysctlDir: string } {
    return { proc: join(host.dir, 'max_map_count'), sysctlDir: join(host.dir, 'sysctl.d') }
  }

  /** Loads an image of this machine's engine into every host's engine (none can pull). */
  loadImage(image: string): void {
    const archive = join(this.root, 'image.tar')
    const { DOCKER_HOST: _theirs, ...mainEngine } = process.env
    run('docker', ['save', '-o', archive, image], { env: mainEngine })
    for (const host of this.hosts) run('docker', ['load', '-q', '-i', archive], { env: { ...process.env, DOCKER_HOST: host.dockerHost } })
    rmSync(archive)
  }

  /** `docker ARGS` on one host's engine. */
  docker(host: LabHost, args: string[]): string {
    return run('docker', args, { env: { ...process.env, DOCKER_HOST: host.dockerHost } })
  }

  async waitFor(what: string, timeoutMs: number, done: () => boolean | Promise<boolean>, log?: string): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (await done()) return
      await sleep(250)
    }
    const tail = log && existsSync(log) ? `; last lines of ${log}: ${readFileSync(log, 'utf8').trim().split('\n').slice(-5).join(' | ')}` : ''
    throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${tail}`)
  }
}
