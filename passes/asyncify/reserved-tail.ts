// The reserved tail: hides the top pages of memory 0 from the program so the host can keep the
// Asyncify data there without ever overwriting program memory (docs/ABI.md).
//
// Every `memory.size` of the program becomes `memory.size - lunatic_reserved_pages`, and every
// `memory.grow` a call to `lunatic_memory_grow`, which grows the real memory, zeroes the pages
// that leave the tail (the program expects fresh pages to read as zero) and returns the size the
// program saw before. The memory limits are raised by the same number of pages afterwards, on
// the binary (src/binary.ts raiseMemoryLimits), so the program keeps its whole address space.
// Because the tail ends at the end of memory, an Asyncify buffer overflow cannot corrupt
// anything: our Asyncify grows the tail there (asyncify-copies.ts, addTailGrowth), binaryen's
// traps. Works on every engine: no multi-memory needed.
import type { Binaryen, ExpressionRef, Module } from '../ir/binaryen.js';
import type { Pass } from '../ir/context.js';
import { InputError } from '../ir/errors.js';
import { Walker } from '../ir/walker.js';
import { definedFunctions, moduleExports } from '../ir/module.js';
import { freshFunctionName } from '../ir/names.js';

export const RESERVED_PAGES_GLOBAL = 'lunatic_reserved_pages';
export const PAGE_SHIFT = 16;
export const PAGE_BYTES = 1 << PAGE_SHIFT;

export interface ReservedTail {
  pages: number;
  /** The export under which the host finds memory 0. */
  memoryExport: string;
}

class MemoryOpRewriter extends Walker {
  constructor(
    binaryen: Binaryen,
    module: Module,
    private readonly growName: string,
  ) {
    super(binaryen, module);
  }

  protected visit(expr: ExpressionRef, kind: string): void {
    const { module, binaryen } = this;
    if (kind === 'MemorySize') {
      this.replaceCurrent(module.i32.sub(expr, module.global.get(RESERVED_PAGES_GLOBAL, binaryen.i32)));
    } else if (kind === 'MemoryGrow') {
      const delta = (binaryen.getExpressionInfo(expr) as unknown as { delta: ExpressionRef }).delta;
      this.replaceCurrent(module.call(this.growName, [delta], binaryen.i32));
    }
  }
}

/** `lunatic_memory_grow(delta) -> old program size | -1`. */
function addGrowFunction(binaryen: Binaryen, module: Module): string {
  const name = freshFunctionName(module, 'lunatic_memory_grow');
  const { i32 } = binaryen;
  const delta = () => module.local.get(0, i32);
  const oldSize = () => module.local.get(1, i32);
  const reserved = () => module.global.get(RESERVED_PAGES_GLOBAL, i32);
  const pagesToBytes = (pages: ExpressionRef) => module.i32.shl(pages, module.i32.const(PAGE_SHIFT));
  const handedOver = module.select(module.i32.lt_u(delta(), reserved()), delta(), reserved());
  module.addFunction(
    name,
    binaryen.createType([i32]),
    i32,
    [i32],
    module.block(
      null,
      [
        module.local.set(1, module.i32.sub(module.memory.size(), reserved())),
        module.if(module.i32.eq(module.memory.grow(delta()), module.i32.const(-1)), module.return(module.i32.const(-1))),
        module.memory.fill(pagesToBytes(oldSize()), module.i32.const(0), pagesToBytes(handedOver)),
        oldSize(),
      ],
      i32,
    ),
  );
  return name;
}

/** The name memory 0 is exported under, exporting it as `memory` when it is not exported. */
function ensureMemoryExport(binaryen: Binaryen, module: Module): string {
  const exports = moduleExports(binaryen, module);
  const memory = exports.find((info) => info.kind === binaryen.ExternalMemory);
  if (memory) return memory.name;
  const exportName = exports.some((info) => info.name === 'memory') ? 'lunatic_memory' : 'memory';
  module.addMemoryExport('0', exportName);
  return exportName;
}

export const reservedTail: Pass<{ pages: number }, ReservedTail> = {
  name: 'reserved-tail',
  run: (context, { pages }) => reserveTail(context.binaryen, context.module, pages),
};

function reserveTail(binaryen: Binaryen, module: Module, pages: number): ReservedTail {
  if (!module.hasMemory()) module.setMemory(0, 65536, null);
  const memory = module.getMemoryInfo();
  if (memory.is64) throw new InputError('uses a 64-bit memory, which Asyncify here cannot reserve space in; instrument with --no-asyncify');
  module.addGlobal(RESERVED_PAGES_GLOBAL, binaryen.i32, true, module.i32.const(pages));
  module.addGlobalExport(RESERVED_PAGES_GLOBAL, RESERVED_PAGES_GLOBAL);
  const program = definedFunctions(binaryen, module);
  const growName = addGrowFunction(binaryen, module);
  for (const func of program) new MemoryOpRewriter(binaryen, module, growName).walkFunction(func);
  return { pages, memoryExport: ensureMemoryExport(binaryen, module) };
}
