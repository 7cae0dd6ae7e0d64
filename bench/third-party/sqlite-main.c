/* SQLite benchmark driver: an in-memory database, no files (a stub VFS), deterministic output. */
#include <stdio.h>
#include <string.h>
#include "sqlite3.h"
static int vfsOpen(sqlite3_vfs *v, const char *n, sqlite3_file *f, int fl, int *o) { return SQLITE_CANTOPEN; }
static int vfsDelete(sqlite3_vfs *v, const char *n, int s) { return SQLITE_IOERR_DELETE; }
static int vfsAccess(sqlite3_vfs *v, const char *n, int f, int *r) { *r = 0; return SQLITE_OK; }
static int vfsFull(sqlite3_vfs *v, const char *n, int len, char *out) { sqlite3_snprintf(len, out, "%s", n); return SQLITE_OK; }
static int vfsRandom(sqlite3_vfs *v, int n, char *out) { memset(out, 7, n); return n; }
static int vfsSleep(sqlite3_vfs *v, int us) { return us; }
static int vfsTime(sqlite3_vfs *v, sqlite3_int64 *t) { *t = 210866760000000LL; return SQLITE_OK; }
static sqlite3_vfs vfs = { 2, sizeof(int), 512, 0, "stub", 0, vfsOpen, vfsDelete, vfsAccess, vfsFull,
  0, 0, 0, 0, vfsRandom, vfsSleep, 0, 0, vfsTime };
int sqlite3_os_init(void) { return sqlite3_vfs_register(&vfs, 1); }
int sqlite3_os_end(void) { return SQLITE_OK; }
static int row(void *arg, int n, char **values, char **names) {
  for (int i = 0; i < n; i++) printf("%s%s", i ? "|" : "", values[i] ? values[i] : "NULL");
  printf("\n");
  return 0;
}
int main(void) {
  sqlite3 *db;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) { printf("open failed\n"); return 1; }
  const char *sql[] = {
    "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c REAL)",
    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 60000) "
    "INSERT INTO t(a, b, c) SELECT (i * 7919) % 10007, printf('name-%d', i % 977), i * 0.5 FROM s",
    "CREATE INDEX t_a ON t(a)",
    "SELECT count(*), sum(a), max(b), round(avg(c), 3) FROM t",
    "SELECT b, count(*), sum(a) FROM t GROUP BY b ORDER BY 3 DESC LIMIT 3",
    "SELECT count(*) FROM t AS x JOIN t AS y ON x.a = y.a WHERE x.id < 20000",
    "SELECT group_concat(a, ',') FROM (SELECT a FROM t WHERE b LIKE 'name-9%' ORDER BY a LIMIT 20)",
    "UPDATE t SET b = upper(b) WHERE a % 3 = 0",
    "SELECT count(*), substr(max(b), 1, 12) FROM t WHERE b GLOB 'NAME-*'",
  };
  for (unsigned i = 0; i < sizeof sql / sizeof *sql; i++) {
    char *error = 0;
    if (sqlite3_exec(db, sql[i], row, 0, &error) != SQLITE_OK) { printf("error: %s\n", error); return 1; }
  }
  sqlite3_close(db);
  return 0;
}
