// `module.name` globs, as the blocking-imports lists are written: a trailing `*` matches any
// suffix (`env.*`), anything else matches one import exactly. Asyncify matches imports against
// them here, the runtime matches its host functions against the same globs (src/runtime/link.ts).

export function matchesGlob(name: string, glob: string): boolean {
  return glob.endsWith('*') ? name.startsWith(glob.slice(0, -1)) : name === glob;
}

export function matchesAny(name: string, globs: readonly string[]): boolean {
  return globs.some((glob) => matchesGlob(name, glob));
}
