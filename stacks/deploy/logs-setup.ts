// `activity logs setup` where Elasticsearch is: run by `up` and by gitops whenever the logs stack is deployed. It first
// gives the snapshot volume to Elasticsearch's user (a new volume belongs to root) on the nodes Elasticsearch is placed
// on, then, in a one-off container of the gitops image on the logs network, waits until Elasticsearch answers and
// installs what differs.
import { elasticsearchUser } from '../backup-job.ts'
import { docker, dockerMaybe } from './docker.ts'

/** The Swarm job that hands the snapshot volume over; removed once done. */
const chownJob = 'logs_snapshots-owner'

export interface LogsSetupOptions {
  /** The gitops image (it has the activity CLI with its logs commands). */
  image: string
  /** activity.yml's text: logs.retention decides the ILM policy. */
  configText: string
  /** How long to wait for Elasticsearch to answer, in seconds (a new node takes a minute or two). */
  waitSeconds?: number
}

/** Runs the setup; returns the lines it printed. Throws DockerError (with its last lines) when it fails. */
export async function runLogsSetup(options: LogsSetupOptions): Promise<string[]> {
  const attempts = Math.max(1, Math.ceil((options.waitSeconds ?? 300) / 10))
  await chownSnapshotVolume(options.image)
  const script = [
    'set -e',
    'cat > /tmp/activity.yml',
    `for i in $(seq ${attempts}); do`,
    '  if node /app/dist/scripts/activity.js logs setup --config /tmp/activity.yml > /tmp/out 2>&1; then cat /tmp/out; exit 0; fi',
    '  sleep 10',
    'done',
    'cat /tmp/out; exit 1',
  ].join('\n')
  const output = await docker(
    ['run', '--rm', '-i', '--network', 'activity_logs', '--entrypoint', 'sh', options.image, '-c', script],
    { input: options.configText },
  )
  return output.split('\n').filter(Boolean)
}

/** The placement constraints of the deployed logs_elasticsearch service: where its volumes really are. */
export async function elasticsearchConstraints(): Promise<string[]> {
  const text = await docker(['service', 'inspect', '--format', '{{json .Spec.TaskTemplate.Placement.Constraints}}', 'logs_elasticsearch'])
  return (JSON.parse(text.trim()) as string[] | null) ?? []
}

/**
 * The arguments of the global job that chowns the snapshot volume on every node Elasticsearch may run on (its own
 * placement constraints): a container of the machine running up would see that machine's volume, which is not the
 * one Elasticsearch uses when it runs on another node.
 */
export function chownJobArgs(image: string, constraints: readonly string[]): string[] {
  return [
    'service', 'create', '--name', chownJob, '--mode', 'global-job', '--restart-condition', 'none', '--detach=false', '--quiet',
    ...constraints.flatMap((constraint) => ['--constraint', constraint]),
    '--mount', 'type=volume,source=logs_elasticsearch-snapshots,target=/snapshots',
    '--user', '0:0', '--entrypoint', 'chown', image, `${elasticsearchUser.uid}:${elasticsearchUser.gid}`, '/snapshots',
  ]
}

async function chownSnapshotVolume(image: string): Promise<void> {
  const constraints = await elasticsearchConstraints()
  await dockerMaybe(['service', 'rm', chownJob])
  try {
    await docker(chownJobArgs(image, constraints))
    const states = (await docker(['service', 'ps', '--format', '{{.Node}} {{.CurrentState}} {{.Error}}', chownJob])).trim().split('\n').filter(Boolean)
    const failed = states.filter((line) => !/ Complete /.test(`${line} `))
    if (!states.length || failed.length) throw new Error(`the snapshot volume's chown did not complete: ${failed.join('; ') || 'no task ran (no node matches ' + constraints.join(', ') + ')'}`)
  } finally {
    await dockerMaybe(['service', 'rm', chownJob])
  }
}
