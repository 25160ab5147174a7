// `npm run dashboards`: writes every dashboard JSON file from its TypeScript source (the JSON is never edited by hand).
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { dashboards, render } from './index.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
for (const { file, build } of dashboards) {
  const path = join(root, file)
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, render(build()))
  process.stdout.write(`wrote dashboards/${file}\n`)
}
