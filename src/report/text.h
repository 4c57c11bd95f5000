/* Small text helpers shared by the report writers. */
#ifndef LG_REPORT_TEXT_H
#define LG_REPORT_TEXT_H

#include <stdio.h>

/* A JSON string literal, escaped. */
void lgr_text_json_string(FILE *f, const char *s);
/* A number as JSON: 17 significant digits, null when not finite. */
void lgr_text_json_num(FILE *f, double v);
/* `<sep>"key": [[...], ...]`: a rows x cols matrix, each row on a line of
 * its own after `indent` when indent is not NULL. */
void lgr_text_json_matrix(FILE *f, const char *sep, const char *key, const double *m,
                          size_t rows, size_t cols, const char *indent);
/* A CSV field, quoted when it needs to be. */
void lgr_text_csv_field(FILE *f, const char *s);

#endif
