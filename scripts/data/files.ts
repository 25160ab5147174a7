// Files of a backup: written once with their size and sha256 counted on the way, copied with progress, owned like the store's own.
import { createHash } from 'node:crypto'
import { closeSync, createWriteStream, existsSync, linkSync, mkdirSync, openSync, readSync, readdirSync, statSync, writeSync, type Stats } from 'node:fs'
import { chown, copyFile, mkdir, readdir, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Header } from 'tar'
import { hashHere, type HashPool, type Written } from './hashing.ts'

export type Progress = (line: string) => void

/** Human sizes for progress lines: 1.2 GB, 340 MB, 12 kB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return `${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`
}

/** Calls `report` with the bytes seen so far, at most every `everyMs`, while data flows through. */
export function counter(report: (bytes: number) => void, everyMs = 2000): Transform & { bytes: () => number } {
  let bytes = 0
  let last = Date.now()
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length
      if (Date.now() - last >= everyMs) {
        last = Date.now()
        report(bytes)
      }
      done(null, chunk)
    },
  })
  return Object.assign(stream, { bytes: () => bytes })
}

/** Writes a stream to a new file, hashing it on the way; `label` names it in progress lines. */
export async function writeHashed(source: Readable | AsyncIterable<Buffer>, path: string, label: string, progress: Progress): Promise<Written> {
  const hash = createHash('sha256')
  const count = counter((bytes) => progress(`${label}: ${formatBytes(bytes)} written`))
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk)
      done(null, chunk)
    },
  })
  await pipeline(source, count, hashing, createWriteStream(path, { flags: 'wx' }))
  return { size: count.bytes(), sha256: hash.digest('hex') }
}

/** One buffer for all reads: in the VMs these run on, allocating fresh memory for every read cost more than the copy. */
const chunk = Buffer.allocUnsafeSlow(1 << 20)

/**
 * Writes a tar of `entries` (files and folders, relative to `cwd`; symbolic links followed) to a new file, hashing
 * it on the way. node-tar encodes each header; the data moves through one reused buffer, synchronously: packing with
 * node-tar's streams allocated a buffer per read and took five to ten times as long as `cp -a` of the same folder
 * (test/bench/backup.bench.ts). A backup job has nothing else to do meanwhile.
 */
export function writeTarHashed(cwd: string, entries: string[], path: string, label: string, progress: Progress): Written {
  const hash = createHash('sha256')
  const out = openSync(path, 'wx')
  let size = 0
  let last = Date.now()
  const write = (buffer: Buffer, length = buffer.length) => {
    hash.update(length === buffer.length ? buffer : buffer.subarray(0, length))
    for (let done = 0; done < length; ) done += writeSync(out, buffer, done, length - done)
    size += length
    if (Date.now() - last >= 2000) {
      last = Date.now()
      progress(`${label}: ${formatBytes(size)} written`)
    }
  }
  const header = (entry: string, stat: Stats, type: 'File' | 'Directory') => {
    const block = Buffer.alloc(512)
    const encoded = new Header({ path: type === 'Directory' ? `${entry}/` : entry, mode: stat.mode & 0o7777, size: type === 'File' ? stat.size : 0, mtime: stat.mtime, type })
    encoded.encode(block)
    if (encoded.needPax) throw new Error(`${entry}: path too long for a plain tar header`)
    write(block)
  }
  const add = (entry: string) => {
    const full = join(cwd, entry)
    const stat = statSync(full)
    if (stat.isDirectory()) {
      header(entry, stat, 'Directory')
      for (const child of readdirSync(full).sort()) add(`${entry}/${child}`)
      return
    }
    if (!stat.isFile()) return
    header(entry, stat, 'File')
    const input = openSync(full, 'r')
    let remaining = stat.size
    try {
      while (remaining > 0) {
        const read = readSync(input, chunk, 0, Math.min(chunk.length, remaining), null)
        if (read === 0) throw new Error(`${full} shrank while it was copied`)
        write(chunk, read)
        remaining -= read
      }
    } finally {
      closeSync(input)
    }
    const padding = (512 - (stat.size % 512)) % 512
    if (padding) write(Buffer.alloc(padding))
  }
  try {
    for (const entry of entries) add(entry)
    write(Buffer.alloc(1024)) // two empty blocks end the archive
  } finally {
    closeSync(out)
  }
  return { size, sha256: hash.digest('hex') }
}

/** The size and sha256 of a file as it is on disk, on this thread; `progress` hears how far it is every 2 s. */
export async function hashFile(path: string, label?: string, progress?: Progress): Promise<Written> {
  const total = statSync(path).size
  return hashHere(path, (bytes) => progress?.(`${label}: checked ${formatBytes(bytes)} of ${formatBytes(total)}`))
}

/** The owner of a path, so that restored files belong to whoever runs the store (nobody in prom/prometheus, 472 in Grafana). */
export function ownerOf(path: string): { uid: number; gid: number } {
  const stat = statSync(path)
  return { uid: stat.uid, gid: stat.gid }
}

/** Gives a file or a whole tree to an owner; only root may, and only root needs to. */
export async function chownTree(path: string, owner: { uid: number; gid: number }): Promise<void> {
  if (process.getuid?.() !== 0) return
  await chown(path, owner.uid, owner.gid)
  const stat = statSync(path)
  if (!stat.isDirectory()) return
  for (const entry of await readdir(path)) await chownTree(join(path, entry), owner)
}

/**
 * Puts a copy of `source` in place of `file` in one rename, owned like the file (or its folder) was, so the store
 * never sees half a file. `beforeRename` removes what the old file leaves beside it (an SQLite journal, say).
 */
export async function replaceFile(source: string, file: string, beforeRename: () => Promise<void> = async () => {}): Promise<void> {
  const folder = dirname(file)
  const owner = ownerOf(existsSync(file) ? file : folder)
  const temporary = join(folder, `.${basename(file)}.restoring`)
  await rm(temporary, { force: true })
  await copyFile(source, temporary)
  await chownTree(temporary, owner)
  await beforeRename()
  await rename(temporary, file)
}

/** The file listing a folder part: `sha256sum -c SHA256SUMS` inside the part checks it by hand; its own sha256 is the part's. */
export const SUMS = 'SHA256SUMS'

export interface FolderFile {
  /** Path inside the part folder, with '/'. */
  path: string
  size: number
  sha256: string
}

/** Where a file on disk is, to tell whether two names are one file (a hard link) that has not been written since. */
export interface FileIdentity {
  dev: number
  ino: number
  size: number
  mtimeMs: number
}

export function identityOf(stat: Stats): FileIdentity {
  return { dev: stat.dev, ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs }
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs
}

/** Every file under `dir` (folders walked, sorted), as paths relative to it with '/'. */
export function filesUnder(dir: string, prefix = ''): string[] {
  const out: string[] = []
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) out.push(...filesUnder(dir, path))
    else if (entry.isFile()) out.push(path)
  }
  return out
}

/**
 * Puts `source` at `target` and hashes what is now there, on `pool`. Only for files that are never written again once
 * complete (a TSDB block's): on the same filesystem the target is a hard link, as Prometheus' own snapshots are, and
 * costs no copy; across filesystems (EXDEV: another volume) it is a copy, hashed on the way.
 */
export async function linkOrCopyHashed(source: string, target: string, pool: HashPool): Promise<Written & { linked: boolean }> {
  // Synchronous: a link is microseconds, and the hash goes to the pool at once, in the order the caller asks.
  mkdirSync(dirname(target), { recursive: true })
  try {
    linkSync(source, target)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw error
    return { ...(await pool.copy(source, target)), linked: false }
  }
  return { ...(await pool.hash(target)), linked: true }
}

/** The SHA256SUMS text of a folder part's files, and its own size and sha256 (the part's checksum in the manifest). */
export function sumsOf(files: FolderFile[]): { text: string; sha256: string } {
  const text = files.map((f) => `${f.sha256}  ${f.path}\n`).join('')
  return { text, sha256: createHash('sha256').update(text).digest('hex') }
}

/** Reads a folder part's SHA256SUMS: each line a sha256, two spaces, a relative path without '..'. */
export function parseSums(text: string): { path: string; sha256: string }[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const match = /^([0-9a-f]{64}) {2}([^/].*)$/.exec(line)
      if (!match || match[2]!.split('/').includes('..')) throw new Error(`${SUMS}: not a checksum line: ${line.slice(0, 80)}`)
      return { sha256: match[1]!, path: match[2]! }
    })
}

/** Copies files from one folder to another, two at a time (the kernel copies; nothing passes through here). */
export async function copyFiles(from: string, to: string, paths: string[]): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++]!
      await mkdir(dirname(join(to, path)), { recursive: true })
      await copyFile(join(from, path), join(to, path))
    }
  }
  await Promise.all([worker(), worker()])
}
