/* study/paper.c — see paper.h. */
#include "study/paper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char TSV[] = {
#include "paper_table1.inc"
};

#define MAX_ROWS 32
static paper_row g_rows[MAX_ROWS];
static int g_n = -1; /* -1: not parsed yet */
static char g_why[160];

static const char *const COLUMNS =
    "model\tdata\tlabel\tfloat32_bytes\tfloat32_error\tepr_bytes\tepr_error\tratio\ttransform";

/* One data line into *r; 0 or -1. */
static int parse_line(char *line, paper_row *r) {
    char *f[9];
    int k = 0;
    for (char *save = NULL, *t = strtok_r(line, "\t", &save); t && k < 10; t = strtok_r(NULL, "\t", &save))
        if (k < 9)
            f[k++] = t;
        else
            return -1;
    if (k != 9) return -1;
    if (strlen(f[0]) >= sizeof r->model || strlen(f[1]) >= sizeof r->data || strlen(f[2]) >= sizeof r->label ||
        strlen(f[8]) >= sizeof r->transform)
        return -1;
    strcpy(r->model, f[0]);
    strcpy(r->data, f[1]);
    strcpy(r->label, f[2]);
    strcpy(r->transform, f[8]);
    double *num[5] = {&r->float32_bytes, &r->float32_error, &r->epr_bytes, &r->epr_error, &r->ratio};
    for (int i = 0; i < 5; i++) {
        char *end;
        *num[i] = strtod(f[3 + i], &end);
        if (end == f[3 + i] || *end || !(*num[i] > 0)) return -1;
    }
    return 0;
}

static void parse(void) {
    char buf[sizeof TSV];
    memcpy(buf, TSV, sizeof TSV);
    g_n = 0;
    int header = 0, lineno = 0;
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (line[0] == '#' || !line[0]) continue;
        if (!header) {
            if (strcmp(line, COLUMNS)) {
                snprintf(g_why, sizeof g_why, "data/paper_table1.tsv:%d: header is not '%s'", lineno,
                         "model\\tdata...");
                g_n = 0;
                return;
            }
            header = 1;
            continue;
        }
        if (g_n == MAX_ROWS || parse_line(line, &g_rows[g_n])) {
            snprintf(g_why, sizeof g_why, "data/paper_table1.tsv:%d: not 9 tab-separated fields with positive numbers",
                     lineno);
            g_n = 0;
            return;
        }
        g_n++;
    }
    if (!header) snprintf(g_why, sizeof g_why, "data/paper_table1.tsv: no header line");
}

const paper_row *paper_table(int *n, char *why, size_t cap) {
    if (g_n < 0) parse();
    *n = g_n;
    if (!g_n && why) snprintf(why, cap, "%s", g_why[0] ? g_why : "data/paper_table1.tsv: no rows");
    return g_n ? g_rows : NULL;
}

const char *paper_data_of(const char *data_set) {
    if (!strcmp(data_set, "mnist10k") || !strcmp(data_set, "mnist")) return "mnist";
    if (!strcmp(data_set, "cifar10")) return "cifar10";
    return NULL; /* fashion-mnist: the paper has none; idx / pack: unknown images */
}

const paper_row *paper_lookup(const char *model, const char *data_set, const char **note) {
    int n;
    const paper_row *rows = paper_table(&n, NULL, 0);
    const char *data = paper_data_of(data_set);
    if (note) *note = "";
    if (!data) return NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].model, model) && !strcmp(rows[i].data, data)) {
            if (note && strcmp(data_set, data)) *note = "full MNIST";
            return &rows[i];
        }
    return NULL;
}
