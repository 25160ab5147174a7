// What the platform needs from the Docker Engine and its CLI: the facts read from `docker version` and `docker info`,
// and the verdict for the images about to be deployed: accepted, a warning line, or refused with the fix.
import { lastLine, run } from '../programs.ts'

/** The facts the rules read. */
export interface EngineFacts {
  /** The CLI's version (Client.Version). */
  client: string
  /** The engine's version (Server.Version, e.g. 20.10.24+dfsg1, 29.0.0). */
  engine: string
  /** The newest API the engine speaks (Server.ApiVersion). */
  api: string
  /** The oldest API the engine accepts (Server.MinAPIVersion): a client asking for less is refused. */
  minApi: string
  /** containerd: images live in containerd's snapshotters (Engine 29's default); graphdriver: the classic stores. */
  imageStore: 'containerd' | 'graphdriver'
  /** docker info's Driver (overlay2, overlayfs, ...). */
  storageDriver: string
}

/** A known-bad combination: what is wrong and what to change, said as one line by the caller. */
export interface Refusal {
  problem: string
  fix: string
}

export interface EngineVerdict {
  refusals: Refusal[]
  warnings: string[]
}

/** The newest Engine major whose changes were read against the platform (release notes and the issues below). */
export const newestTestedMajor = 29

/** The oldest Engine major upstream still supports; older ones work here (CI runs 20.10) with a warning. */
export const oldestSupportedMajor = 24

interface VersionJson {
  Client?: { Version?: string }
  Server?: { Version?: string; ApiVersion?: string; MinAPIVersion?: string } | null
}

interface InfoJson {
  ServerVersion?: string
  Driver?: string
  DriverStatus?: [string, string][] | null
}

/**
 * The facts from `docker version --format '{{json .}}'` and `docker info --format '{{json .}}'`; undefined when no
 * engine answered (Server is null then, and info has no ServerVersion).
 */
export function engineFacts(versionJson: string, infoJson: string): EngineFacts | undefined {
  const version = JSON.parse(versionJson) as VersionJson
  const info = JSON.parse(infoJson) as InfoJson
  const server = version.Server
  if (!server?.Version || !info.ServerVersion) return undefined
  // With the containerd image store the engine reports its layer store as one pair, driver-type =
  // io.containerd.snapshotter.v1 (moby/moby daemon/containerd/service.go LayerStoreStatus; shown as
  // "driver-type: io.containerd.snapshotter.v1" under "Storage Driver: overlayfs" in google/cadvisor#3643).
  const containerd = (info.DriverStatus ?? []).some(([key, value]) => key === 'driver-type' && value.startsWith('io.containerd.snapshotter'))
  return {
    client: version.Client?.Version ?? '',
    engine: server.Version,
    api: server.ApiVersion ?? '',
    minApi: server.MinAPIVersion ?? '',
    imageStore: containerd ? 'containerd' : 'graphdriver',
    storageDriver: info.Driver ?? '',
  }
}

/** Numbers of a version: 20.10.24+dfsg1 -> [20, 10, 24]; v3.6.1 -> [3, 6, 1]; 1.44 -> [1, 44]. Empty when it has none. */
export function versionParts(version: string): number[] {
  const match = /^v?(\d+(?:\.\d+)*)/.exec(version.trim())
  return match ? match[1]!.split('.').map(Number) : []
}

/** a < b, comparing as many parts as either has (missing parts are 0). */
export function olderThan(a: string, b: string): boolean {
  const x = versionParts(a)
  const y = versionParts(b)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0)
    if (d) return d < 0
  }
  return false
}

/** The tag of the image whose repository ends with `/name` (or is `name`), digest removed; undefined when none is deployed. */
export function imageTag(images: readonly string[], name: string): { image: string; tag: string } | undefined {
  for (const image of images) {
    const withoutDigest = image.split('@')[0]!
    const colon = withoutDigest.lastIndexOf(':')
    const repository = colon > withoutDigest.lastIndexOf('/') ? withoutDigest.slice(0, colon) : withoutDigest
    if (repository === name || repository.endsWith(`/${name}`)) return { image, tag: colon > withoutDigest.lastIndexOf('/') ? withoutDigest.slice(colon + 1) : 'latest' }
  }
  return undefined
}

/** Traefik's Docker and Swarm providers ask for API 1.24 up to v3.6.0 and negotiate from v3.6.1 (traefik/traefik#12253). */
const traefikNegotiates = '3.6.1'
const traefikAsks = '1.24'
/** cAdvisor finds containers of the containerd image store from v0.54.0 (google/cadvisor#3643, fixed by #3709). */
const cadvisorReadsContainerd = '0.54.0'
/** The CLI renders every stack with `docker stack config`, added in the CLI 23.0 (docker/cli#3544). */
const cliWithStackConfig = '23'
/** Replicated jobs, which run the collectors and the backup, came with API 1.41 (Engine 20.10; docs.docker.com/engine/api/version-history/#v141-api-changes). */
const apiWithJobs = '1.41'

/**
 * The verdict for an engine and the images about to run on it (`images`: every service's image, so a service left out
 * with --without is no reason to refuse). Each rule names where its fact comes from.
 */
export function engineVerdict(facts: EngineFacts, images: readonly string[]): EngineVerdict {
  const refusals: Refusal[] = []
  const warnings: string[] = []
  const engine = `Docker Engine ${facts.engine}`
  const [major = 0] = versionParts(facts.engine)

  if (facts.client && olderThan(facts.client, cliWithStackConfig)) {
    refusals.push({ problem: `the docker CLI ${facts.client} has no 'docker stack config', which renders the stacks`, fix: 'install the Docker CLI 24 or later (docker-ce-cli, https://docs.docker.com/engine/install/); the engine may stay as it is' })
  }
  if (olderThan(facts.api, apiWithJobs)) {
    refusals.push({ problem: `${engine} (API ${facts.api}) has no replicated jobs, which run the collectors`, fix: `upgrade to Docker Engine ${oldestSupportedMajor} or later (https://docs.docker.com/engine/install/)` })
  } else if (major < oldestSupportedMajor) {
    warnings.push(`${engine} is older than ${oldestSupportedMajor} and past upstream's support; it has what up uses (API ${facts.api}: replicated jobs), and CI runs 20.10, but upgrade when you can`)
  }
  if (major > newestTestedMajor) {
    warnings.push(`${engine} is newer than ${newestTestedMajor}, the newest this platform was checked against; if something fails, the README's engine check says what is known to break`)
  }

  // Engine 29 accepts API 1.44 and up (https://docs.docker.com/engine/release-notes/29/, "client version 1.24 is too
  // old"): an older Traefik builds no router at all, and every hostname answers 404 (traefik/traefik#12253).
  const traefik = imageTag(images, 'traefik')
  if (traefik && facts.minApi && olderThan(traefikAsks, facts.minApi)) {
    if (!versionParts(traefik.tag).length) {
      warnings.push(`cannot tell the version of ${traefik.image}; ${engine} refuses Traefik before v${traefikNegotiates} (it asks for API ${traefikAsks}, the engine accepts ${facts.minApi} and up)`)
    } else if (olderThan(traefik.tag, traefikNegotiates)) {
      refusals.push({
        problem: `${engine} accepts API ${facts.minApi} and up, and ${traefik.image} asks for ${traefikAsks}, so it would route nothing (traefik/traefik#12253)`,
        fix: `pin Traefik v${traefikNegotiates} or later in stacks/admin.yml, or start dockerd with DOCKER_MIN_API_VERSION=${traefikAsks}, or deploy --without traefik`,
      })
    }
  }

  // Engine 29 stores images in containerd for new installations (https://www.docker.com/blog/docker-engine-version-29):
  // an older cAdvisor looks for layers under /var/lib/docker/image and drops every container (google/cadvisor#3643).
  // Refused, not warned: the platform would look fine while the dashboard's container panels stay empty.
  const cadvisor = imageTag(images, 'cadvisor')
  if (cadvisor && facts.imageStore === 'containerd') {
    if (!versionParts(cadvisor.tag).length) {
      warnings.push(`cannot tell the version of ${cadvisor.image}; with the containerd image store cAdvisor sees containers from v${cadvisorReadsContainerd}`)
    } else if (olderThan(cadvisor.tag, cadvisorReadsContainerd)) {
      refusals.push({
        problem: `${engine} keeps images in the containerd image store, where ${cadvisor.image} sees no container, so the container panels stay empty (google/cadvisor#3643)`,
        fix: `pin cAdvisor v${cadvisorReadsContainerd} or later in stacks/monitoring.yml, or turn the store off ("features": {"containerd-snapshotter": false} in /etc/docker/daemon.json, then restart docker), or deploy --without cadvisor`,
      })
    }
  }
  return { refusals, warnings }
}

/** One line for a refusal list: the first one's problem, then every fix (and the others' problems). */
export function refusalLine(refusals: readonly Refusal[]): Refusal {
  const [first, ...others] = refusals
  return { problem: first!.problem, fix: [first!.fix, ...others.map((r) => `also ${r.problem}: ${r.fix}`)].join('; ') }
}

/** The engine DOCKER_HOST names, read with the CLI: its facts, or why none answered (the CLI's last line). */
export async function readEngineFacts(): Promise<{ facts: EngineFacts } | { missing: true } | { problem: string }> {
  const [version, info] = await Promise.all([run('docker', ['version', '--format', '{{json .}}']), run('docker', ['info', '--format', '{{json .}}'])])
  if (version.missing) return { missing: true }
  if (info.code !== 0) return { problem: lastLine(info.stderr || info.stdout) || `docker info exited ${info.code}` }
  // docker version prints the client half and exits 1 when the engine does not answer; its JSON is still whole.
  try {
    const facts = engineFacts(version.stdout.trim() || '{}', info.stdout.trim())
    return facts ? { facts } : { problem: lastLine(version.stderr) || 'the engine did not say its version' }
  } catch {
    return { problem: `docker version answered something else than JSON: ${version.stdout.slice(0, 120)}` }
  }
}
