// The one place that loads wabt (used for the text format), lazily, once per process.
type Wabt = Awaited<ReturnType<typeof import('wabt')>>;
let wabtLoading: Promise<Wabt> | undefined;

export function loadWabt(): Promise<Wabt> {
  wabtLoading ??= import('wabt').then((m) => (m.default as unknown as () => Promise<Wabt>)());
  return wabtLoading;
}
