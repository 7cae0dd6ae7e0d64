// The base of our binaryen passes: a walker over any expression tree that visits children in
// execution order and can replace the expression being visited (the `replaceCurrent` of
// binaryen's own walkers, built on the setters of binaryen.js's wrapper classes).
//
// Only the expression kinds of the features we accept are listed; GC, strings and stack
// switching are refused before any pass runs (src/features.ts). Of exception handling, the
// legacy instructions (try, catch, delegate, throw, rethrow: what LLVM emits) are here;
// try_table and throw_ref have no binaryen.js API, and meeting one is UnsupportedExpression.
import { accessor, type Binaryen, type ExpressionRef, type FunctionRef, type Module, untyped } from './binaryen.js';

/** A place that holds a child expression: read it, or put another expression there. */
export interface Slot {
  get(): ExpressionRef;
  set(expr: ExpressionRef): void;
}

type ChildSpec = {
  fields?: string[];
  operands?: 'before' | 'after';
  list?: boolean;
  /** A list of another name: its count, getter and setter (a try's catch bodies). */
  listNamed?: [count: string, get: string, set: string];
};

// Named children per wrapper class, in execution order. `operands` says where a call's operand
// list stands relative to the named fields (call_indirect and call_ref evaluate the target last).
const CHILDREN: Record<string, ChildSpec> = {
  Block: { list: true },
  If: { fields: ['Condition', 'IfTrue', 'IfFalse'] },
  Loop: { fields: ['Body'] },
  Break: { fields: ['Value', 'Condition'] },
  Switch: { fields: ['Value', 'Condition'] },
  Call: { operands: 'before' },
  CallIndirect: { operands: 'before', fields: ['Target'] },
  CallRef: { operands: 'before', fields: ['Target'] },
  LocalSet: { fields: ['Value'] },
  GlobalSet: { fields: ['Value'] },
  Load: { fields: ['Ptr'] },
  Store: { fields: ['Ptr', 'Value'] },
  Unary: { fields: ['Value'] },
  Binary: { fields: ['Left', 'Right'] },
  Select: { fields: ['IfTrue', 'IfFalse', 'Condition'] },
  Drop: { fields: ['Value'] },
  Return: { fields: ['Value'] },
  MemoryGrow: { fields: ['Delta'] },
  AtomicRMW: { fields: ['Ptr', 'Value'] },
  AtomicCmpxchg: { fields: ['Ptr', 'Expected', 'Replacement'] },
  AtomicWait: { fields: ['Ptr', 'Expected', 'Timeout'] },
  AtomicNotify: { fields: ['Ptr', 'NotifyCount'] },
  SIMDExtract: { fields: ['Vec'] },
  SIMDReplace: { fields: ['Vec', 'Value'] },
  SIMDShuffle: { fields: ['Left', 'Right'] },
  SIMDTernary: { fields: ['A', 'B', 'C'] },
  SIMDShift: { fields: ['Vec', 'Shift'] },
  SIMDLoad: { fields: ['Ptr'] },
  SIMDLoadStoreLane: { fields: ['Ptr', 'Vec'] },
  MemoryInit: { fields: ['Dest', 'Offset', 'Size'] },
  MemoryCopy: { fields: ['Dest', 'Source', 'Size'] },
  MemoryFill: { fields: ['Dest', 'Value', 'Size'] },
  RefIsNull: { fields: ['Value'] },
  RefEq: { fields: ['Left', 'Right'] },
  RefAs: { fields: ['Value'] },
  TableGet: { fields: ['Index'] },
  TableSet: { fields: ['Index', 'Value'] },
  TableGrow: { fields: ['Value', 'Delta'] },
  TupleMake: { operands: 'before' },
  TupleExtract: { fields: ['Tuple'] },
  Try: { fields: ['Body'], operands: 'after', listNamed: ['getNumCatchBodies', 'getCatchBodyAt', 'setCatchBodyAt'] },
  Throw: { operands: 'before' },
};

/** The kinds that throw or catch (legacy exception handling): checks and counters treat their functions apart. */
export const EXCEPTION_KINDS: ReadonlySet<string> = new Set(['Try', 'Throw', 'Rethrow']);

/** The kinds of expression that call a function: directly, through a table, or a reference. */
export const CALL_KINDS: ReadonlySet<string> = new Set(['Call', 'CallIndirect', 'CallRef']);

const LEAVES = [
  'LocalGet',
  'GlobalGet',
  'Const',
  'MemorySize',
  'Nop',
  'Unreachable',
  'AtomicFence',
  'DataDrop',
  'RefNull',
  'RefFunc',
  'TableSize',
  'Pop',
  'Rethrow',
];

/** Maps expression ids to wrapper-class names, built once per binaryen instance. */
function wrapperNames(binaryen: Binaryen): Map<number, string> {
  const ids = new Map<number, string>();
  const table = binaryen as unknown as Record<string, number>;
  for (const name of [...Object.keys(CHILDREN), ...LEAVES]) ids.set(table[`${name}Id`]!, name);
  return ids;
}

const namesByBinaryen = new WeakMap<object, Map<number, string>>();

/** The last instance kindOf served and its names: every walk asks for every expression. */
let lastNames: { binaryen: Binaryen; names: Map<number, string> } | undefined;

/** The wrapper-class name of an expression (`Block`, `Call`, ...), or throws for kinds we refuse. */
export function kindOf(binaryen: Binaryen, expr: ExpressionRef): string {
  if (lastNames?.binaryen !== binaryen) {
    let names = namesByBinaryen.get(binaryen);
    if (!names) {
      names = wrapperNames(binaryen);
      namesByBinaryen.set(binaryen, names);
    }
    lastNames = { binaryen, names };
  }
  const { names } = lastNames;
  const id = binaryen.getExpressionId(expr);
  const name = names.get(id);
  if (name === undefined) throw new UnsupportedExpression(id);
  return name;
}

/** An expression of a kind no pass knows: a feature that should have been refused, or new exception handling (try_table, throw_ref). */
export class UnsupportedExpression extends Error {
  constructor(readonly id: number) {
    super(`unsupported expression kind ${id} (a feature that should have been refused)`);
    this.name = 'UnsupportedExpression';
  }
}

/** How to reach the children of one kind of expression: the binaryen.js accessors, looked up once. */
interface ChildAccess {
  fields: Array<{ get: (expr: ExpressionRef) => ExpressionRef; set: (expr: ExpressionRef, child: ExpressionRef) => void }>;
  list?: {
    count: (expr: ExpressionRef) => number;
    get: (expr: ExpressionRef, i: number) => ExpressionRef;
    set: (expr: ExpressionRef, i: number, child: ExpressionRef) => void;
  };
  listFirst: boolean;
}

function childAccess(binaryen: Binaryen, kind: string, spec: ChildSpec): ChildAccess {
  const fields = (spec.fields ?? []).map((field) => ({
    get: accessor(binaryen, kind, `get${field}`),
    set: accessor<void>(binaryen, kind, `set${field}`),
  }));
  const [count, get, set] =
    spec.listNamed ?? (spec.list ? ['getNumChildren', 'getChildAt', 'setChildAt'] : ['getNumOperands', 'getOperandAt', 'setOperandAt']);
  const list =
    spec.list || spec.operands
      ? { count: accessor(binaryen, kind, count), get: accessor(binaryen, kind, get), set: accessor<void>(binaryen, kind, set) }
      : undefined;
  return { fields, list, listFirst: spec.operands !== 'after' };
}

const accessByBinaryen = new WeakMap<object, Map<string, ChildAccess>>();

/** The child accessors of a kind (undefined for leaves), built once per binaryen instance: walks call this for every expression. */
function accessFor(binaryen: Binaryen, kind: string): ChildAccess | undefined {
  const spec = CHILDREN[kind];
  if (!spec) return undefined;
  let byKind = accessByBinaryen.get(binaryen);
  if (!byKind) {
    byKind = new Map();
    accessByBinaryen.set(binaryen, byKind);
  }
  let access = byKind.get(kind);
  if (!access) {
    access = childAccess(binaryen, kind, spec);
    byKind.set(kind, access);
  }
  return access;
}

type ChildList = NonNullable<ChildAccess['list']>;
type ChildField = ChildAccess['fields'][number];

/** The i-th child of a list (a block's children, a call's operands). */
class ListSlot implements Slot {
  constructor(
    private readonly list: ChildList,
    private readonly expr: ExpressionRef,
    private readonly index: number,
  ) {}

  get(): ExpressionRef {
    return this.list.get(this.expr, this.index);
  }

  set(child: ExpressionRef): void {
    this.list.set(this.expr, this.index, child);
  }
}

/** A named child (an if's condition, a store's value). */
class FieldSlot implements Slot {
  constructor(
    private readonly field: ChildField,
    private readonly expr: ExpressionRef,
  ) {}

  get(): ExpressionRef {
    return this.field.get(this.expr);
  }

  set(child: ExpressionRef): void {
    this.field.set(this.expr, child);
  }
}

/** The non-null children of `expr` (of kind `kind`, when known), in execution order. */
export function childSlots(binaryen: Binaryen, expr: ExpressionRef, kind = kindOf(binaryen, expr)): Slot[] {
  const access = accessFor(binaryen, kind);
  if (!access) return [];
  const slots: Slot[] = [];
  const { list, fields } = access;
  const count = list ? list.count(expr) : 0;
  if (list && access.listFirst) for (let i = 0; i < count; i++) if (list.get(expr, i) !== 0) slots.push(new ListSlot(list, expr, i));
  for (const field of fields) if (field.get(expr) !== 0) slots.push(new FieldSlot(field, expr));
  if (list && !access.listFirst) for (let i = 0; i < count; i++) if (list.get(expr, i) !== 0) slots.push(new ListSlot(list, expr, i));
  return slots;
}

/**
 * The non-null children of `expr` (of kind `kind`), in execution order, without the slots that
 * could replace them: for analyses that read a whole tree.
 */
export function childExpressions(binaryen: Binaryen, expr: ExpressionRef, kind: string): ExpressionRef[] {
  const access = accessFor(binaryen, kind);
  if (!access) return [];
  const children: ExpressionRef[] = [];
  const { list, fields } = access;
  const count = list ? list.count(expr) : 0;
  if (list && access.listFirst) for (let i = 0; i < count; i++) pushPresent(children, list.get(expr, i));
  for (const field of fields) pushPresent(children, field.get(expr));
  if (list && !access.listFirst) for (let i = 0; i < count; i++) pushPresent(children, list.get(expr, i));
  return children;
}

function pushPresent(children: ExpressionRef[], child: ExpressionRef): void {
  if (child !== 0) children.push(child);
}

/**
 * Post-order walker over a function body. Subclasses override `visit`; inside it,
 * `replaceCurrent(expr)` swaps the visited expression for another in its parent.
 *
 * The place of each visited expression (its parent and which child it is) is kept in fields, and
 * a Slot object made only when a visit asks for it: a walk visits every expression of the module,
 * several walks run per instrumentation, and a slot per expression was most of their allocation.
 */
export abstract class Walker {
  private visiting = false;
  /** The visited expression's parent, and the field or list position it stands in there (else `root`). */
  private parent: ExpressionRef = 0;
  private field: ChildField | undefined;
  private list: ChildList | undefined;
  private index = 0;
  private root: Slot | undefined;

  constructor(
    protected readonly binaryen: Binaryen,
    protected readonly module: Module,
  ) {}

  /** Called for every expression after its children. */
  protected abstract visit(expr: ExpressionRef, kind: string): void;

  protected replaceCurrent(expr: ExpressionRef): void {
    this.place('replaceCurrent').set(expr);
  }

  /** The visited place itself, to read or replace later (it stays valid while its parent stays). */
  protected currentPlace(): Slot {
    return this.place('currentPlace');
  }

  /** What stands in the visited place now (after any replaceCurrent). */
  protected currentExpression(): ExpressionRef {
    return this.place('currentExpression').get();
  }

  private place(caller: string): Slot {
    if (!this.visiting) throw new Error(`${caller} called outside a visit`);
    if (this.field) return new FieldSlot(this.field, this.parent);
    if (this.list) return new ListSlot(this.list, this.parent, this.index);
    return this.root!;
  }

  walkFunction(func: FunctionRef): void {
    const fn = untyped(this.binaryen).Function;
    this.walkRoot({ get: () => fn.getBody(func), set: (e) => fn.setBody(func, e) });
  }

  /** Walks an expression that stays where it is (nothing may replace its root). */
  walkExpression(expr: ExpressionRef): void {
    this.walkRoot({
      get: () => expr,
      set: () => {
        throw new Error('cannot replace the root of walkExpression');
      },
    });
  }

  private walkRoot(root: Slot): void {
    this.walk(root.get(), 0, undefined, undefined, 0, root);
  }

  /** Walks `expr`, which stands in `parent` at `field` or at `index` of `list` (or is the root). */
  private walk(
    expr: ExpressionRef,
    parent: ExpressionRef,
    field: ChildField | undefined,
    list: ChildList | undefined,
    index: number,
    root: Slot | undefined,
  ): void {
    const kind = kindOf(this.binaryen, expr);
    const access = accessFor(this.binaryen, kind);
    if (access) {
      // The children present when the walk reaches the expression, in execution order (as childSlots has them).
      const { list: children, fields } = access;
      const count = children ? children.count(expr) : 0;
      let present = 0;
      for (let i = 0; i < fields.length; i++) if (fields[i]!.get(expr) !== 0) present |= 1 << i;
      if (children && access.listFirst) this.walkList(expr, children, count);
      for (let i = 0; i < fields.length; i++)
        if (present & (1 << i)) this.walk(fields[i]!.get(expr), expr, fields[i], undefined, 0, undefined);
      if (children && !access.listFirst) this.walkList(expr, children, count);
    }
    this.visiting = true;
    [this.parent, this.field, this.list, this.index, this.root] = [parent, field, list, index, root];
    this.visit(expr, kind);
    this.visiting = false;
  }

  private walkList(expr: ExpressionRef, children: ChildList, count: number): void {
    for (let i = 0; i < count; i++) {
      const child = children.get(expr, i);
      if (child !== 0) this.walk(child, expr, undefined, children, i, undefined);
    }
  }
}

/** The labels a `br`/`br_if` or `br_table` can branch to (none for other kinds). */
export function branchTargets(binaryen: Binaryen, expr: ExpressionRef, kind: string): string[] {
  if (kind === 'Break') return [accessor<string>(binaryen, 'Break', 'getName')(expr)];
  if (kind === 'Switch')
    return [...accessor<string[]>(binaryen, 'Switch', 'getNames')(expr), accessor<string>(binaryen, 'Switch', 'getDefaultName')(expr)];
  return [];
}

type LabelSetter = (expr: ExpressionRef, ...args: Array<number | string>) => void;

/** A setter of binaryen.js's wrapper classes that takes a label name. */
function labelSetter(binaryen: Binaryen, wrapper: string, method: string): LabelSetter {
  return accessor(binaryen, wrapper, method) as unknown as LabelSetter;
}

/**
 * Renames the labels of a copied tree, where they are defined and where branches use them:
 * binaryen wants every label of a function unique, so a copy put beside its original needs its
 * own. `rename` returns the new name, or the name itself for a label to keep.
 */
export class LabelRenamer extends Walker {
  constructor(
    binaryen: Binaryen,
    module: Module,
    private readonly rename: (name: string) => string,
  ) {
    super(binaryen, module);
  }

  protected visit(expr: ExpressionRef, kind: string): void {
    const b = this.binaryen;
    switch (kind) {
      case 'Block':
      case 'Loop': {
        const name = accessor<string | null>(b, kind, 'getName')(expr);
        if (name) labelSetter(b, kind, 'setName')(expr, this.rename(name));
        break;
      }
      case 'Break':
        labelSetter(b, 'Break', 'setName')(expr, this.rename(accessor<string>(b, 'Break', 'getName')(expr)));
        break;
      case 'Switch':
        for (const [i, name] of accessor<string[]>(b, 'Switch', 'getNames')(expr).entries())
          labelSetter(b, 'Switch', 'setNameAt')(expr, i, this.rename(name));
        labelSetter(b, 'Switch', 'setDefaultName')(expr, this.rename(accessor<string>(b, 'Switch', 'getDefaultName')(expr)));
        break;
    }
  }
}

/** A block's children, in order. */
export function blockChildren(binaryen: Binaryen, block: ExpressionRef): ExpressionRef[] {
  const getChild = accessor(binaryen, 'Block', 'getChildAt');
  return Array.from({ length: accessor(binaryen, 'Block', 'getNumChildren')(block) }, (_, i) => getChild(block, i));
}

/** Replaces a block's children, keeping the block (and so its label) itself. */
export function setBlockChildren(binaryen: Binaryen, block: ExpressionRef, children: ExpressionRef[]): void {
  const remove = accessor<void>(binaryen, 'Block', 'removeChildAt');
  const append = accessor<void>(binaryen, 'Block', 'appendChild');
  for (let i = accessor(binaryen, 'Block', 'getNumChildren')(block) - 1; i >= 0; i--) remove(block, i);
  for (const child of children) append(block, child);
}

/** How many expressions a tree holds (itself included): the size functions are measured in. */
export function expressionCount(binaryen: Binaryen, expr: ExpressionRef): number {
  const access = accessFor(binaryen, kindOf(binaryen, expr));
  if (!access) return 1;
  let count = 1;
  const { list, fields } = access;
  if (list) for (let i = 0, n = list.count(expr); i < n; i++) count += childCount(binaryen, list.get(expr, i));
  for (const field of fields) count += childCount(binaryen, field.get(expr));
  return count;
}

function childCount(binaryen: Binaryen, child: ExpressionRef): number {
  return child === 0 ? 0 : expressionCount(binaryen, child);
}
