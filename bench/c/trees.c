// trees: allocation-heavy binary trees (build, check, free many short-lived trees through
// wasi-libc's malloc). Stresses calls into the allocator and recursive walks.
#include <stdio.h>
#include <stdlib.h>

typedef struct Node { struct Node *left, *right; } Node;

static Node *build(int depth) {
  Node *node = malloc(sizeof *node);
  if (depth > 0) {
    node->left = build(depth - 1);
    node->right = build(depth - 1);
  } else {
    node->left = node->right = NULL;
  }
  return node;
}

static long check(const Node *node) { return node->left ? 1 + check(node->left) + check(node->right) : 1; }

static void release(Node *node) {
  if (node->left) {
    release(node->left);
    release(node->right);
  }
  free(node);
}

int main(int argc, char **argv) {
  int max_depth = argc > 1 ? atoi(argv[1]) : 16;
  Node *long_lived = build(max_depth);
  long total = 0;
  for (int depth = 4; depth <= max_depth; depth += 2) {
    int iterations = 1 << (max_depth - depth + 4);
    long sum = 0;
    for (int i = 0; i < iterations; i++) {
      Node *tree = build(depth);
      sum += check(tree);
      release(tree);
    }
    printf("%d trees of depth %d, check %ld\n", iterations, depth, sum);
    total += sum;
  }
  printf("long lived tree of depth %d, check %ld; total %ld\n", max_depth, check(long_lived), total);
  release(long_lived);
  return 0;
}
