// Bundles the `activity` command with esbuild into dist/: every collector stays an entry point of its own, because
// the command finds the sources by file name in dist/collectors/. `--collectors` bundles only what the collectors
// image runs (collect, sources, check); without it, the whole command as well (scripts/activity.ts).
import { rmSync } from 'node:fs'
import { build } from 'esbuild'

const root = new URL('..', import.meta.url).pathname
const onlyCollectors = process.argv.includes('--collectors')

rmSync(`${root}dist`, { recursive: true, force: true })
await build({
  absWorkingDir: root,
  entryPoints: [...(onlyCollectors ? [] : ['scripts/activity.ts']), 'collectors/runtime/cli.ts', 'collectors/*.ts'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  // Errors take their name from their class (collectors/runtime/errors.ts): minified, it would be a mangled one.
  keepNames: true,
  outdir: 'dist',
  outbase: '.',
  logLevel: 'warning',
  // Packages written as CommonJS call require(); an ES module has none unless it makes one.
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
})
