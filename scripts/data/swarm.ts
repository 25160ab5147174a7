// The thin Swarm adapter of the data commands: a store's data in a named volume (volume:NAME), and a service scaled
// to 0 and back around a restore. The backup job's service definition is stacks/backup-job.ts.
import { runProgram } from './programs.ts'
import type { Control } from './store.ts'

/** `volume:NAME/sub/path` as a path on this node (run on the manager that holds the volume, as root). */
export async function resolveVolumePath(spec: string): Promise<string> {
  const match = /^volume:([A-Za-z0-9][A-Za-z0-9_.-]*)(\/.*)?$/.exec(spec)
  if (!match) return spec
  const mountpoint = (await runProgram('docker', ['volume', 'inspect', '--format', '{{.Mountpoint}}', match[1]!])).trim()
  return mountpoint + (match[2] ?? '')
}

/** Scales a Swarm service to 0 (waiting until its tasks are gone) and back to the replicas it had. */
export function serviceControl(service: string): Control {
  let replicas = '1'
  return {
    describe: `service ${service}`,
    async stop() {
      const current = (await runProgram('docker', ['service', 'inspect', '--format', '{{if .Spec.Mode.Replicated}}{{.Spec.Mode.Replicated.Replicas}}{{end}}', service])).trim()
      if (current && current !== '0') replicas = current
      await runProgram('docker', ['service', 'scale', '--detach=false', `${service}=0`])
    },
    async start() {
      await runProgram('docker', ['service', 'scale', '--detach=false', `${service}=${replicas}`])
    },
  }
}

/** Stop and start commands of a store run by hand (systemd units, ...). */
export function commandControl(stop: string, start: string): Control {
  return {
    describe: `\`${stop}\` / \`${start}\``,
    stop: async () => void (await runProgram('sh', ['-c', stop])),
    start: async () => void (await runProgram('sh', ['-c', start])),
  }
}
