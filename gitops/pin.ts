// The pin shown where `npm run status` looks: a Swarm config (activity_gitops_pinned) holding the pin while there is one.
import { docker, dockerMaybe } from '../stacks/deploy/docker.ts'
import { platformLabel } from '../stacks/deploy/swarm.ts'
import type { Pin } from './state.ts'

export const pinConfig = 'activity_gitops_pinned'

/** Writes the pin into the swarm (or removes it when there is none). */
export async function showPinInSwarm(pin: Pin | undefined): Promise<void> {
  await dockerMaybe(['config', 'rm', pinConfig])
  if (pin) await docker(['config', 'create', '--label', `${platformLabel}=true`, pinConfig, '-'], { input: JSON.stringify(pin) })
}

/** The pin as the swarm holds it, for `npm run status`; undefined when the platform is not pinned. */
export async function pinInSwarm(): Promise<Pin | undefined> {
  const data = await dockerMaybe(['config', 'inspect', '--format', '{{json .Spec.Data}}', pinConfig])
  if (data === undefined) return undefined
  return JSON.parse(Buffer.from(JSON.parse(data) as string, 'base64').toString('utf8')) as Pin
}
