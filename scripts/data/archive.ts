// A backup as one file: the backup folder in a tar, gzip-compressed (always available) or zstd-compressed (Debian's
// zstd: faster and smaller, used only when asked for and installed). manifest.json goes first so that listing reads little.
import { createReadStream, createWriteStream, readdirSync, renameSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Readable } from 'node:stream'
import { Parser, create as createTar, extract as extractTar } from 'tar'
import { BackupError } from './errors.ts'
import { MANIFEST } from './manifest.ts'
import { notFound, start } from '../../stacks/programs.ts'
import { notInstalled } from './programs.ts'

export type ArchiveKind = 'tar.gz' | 'tar.zst'

export function archiveKindOf(path: string): ArchiveKind | undefined {
  return path.endsWith('.tar.gz') ? 'tar.gz' : path.endsWith('.tar.zst') ? 'tar.zst' : undefined
}

/** Runs zstd as a filter; resolves when it exits cleanly, rejects with what it said otherwise. */
function zstd(args: string[], input: Readable | AsyncIterable<Buffer> | undefined, output: NodeJS.WritableStream | undefined): { done: Promise<void>; stdout: Readable } {
  const child = start('zstd', args)
  const exited = child.then(({ exitCode, stderr }) => {
    if (exitCode === 0) return
    if (notFound('zstd', exitCode, stderr)) throw notInstalled('zstd')
    throw new Error(`zstd: ${stderr.trim().split('\n').pop() ?? `exit ${exitCode}`}`)
  })
  const feeding = input ? pipeline(input, child.stdin) : (child.stdin.end(), Promise.resolve())
  const draining = output ? pipeline(child.stdout, output) : Promise.resolve()
  // What zstd said decides the error: a pipe it closed by failing is only the consequence.
  const done = Promise.allSettled([exited, feeding, draining]).then(([ended, ...streams]) => {
    if (ended.status === 'rejected') throw ended.reason
    for (const stream of streams) if (stream.status === 'rejected') throw stream.reason
  })
  return { done, stdout: child.stdout }
}

/** Packs a finished backup folder into FOLDER.tar.gz or FOLDER.tar.zst, then removes the folder. */
export async function packBackup(folder: string, kind: ArchiveKind): Promise<string> {
  const name = basename(folder)
  const entries = [MANIFEST, ...readdirSync(folder).filter((f) => f !== MANIFEST).sort()].map((f) => `${name}/${f}`)
  const path = `${folder}.${kind}`
  const partial = `${path}.partial`
  try {
    if (kind === 'tar.gz') {
      await pipeline(createTar({ cwd: dirname(folder), portable: true, gzip: true }, entries), createWriteStream(partial, { flags: 'wx' }))
    } else {
      await zstd(['-q', '-T0', '-3', '-o', partial], createTar({ cwd: dirname(folder), portable: true }, entries), undefined).done
    }
  } catch (error) {
    await rm(partial, { force: true })
    throw error
  }
  renameSync(partial, path)
  await rm(folder, { recursive: true, force: true })
  return path
}

function damaged(path: string, error: unknown): BackupError {
  const reason = (error as Error).message.replace(/\s*\n\s*/g, ' ')
  return new BackupError(basename(path), undefined, `archive cannot be read (${reason})`, 'it is truncated or damaged: use another backup (activity data list); nothing was changed')
}

function tarStream(path: string, kind: ArchiveKind): { stream: Readable; done: Promise<void> } {
  if (kind === 'tar.gz') return { stream: createReadStream(path), done: Promise.resolve() }
  const run = zstd(['-q', '-d', '-c', path], undefined, undefined)
  return { stream: run.stdout, done: run.done }
}

/** Unpacks an archive into `into`; returns the backup folder inside it. Any damage is a BackupError. */
export async function unpackBackup(path: string, into: string): Promise<string> {
  const kind = archiveKindOf(path)!
  try {
    const { stream, done } = tarStream(path, kind)
    await Promise.all([pipeline(stream, extractTar({ cwd: into, strict: true, gzip: kind === 'tar.gz' ? true : undefined } as never)), done])
  } catch (error) {
    throw damaged(path, error)
  }
  const folders = readdirSync(into)
  if (folders.length !== 1) throw new BackupError(basename(path), undefined, `archive holds ${folders.length} top-level entries, not one backup folder`, 'it was not written by activity data backup')
  return `${into}/${folders[0]}`
}

/** The manifest text of an archive, reading only as far as its first entry. */
export async function archiveManifest(path: string): Promise<string> {
  const kind = archiveKindOf(path)!
  let text: string | undefined
  const { stream, done } = tarStream(path, kind)
  const parser = new Parser({
    onReadEntry: (entry) => {
      if (basename(entry.path) !== MANIFEST || text !== undefined) return entry.resume()
      const chunks: Buffer[] = []
      entry.on('data', (chunk: Buffer) => chunks.push(chunk))
      entry.on('end', () => {
        text = Buffer.concat(chunks).toString('utf8')
        stream.destroy() // the rest of the archive is not needed
      })
    },
  })
  try {
    await Promise.all([pipeline(stream, parser), done])
  } catch (error) {
    if (text === undefined) throw damaged(path, error)
  }
  if (text === undefined) throw new BackupError(basename(path), undefined, 'archive has no manifest.json', 'it was not written by activity data backup')
  return text
}
