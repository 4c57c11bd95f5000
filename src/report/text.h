/* Small text helpers shared by the report writers. */
#ifndef LG_REPORT_TEXT_H
#define LG_REPORT_TEXT_H

#include <stdio.h>

/* A JSON string literal, escaped. */
void lgr_text_json_string(FILE *f, const char *s);
/* A CSV field, quoted when it needs to be. */
void lgr_text_csv_field(FILE *f, const char *s);

#endif
