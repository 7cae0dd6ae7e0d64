// Fresh names for what the passes add to a module (helper functions, globals), so that they can
// never collide with the program's own: the base name, else the base with the first free suffix.
import type { Module } from './binaryen.js';

/** A function name not used yet in the module. */
export function freshFunctionName(module: Module, base: string): string {
  let name = base;
  for (let i = 1; module.getFunction(name); i++) name = `${base}_${i}`;
  return name;
}

/** A global name not used yet in the module. */
export function freshGlobalName(module: Module, base: string): string {
  const exists = (name: string) => {
    try {
      return module.getGlobal(name) !== 0;
    } catch {
      return false;
    }
  };
  let name = base;
  for (let i = 1; exists(name); i++) name = `${base}_${i}`;
  return name;
}
