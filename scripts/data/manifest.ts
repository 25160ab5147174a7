// manifest.json of a backup: what it holds, when and from which commit it was taken, and each part's size and sha256.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import * as v from 'valibot'
import { check } from '../../collectors/runtime/schema.ts'
import { BackupError } from './errors.ts'
import { formatBytes, hashFile, parseSums, SUMS, type Progress } from './files.ts'
import type { HashPool, Written } from './hashing.ts'

/**
 * The manifest format this code writes and reads; a newer backup is refused rather than half-understood.
 * 2: a part may be a folder (a Prometheus snapshot's blocks) whose SHA256SUMS lists each file; its sha256 is the part's.
 */
export const FORMAT = 2

/** The kinds of store a backup part can come from. */
export type StoreKind = 'prometheus' | 'pushgateway' | 'sqlite' | 'postgres' | 'elasticsearch' | 'folder'

export interface Part {
  name: string
  store: StoreKind
  file: string
  size: number
  sha256: string
  detail: Record<string, string | number>
}

export interface Manifest {
  format: number
  /** ISO time the backup started. */
  createdAt: string
  /** The platform repository's commit deployed when it was taken, when known. */
  commit: string | null
  /** The activity version that wrote it. */
  tool: string
  parts: Part[]
  /** Stores that could not be backed up this time, with the reason. */
  failed: { name: string; error: string }[]
}

const partSchema = v.object({
  name: v.pipe(v.string(), v.regex(/^[a-z][a-z0-9-]*$/, 'must be lower case letters, digits and dashes')),
  store: v.picklist(['prometheus', 'pushgateway', 'sqlite', 'postgres', 'elasticsearch', 'folder'], 'must be prometheus, pushgateway, sqlite, postgres, elasticsearch or folder'),
  file: v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a plain file name')),
  size: v.pipe(v.number(), v.integer(), v.minValue(0)),
  sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'must be 64 hexadecimal digits')),
  detail: v.optional(v.record(v.string(), v.union([v.string(), v.number()])), {}),
})

const manifestSchema = v.object({
  format: v.pipe(v.number(), v.integer(), v.minValue(1)),
  createdAt: v.pipe(v.string(), v.isoTimestamp('must be an ISO 8601 time')),
  commit: v.nullable(v.string()),
  tool: v.string(),
  parts: v.array(partSchema),
  failed: v.optional(v.array(v.object({ name: v.string(), error: v.string() })), []),
})

export const MANIFEST = 'manifest.json'

/** Reads and checks a backup folder's manifest; `label` names the backup in errors. */
export function readManifest(dir: string, label: string): Manifest {
  const path = join(dir, MANIFEST)
  if (!existsSync(path)) throw new BackupError(label, undefined, 'has no manifest.json', 'it is not a backup, or it was not finished: use another one (activity data list)')
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new BackupError(label, undefined, `manifest.json is not JSON (${(error as Error).message})`, 'the backup is damaged: use another one (activity data list)')
  }
  const format = (raw as { format?: unknown } | null)?.format
  if (typeof format === 'number' && format > FORMAT) {
    throw new BackupError(label, undefined, `was written by a newer activity (manifest format ${format}; this one reads up to ${FORMAT})`, 'restore it with that version or newer; nothing was changed')
  }
  const parsed = check(manifestSchema, raw)
  if (!parsed.ok) {
    const { path, message, missing } = parsed.problem
    throw new BackupError(label, undefined, `manifest.json: ${path.join('.') || '(top)'}: ${missing ? 'is missing' : message}`, 'the backup is damaged: use another one (activity data list)')
  }
  return parsed.value
}

/** Checks that a part's file (or folder) is there, whole, and matches its checksum. Throws a BackupError naming the part. */
export async function verifyPart(dir: string, part: Part, label: string, progress: Progress, pool: HashPool): Promise<void> {
  const path = join(dir, part.file)
  const nothing = 'nothing was changed; use another backup (activity data list)'
  if (!existsSync(path)) throw new BackupError(label, part.name, `(${part.file}) is missing`, nothing)
  if (statSync(path).isDirectory()) return verifyFolderPart(path, part, label, progress, pool)
  const size = statSync(path).size
  if (size !== part.size) throw new BackupError(label, part.name, `(${part.file}) is ${size < part.size ? 'truncated' : 'longer than written'}: ${size} of ${part.size} bytes`, nothing)
  const { sha256 } = await hashFile(path, `verify: ${part.name}`, progress)
  if (sha256 !== part.sha256) throw new BackupError(label, part.name, `(${part.file}) fails its checksum (sha256 ${sha256.slice(0, 12)}…, manifest says ${part.sha256.slice(0, 12)}…)`, nothing)
}

/** A folder part: its SHA256SUMS matches the manifest, every file it lists is there with the size and sha256 it says. */
async function verifyFolderPart(path: string, part: Part, label: string, progress: Progress, pool: HashPool): Promise<void> {
  const nothing = 'nothing was changed; use another backup (activity data list)'
  const fail = (problem: string) => new BackupError(label, part.name, `(${part.file}) ${problem}`, nothing)
  const sumsPath = join(path, SUMS)
  if (!existsSync(sumsPath)) throw fail(`has no ${SUMS}`)
  const text = readFileSync(sumsPath, 'utf8')
  const listed = createHash('sha256').update(text).digest('hex')
  if (listed !== part.sha256) throw fail(`fails its checksum (${SUMS} sha256 ${listed.slice(0, 12)}…, manifest says ${part.sha256.slice(0, 12)}…)`)
  let files: { path: string; sha256: string }[]
  try {
    files = parseSums(text)
  } catch (error) {
    throw fail((error as Error).message)
  }
  const sizes = files.map((file) => (existsSync(join(path, file.path)) ? statSync(join(path, file.path)).size : undefined))
  const absent = files.find((_, i) => sizes[i] === undefined)
  if (absent) throw fail(`lacks ${absent.path}`)
  const size = sizes.reduce((sum: number, s) => sum + s!, 0)
  if (size !== part.size) throw fail(`is ${size < part.size ? 'truncated' : 'longer than written'}: ${size} of ${part.size} bytes`)
  // Every file hashed at once over every core, largest first; reported in the order SHA256SUMS lists them.
  const order = files.map((_, i) => i).sort((a, b) => sizes[b]! - sizes[a]!)
  const hashed: Promise<Written>[] = []
  for (const i of order) {
    const label = `verify: ${part.name}: ${files[i]!.path}`
    hashed[i] = pool.hash(join(path, files[i]!.path), (bytes) => progress(`${label}: checked ${formatBytes(bytes)} of ${formatBytes(sizes[i]!)}`))
  }
  const sums = await Promise.all(hashed)
  for (const [i, file] of files.entries()) {
    const { sha256 } = sums[i]!
    if (sha256 !== file.sha256) throw fail(`fails its checksum: ${file.path} (sha256 ${sha256.slice(0, 12)}…, ${SUMS} says ${file.sha256.slice(0, 12)}…)`)
  }
}
