// `activity logs setup` where Elasticsearch is: a one-off container of the gitops image on the logs network, run by
// `up` and by gitops whenever the logs stack is deployed. It first gives the snapshot volume to Elasticsearch's user
// (a new volume belongs to root), then waits until Elasticsearch answers, then installs what differs.
import { elasticsearchUser } from '../backup-job.ts'
import { docker } from './docker.ts'

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
  const script = [
    'set -e',
    'cat > /tmp/activity.yml',
    `chown ${elasticsearchUser.uid}:${elasticsearchUser.gid} /snapshots`,
    `for i in $(seq ${attempts}); do`,
    '  if node /app/dist/scripts/activity.js logs setup --config /tmp/activity.yml > /tmp/out 2>&1; then cat /tmp/out; exit 0; fi',
    '  sleep 10',
    'done',
    'cat /tmp/out; exit 1',
  ].join('\n')
  const output = await docker(
    ['run', '--rm', '-i', '--network', 'activity_logs', '-v', 'logs_elasticsearch-snapshots:/snapshots', '--entrypoint', 'sh', options.image, '-c', script],
    { input: options.configText },
  )
  return output.split('\n').filter(Boolean)
}
