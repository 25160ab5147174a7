// What each stack and image is made from, and a fingerprint of those inputs at a commit: a stack is deployed when its fingerprint changes.
import { createHash } from 'node:crypto'
import type { SimpleGit } from 'simple-git'
import { parse } from 'yaml'
import { deployOrder, stackNames as stacks, type StackName as Stack } from '../stacks/stacks.ts'

export { deployOrder, stacks, type Stack }

export const images = ['collectors', 'gitops'] as const
export type Image = (typeof images)[number]

interface Inputs {
  /** Files (path prefixes or exact paths) whose content the stack or image is made of. */
  files: (path: string) => boolean
  /** Sections (or fields, as metrics.longTerm.enabled) of activity.yml that shape it: what stacks/data-env.ts and the renderers read. */
  settings: string[]
  /** Project images it runs. */
  images: Image[]
}

const stackFiles = (stack: string) => (path: string) =>
  path === `stacks/${stack}.yml` || (path.startsWith(`stacks/${stack}.`) && path.endsWith('.yml')) || path.startsWith(`stacks/${stack}/`)

const bundle = (path: string) => path === 'package.json' || path === 'package-lock.json' || path === 'tsconfig.json'

export const imageInputs: Record<Image, (path: string) => boolean> = {
  // scripts/Dockerfile and scripts/build.ts: how the collectors-only bundle is built and packaged.
  collectors: (path) => bundle(path) || (path.startsWith('collectors/') && !path.endsWith('.md')) || path === 'scripts/Dockerfile' || path === 'scripts/build.ts',
  gitops: (path) =>
    bundle(path) || path.startsWith('gitops/') || path.startsWith('collectors/') || path.startsWith('scripts/') || (path.startsWith('stacks/') && path.endsWith('.ts')) || path === 'stacks/logs/nginx-access-template.json' || path === 'stacks/logs/nginx-error-template.json',
}

// platform.domain is every stack's DOMAIN; metrics.* the metrics stack's flags and its longterm profile, which adds
// Grafana's VictoriaMetrics datasource to admin; logs.nodes the logs stack's nodes3 profile and logs.retention its setup
// (run on each deployment of logs); alerts the monitoring stack's Alertmanager config; sources, projects and backup the collectors stack (its jobs read activity.yml's sources and projects alone).
export const stackInputs: Record<Stack, Inputs> = {
  admin: { files: (p) => stackFiles('admin')(p) || (p.startsWith('dashboards/') && p.endsWith('.json')), settings: ['platform', 'metrics.longTerm.enabled'], images: [] },
  metrics: { files: stackFiles('metrics'), settings: ['platform', 'metrics'], images: [] },
  logs: { files: stackFiles('logs'), settings: ['platform', 'logs'], images: [] },
  monitoring: { files: stackFiles('monitoring'), settings: ['platform', 'alerts'], images: [] },
  app: { files: stackFiles('app'), settings: ['platform'], images: [] },
  collectors: { files: (p) => p === 'stacks/collectors.yml' || p.startsWith('stacks/collectors/'), settings: ['platform', 'sources', 'projects', 'backup'], images: ['collectors', 'gitops'] },
  gitops: { files: stackFiles('gitops'), settings: ['platform'], images: ['gitops'] },
}

/** Every file of a commit with its blob id: git's own content hash, so nothing is read or checked out. */
export async function treeOf(git: SimpleGit, commit: string): Promise<Map<string, string>> {
  const out = await git.raw(['ls-tree', '-r', '--full-tree', commit])
  const tree = new Map<string, string>()
  for (const line of out.split('\n')) {
    const match = /^\d+ blob ([0-9a-f]+)\t(.+)$/.exec(line)
    if (match) tree.set(match[2]!, match[1]!)
  }
  return tree
}

/** The value at a dotted path of parsed activity.yml (metrics.longTerm.enabled), undefined when absent. */
function settingAt(settings: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined), settings)
}

function digest(parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16)
}

export interface Fingerprints {
  stacks: Record<Stack, string>
  images: Record<Image, string>
}

/** Fingerprints of every stack and image at a commit. activity.yml counts section by section, so a change to sources does not redeploy Grafana. */
export async function fingerprints(git: SimpleGit, commit: string): Promise<Fingerprints> {
  const tree = await treeOf(git, commit)
  let settings: Record<string, unknown> = {}
  if (tree.has('activity.yml')) {
    try {
      settings = (parse(await git.show([`${commit}:activity.yml`])) as Record<string, unknown> | null) ?? {}
    } catch {
      // An unparseable activity.yml is caught by validation; here it just counts as changed everywhere.
      settings = { unparseable: tree.get('activity.yml') }
    }
  }
  const filesOf = (match: (path: string) => boolean) => [...tree].filter(([path]) => match(path)).map(([path, blob]) => `${path} ${blob}`).sort()
  const imageDigests = Object.fromEntries(images.map((image) => [image, digest(filesOf(imageInputs[image]))])) as Record<Image, string>
  const stackDigests = Object.fromEntries(
    stacks.map((stack) => {
      const inputs = stackInputs[stack]
      const parts = [
        ...filesOf(inputs.files),
        ...inputs.settings.map((path) => `activity.yml#${path} ${JSON.stringify(settingAt(settings, path) ?? settings.unparseable ?? null)}`),
        ...inputs.images.map((image) => `image ${image} ${imageDigests[image]}`),
      ]
      return [stack, digest(parts)]
    }),
  ) as Record<Stack, string>
  return { stacks: stackDigests, images: imageDigests }
}

/** Stacks whose fingerprint differs from what is deployed (a stack never deployed counts as changed), in deploy order. */
export function changedStacks(current: Record<Stack, string>, deployed: Partial<Record<Stack, string>>): Stack[] {
  return deployOrder.filter((stack) => current[stack] !== deployed[stack])
}
