/* A very small SVG plotting kit: one rectangular plot area with data
 * coordinates, nice ticks, lines, markers, error bars, text.  Internal. */
#ifndef LG_REPORT_PLOT_H
#define LG_REPORT_PLOT_H

#include <stdio.h>

typedef struct lg_plot {
    FILE *f;
    double left, top, width, height; /* the plot area, in pixels */
    double xmin, xmax, ymin, ymax;   /* the data range shown */
} lg_plot;

/* Starts a plot area; widens degenerate ranges and rounds them to nice ticks. */
void lg_plot_begin(lg_plot *p, FILE *f, double left, double top, double width, double height,
                   double xmin, double xmax, double ymin, double ymax);
double lg_plot_x(const lg_plot *p, double x);
double lg_plot_y(const lg_plot *p, double y);
/* Frame, grid, tick labels and axis titles. */
void lg_plot_axes(const lg_plot *p, const char *xlabel, const char *ylabel);
/* A polyline through the finite points (gaps at non-finite ones). */
void lg_plot_line(const lg_plot *p, const double *x, const double *y, int n, const char *color,
                  int dashed);
void lg_plot_points(const lg_plot *p, const double *x, const double *y, int n,
                    const char *color);
void lg_plot_errorbars(const lg_plot *p, const double *x, const double *y, const double *err,
                       int n, const char *color);
/* Text at data coordinates, anchor "start" | "middle" | "end". */
void lg_plot_text(const lg_plot *p, double x, double y, const char *text, const char *anchor,
                  int size, const char *color);
/* A legend in the top-right corner of the area. */
void lg_plot_legend(const lg_plot *p, const char *const *labels, const char *const *colors,
                    const int *dashed, int n);
/* Text escaped for XML. */
void lg_xml_text(FILE *f, const char *s);

#endif
