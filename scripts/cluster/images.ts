// The project's images on every node that runs them: `up` builds them on the engine it talks to, and a task of a
// collector or the backup job may be placed on any node. With REGISTRY (the user's own registry) they are pushed there
// and every node pulls them; without, each node of a several-machine cluster that lacks an image gets it streamed over
// ssh (`docker save` from the building engine | `docker load` on the node), and one node needs nothing.
import type { ClusterConfig } from '../../collectors/runtime/activity-yml-cluster.ts'
import { dockerMaybe } from '../../stacks/deploy/docker.ts'
import { pushImage } from '../../stacks/deploy/images.ts'
import { start } from '../../stacks/programs.ts'
import { StepError } from '../../collectors/runtime/errors.ts'
import { lastLine, quote, sshOptions, sshShell } from './shell.ts'

/** `docker save IMAGES` here (the engine DOCKER_HOST names) piped into `docker load` on `host`; resolves with the load's output. */
async function stream(config: ClusterConfig, host: string, images: string[]): Promise<{ code: number; output: string }> {
  const save = start('docker', ['save', ...images])
  const load = start('ssh', [...sshOptions(config), host, 'docker load'])
  save.stdin.end()
  let output = ''
  let saveErrors = ''
  save.stderr.on('data', (chunk) => (saveErrors += chunk))
  load.stdout.on('data', (chunk) => (output += chunk))
  load.stderr.on('data', (chunk) => (output += chunk))
  save.stdout.pipe(load.stdin)
  // A failed load closes its input: the save's broken pipe is the load's error, told below.
  load.stdin.on('error', () => {})
  let saved: number | null = null
  void save.then((ended) => (saved = ended.exitCode))
  const loaded = await load
  return { code: saved ? saved : (loaded.exitCode ?? 255), output: saved ? saveErrors : output }
}

/**
 * Copies `images` to every node of a several-machine cluster that does not have them (same id), showing progress per
 * node; returns the nodes that got a copy. The local provider has one node: nothing to do.
 */
export async function distributeImages(config: ClusterConfig, images: string[], progress: (line: string) => void): Promise<string[]> {
  if (config.provider === 'local' || !images.length) return []
  const ids = new Map<string, string>()
  for (const image of images) {
    const id = (await dockerMaybe(['image', 'inspect', '--format', '{{.Id}}', image]))?.trim()
    if (!id) throw new StepError('images', `${image} is not on the engine up builds with`, 'run npm run up again (it builds the images first)')
    ids.set(image, id)
  }
  const copied: string[] = []
  for (const node of config.nodes) {
    const shell = sshShell(config, node)
    const check = await shell.run(images.map((image) => `docker image inspect --format '{{.Id}}' ${quote(image)} 2>/dev/null || echo missing`).join('; '))
    const unreachable = shell.unreachable(check)
    if (unreachable) throw new StepError('images', `${node.name} (${node.host}) does not answer ssh: ${unreachable}`, 'check it with activity cluster status, then run up again')
    const present = check.stdout.trim().split('\n')
    const missing = images.filter((image, i) => present[i]?.trim() !== ids.get(image))
    if (!missing.length) {
      progress(`${node.name}: has ${images.length === 1 ? 'the image' : `the ${images.length} images`}`)
      continue
    }
    progress(`${node.name}: copying ${missing.join(', ')}`)
    const loaded = await stream(config, node.host!, missing)
    if (loaded.code !== 0) throw new StepError('images', `copying ${missing.join(', ')} to ${node.name} failed: ${lastLine(loaded.output) || `exit ${loaded.code}`}`, `check the disk space on ${node.name} and that its engine runs (activity cluster status)`)
    progress(`${node.name}: ${lastLine(loaded.output) || 'loaded'}`)
    copied.push(node.name)
  }
  return copied
}

/** How the images reach the nodes: pushed to the registry REGISTRY names, copied over ssh, or already there (one node). */
export type ImageDelivery = 'push' | 'copy' | 'none'

export function imageDelivery(registry: string, provider: ClusterConfig['provider']): ImageDelivery {
  if (registry) return 'push'
  return provider === 'local' ? 'none' : 'copy'
}

/**
 * Gets the built `images` to the nodes that will run them (see imageDelivery); returns what it did, one phrase each, for
 * `up`'s images line. `env` is the Docker CLI's environment: its DOCKER_CONFIG holds the registry login.
 */
export async function deliverImages(config: ClusterConfig, registry: string, images: string[], env: Record<string, string | undefined>, progress: (line: string) => void): Promise<string[]> {
  switch (imageDelivery(registry, config.provider)) {
    case 'push': {
      if (!images.length) return []
      const pushed: string[] = []
      for (const image of images) {
        progress(`${image}: pushing`)
        if ((await pushImage(image, env)) === 'pushed') pushed.push(image)
      }
      return [pushed.length ? `pushed ${pushed.join(', ')} to ${registry}` : `${registry} has them`]
    }
    case 'copy': {
      const copied = await distributeImages(config, images, progress)
      return copied.length ? [`copied to ${copied.join(', ')}`] : []
    }
    case 'none':
      return []
  }
}
