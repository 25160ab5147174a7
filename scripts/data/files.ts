// Files of a backup: written once with their size and sha256 counted on the way, copied with progress, owned like the store's own.
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream, statSync } from 'node:fs'
import { chown, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

export type Progress = (line: string) => void

export interface Written {
  size: number
  sha256: string
}

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

/** The size and sha256 of a file as it is on disk. */
export async function hashFile(path: string, label?: string, progress?: Progress): Promise<Written> {
  const hash = createHash('sha256')
  let size = 0
  const total = statSync(path).size
  let last = Date.now()
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk)
    size += chunk.length
    if (progress && Date.now() - last >= 2000) {
      last = Date.now()
      progress(`${label}: checked ${formatBytes(size)} of ${formatBytes(total)}`)
    }
  }
  return { size, sha256: hash.digest('hex') }
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
