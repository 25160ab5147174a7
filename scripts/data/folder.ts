// A folder of files a service keeps on its volume (gitops: its clone, deployed.json, the deploy ledger), as one tar
// part. Taken while the service runs: each file is read up to its size when the tar reaches it, so a ledger appended
// to meanwhile is kept up to its last whole line; a restore stops the service, replaces the folder's content, and
// starts it again.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { extract as extractTar } from 'tar'
import { StoreError } from './errors.ts'
import { chownTree, formatBytes, ownerOf, writeTarHashed, type Progress } from './files.ts'
import type { Part } from './manifest.ts'
import { answers, waitUntil, type Control, type PartSource, type PartWritten, type Store } from './store.ts'

export interface FolderOptions {
  name: string
  /** The folder as seen from here (the volume's mount). */
  path: string
  /** Where the service answers once it runs again after a restore (its health URL). */
  url?: string
  control?: Control
}

export function folderStore(options: FolderOptions): Store {
  const { name, path } = options
  const where = `folder ${path}${options.url ? `, ${options.url}` : ''}`
  const fail = (problem: string, fix?: string) => new StoreError(name, where, problem, fix)
  const entries = () => (existsSync(path) ? readdirSync(path).sort() : [])

  return {
    name,
    kind: 'folder',
    where,
    control: options.control,

    async backup(dir: string, progress: Progress): Promise<PartWritten> {
      if (!existsSync(path)) throw fail('does not exist', 'check the path (or volume:) of the store')
      const file = `${name}.tar`
      // Empty until its service first runs (up runs the backup job before it deploys gitops): an empty part, said so.
      if (!entries().length) progress(`${name}: ${path} is empty (its service has not run on this node yet)`)
      const written = writeTarHashed(path, entries(), join(dir, file), `${name}: ${file}`, progress)
      progress(`${name}: ${file} ${formatBytes(written.size)}, ${entries().length} entries`)
      return { file, ...written, detail: { entries: entries().length } }
    },

    async holds(): Promise<string | undefined> {
      const count = entries().length
      return count ? `${count} files and folders in ${path}` : undefined
    },

    async check(): Promise<void> {
      if (!existsSync(path)) throw fail('does not exist', 'create it (deploy its stack once), or point path: at it')
      if (!options.control && options.url && (await answers(options.url))) throw fail('its service is running', 'stop it before restoring, or give the store a service: so activity stops and starts it')
    },

    async restore(part: Part, { dir }: PartSource, progress: Progress): Promise<void> {
      const owner = ownerOf(path)
      progress(`${name}: replacing the content of ${path}`)
      for (const entry of entries()) rmSync(join(path, entry), { recursive: true, force: true })
      mkdirSync(path, { recursive: true })
      extractTar({ file: join(dir, part.file), cwd: path, strict: true, sync: true })
      await chownTree(path, owner)
    },

    async ready(timeoutMs: number): Promise<void> {
      if (options.url) await waitUntil(`${name} to answer at ${options.url}`, () => answers(options.url!), timeoutMs)
    },
  }
}
