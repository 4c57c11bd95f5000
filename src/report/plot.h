/* A very small SVG plotting kit: one rectangular plot area with data
 * coordinates, nice ticks, lines, markers, error bars, text.  Internal. */
#ifndef LG_REPORT_PLOT_H
#define LG_REPORT_PLOT_H

#include <stdio.h>

typedef struct lgr_plot {
    FILE *f;
    double left, top, width, height; /* the plot area, in pixels */
    double xmin, xmax, ymin, ymax;   /* the data range shown */
    int log2x;                       /* x data are log2 of the values: ticks say 2^x */
    const double *xticks;            /* with log2x: ticks at these x (else powers of two) */
    int n_xticks;
    /* where data were drawn (pixels, sampled along lines), so that the
     * legend goes where it hides none */
    int n_marks;
    float mark_x[768], mark_y[768];
} lgr_plot;

/* Starts a plot area; widens degenerate ranges and rounds them to nice ticks. */
void lgr_plot_begin(lgr_plot *p, FILE *f, double left, double top, double width, double height,
                   double xmin, double xmax, double ymin, double ymax);
double lgr_plot_x(const lgr_plot *p, double x);
double lgr_plot_y(const lgr_plot *p, double y);
/* Frame, grid, tick labels and axis titles. */
void lgr_plot_axes(const lgr_plot *p, const char *xlabel, const char *ylabel);
/* A polyline through the finite points (gaps at non-finite ones). */
void lgr_plot_line(const lgr_plot *p, const double *x, const double *y, int n, const char *color,
                  int dashed);
void lgr_plot_points(const lgr_plot *p, const double *x, const double *y, int n,
                    const char *color);
/* Hollow diamonds (a marker apart from the points: k* on the GRIDE figure). */
void lgr_plot_diamonds(const lgr_plot *p, const double *x, const double *y, int n,
                       const char *color);
void lgr_plot_errorbars(const lgr_plot *p, const double *x, const double *y, const double *err,
                       int n, const char *color);
/* Text at data coordinates, anchor "start" | "middle" | "end". */
void lgr_plot_text(const lgr_plot *p, double x, double y, const char *text, const char *anchor,
                  int size, const char *color);
/* A legend in the corner of the area that covers the fewest data drawn so
 * far (top right when several tie). */
void lgr_plot_legend(const lgr_plot *p, const char *const *labels, const char *const *colors,
                    const int *dashed, int n);
/* Text escaped for XML. */
void lgr_xml_text(FILE *f, const char *s);

#endif
