// Guest paths inside a directory descriptor. The program names files relative to a directory it
// holds; absolute paths and '..' that climbs above that directory are refused with ENOTCAPABLE
// here, lexically, before any file system sees them. (Symbolic links are checked by the
// Directory, which knows where they lead.)
import { Errno, WasiError } from './errno.js';

/** The normalized relative form of `path` ('' for the directory itself), or a WasiError. */
export function sandboxedPath(path: string): string {
  if (path === '') throw new WasiError(Errno.NOENT, 'empty path');
  if (path.includes('\0')) throw new WasiError(Errno.INVAL, 'a path contains NUL');
  if (path.startsWith('/')) throw new WasiError(Errno.NOTCAPABLE, `absolute path ${path} is outside the sandbox`);
  const components: string[] = [];
  for (const component of path.split('/')) {
    if (component === '' || component === '.') continue;
    if (component !== '..') components.push(component);
    else if (components.pop() === undefined) throw new WasiError(Errno.NOTCAPABLE, `path ${path} leaves its directory`);
  }
  return components.join('/');
}
