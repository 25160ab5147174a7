// The snapshot volume handed to Elasticsearch's user where Elasticsearch runs (issue 16, finding 7): `up` and gitops run
// a global job on the nodes logs_elasticsearch is placed on, as that service's own placement constraints say. Elastic's
// image runs as uid 1000, gid 0 (https://www.elastic.co/guide/en/elasticsearch/reference/8.19/docker.html, "the
// container runs Elasticsearch as user elasticsearch using uid:gid 1000:0"); a new local volume belongs to root. Here
// logs_elasticsearch is a stand-in service (Elasticsearch cannot run here) with the placement the stack gives it, and
// the volume's owner is read back by a container of its own.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { docker, dockerMaybe, engineInfo } from '../../stacks/deploy/docker.ts'
import { chownSnapshotVolume } from '../../stacks/deploy/logs-setup.ts'
import { ensureSwarm } from '../../stacks/deploy/swarm.ts'
import { requireBinary, waitFor } from '../support/servers.ts'
import { baseImage } from './standins.ts'

const test = suite('the Elasticsearch snapshot volume, handed over where Elasticsearch is placed')
const service = 'logs_elasticsearch'
const volume = 'logs_elasticsearch-snapshots'
const label = 'activity.e2e-snapshot-owner'
let node = ''

async function owner(): Promise<string> {
  return (await docker(['run', '--rm', '-v', `${volume}:/snapshots`, '--entrypoint', 'stat', baseImage, '-c', '%u:%g', '/snapshots'])).trim()
}

const jobContainers = async () => (await docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=logs_snapshots-owner'])).trim()

async function standIn(constraint: string): Promise<void> {
  await dockerMaybe(['service', 'rm', service])
  await docker(['service', 'create', '--detach', '--name', service, '--constraint', constraint, '--entrypoint', 'sleep', baseImage, 'infinity'])
}

async function cleanUp(): Promise<void> {
  await dockerMaybe(['service', 'rm', service, 'logs_snapshots-owner'])
  // The job's and the reader's containers may still hold the volume a moment after their service is gone.
  await waitFor(`volume ${volume} to be removed`, async () => (await dockerMaybe(['volume', 'rm', volume])) !== undefined || (await dockerMaybe(['volume', 'inspect', volume])) === undefined, 10_000, 500).catch((error: Error) => {
    process.stdout.write(`  ${error.message}; docker volume rm ${volume} removes it\n`)
  })
  if (node) await dockerMaybe(['node', 'update', '--label-rm', label, node])
}

test.before(async () => {
  requireBinary('docker', 'docker.io')
  const info = await engineInfo()
  if (!info) throw new Error('no Docker Engine answers: start it (bash test/e2e/ci-setup.sh starts dockerd in the background)')
  await ensureSwarm(info, '127.0.0.1')
  if (!(await dockerMaybe(['image', 'inspect', baseImage]))) throw new Error(`${baseImage} is missing: run bash test/e2e/base-image.sh`)
  if ((await dockerMaybe(['service', 'inspect', service])) !== undefined || (await dockerMaybe(['volume', 'inspect', volume])) !== undefined) {
    throw new Error(`${service} or the volume ${volume} already exists on this engine: a platform runs here; run npm run down -- --volumes first (this test hands that volume over)`)
  }
  node = (await docker(['info', '--format', '{{.Swarm.NodeID}}'])).trim()
  await docker(['node', 'update', '--label-add', `${label}=true`, node])
  await docker(['volume', 'create', volume])
})
test.after(cleanUp)

test('a new volume belongs to root; the job run on the nodes logs_elasticsearch is placed on gives it to uid 1000, gid 0', async () => {
  assert.is(await owner(), '0:0')
  await standIn(`node.labels.${label} == true`)
  await chownSnapshotVolume(baseImage)
  assert.is(await owner(), '1000:0')
  assert.is(await dockerMaybe(['service', 'inspect', 'logs_snapshots-owner']), undefined, 'the job is removed once done')
  assert.is(await jobContainers(), '', 'no container of the job is left holding the volume')
  await docker(['volume', 'rm', volume])
  await docker(['volume', 'create', volume])
})

test('placed where no node matches, the hand-over fails saying so (it waited forever before), and the job is removed', async () => {
  await standIn(`node.labels.${label} == nowhere`)
  const started = Date.now()
  const error = await chownSnapshotVolume(baseImage, { timeoutMs: 60_000, noTaskMs: 5000 }).then(() => undefined, (e: Error) => e)
  assert.ok(Date.now() - started < 60_000, 'it did not wait for the timeout')
  assert.ok(error, 'the hand-over failed')
  assert.match(error.message, /the snapshot volume's chown did not complete: no task ran \(no node matches node\.labels\.activity\.e2e-snapshot-owner == nowhere\)/)
  assert.is(await dockerMaybe(['service', 'inspect', 'logs_snapshots-owner']), undefined)
})

test.run()
