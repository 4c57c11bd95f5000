#include "report/plot.h"

#include <math.h>
#include <string.h>

void lgr_xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                fputc(*s, f);
        }
    }
}

/* A step of 1, 2 or 5 times a power of ten giving about `want` intervals. */
static double nice_step(double range, int want)
{
    double raw = range / want, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

void lgr_plot_begin(lgr_plot *p, FILE *f, double left, double top, double width, double height,
                   double xmin, double xmax, double ymin, double ymax)
{
    if (!(xmax > xmin)) {
        xmin -= 0.5;
        xmax += 0.5;
    }
    if (!(ymax > ymin)) {
        double pad = fabs(ymin) > 0 ? fabs(ymin) * 0.1 : 1;
        ymin -= pad;
        ymax += pad;
    }
    double sy = nice_step(ymax - ymin, 5);
    ymin = floor(ymin / sy) * sy;
    ymax = ceil(ymax / sy) * sy;
    memset(p, 0, sizeof *p);
    p->f = f;
    p->left = left;
    p->top = top;
    p->width = width;
    p->height = height;
    p->xmin = xmin;
    p->xmax = xmax;
    p->ymin = ymin;
    p->ymax = ymax;
}

double lgr_plot_x(const lgr_plot *p, double x)
{
    return p->left + (x - p->xmin) / (p->xmax - p->xmin) * p->width;
}

double lgr_plot_y(const lgr_plot *p, double y)
{
    return p->top + p->height - (y - p->ymin) / (p->ymax - p->ymin) * p->height;
}

static void tick_label(FILE *f, double v, double step)
{
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    fprintf(f, "%.*f", decimals > 6 ? 6 : decimals, fabs(v) < step * 1e-9 ? 0.0 : v);
}

/* A value on a log axis: whole numbers as they are, others to 3 digits. */
static void log_label(FILE *f, double v)
{
    if (v >= 1 && fabs(v - round(v)) < 1e-9 * v)
        fprintf(f, "%.0f", v);
    else
        fprintf(f, "%.3g", v);
}

void lgr_plot_axes(const lgr_plot *p, const char *xlabel, const char *ylabel)
{
    FILE *f = p->f;
    fprintf(f, "<g class=\"axes\" font-size=\"11\" fill=\"#333\">\n");
    double sx = nice_step(p->xmax - p->xmin, 6), sy = nice_step(p->ymax - p->ymin, 5);
    if (p->log2x) /* a log axis: a tick at every power of two (every other when crowded) */
        sx = p->xmax - p->xmin > 12 ? 2 : 1;
    for (int t = 0; p->log2x && t < p->n_xticks; t++) { /* ticks where the data are */
        double X = lgr_plot_x(p, p->xticks[t]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                X, p->top, X, p->top + p->height, X, p->top + p->height + 15);
        log_label(f, pow(2, p->xticks[t]));
        fputs("</text>\n", f);
    }
    for (double x = ceil(p->xmin / sx - 1e-9) * sx; !p->n_xticks && x <= p->xmax + sx * 1e-9;
         x += sx) {
        double X = lgr_plot_x(p, x);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n",
                X, p->top, X, p->top + p->height);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", X,
                p->top + p->height + 15);
        if (p->log2x)
            log_label(f, pow(2, x));
        else
            tick_label(f, x, sx);
        fputs("</text>\n", f);
    }
    for (double y = ceil(p->ymin / sy - 1e-9) * sy; y <= p->ymax + sy * 1e-9; y += sy) {
        double Y = lgr_plot_y(p, y);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n",
                p->left, Y, p->left + p->width, Y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", p->left - 6, Y + 4);
        tick_label(f, y, sy);
        fputs("</text>\n", f);
    }
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#555\"/>\n",
            p->left, p->top, p->width, p->height);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">",
            p->left + p->width / 2, p->top + p->height + 34);
    lgr_xml_text(f, xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(%.1f,%.1f) rotate(-90)\" "
               "text-anchor=\"middle\" font-size=\"12\">",
            p->left - 42, p->top + p->height / 2);
    lgr_xml_text(f, ylabel);
    fputs("</text>\n</g>\n", f);
}

/* Records a drawn point (pixels) for the legend's placement. */
static void mark(const lgr_plot *cp, double X, double Y)
{
    lgr_plot *p = (lgr_plot *)cp; /* the marks are bookkeeping, not the plot's geometry */
    if (p->n_marks < (int)(sizeof p->mark_x / sizeof *p->mark_x)) {
        p->mark_x[p->n_marks] = (float)X;
        p->mark_y[p->n_marks++] = (float)Y;
    }
}

void lgr_plot_line(const lgr_plot *p, const double *x, const double *y, int n, const char *color,
                  int dashed)
{
    for (int i = 0; i + 1 < n; i++) /* the segments, sampled */
        if (isfinite(x[i]) && isfinite(y[i]) && isfinite(x[i + 1]) && isfinite(y[i + 1]))
            for (int s = 0; s < 6; s++) {
                double t = s / 6.0;
                mark(p, lgr_plot_x(p, x[i] + t * (x[i + 1] - x[i])),
                     lgr_plot_y(p, y[i] + t * (y[i + 1] - y[i])));
            }
    int open = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            if (open)
                fputs("\"/>\n", p->f);
            open = 0;
            continue;
        }
        if (!open)
            fprintf(p->f,
                    "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
                    color,
                    dashed == 2 ? " stroke-dasharray=\"2 3\"" : dashed ? " stroke-dasharray=\"6 4\"" : "");
        fprintf(p->f, "%.1f,%.1f ", lgr_plot_x(p, x[i]), lgr_plot_y(p, y[i]));
        open = 1;
    }
    if (open)
        fputs("\"/>\n", p->f);
}

void lgr_plot_points(const lgr_plot *p, const double *x, const double *y, int n, const char *color)
{
    for (int i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            mark(p, lgr_plot_x(p, x[i]), lgr_plot_y(p, y[i]));
    for (int i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            fprintf(p->f, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n",
                    lgr_plot_x(p, x[i]), lgr_plot_y(p, y[i]), color);
}

void lgr_plot_diamonds(const lgr_plot *p, const double *x, const double *y, int n,
                       const char *color)
{
    for (int i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            fprintf(p->f,
                    "<path class=\"point\" d=\"M%.1f %.1fl6 6l-6 6l-6 -6z\" fill=\"white\" "
                    "stroke=\"%s\" stroke-width=\"2\"/>\n",
                    lgr_plot_x(p, x[i]), lgr_plot_y(p, y[i]) - 6, color);
}

void lgr_plot_errorbars(const lgr_plot *p, const double *x, const double *y, const double *err,
                       int n, const char *color)
{
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]) || !isfinite(err[i]) || err[i] <= 0)
            continue;
        double X = lgr_plot_x(p, x[i]), a = lgr_plot_y(p, y[i] - err[i]),
               b = lgr_plot_y(p, y[i] + err[i]);
        fprintf(p->f,
                "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fh8M%.1f %.1fh8\" stroke=\"%s\" "
                "stroke-width=\"1.2\" fill=\"none\"/>\n",
                X, a, b, X - 4, a, X - 4, b, color);
    }
}

void lgr_plot_text(const lgr_plot *p, double x, double y, const char *text, const char *anchor,
                  int size, const char *color)
{
    fprintf(p->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\" fill=\"%s\">",
            lgr_plot_x(p, x), lgr_plot_y(p, y), anchor, size, color);
    lgr_xml_text(p->f, text);
    fputs("</text>\n", p->f);
}

void lgr_plot_legend(const lgr_plot *p, const char *const *labels, const char *const *colors,
                    const int *dashed, int n)
{
    size_t longest = 0;
    for (int i = 0; i < n; i++)
        longest = strlen(labels[i]) > longest ? strlen(labels[i]) : longest;
    double boxw = 40 + 6.4 * (double)longest; /* about 6.4 px per character at 11 px */
    double boxh = 18.0 * n + 6;
    /* the corner that hides the fewest data */
    double cx[4] = {p->left + p->width - boxw - 6, p->left + 10, p->left + p->width - boxw - 6,
                    p->left + 10};
    double cy[4] = {p->top + 10, p->top + 10, p->top + p->height - boxh - 6,
                    p->top + p->height - boxh - 6};
    int best = 0, least = -1;
    for (int c = 0; c < 4; c++) {
        int hidden = 0;
        for (int m = 0; m < p->n_marks; m++)
            hidden += p->mark_x[m] >= cx[c] - 8 && p->mark_x[m] <= cx[c] + boxw + 4 &&
                      p->mark_y[m] >= cy[c] - 8 && p->mark_y[m] <= cy[c] + boxh + 4;
        if (least < 0 || hidden < least) {
            least = hidden;
            best = c;
        }
    }
    double x = cx[best], y = cy[best];
    fprintf(p->f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"white\" "
            "fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n",
            x - 4, y - 4, boxw, 18 * n + 6);
    for (int i = 0; i < n; i++) {
        double Y = y + 18 * i + 8;
        fprintf(p->f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"2\"%s/>\n",
                x, Y, x + 24, Y, colors[i],
                dashed && dashed[i] == 2 ? " stroke-dasharray=\"2 3\""
                : dashed && dashed[i]    ? " stroke-dasharray=\"6 4\""
                                         : "");
        fprintf(p->f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">", x + 30, Y + 4);
        lgr_xml_text(p->f, labels[i]);
        fputs("</text>\n", p->f);
    }
}
