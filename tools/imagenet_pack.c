/* tools/imagenet_pack.c — epr-pack: a directory of JPEG files, one
 * subdirectory per class, to the packed image format of
 * docs/imagenet-pack.md (what `[data] set = pack` reads).
 *
 *   epr-pack [--size S] [--classes FILE] [--skip-bad] DIR OUT.pack
 *
 * Classes are DIR's subdirectories in byte order (strcmp), or the order of
 * FILE (one name per line, e.g. the .classes file written for the training
 * set, so that validation labels agree); images are each class's regular
 * files in byte order.  Each image is decoded (libjpeg; grayscale is
 * expanded to RGB, CMYK/YCCK converted), resized so that its shorter side
 * is S (default 256) with a triangle filter as wide as the scale factor
 * (area-like when shrinking, bilinear when enlarging), and centre-cropped to
 * S x S.  Writes OUT.pack (through a temporary name, renamed when complete)
 * and OUT.pack.classes.
 *
 * Every file is checked first (its JPEG header is read): a file that is not
 * a readable JPEG stops the run with a message naming it, or with --skip-bad
 * is reported and left out.  May call: libc, libm, libjpeg, zlib. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <zlib.h>

static void die(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "epr-pack: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory%s%s", "", "");
    return p;
}

/* ---- sorted lists of names ---- */

typedef struct {
    char **v;
    size_t n, cap;
} strlist;

static void push(strlist *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, l->cap * sizeof *v);
        if (!v) die("out of memory%s%s", "", "");
        l->v = v;
    }
    l->v[l->n] = strdup(s);
    if (!l->v[l->n]) die("out of memory%s%s", "", "");
    l->n++;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Entries of dir that are directories (want_dirs) or regular files. */
static strlist list_dir(const char *dir, int want_dirs) {
    strlist l = {0};
    DIR *d = opendir(dir);
    if (!d) die("%s: cannot open directory: %s", dir, strerror(errno));
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st)) continue;
        if (want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)) push(&l, e->d_name);
    }
    closedir(d);
    if (l.n) qsort(l.v, l.n, sizeof *l.v, cmp_str);
    return l;
}

/* ---- libjpeg with errors that return instead of exit ---- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jerr;

static void on_error(j_common_ptr c) {
    jerr *e = (jerr *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jump, 1);
}

static void on_message(j_common_ptr c) { (void)c; } /* warnings (e.g. premature end) stay quiet */

/* An RGB image, [h][w][3] bytes. */
typedef struct {
    int w, h;
    uint8_t *px;
} image;

/* Decode path; header_only: just check it is a JPEG we can read.  The DCT
 * scaler decodes at 1/2, 1/4 or 1/8 size when that still leaves the shorter
 * side >= min_side (much faster, and no worse than shrinking later).
 * Returns 0, or -1 with msg set. */
static int read_jpeg(const char *path, int header_only, int min_side, image *out, char *msg, size_t nmsg) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, nmsg, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct jpeg_decompress_struct c;
    jerr e;
    c.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    e.pub.output_message = on_message;
    uint8_t *volatile px = NULL, *volatile row = NULL; /* live across longjmp */
    if (setjmp(e.jump)) {
        snprintf(msg, nmsg, "not a readable JPEG: %s", e.msg);
        jpeg_destroy_decompress(&c);
        fclose(f);
        free(px);
        free(row);
        return -1;
    }
    jpeg_create_decompress(&c);
    jpeg_stdio_src(&c, f);
    jpeg_read_header(&c, TRUE);
    if (c.image_width < 1 || c.image_height < 1 || c.image_width > 65500 || c.image_height > 65500) {
        snprintf(msg, nmsg, "image size %ux%u out of range", c.image_width, c.image_height);
        jpeg_destroy_decompress(&c);
        fclose(f);
        return -1;
    }
    if (header_only) {
        jpeg_destroy_decompress(&c);
        fclose(f);
        return 0;
    }
    const int cmyk = c.jpeg_color_space == JCS_CMYK || c.jpeg_color_space == JCS_YCCK;
    c.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    unsigned short_side = c.image_width < c.image_height ? c.image_width : c.image_height;
    c.scale_num = 1;
    c.scale_denom = 1;
    for (unsigned k = 8; k > 1; k /= 2)
        if (short_side / k >= (unsigned)min_side) {
            c.scale_denom = k;
            break;
        }
    jpeg_start_decompress(&c);
    const int w = (int)c.output_width, h = (int)c.output_height, comps = c.output_components;
    px = xmalloc((size_t)w * h * 3);
    row = xmalloc((size_t)w * comps);
    while (c.output_scanline < c.output_height) {
        JSAMPROW r = row;
        int y = (int)c.output_scanline;
        jpeg_read_scanlines(&c, &r, 1);
        uint8_t *d = px + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            if (cmyk) { /* Adobe writes inverted CMYK: R = C * K / 255 */
                const uint8_t *s = row + 4 * x;
                d[3 * x] = (uint8_t)((s[0] * s[3] + 127) / 255);
                d[3 * x + 1] = (uint8_t)((s[1] * s[3] + 127) / 255);
                d[3 * x + 2] = (uint8_t)((s[2] * s[3] + 127) / 255);
            } else {
                memcpy(d + 3 * x, row + 3 * x, 3);
            }
        }
    }
    free(row);
    jpeg_finish_decompress(&c);
    jpeg_destroy_decompress(&c);
    fclose(f);
    out->w = w, out->h = h, out->px = px;
    return 0;
}

/* ---- resampling: separable triangle filter ---- */

typedef struct {
    int lo, n;      /* source taps lo .. lo+n-1 */
    float *w;       /* n weights, summing to 1 */
} taps;

static taps *make_taps(int n_src, int n_dst) {
    taps *t = xmalloc(sizeof *t * (size_t)n_dst);
    const double scale = (double)n_src / n_dst, support = scale > 1 ? scale : 1.0;
    for (int o = 0; o < n_dst; o++) {
        double center = (o + 0.5) * scale;
        int lo = (int)floor(center - support), hi = (int)ceil(center + support);
        if (lo < 0) lo = 0;
        if (hi > n_src) hi = n_src;
        if (hi <= lo) { /* cannot happen with support >= 1; one tap, kept in range */
            lo = lo < n_src ? lo : n_src - 1;
            hi = lo + 1;
        }
        t[o].lo = lo;
        t[o].n = hi - lo;
        t[o].w = xmalloc(sizeof(float) * (size_t)t[o].n);
        double sum = 0;
        for (int j = lo; j < hi; j++) {
            double v = 1.0 - fabs((j + 0.5 - center) / support);
            t[o].w[j - lo] = (float)(v > 0 ? v : 0);
            sum += t[o].w[j - lo];
        }
        if (sum <= 0) { /* likewise */
            t[o].w[0] = 1.0f;
            sum = 1.0;
        }
        for (int j = 0; j < t[o].n; j++) t[o].w[j] = (float)(t[o].w[j] / sum);
    }
    return t;
}

static void free_taps(taps *t, int n) {
    for (int i = 0; i < n; i++) free(t[i].w);
    free(t);
}

/* Shorter side to S, centre S x S crop, as CHW bytes into out[3*S*S]. */
static void resize_crop(const image *im, int S, uint8_t *out) {
    int tw, th;
    if (im->w <= im->h) tw = S, th = (int)lround((double)im->h * S / im->w);
    else th = S, tw = (int)lround((double)im->w * S / im->h);
    if (tw < S) tw = S;
    if (th < S) th = S;
    const int ox = (tw - S) / 2, oy = (th - S) / 2;
    taps *hx = make_taps(im->w, tw), *vy = make_taps(im->h, th);
    /* horizontal pass over the needed columns only: [h][S][3] floats */
    float *tmp = xmalloc(sizeof(float) * (size_t)im->h * S * 3);
    for (int y = 0; y < im->h; y++) {
        const uint8_t *r = im->px + (size_t)y * im->w * 3;
        for (int x = 0; x < S; x++) {
            const taps *t = &hx[x + ox];
            float a[3] = {0, 0, 0};
            for (int j = 0; j < t->n; j++)
                for (int ch = 0; ch < 3; ch++) a[ch] += t->w[j] * r[3 * (t->lo + j) + ch];
            for (int ch = 0; ch < 3; ch++) tmp[((size_t)y * S + x) * 3 + ch] = a[ch];
        }
    }
    for (int y = 0; y < S; y++) {
        const taps *t = &vy[y + oy];
        for (int x = 0; x < S; x++)
            for (int ch = 0; ch < 3; ch++) {
                float a = 0;
                for (int j = 0; j < t->n; j++) a += t->w[j] * tmp[((size_t)(t->lo + j) * S + x) * 3 + ch];
                long v = lroundf(a);
                out[(size_t)ch * S * S + (size_t)y * S + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    }
    free(tmp);
    free_taps(hx, tw);
    free_taps(vy, th);
}

/* ---- main ---- */

static void put16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void xwrite(FILE *f, const void *p, size_t n, const char *path) {
    if (fwrite(p, 1, n, f) != n) die("%s: write error: %s", path, strerror(errno));
}

static void usage(void) {
    fprintf(stderr, "usage: epr-pack [--size S] [--classes FILE] [--skip-bad] DIR OUT.pack\n"
                    "  DIR/<class>/<image>.jpg ... -> OUT.pack (docs/imagenet-pack.md) and OUT.pack.classes\n"
                    "  --size S        stored side: shorter side resized to S, centre S x S crop (default 256)\n"
                    "  --classes FILE  class names and order from FILE (one per line), e.g. the train set's\n"
                    "                  OUT.pack.classes, so that validation labels agree\n"
                    "  --skip-bad      leave out (and list) files that are not readable JPEGs instead of stopping\n");
    exit(2);
}

int main(int argc, char **argv) {
    int S = 256, skip_bad = 0;
    const char *classes_file = NULL, *dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 8 || v > 4096) die("--size %s: expected an integer in 8..4096%s", argv[i], "");
            S = (int)v;
        } else if (!strcmp(argv[i], "--classes") && i + 1 < argc) {
            classes_file = argv[++i];
        } else if (!strcmp(argv[i], "--skip-bad")) {
            skip_bad = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
        } else if (argv[i][0] == '-') {
            die("unknown option '%s'%s (see epr-pack --help)", argv[i], "");
        } else if (!dir) {
            dir = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            usage();
        }
    }
    if (!dir || !out) usage();

    strlist classes = {0};
    strlist subdirs = list_dir(dir, 1);
    if (classes_file) {
        FILE *f = fopen(classes_file, "r");
        if (!f) die("%s: cannot open: %s", classes_file, strerror(errno));
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = 0;
            if (line[0]) push(&classes, line);
        }
        fclose(f);
        for (size_t i = 0; i < subdirs.n; i++) {
            size_t k = 0;
            while (k < classes.n && strcmp(classes.v[k], subdirs.v[i])) k++;
            if (k == classes.n) die("%s: class directory '%s' is not in the class list", dir, subdirs.v[i]);
        }
    } else {
        classes = subdirs;
        subdirs = (strlist){0};
    }
    if (classes.n == 0) die("%s: no class subdirectories%s", dir, "");
    if (classes.n > 65535) die("%s: more than 65535 classes%s", dir, "");

    /* Pass 1: list and check every file. */
    strlist files = {0};
    uint16_t *labels = NULL;
    size_t n = 0, cap = 0, bad = 0;
    char path[8192], msg[JMSG_LENGTH_MAX + 64];
    for (size_t k = 0; k < classes.n; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, classes.v[k]);
        struct stat st;
        if (stat(path, &st) || !S_ISDIR(st.st_mode)) continue; /* listed class absent here */
        strlist imgs = list_dir(path, 0);
        for (size_t i = 0; i < imgs.n; i++) {
            snprintf(path, sizeof path, "%s/%s/%s", dir, classes.v[k], imgs.v[i]);
            if (read_jpeg(path, 1, 0, NULL, msg, sizeof msg)) {
                if (!skip_bad) die("%s: %s (use --skip-bad to leave such files out)", path, msg);
                fprintf(stderr, "epr-pack: skipping %s: %s\n", path, msg);
                bad++;
                continue;
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                uint16_t *l = realloc(labels, cap * sizeof *l);
                if (!l) die("out of memory%s%s", "", "");
                labels = l;
            }
            labels[n++] = (uint16_t)k;
            push(&files, path);
        }
        for (size_t i = 0; i < imgs.n; i++) free(imgs.v[i]);
        free(imgs.v);
    }
    if (n == 0) die("%s: no images found%s", dir, "");
    if (n > 0x7fffffff) die("%s: more than 2^31-1 images%s", dir, "");

    /* Pass 2: header, labels, pixels. */
    char tmp[8300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) die("%s: cannot create: %s", tmp, strerror(errno));
    unsigned char *lab = xmalloc(2 * n);
    for (size_t i = 0; i < n; i++) put16(lab + 2 * i, labels[i]);
    unsigned char h[32] = {'E', 'P', 'R', '-', 'P', 'A', 'C', 'K'};
    put32(h + 8, 1);
    put32(h + 12, (uint32_t)n);
    put16(h + 16, 3), put16(h + 18, (unsigned)S), put16(h + 20, (unsigned)S), put16(h + 22, (unsigned)classes.n);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < 2 * n;) {
        size_t k = 2 * n - off > (1u << 30) ? (1u << 30) : 2 * n - off;
        crc = crc32(crc, lab + off, (uInt)k);
        off += k;
    }
    put32(h + 24, (uint32_t)crc);
    put32(h + 28, 0);
    xwrite(f, h, sizeof h, tmp);
    xwrite(f, lab, 2 * n, tmp);
    uint8_t *chw = xmalloc((size_t)3 * S * S);
    for (size_t i = 0; i < n; i++) {
        image im;
        if (read_jpeg(files.v[i], 0, S, &im, msg, sizeof msg)) {
            fclose(f);
            unlink(tmp);
            die("%s: %s", files.v[i], msg);
        }
        resize_crop(&im, S, chw);
        free(im.px);
        xwrite(f, chw, (size_t)3 * S * S, tmp);
        if ((i + 1) % 10000 == 0) fprintf(stderr, "epr-pack: %zu / %zu images\n", i + 1, n);
    }
    if (fflush(f) || fsync(fileno(f)) || fclose(f)) die("%s: write error: %s", tmp, strerror(errno));
    if (rename(tmp, out)) die("%s: cannot rename into place: %s", out, strerror(errno));
    snprintf(path, sizeof path, "%s.classes", out);
    FILE *cf = fopen(path, "w");
    if (!cf) die("%s: cannot create: %s", path, strerror(errno));
    for (size_t k = 0; k < classes.n; k++) fprintf(cf, "%s\n", classes.v[k]);
    if (fclose(cf)) die("%s: write error: %s", path, strerror(errno));
    printf("epr-pack: wrote %s: %zu images of 3x%dx%d in %zu classes (%.1f MB)%s", out, n, S, S, classes.n,
           (32.0 + 2.0 * n + 3.0 * S * S * n) / 1e6, bad ? "" : "\n");
    if (bad) printf(", %zu unreadable files left out\n", bad);
    for (size_t i = 0; i < files.n; i++) free(files.v[i]);
    free(files.v);
    for (size_t i = 0; i < classes.n; i++) free(classes.v[i]);
    free(classes.v);
    for (size_t i = 0; i < subdirs.n; i++) free(subdirs.v[i]);
    free(subdirs.v);
    free(labels);
    free(lab);
    free(chw);
    return 0;
}
