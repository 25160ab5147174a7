// `activity logs setup` where Elasticsearch is: run by `up` and by gitops whenever the logs stack is deployed. It first
// gives the snapshot volume to Elasticsearch's user (a new volume belongs to root) on the nodes Elasticsearch is placed
// on, then, in a one-off container of the gitops image on the logs network, waits until Elasticsearch answers and
// installs what differs.
import { elasticsearchUser } from '../backup-job.ts'
import { serviceStates, waitForServices } from './converge.ts'
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
    'service', 'create', '--name', chownJob, '--mode', 'global-job', '--restart-condition', 'none', '--detach', '--quiet',
    ...constraints.flatMap((constraint) => ['--constraint', constraint]),
    '--mount', 'type=volume,source=logs_elasticsearch-snapshots,target=/snapshots',
    '--user', '0:0', '--entrypoint', 'chown', image, `${elasticsearchUser.uid}:${elasticsearchUser.gid}`, '/snapshots',
  ]
}

/** How long the hand-over may take, and how long a job with no task at all is given before no node is taken to match. */
export interface HandOverTimes {
  timeoutMs: number
  noTaskMs: number
}

/**
 * Gives the snapshot volume to Elasticsearch's user on every node logs_elasticsearch may run on; throws when a task
 * did not complete. The job is created detached and followed as up follows every service (converge.ts):
 * `docker service create --detach=false` waits forever for a global job that no node matches (seen on Engine 20.10:
 * 0/0, never done), which would hang up and gitops.
 */
export async function chownSnapshotVolume(image: string, times: HandOverTimes = { timeoutMs: 300_000, noTaskMs: 20_000 }): Promise<void> {
  const constraints = await elasticsearchConstraints()
  await dockerMaybe(['service', 'rm', chownJob])
  try {
    await docker(chownJobArgs(image, constraints))
    const started = Date.now()
    // A global job that no node matches gets no task, and Swarm calls it neither done nor failed.
    while (!(await serviceStates([chownJob]))[0]?.tasks.length) {
      if (Date.now() - started > times.noTaskMs) throw new Error(`the snapshot volume's chown did not complete: no task ran (no node matches ${constraints.join(', ') || 'any node'})`)
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
    const [state] = await waitForServices([chownJob], { timeoutMs: times.timeoutMs, since: started, progress: () => {} })
    if (!state?.ready) throw new Error(`the snapshot volume's chown did not complete: ${state?.problem ?? 'no state'}`)
  } finally {
    await dockerMaybe(['service', 'rm', chownJob])
    // Engine 20.10 leaves a finished job task's container behind when its service is removed (seen here: still there
    // 11 minutes later), and it holds the volume: `npm run down -- --volumes` could not remove it. This node's go now;
    // another node's stay until `docker container prune` there (README, Elasticsearch indices).
    const left = (await dockerMaybe(['ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${chownJob}`]))?.split('\n').filter(Boolean) ?? []
    if (left.length) await dockerMaybe(['rm', '-f', ...left])
  }
}
