// The project's own images (collectors, gitops): their name and tag, their build from scripts/Dockerfile (skipped when
// nothing changed), and their push to the user's registry when REGISTRY names one.
import { createHash, X509Certificate } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { rootCertificates } from 'node:tls'
import { StepError } from '../../collectors/runtime/errors.ts'
import { dockerStreaming, imageLabel } from './docker.ts'

export const projectImages = ['collectors', 'gitops'] as const
export type ProjectImage = (typeof projectImages)[number]

/** What the Dockerfiles COPY (the .dockerignore allowlist): a change here is a new image. */
const buildInputs = ['package.json', 'package-lock.json', 'tsconfig.json', 'collectors', 'gitops', 'stacks', 'scripts']
const sourceLabel = 'activity.source.hash'

function filesUnder(path: string): string[] {
  if (!statSync(path, { throwIfNoEntry: false })) return []
  if (!statSync(path).isDirectory()) return [path]
  return readdirSync(path)
    .sort()
    .flatMap((name) => filesUnder(join(path, name)))
}

/** Hash of every file the image builds from, so an edit without a commit still gives a new image. */
export function sourceHash(root: string): string {
  const hash = createHash('sha256')
  for (const input of buildInputs) {
    for (const file of filesUnder(join(root, input))) hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0')
  }
  return hash.digest('hex').slice(0, 12)
}

/**
 * ACTIVITY_TAG: the package version and a hash of what the images are built from (0.1.0-3f2a9c1e5b7d). The same
 * files give the same tag wherever they are: a work tree (committed or not) and gitops' checkout of the same commit
 * agree, so gitops finds the images and stacks `up` deployed, and an edit is a new image that a redeploy picks up.
 */
export async function activityTag(root: string): Promise<string> {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
  return `${version}-${sourceHash(root)}`
}

/**
 * The host part of the project's image names when no REGISTRY is set: the images stay on the engine that built them
 * (and are copied to the other nodes). Swarm tries to pull a service's image before each task even when the node has
 * it, and uses its own copy when the pull fails; `.invalid` never resolves (RFC 6761), so that pull fails at once and
 * reaches nobody. A bare `activity/collectors` would be pulled from whoever owns `activity` on Docker Hub, and
 * `localhost/...` from this platform's own Traefik (the website answers `localhost`).
 */
export const localImageHost = 'local.invalid'

/** REGISTRY/activity/<image>:<tag>, or local.invalid/activity/<image>:<tag> when no registry is set (''). */
export function imageName(registry: string, image: ProjectImage, tag: string): string {
  return `${registry || localImageHost}/activity/${image}:${tag}`
}

/** The registry host of an image name (`registry.example.org:5000/team/activity/x:1` → `registry.example.org:5000`), what `docker login` takes. */
export function registryHost(name: string): string {
  return name.split('/')[0]!
}

/**
 * Pushes an image to the registry its name starts with; says whether a layer was sent or the registry had them all.
 * A push the registry refuses (no login, no right to push) is a StepError saying how to log in.
 */
export async function pushImage(name: string, env: Record<string, string | undefined> = {}): Promise<'pushed' | 'present'> {
  let sent = false
  try {
    await dockerStreaming(['push', name], (line) => {
      if (/: Pushed$/.test(line.trim())) sent = true
    }, env)
  } catch (error) {
    const host = registryHost(name)
    throw new StepError('images', `pushing ${name} to ${host} failed: ${(error as Error).message}`, `log in to it first (docker login ${host}) with a user that may push, or unset REGISTRY to keep the images on this engine`)
  }
  return sent ? 'pushed' : 'present'
}

/**
 * The certificates in a CA bundle (NODE_EXTRA_CA_CERTS) that Node does not already trust: what npm inside the build
 * needs behind a TLS-inspecting proxy. Small enough for a build argument, unlike a whole system bundle.
 */
export function extraCaPem(bundleFile: string | undefined): string {
  if (!bundleFile) return ''
  let text: string
  try {
    text = readFileSync(bundleFile, 'utf8')
  } catch {
    return ''
  }
  const known = new Set(rootCertificates.map((pem) => pem.replace(/\s+/g, '')))
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  return pems
    .filter((pem) => !known.has(pem.replace(/\s+/g, '')))
    .filter((pem) => {
      try {
        return new X509Certificate(pem).ca
      } catch {
        return false
      }
    })
    .join('\n')
}

export interface BuildOptions {
  root: string
  registry: string
  tag: string
  /** NODE_IMAGE and RUNTIME_IMAGE build arguments; the Dockerfiles' pinned upstream image when absent. */
  nodeImage?: string
  /** CAs npm needs inside the build (see extraCaPem); taken from NODE_EXTRA_CA_CERTS in `env` when absent. */
  npmExtraCaPem?: string
  env?: Record<string, string | undefined>
  progress: (line: string) => void
}

/** Builds one image (a target of scripts/Dockerfile) unless an image with this tag was built from the same sources; says which. */
export async function buildImage(image: ProjectImage, options: BuildOptions): Promise<'built' | 'present'> {
  const name = imageName(options.registry, image, options.tag)
  const hash = sourceHash(options.root)
  if ((await imageLabel(name, sourceLabel)) === hash) return 'present'
  const args = ['build', '-f', join(options.root, 'scripts', 'Dockerfile'), '--target', image, '-t', name, '--label', `${sourceLabel}=${hash}`]
  if (options.nodeImage) args.push('--build-arg', `NODE_IMAGE=${options.nodeImage}`, '--build-arg', `RUNTIME_IMAGE=${options.nodeImage}`)
  const ca = options.npmExtraCaPem ?? extraCaPem(options.env?.NODE_EXTRA_CA_CERTS)
  if (ca) args.push('--build-arg', `NPM_EXTRA_CA_PEM=${ca}`)
  args.push(options.root)
  await dockerStreaming(args, (line) => {
    if (/^Step \d+\/\d+ : /.test(line)) options.progress(`${image}: ${line.replace(/\s+/g, ' ').slice(0, 100)}`)
  }, options.env)
  return 'built'
}
