/* QuickJS benchmark driver: evaluates a fixed script (recursion, sorting, maps, strings, regular
   expressions, JSON) with the engine alone, no quickjs-libc, and prints its result. */
#include <stdio.h>
#include <string.h>
#include "quickjs.h"
static const char *SCRIPT =
  "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\n"
  "let out = [];\n"
  "out.push(fib(26));\n"
  "let a = []; for (let i = 0; i < 60000; i++) a.push((i * 7919) % 10007);\n"
  "a.sort((x, y) => x - y); out.push(a[12345]);\n"
  "let m = new Map(); for (let i = 0; i < 40000; i++) m.set('k' + (i % 5000), i); out.push(m.size);\n"
  "let s = ''; for (let i = 0; i < 3000; i++) s += String.fromCharCode(97 + i % 26); out.push(s.replace(/[aeiou]/g, '').length);\n"
  "out.push(JSON.stringify(JSON.parse(JSON.stringify({x: a.slice(0, 200), y: 'z'}))).length);\n"
  "out.join(' ');\n";
int main(void) {
  JSRuntime *rt = JS_NewRuntime();
  JSContext *ctx = JS_NewContext(rt);
  JSValue v = JS_Eval(ctx, SCRIPT, strlen(SCRIPT), "<bench>", JS_EVAL_TYPE_GLOBAL);
  if (JS_IsException(v)) { JSValue e = JS_GetException(ctx); const char *m = JS_ToCString(ctx, e); printf("error: %s\n", m); return 1; }
  const char *r = JS_ToCString(ctx, v);
  printf("%s\n", r);
  JS_FreeCString(ctx, r); JS_FreeValue(ctx, v); JS_FreeContext(ctx); JS_FreeRuntime(rt);
  return 0;
}
