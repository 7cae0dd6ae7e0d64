// Staging repository sources for a build at test time: copies of some of the repository's
// folders (without build outputs) in a temporary tree with the repository's layout, bin/ linked,
// so relative paths (a cargo runner, a path dependency, cmake/) work unchanged and nothing is
// ever written into the repository.
import { cp, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { projectRoot } from './tools.js';

const BUILD_OUTPUTS = /(^|\/)(build|target)$|\.(o|wasm)$|Cargo\.lock$/;

/** Copies each repository-relative folder to the same place under `root`, and links `root`/bin. */
export async function stageRepositoryFolders(root: string, folders: string[]): Promise<void> {
  for (const folder of folders) {
    await cp(join(projectRoot, folder), join(root, folder), { recursive: true, force: true, filter: (src) => !BUILD_OUTPUTS.test(src) });
  }
  await symlink(join(projectRoot, 'bin'), join(root, 'bin')).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
}
