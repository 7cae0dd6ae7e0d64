// Hand-written modules that throw and catch (legacy exception handling), as .wat text: the
// programs of test/exceptions.test.ts, and of test/browser.test.ts for Chromium. Each prints
// with fd_write and ends through _start, as a WASI command.

/** Prints `$v` as 8 hex digits and a newline (memory 16..24, iovec at 0). */
const HEX = `
  (data (i32.const 64) "0123456789abcdef")
  (func $hex (param $v i32) (local $i i32)
    (loop $digits
      (i32.store8 (i32.sub (i32.const 23) (local.get $i))
        (i32.load8_u offset=64 (i32.and (i32.shr_u (local.get $v) (i32.shl (local.get $i) (i32.const 2))) (i32.const 15))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $digits (i32.lt_u (local.get $i) (i32.const 8))))
    (i32.store8 (i32.const 24) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 9))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))`;

const FD_WRITE = `(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))`;

/**
 * A loop of n turns whose last turn calls a function that throws when the sum is odd: the loop
 * keeps the counter in a local, and the throw leaves it from inside. `throws: false` is the
 * same work with the throw taken out, to compare the yields with.
 */
export function loopThrows(throws: boolean): string {
  return `(module ${FD_WRITE}
    (tag $odd (param i32))
    (memory (export "memory") 1)
    (func $check_odd (param $v i32)
      (if (i32.and (local.get $v) (i32.const 1)) (then ${throws ? '(throw $odd (local.get $v))' : 'nop'})))
    (func $work (param $n i32) (result i32) (local $i i32) (local $s i32)
      (loop $l
        (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 31)) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.eq (local.get $i) (local.get $n)) (then (call $check_odd (local.get $s))))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
      (local.get $s))
    ${HEX}
    (func (export "_start") (local $k i32) (local $sum i32) (local $caught i32)
      (loop $outer
        (try
          (do (local.set $sum (i32.add (local.get $sum) (call $work (i32.add (local.get $k) (i32.const 1000))))))
          (catch $odd
            local.get $sum
            i32.xor
            local.set $sum
            (local.set $caught (i32.add (local.get $caught) (i32.const 1)))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $outer (i32.lt_u (local.get $k) (i32.const 3000))))
      (call $hex (local.get $sum))
      (call $hex (local.get $caught))))`;
}

/** Recursion that throws at the bottom, catches and rethrows on the way up, a delegate, catch_all. */
export const TANGLED = `(module ${FD_WRITE}
  (tag $e (param i32))
  (tag $f)
  (memory (export "memory") 1)
  (func $rec (param $n i32) (param $d i32) (result i32) (local $r i32)
    (if (i32.eqz (local.get $d))
      (then
        (if (i32.eqz (i32.rem_u (local.get $n) (i32.const 7))) (then (throw $e (local.get $n))))
        (return (i32.add (local.get $n) (i32.const 1)))))
    (try (result i32)
      (do (i32.add (call $rec (i32.add (local.get $n) (local.get $d)) (i32.sub (local.get $d) (i32.const 1))) (i32.const 3)))
      (catch $e
        (call $mix)
        (local.set $r)
        (if (i32.and (local.get $d) (i32.const 1)) (then (rethrow 1)))
        (i32.mul (local.get $r) (i32.const 5)))
      (catch_all (i32.const 77))))
  (func $mix (param $v i32) (result i32) (local $i i32)
    (loop $l
      (local.set $v (i32.xor (i32.mul (local.get $v) (i32.const 1103515245)) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.add (i32.const 20) (i32.and (local.get $v) (i32.const 63))))))
    (local.get $v))
  (func $delegating (param $n i32) (result i32)
    (try $outer (result i32)
      (do
        (try (result i32)
          (do (if (i32.eqz (i32.rem_u (local.get $n) (i32.const 3))) (then (throw $f))) (local.get $n))
          (delegate $outer)))
      (catch $f (i32.const -1))))
  ${HEX}
  (func (export "_start") (local $k i32) (local $s i32)
    (loop $outer
      (try
        (do (local.set $s (i32.add (local.get $s) (call $rec (local.get $k) (i32.rem_u (local.get $k) (i32.const 9))))))
        (catch $e (local.set $s (i32.sub (local.get $s) (call $mix (i32.and (i32.const 255))))))
        (catch_all (local.set $s (i32.add (local.get $s) (i32.const 1000)))))
      (local.set $s (i32.add (local.get $s) (call $delegating (local.get $k))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $k) (i32.const 100000))))
    (call $hex (local.get $s))))`;

/** An exit inside a catch_all: the process must end with 3, not print and end with 9. */
export const EXIT_IN_CATCH = `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  ${FD_WRITE}
  (tag $never)
  (memory (export "memory") 1)
  (data (i32.const 16) "caught the exit\\n")
  (func (export "_start")
    (try
      (do (call $proc_exit (i32.const 3)))
      (catch_all
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 16))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
    (call $proc_exit (i32.const 9))))`;

/** A loop that takes every exception and spins again: only its limit can end it, by an error thrown from `lunatic.yield`. */
export const SWALLOWS_EVERYTHING = `(module (memory (export "memory") 1) (tag $never)
  (func (export "_start")
    (loop $forever
      (try (do (loop $spin (br $spin))) (catch_all))
      (br $forever))))`;

export const UNCAUGHT = `(module (tag $boom (param i32)) (memory (export "memory") 1)
  (func $deep (param i32) (throw $boom (local.get 0)))
  (func (export "_start") (call $deep (i32.const 7))))`;
