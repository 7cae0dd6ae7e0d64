// qsort: libc qsort with a comparator, i.e. an indirect call per comparison. Stresses
// call_indirect, which the instrumenter must treat as a possible cycle.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint32_t rng_state = 2463534242u;
static uint32_t next_random(void) {  // xorshift32: deterministic, the same in every run
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static int compare(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int count = argc > 1 ? atoi(argv[1]) : 150000;
  int rounds = argc > 2 ? atoi(argv[2]) : 10;
  uint32_t *values = malloc(sizeof *values * (size_t)count);
  uint64_t checksum = 0;
  for (int round = 0; round < rounds; round++) {
    for (int i = 0; i < count; i++) values[i] = next_random();
    qsort(values, (size_t)count, sizeof *values, compare);
    for (int i = 1; i < count; i++) {
      if (values[i - 1] > values[i]) {
        printf("not sorted at %d\n", i);
        return 1;
      }
    }
    for (int i = 0; i < count; i += 997) checksum = checksum * 31 + values[i];
  }
  printf("sorted %d x %d, checksum %llu\n", rounds, count, (unsigned long long)checksum);
  free(values);
  return 0;
}
