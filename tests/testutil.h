/* Helpers shared by the tests: temporary directories, small files, running
 * the command-line program. */
#ifndef LG_TESTUTIL_H
#define LG_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "layergeom.h"

/* A fresh directory under $TMPDIR (removed by tu_rmdir). */
const char *tu_tmpdir(void);
void tu_rmdir(const char *dir);
/* A group's temporary directory: tu_setup_dir / tu_teardown_dir are cmocka
 * group setup and teardown functions that make and remove tu_dir. */
extern const char *tu_dir;
int tu_setup_dir(void **state);
int tu_teardown_dir(void **state);
/* dir/name in a static rotating buffer. */
const char *tu_path(const char *dir, const char *name);

int tu_write_file(const char *path, const void *data, size_t len);
/* malloc'd contents; *len its size; NULL if unreadable. */
unsigned char *tu_read_file(const char *path, size_t *len); /* NUL after the bytes */
/* Writes a version-1.0 .npy with the given descr and shape (ndim 1..3). */
int tu_write_npy(const char *path, const char *descr, int fortran, const uint64_t *shape,
                 int ndim, const void *data, size_t data_len);

/* Runs the CLI through /bin/sh with the given arguments (a printf format);
 * returns its exit status; its stderr is kept in tu_stderr(). */
int tu_cli(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *tu_stderr(void);
const char *tu_stdout(void);

/* Path of a file under ../shared (NULL, and the test skipped, if absent). */
const char *tu_shared(const char *rel);

/* Deterministic pseudo-random numbers (splitmix64). */
/* Rows of a matrix in memory through an lg_rows_fn (ctx: a tu_rows). */
typedef struct tu_rows {
    const float *x;
    uint32_t d;
} tu_rows;
int tu_read_rows(void *ctx, uint64_t r0, size_t n, float *out, lg_error *err);

uint64_t tu_rand(uint64_t *state);
double tu_uniform(uint64_t *state);
double tu_normal(uint64_t *state);

#endif
