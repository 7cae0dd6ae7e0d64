// interp: an interpreter-style dispatch loop (a small stack bytecode VM running a sieve and a
// counting loop). The Asyncify outlier class: one huge function with a switch in a hot loop.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum Op { PUSH, LOAD, STORE, ADD, SUB, MUL, MOD, LT, JMP, JZ, ALOAD, ASTORE, PRINT, HALT };

typedef struct { uint8_t op; int32_t arg; } Instr;

#define MEMORY 64
#define ARRAY 200000

static int64_t run(const Instr *code, int32_t *array, int rounds) {
  int64_t stack[64], vars[MEMORY] = {0}, checksum = 0;
  vars[4] = rounds;
  int sp = 0, pc = 0;
  for (;;) {
    const Instr in = code[pc++];
    switch (in.op) {
      case PUSH: stack[sp++] = in.arg; break;
      case LOAD: stack[sp++] = vars[in.arg]; break;
      case STORE: vars[in.arg] = stack[--sp]; break;
      case ADD: sp--; stack[sp - 1] += stack[sp]; break;
      case SUB: sp--; stack[sp - 1] -= stack[sp]; break;
      case MUL: sp--; stack[sp - 1] *= stack[sp]; break;
      case MOD: sp--; stack[sp - 1] %= stack[sp]; break;
      case LT: sp--; stack[sp - 1] = stack[sp - 1] < stack[sp]; break;
      case JMP: pc = in.arg; break;
      case JZ: if (stack[--sp] == 0) pc = in.arg; break;
      case ALOAD: stack[sp - 1] = array[stack[sp - 1]]; break;
      case ASTORE: sp -= 2; array[stack[sp]] = (int32_t)stack[sp + 1]; break;
      case PRINT: checksum = checksum * 1000003 + stack[--sp]; break;
      case HALT: return checksum;
    }
  }
}

// The program, by hand: repeat `rounds` times: a sieve of Eratosthenes up to ARRAY, then print
// the number of primes found. Variables: 0 round, 1 i, 2 j, 3 count, 4 rounds.
static const Instr program[] = {
  /* 0 */ {PUSH, 0}, {STORE, 0},
  /* 2 round loop */ {LOAD, 0}, {LOAD, 4}, {LT, 0}, {JZ, 57},
  /* 6 clear */ {PUSH, 0}, {STORE, 1},
  /* 8 */ {LOAD, 1}, {PUSH, ARRAY}, {LT, 0}, {JZ, 20},
  /* 12 */ {LOAD, 1}, {PUSH, 1}, {ASTORE, 0}, {LOAD, 1}, {PUSH, 1}, {ADD, 0}, {STORE, 1}, {JMP, 8},
  /* 20 sieve: i = 2, count = 0 */ {PUSH, 2}, {STORE, 1}, {PUSH, 0}, {STORE, 3},
  /* 24 */ {LOAD, 1}, {PUSH, ARRAY}, {LT, 0}, {JZ, 50},
  /* 28 if array[i] */ {LOAD, 1}, {ALOAD, 0}, {JZ, 45},
  /* 31 count++, j = i * i */ {LOAD, 3}, {PUSH, 1}, {ADD, 0}, {STORE, 3}, {LOAD, 1}, {LOAD, 1}, {MUL, 0}, {STORE, 2},
  /* 39 */ {LOAD, 2}, {PUSH, ARRAY}, {LT, 0}, {JZ, 45}, {JMP, 60},
  /* 44 unused */ {HALT, 0},
  /* 45 i++ */ {LOAD, 1}, {PUSH, 1}, {ADD, 0}, {STORE, 1}, {JMP, 24},
  /* 50 print count, round++ */ {LOAD, 3}, {PRINT, 0}, {LOAD, 0}, {PUSH, 1}, {ADD, 0}, {STORE, 0}, {JMP, 2},
  /* 57 */ {PUSH, 7}, {PRINT, 0}, {HALT, 0},
  /* 60 inner: array[j] = 0; j += i; back to the test at 39 */
  {LOAD, 2}, {PUSH, 0}, {ASTORE, 0}, {LOAD, 2}, {LOAD, 1}, {ADD, 0}, {STORE, 2}, {JMP, 39},
};

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 30;
  int32_t *array = malloc(sizeof *array * ARRAY);
  printf("checksum %lld\n", (long long)run(program, array, rounds));
  free(array);
  return 0;
}
