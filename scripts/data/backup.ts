// activity data backup | restore | list: one backup of every store, checked before a restore touches anything.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { archiveKindOf, archiveManifest, packBackup, unpackBackup, type ArchiveKind } from './archive.ts'
import { BackupError, StoreError } from './errors.ts'
import { formatBytes, type Progress } from './files.ts'
import { createHashPool, type HashPool } from './hashing.ts'
import { FORMAT, MANIFEST, readManifest, verifyPart, type Manifest, type Part } from './manifest.ts'
import type { Store } from './store.ts'

/** activity-backup-20261125T030000Z: sorts by time, and no colon (a Windows or tar-unfriendly character). */
const backupName = /^activity-backup-(\d{8}T\d{6}Z)(\.tar\.gz|\.tar\.zst)?$/

export function nameFor(time: Date): string {
  return `activity-backup-${time.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`
}

export interface BackupOptions {
  stores: Store[]
  /** The folder holding the backups (a volume in the Swarm job). */
  to: string
  /** Keep this many backups, newest first; older ones are removed after a backup that has every part. */
  keep: number
  archive: 'none' | ArchiveKind
  commit: string | null
  tool: string
  progress: Progress
  now?: () => Date
  /** Checksums run here; a command starts it first, so its workers are up when the first part needs them. Default: a pool of this backup's own. */
  pool?: HashPool
}

export interface BackupResult {
  path: string
  manifest: Manifest
  removed: string[]
}

/** Each store's part into `partial`, in turn; a failure is recorded and the next store goes on. */
async function backupParts(options: BackupOptions, partial: string, manifest: Manifest, pool: HashPool): Promise<void> {
  const { progress } = options
  for (const [index, store] of options.stores.entries()) {
    const step = `[${index + 1}/${options.stores.length}]`
    const began = Date.now()
    try {
      const written = await store.backup(partial, (line) => progress(`backup: ${step} ${line}`), pool)
      manifest.parts.push({ name: store.name, store: store.kind, ...written })
      progress(`backup: ${step} ${store.name}: done in ${((Date.now() - began) / 1000).toFixed(1)} s`)
    } catch (error) {
      const message = (error as Error).message.replace(/\s*\n\s*/g, ' ')
      manifest.failed.push({ name: store.name, error: message })
      progress(`backup: ${step} ${store.name}: FAILED: ${message}`)
    }
  }
}

/**
 * Takes one backup of every store into `to`. A store that fails does not stop the others: its failure is recorded in the
 * manifest, the backup is kept, nothing older is removed, and the caller exits non-zero.
 */
export async function takeBackup(options: BackupOptions): Promise<BackupResult> {
  const { progress } = options
  const started = options.now?.() ?? new Date()
  mkdirSync(options.to, { recursive: true })
  const name = nameFor(started)
  const final = join(options.to, name)
  if (existsSync(final) || existsSync(`${final}.tar.gz`) || existsSync(`${final}.tar.zst`)) throw new Error(`${final} already exists: another backup started this same second`)
  const partial = `${final}.partial`
  mkdirSync(partial)
  const manifest: Manifest = { format: FORMAT, createdAt: started.toISOString(), commit: options.commit, tool: options.tool, parts: [], failed: [] }
  progress(`backup: ${name} of ${options.stores.map((s) => s.name).join(', ')} into ${options.to}`)
  const pool = options.pool ?? createHashPool()
  try {
    await backupParts(options, partial, manifest, pool)
  } finally {
    if (!options.pool) await pool.close()
  }
  // The manifest is written last: a folder without one is an unfinished backup.
  writeFileSync(join(partial, MANIFEST), JSON.stringify(manifest, null, 2) + '\n')
  renameSync(partial, final)
  let path = final
  if (options.archive !== 'none') {
    progress(`backup: packing ${name}.${options.archive}`)
    path = await packBackup(final, options.archive)
  }
  const size = manifest.parts.reduce((sum, p) => sum + p.size, 0)
  progress(`backup: ${basename(path)}: ${manifest.parts.length} parts, ${formatBytes(size)}${manifest.failed.length ? `, ${manifest.failed.length} FAILED (${manifest.failed.map((f) => f.name).join(', ')})` : ''}`)
  const removed = manifest.failed.length ? [] : await prune(options.to, options.keep, progress)
  return { path, manifest, removed }
}

export interface BackupEntry {
  name: string
  path: string
  archive: ArchiveKind | undefined
  time: Date
  manifest: Manifest | undefined
  /** Why the manifest could not be read. */
  problem?: string
  bytes: number
}

/** The backups in a folder, newest first, with their manifests (a damaged one is listed with its problem). */
export async function listBackups(dir: string): Promise<BackupEntry[]> {
  if (!existsSync(dir)) return []
  const entries: BackupEntry[] = []
  for (const file of readdirSync(dir)) {
    const match = backupName.exec(file)
    if (!match) continue
    const path = join(dir, file)
    const archive = archiveKindOf(file)
    const stamp = match[1]!
    const time = new Date(`${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`)
    let manifest: Manifest | undefined
    let problem: string | undefined
    try {
      if (archive) {
        const scratch = mkdtempSync(join(dir, '.list-'))
        try {
          writeFileSync(join(scratch, MANIFEST), await archiveManifest(path))
          manifest = readManifest(scratch, file)
        } finally {
          await rm(scratch, { recursive: true, force: true })
        }
      } else {
        manifest = readManifest(path, file)
      }
    } catch (error) {
      problem = (error as Error).message
    }
    const bytes = archive ? statSync(path).size : (manifest?.parts.reduce((sum, p) => sum + p.size, 0) ?? 0)
    entries.push({ name: file, path, archive, time, manifest, problem, bytes })
  }
  return entries.sort((a, b) => b.time.getTime() - a.time.getTime())
}

/** Removes all but the newest `keep` backups (and unfinished ones older than a day). Only names activity wrote are touched. */
export async function prune(dir: string, keep: number, progress: Progress): Promise<string[]> {
  const removed: string[] = []
  const backups = (await listBackups(dir)).filter((b) => b.manifest)
  for (const old of backups.slice(keep)) {
    await rm(old.path, { recursive: true, force: true })
    removed.push(old.name)
  }
  const dayAgo = Date.now() - 24 * 3600_000
  for (const file of readdirSync(dir)) {
    if (/^activity-backup-\d{8}T\d{6}Z(\.tar\.(gz|zst))?\.partial$/.test(file) && statSync(join(dir, file)).mtimeMs < dayAgo) {
      await rm(join(dir, file), { recursive: true, force: true })
      removed.push(file)
    }
  }
  if (removed.length) progress(`backup: keeping the last ${keep}; removed ${removed.join(', ')}`)
  return removed
}

export interface RestoreOptions {
  /** A backup folder or archive. */
  source: string
  stores: Store[]
  /** Restore only these parts (default: every part a store is configured for). */
  only?: string[]
  /** Replace stores that hold data. */
  force: boolean
  progress: Progress
  /** How long each store may take to answer after its restore. */
  readyTimeoutMs?: number
  /** Where an archive is unpacked; default: beside it. */
  scratch?: string
  /** Checksums are verified here (see BackupOptions.pool). */
  pool?: HashPool
}

/**
 * Restores a backup: first every check (manifest version, each part present, whole and matching its checksum, each
 * store empty or --force), and only then, store by store: stop, restore, start, wait until it answers.
 */
export async function restoreBackup(options: RestoreOptions): Promise<Manifest> {
  const { progress } = options
  const label = basename(options.source)
  if (!existsSync(options.source)) throw new BackupError(label, undefined, 'does not exist', 'name a backup folder or archive (activity data list shows them)')
  const scratch = mkdtempSync(join(options.scratch ?? join(options.source, '..'), '.restore-'))
  try {
    let dir = options.source
    if (archiveKindOf(options.source)) {
      progress(`restore: unpacking ${label}`)
      mkdirSync(join(scratch, 'backup'))
      dir = await unpackBackup(options.source, join(scratch, 'backup'))
    }
    const manifest = readManifest(dir, label)
    progress(`restore: ${label}: taken ${manifest.createdAt}${manifest.commit ? ` at commit ${manifest.commit.slice(0, 12)}` : ''} by ${manifest.tool}`)

    const byName = new Map(options.stores.map((s) => [s.name, s]))
    for (const name of options.only ?? []) {
      if (!manifest.parts.some((p) => p.name === name)) throw new BackupError(label, name, `is not in this backup (it holds ${manifest.parts.map((p) => p.name).join(', ') || 'no part'})`, 'name one of those, or another backup')
      if (!byName.has(name)) throw new BackupError(label, name, 'has no store to restore into', `configure a store named ${name}`)
    }
    const chosen = manifest.parts.filter((p) => (options.only ? options.only.includes(p.name) : byName.has(p.name)))
    for (const part of manifest.parts) if (!chosen.includes(part)) progress(`restore: ${part.name}: not restored (${byName.has(part.name) ? 'not asked for' : 'no store configured for it'})`)
    if (!chosen.length) throw new BackupError(label, undefined, 'holds no part that a configured store takes', 'check the store names (activity data list shows the parts)')

    // 1. The whole backup is checked before anything is touched.
    const pool = options.pool ?? createHashPool()
    try {
      for (const part of chosen) {
        await verifyPart(dir, part, label, progress, pool)
        progress(`restore: ${part.name}: ${part.file} ${formatBytes(part.size)}, checksum ok`)
      }
    } finally {
      if (!options.pool) await pool.close()
    }
    const source = { dir, scratch }
    const plan: { part: Part; store: Store }[] = []
    const occupied: { name: string; holds: string }[] = []
    for (const part of chosen) {
      const store = byName.get(part.name)!
      if (store.kind !== part.store) throw new BackupError(label, part.name, `is a ${part.store} backup, but the store named ${part.name} is ${store.kind}`, 'restore it into a store of its kind')
      const holds = await store.holds()
      if (holds) occupied.push({ name: part.name, holds })
      await store.check(part, source)
      plan.push({ part, store })
    }
    if (occupied.length && !options.force) {
      const [first, ...more] = occupied
      const also = more.length ? ` (${more.map((m) => m.name).join(', ')} ${more.length === 1 ? 'holds' : 'hold'} data too)` : ''
      throw new StoreError(first!.name, 'restore refused', `holds ${first!.holds}${also}`, 'restore with --force to replace it; nothing was changed')
    }
    for (const { name, holds } of occupied) progress(`restore: --force: replacing what ${name} holds: ${holds}`)

    // 2. Store by store.
    for (const [index, { part, store }] of plan.entries()) {
      const step = `restore: [${index + 1}/${plan.length}] ${part.name}`
      if (store.control) {
        progress(`${step}: stopping ${store.control.describe}`)
        await store.control.stop()
      }
      await store.restore(part, source, (line) => progress(`${step.replace(` ${part.name}`, '')} ${line}`))
      if (store.control) {
        progress(`${step}: starting ${store.control.describe}`)
        await store.control.start()
      }
      progress(`${step}: waiting until it answers`)
      await store.ready(options.readyTimeoutMs ?? 5 * 60_000)
      progress(`${step}: restored and answering`)
    }
    return manifest
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}
