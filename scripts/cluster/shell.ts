// How `activity cluster` runs a command on a node: ssh for remote hosts and VMs, a local shell for the local engine.
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ClusterConfig, ClusterNode } from '../../collectors/runtime/activity-yml-cluster.ts'
import { ConfigError } from '../../collectors/runtime/errors.ts'
import { lastLine as lastPrinted, run } from '../../stacks/programs.ts'

export interface ShellResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs shell scripts on one node. */
export interface NodeShell {
  node: ClusterNode
  /** Runs `script` with the node's sh; resolves with its exit code (a connection failure included). */
  run(script: string): Promise<ShellResult>
  /** Says why the node could not be reached, when `result` is a connection failure; undefined otherwise. */
  unreachable(result: ShellResult): string | undefined
}

/** The node did not answer at all: the error names the line of its host in activity.yml. */
export class UnreachableError extends ConfigError {
  constructor(
    readonly config: ClusterConfig,
    readonly node: ClusterNode,
    readonly reason: string,
  ) {
    super(
      config.file,
      node.hostLine ?? node.line,
      node.hostLine ? `${node.field}.host` : node.field,
      `${node.name} (${node.host}:${config.ssh.port}) does not answer ssh: ${reason}`,
      config.provider === 'virtualbox'
        ? `is the VM running (activity cluster status --provider virtualbox)? start it with activity cluster start`
        : `check the address, that sshd runs there and accepts ${config.ssh.user}'s key${config.ssh.identityFile ? ` (${config.ssh.identityFile})` : ''}, or remove the node`,
    )
    this.name = 'UnreachableError'
  }
}

/** Runs a program here, its input closed; never throws (a missing program is exit 127). */
export async function exec(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ShellResult> {
  const ran = await run(command, args, { cwd: options.cwd, env: options.env })
  // Said as before the runner: `<command>: <why it could not start>`.
  if (ran.missing) return { code: 127, stdout: '', stderr: `${command}: spawn ${command} ENOENT` }
  return { code: ran.code, stdout: ran.stdout, stderr: ran.stderr }
}

/** The ssh options every call uses: keys only, never a prompt, the key and known hosts the config names. */
export function sshOptions(config: ClusterConfig): string[] {
  const { ssh } = config
  const options = ['-o', 'BatchMode=yes', '-o', `ConnectTimeout=${ssh.connectTimeout}`, '-o', 'StrictHostKeyChecking=accept-new', '-p', String(ssh.port), '-l', ssh.user]
  if (ssh.identityFile) options.push('-i', ssh.identityFile, '-o', 'IdentitiesOnly=yes')
  if (ssh.knownHostsFile) options.push('-o', `UserKnownHostsFile=${ssh.knownHostsFile}`)
  // One connection per node, kept 30 s: a command makes a dozen calls, and each new one costs a key exchange.
  // ACTIVITY_SSH_CONTROL_DIR: where those connections' sockets go (default the temporary folder).
  const controlDir = process.env.ACTIVITY_SSH_CONTROL_DIR || tmpdir()
  options.push('-o', 'ControlMaster=auto', '-o', `ControlPath=${join(controlDir, 'activity-ssh-%C')}`, '-o', 'ControlPersist=30')
  // A connection to a machine that went away ends within 15 s instead of holding its socket.
  options.push('-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3')
  return options
}

export function sshShell(config: ClusterConfig, node: ClusterNode): NodeShell {
  return {
    node,
    run: (script) => exec('ssh', [...sshOptions(config), node.host!, script]),
    // ssh exits 255 for its own errors (the remote command's 255 is rare enough to read the same way).
    unreachable: (result) => (result.code === 255 || result.code === 127 ? lastLine(result.stderr) || `ssh exited ${result.code}` : undefined),
  }
}

/** The engine of this machine (local provider): scripts run with sh here. */
export function localShell(node: ClusterNode): NodeShell {
  return {
    node,
    run: (script) => exec('sh', ['-c', script]),
    unreachable: () => undefined,
  }
}

/** The last line a program printed, without ssh's host-key notices. */
export function lastLine(text: string): string {
  return lastPrinted(text, /^Warning: Permanently added/)
}

/** Single-quotes a value for a remote sh. */
export function quote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`
}
