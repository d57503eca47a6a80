/* structrob's hot loops in C, one pass each: One-Pixel's (its differential evolution's
 * generation, its candidates' keys and kept fitness, the pixel-line tracer's per-layer step)
 * and the training kernels' products (at the end of this file: the input layer, then the
 * hidden layers and the output).
 *
 * structrob.attacks._de, structrob.attacks._candidates and structrob.regions compute every
 * One-Pixel value here with torch operations too, and use these functions only when this
 * module was built (it is optional: an install without a C compiler falls back to the torch
 * code). Each of them computes exactly what the torch code it replaces computes, operation by
 * operation in float64, so the two give the same bits. The training products have no such
 * twin: their fallbacks are torch's dense and CSR products, equal to float rounding (see their
 * sections). Everything here must be
 * compiled without contracting a * b + c into a fused multiply-add (-ffp-contract=off) and
 * without -ffast-math. The tests check both.
 *
 * Arrays are passed as addresses (torch's data_ptr()) with their sizes; the Python callers
 * check dtype, layout and sizes. A population is kept as parameter planes: double [3][A][P]
 * (row, col, intensity of member p of search a at [j][a][p]); fitness double [A][P]; keys
 * int64 [A][P].
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __FAST_MATH__
#error "compile without -ffast-math: the results must equal the torch code's bit for bit"
#endif

#define PTR(type, value) ((type *)(uintptr_t)(value))

/* Elementwise loops are also built for AVX2 and AVX-512 and picked at load time (GCC and
 * clang on Linux): wider vectors round every division, product and comparison exactly as
 * scalar code does. */
#if defined(__linux__) && (defined(__x86_64__) || defined(__i386__)) && \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8))
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

/* torch.argmin of one row: the first minimum; a NaN counts as the minimum (the first one). */
static Py_ssize_t argmin(const double *values, Py_ssize_t n)
{
    Py_ssize_t at = 0;
    double best = values[0];
    if (isnan(best))
        return 0;
    for (Py_ssize_t i = 1; i < n; i++) {
        double v = values[i];
        if (isnan(v))
            return i;
        if (v < best) {
            best = v;
            at = i;
        }
    }
    return at;
}

/* One draw of _de._partner_planes: floor(u * left) clamped to left - 1 (truncation, as .to(int)
 * does; u * left >= 0). */
static inline int32_t pick(double u, int32_t left)
{
    int32_t v = (int32_t)(u * (double)left);
    return v > left - 1 ? left - 1 : v;
}

/* _de._partner_planes for every member p of one search: m (2 or 3) distinct indices from
 * {0..P-1} minus {p}, into index[t * P + p]. The t-th is pick(u[t], P - 1 - t) stepped over
 * the excluded indices in ascending order (p and the earlier picks): v += v >= e for each
 * excluded e, smallest first. One loop over the members (vectorised where the CPU allows). */
VECTOR_CLONES
static void partners(const double *u, Py_ssize_t columns, int32_t P, int m, int32_t *index)
{
    for (int32_t p = 0; p < P; p++) {
        const double *w = u + p * columns;
        int32_t v0 = pick(w[0], P - 1);
        v0 += v0 >= p;
        const int32_t lo = v0 < p ? v0 : p, hi = v0 < p ? p : v0;
        int32_t v1 = pick(w[1], P - 2);
        v1 += v1 >= lo;
        v1 += v1 >= hi;
        index[p] = v0;
        index[P + p] = v1;
        if (m == 3) {
            /* lo < hi and v1 differs from both: the three excluded values in order */
            const int32_t e0 = v1 < lo ? v1 : lo;
            const int32_t e2 = v1 > hi ? v1 : hi;
            const int32_t e1 = v1 < lo ? lo : (v1 > hi ? hi : v1);
            int32_t v2 = pick(w[2], P - 3);
            v2 += v2 >= e0;
            v2 += v2 >= e1;
            v2 += v2 >= e2;
            index[2 * P + p] = v2;
        }
    }
}

/* One parameter plane of one search's trials: (x[a] - x[b]) * F + base, base = x[c], or the
 * best member's value when c is NULL; then clipped to [0, upper] unless redrawn later. */
VECTOR_CLONES
static void mutate(const double *restrict x, const int32_t *a, const int32_t *b, const int32_t *c,
                   double best, double F, Py_ssize_t P, int clip, double upper,
                   double *restrict out)
{
    for (Py_ssize_t p = 0; p < P; p++) {
        double d = x[a[p]] - x[b[p]];
        d = d * F;
        double v = d + (c ? x[c[p]] : best);
        if (clip) { /* without branches: many trials leave the box */
            v = v < 0 ? 0 : v;
            v = v > upper ? upper : v;
        }
        out[p] = v;
    }
}

/* trials(population, fitness, numbers, row_stride, A, P, columns, best1bin, mutation, low,
 *        dither_span, dither_at, crossover, recombination, resample, upper_0, upper_1,
 *        upper_2, spare, spare_width, start, trial)
 *
 * One trial per member (DifferentialEvolution._trials): partners from numbers[a][p*columns +
 * t], F = mutation, or low + numbers[a][dither_at] * dither_span when dither_span > 0;
 * rand1 x_r0 + F (x_r1 - x_r2), best1bin best + F (x_r0 - x_r1), each computed as
 * (a - b) * F + x; best1bin's binomial crossover when crossover; then a parameter outside
 * [0, upper_j] is clipped, or with resample redrawn as spare[a][start[a]++] * upper_j (member
 * by member, parameter by parameter). The caller guarantees 3 P spare numbers per search.
 */
VECTOR_CLONES
static void make_trials(const double *pop, const double *fit, const double *numbers,
                        Py_ssize_t stride, Py_ssize_t A, Py_ssize_t P, Py_ssize_t columns,
                        int best1bin, double mutation, double low, double span,
                        Py_ssize_t dither_at, int crossover, double recombination, int resample,
                        const double *upper, double *spare, Py_ssize_t spare_width,
                        int64_t *start, double *trial, int32_t *index)
{
    const Py_ssize_t plane = A * P;
    const int m = best1bin ? 2 : 3;
    const int32_t *i0 = index, *i1 = index + P, *i2 = index + 2 * P;
    for (Py_ssize_t a = 0; a < A; a++) {
        const double *u = numbers + a * stride;
        const double F = span > 0 ? low + u[dither_at] * span : mutation;
        const Py_ssize_t base = a * P;
        Py_ssize_t b = best1bin ? argmin(fit + base, P) : 0;
        partners(u, columns, (int32_t)P, m, index);
        for (int j = 0; j < 3; j++) {
            const double *x = pop + j * plane + base;
            double *out = trial + j * plane + base;
            if (best1bin)
                mutate(x, i0, i1, NULL, x[b], F, P, !resample && !crossover, upper[j], out);
            else
                mutate(x, i1, i2, i0, 0.0, F, P, !resample, upper[j], out);
        }
        if (crossover) { /* best1bin's binomial crossover, then the box */
            for (Py_ssize_t p = 0; p < P; p++) {
                const double *w = u + p * columns;
                Py_ssize_t forced = (Py_ssize_t)floor(w[5] * 3.0);
                forced = forced > 2 ? 2 : forced;
                for (int j = 0; j < 3; j++) {
                    double *t = trial + j * plane + base + p;
                    if (j != forced && !(w[2 + j] < recombination))
                        *t = pop[j * plane + base + p];
                    if (!resample) {
                        *t = *t < 0 ? 0 : *t;
                        *t = *t > upper[j] ? upper[j] : *t;
                    }
                }
            }
        }
        if (!resample)
            continue;
        /* a pass of its own redraws what left the box, member by member, parameter by
         * parameter: only the count of numbers used runs from one parameter to the next */
        double *redraw = spare + a * spare_width;
        int64_t used = start[a];
        for (Py_ssize_t p = 0; p < P; p++) {
            for (int j = 0; j < 3; j++) {
                double *t = trial + j * plane + base + p;
                const double v = *t;
                const int outside = (v < 0) | (v > upper[j]);
                const double fresh = redraw[used] * upper[j]; /* within the reserved numbers */
                *t = outside ? fresh : v;
                used += outside;
            }
        }
        start[a] = used;
    }
}

static PyObject *trials(PyObject *self, PyObject *args)
{
    unsigned long long pop_, fit_, num_, spare_, start_, trial_;
    Py_ssize_t stride, A, P, columns, dither_at, spare_width;
    int best1bin, crossover, resample;
    double mutation, low, span, recombination, upper[3];
    if (!PyArg_ParseTuple(args, "KKKnnnnpdddnpdpdddKnKK", &pop_, &fit_, &num_, &stride, &A, &P,
                          &columns, &best1bin, &mutation, &low, &span, &dither_at, &crossover,
                          &recombination, &resample, &upper[0], &upper[1], &upper[2], &spare_,
                          &spare_width, &start_, &trial_))
        return NULL;
    if (P < (best1bin ? 3 : 4) || P > INT32_MAX / 3) {
        PyErr_SetString(PyExc_ValueError, "trials: too few or too many members per search");
        return NULL;
    }
    int32_t *index = PyMem_Malloc(3 * P * sizeof(int32_t));
    if (!index)
        return PyErr_NoMemory();
    make_trials(PTR(const double, pop_), PTR(const double, fit_), PTR(const double, num_),
                stride, A, P, columns, best1bin, mutation, low, span, dither_at, crossover,
                recombination, resample, upper, PTR(double, spare_), spare_width,
                PTR(int64_t, start_), PTR(double, trial_), index);
    PyMem_Free(index);
    Py_RETURN_NONE;
}

/* integer_keys(candidates, A, P, side, key): Candidates.key of integer candidates (planes),
 * pixel * 256 + intensity after truncation into [0, side - 1]^2 x [0, 255]. */
VECTOR_CLONES
static void integer_codes(const double *restrict c, Py_ssize_t n, Py_ssize_t side,
                          int64_t *restrict key)
{
    const double upper[3] = {(double)(side - 1), (double)(side - 1), 255.0};
    /* floor, then clamp to [0, upper] (upper an integer), equals truncating the clamped value:
     * floor is monotone, and on [0, upper] it is truncation (a NaN candidate, which the search
     * never makes, gets 0 here) */
    for (Py_ssize_t i = 0; i < n; i++) {
        double whole[3];
        for (int j = 0; j < 3; j++) {
            double v = c[j * n + i];
            v = v >= 0 ? v : 0;
            v = v > upper[j] ? upper[j] : v;
            whole[j] = (double)(int64_t)v;
        }
        double code = whole[2] + whole[1] * 256.0;
        code = code + whole[0] * (double)(side * 256);
        key[i] = (int64_t)code;
    }
}

static PyObject *integer_keys(PyObject *self, PyObject *args)
{
    unsigned long long cand_, key_;
    Py_ssize_t A, P, side;
    if (!PyArg_ParseTuple(args, "KnnnK", &cand_, &A, &P, &side, &key_))
        return NULL;
    integer_codes(PTR(const double, cand_), A * P, side, PTR(int64_t, key_));
    Py_RETURN_NONE;
}

/* memo_lookup(memo, width, rows, codes, A, P, out, missing) -> count: out[a][p] =
 * memo[rows[a]][codes[a][p]] (float32 to float64); the flat positions a * P + p whose entry
 * is NaN (not computed yet) go to missing, in order. */
static PyObject *memo_lookup(PyObject *self, PyObject *args)
{
    unsigned long long memo_, rows_, codes_, out_, missing_;
    Py_ssize_t width, A, P;
    if (!PyArg_ParseTuple(args, "KnKKnnKK", &memo_, &width, &rows_, &codes_, &A, &P, &out_,
                          &missing_))
        return NULL;
    const float *memo = PTR(const float, memo_);
    const int64_t *rows = PTR(const int64_t, rows_), *codes = PTR(const int64_t, codes_);
    double *out = PTR(double, out_);
    int64_t *missing = PTR(int64_t, missing_);
    Py_ssize_t count = 0;
    for (Py_ssize_t a = 0; a < A; a++) {
        const float *table = memo + rows[a] * width;
        for (Py_ssize_t p = 0; p < P; p++) {
            Py_ssize_t i = a * P + p;
            float v = table[codes[i]];
            out[i] = (double)v;
            if (isnan(v))
                missing[count++] = i;
        }
    }
    return PyLong_FromSsize_t(count);
}

/* select(population, fitness, keys, trial, trial_fitness, trial_keys, A, P, mode) -> bool:
 * DifferentialEvolution._select in place. A trial replaces its parent when its fitness is
 * <= (mode 0, greedy) or < (1 strict, 2 study) the parent's; with mode 2, when any member of
 * any search was replaced, each search's fittest member (the first among ties) is then copied
 * over member 0 when it is strictly fitter (the study's bookkeeping). Returns whether any
 * member was replaced. */
static PyObject *select_members(PyObject *self, PyObject *args)
{
    unsigned long long pop_, fit_, key_, tpop_, tfit_, tkey_;
    Py_ssize_t A, P;
    int mode;
    if (!PyArg_ParseTuple(args, "KKKKKKnni", &pop_, &fit_, &key_, &tpop_, &tfit_, &tkey_, &A,
                          &P, &mode))
        return NULL;
    double *pop = PTR(double, pop_), *fit = PTR(double, fit_);
    int64_t *key = PTR(int64_t, key_);
    const double *tpop = PTR(const double, tpop_), *tfit = PTR(const double, tfit_);
    const int64_t *tkey = PTR(const int64_t, tkey_);
    const Py_ssize_t plane = A * P;
    int any = 0;
    for (Py_ssize_t i = 0; i < plane; i++) {
        int better = mode == 0 ? tfit[i] <= fit[i] : tfit[i] < fit[i];
        if (better) {
            any = 1;
            fit[i] = tfit[i];
            key[i] = tkey[i];
            for (int j = 0; j < 3; j++)
                pop[j * plane + i] = tpop[j * plane + i];
        }
    }
    if (any && mode == 2) {
        for (Py_ssize_t a = 0; a < A; a++) {
            Py_ssize_t base = a * P, b = argmin(fit + base, P);
            if (fit[base + b] < fit[base]) {
                fit[base] = fit[base + b];
                key[base] = key[base + b];
                for (int j = 0; j < 3; j++)
                    pop[j * plane + base] = pop[j * plane + base + b];
            }
        }
    }
    return PyBool_FromLong(any);
}

/* settle(units, row_stride, n, B, bias, nearest): RegionTracer._copy's step on one layer of n
 * units, in place. Row i holds the units' values in columns [0, B) and their directional
 * derivatives in [B, 2B). With a bias (address not 0) the values get bias[i] added first;
 * then every quotient derivative / value (0 / 0 = NaN counts as 0) lowers nearest[b], and a
 * unit with value <= 0 has value and derivative multiplied by 0 (by 1 otherwise), as the
 * torch code multiplies by its activity pattern (so a NaN stays NaN). */
VECTOR_CLONES
static void settle_rows(double *restrict units, Py_ssize_t stride, Py_ssize_t n, Py_ssize_t B,
                        const double *restrict bias, double *restrict nearest)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        double *restrict value = units + i * stride;
        double *restrict change = value + B;
        const double add = bias ? bias[i] : 0.0;
        if (bias)
            for (Py_ssize_t b = 0; b < B; b++)
                value[b] = value[b] + add;
        for (Py_ssize_t b = 0; b < B; b++) {
            const double v = value[b], c = change[b];
            double q = c / v;
            q = q != q ? 0.0 : q; /* NaN (0 / 0) */
            const double was = nearest[b];
            nearest[b] = q < was ? q : was;
            const double active = v > 0 ? 1.0 : 0.0;
            value[b] = v * active;
            change[b] = c * active;
        }
    }
}

static PyObject *settle(PyObject *self, PyObject *args)
{
    unsigned long long units_, bias_, nearest_;
    Py_ssize_t stride, n, B;
    if (!PyArg_ParseTuple(args, "KnnnKK", &units_, &stride, &n, &B, &bias_, &nearest_))
        return NULL;
    settle_rows(PTR(double, units_), stride, n, B, bias_ ? PTR(const double, bias_) : NULL,
                PTR(double, nearest_));
    Py_RETURN_NONE;
}

/* ---- Training: the input layer of structrob._kernels.StackedTrainer (float32) ----------
 *
 * The pixels of a batch are about 80 % exactly zero, and the model's normalisation is affine,
 * xn = (x - m) / s. So, with c0 = (0 - m) / s (a zero pixel's normalised value) and
 * x' = x / s (zero where x is zero), every input unit r of image j is
 *     bias[r] + c0 * sum_p W[r, p] + sum over the image's non-zero pixels p of x'[j, p] * W[r, p]
 * and the input weights' gradient is
 *     dW[r, p] = c0 * sum_j g[r, j] + sum over the batch's images j with pixel p non-zero of
 *                x'[j, p] * g[r, j].
 * Both are the dense product's values up to float rounding. Each value is summed in one fixed
 * order, term after term (pixels, then images, ascending), with a product and a sum rounded
 * apart (-ffp-contract=off): wider vectors only compute more values at once, so every CPU gives
 * the same bits, and a row's value never depends on the other rows (a copy trains as it would
 * alone). The weights are kept transposed and padded, wt[p * Rp + r] with Rp a multiple of 16
 * (the padding columns are 0). */

typedef float f16v __attribute__((vector_size(64), aligned(4)));

#define LOAD16(p) (*(const f16v *)(p))
#define STORE16(p, v) (*(f16v *)(p) = (v))

/* Every image's non-zero pixels, pixel ascending, each divided by s: image i's are
 * pixel[start[i] .. start[i + 1] - 1] and value[...]. Made once per data set (input_pixels). */
static void image_pixels(const float *x, Py_ssize_t n, Py_ssize_t n_in, float s, int64_t *start,
                         int32_t *pixel, float *value)
{
    int64_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const float *row = x + i * n_in;
        start[i] = at;
        for (Py_ssize_t p = 0; p < n_in; p++) {
            const float v = row[p];
            if (v != 0.0f) {
                pixel[at] = (int32_t)p;
                value[at] = v / s;
                at++;
            }
        }
    }
    start[n] = at;
}

/* The batch's non-zero pixels twice: per image (pixel ascending, copied from the data set's
 * lists) and per pixel (image ascending). */
static void sparse_batch(const int64_t *start, const int32_t *pixel, const float *value,
                         Py_ssize_t n_in, const int64_t *batch, Py_ssize_t b, int64_t *nz_start,
                         int32_t *nz_pixel, float *nz_value, int64_t *csc_start,
                         int32_t *csc_image, float *csc_value, int64_t *fill)
{
    memset(csc_start, 0, (n_in + 1) * sizeof(int64_t));
    int64_t n = 0;
    for (Py_ssize_t j = 0; j < b; j++) {
        const int64_t first = start[batch[j]], count = start[batch[j] + 1] - first;
        nz_start[j] = n;
        memcpy(nz_pixel + n, pixel + first, count * sizeof(int32_t));
        memcpy(nz_value + n, value + first, count * sizeof(float));
        for (int64_t t = n; t < n + count; t++)
            csc_start[nz_pixel[t] + 1]++;
        n += count;
    }
    nz_start[b] = n;
    for (Py_ssize_t p = 0; p < n_in; p++)
        csc_start[p + 1] += csc_start[p];
    memcpy(fill, csc_start, n_in * sizeof(int64_t));
    for (Py_ssize_t j = 0; j < b; j++)
        for (int64_t t = nz_start[j]; t < nz_start[j + 1]; t++) {
            const int64_t at = fill[nz_pixel[t]]++;
            csc_image[at] = (int32_t)j;
            csc_value[at] = nz_value[t];
        }
}

/* base[r] = bias[r] + c0 * (wt[0, r] + wt[1, r] + ... + wt[n_in - 1, r]), summed in that order;
 * 0 in the padding. */
VECTOR_CLONES
static void input_base(const float *restrict wt, Py_ssize_t n_in, Py_ssize_t R, Py_ssize_t Rp,
                       const float *restrict bias, float c0, float *restrict base)
{
    for (Py_ssize_t r = 0; r < Rp; r++)
        base[r] = 0.0f;
    for (Py_ssize_t p = 0; p < n_in; p++) {
        const float *restrict w = wt + p * Rp;
        for (Py_ssize_t r = 0; r < Rp; r++)
            base[r] = base[r] + w[r];
    }
    for (Py_ssize_t r = 0; r < R; r++)
        base[r] = bias[r] + c0 * base[r];
    for (Py_ssize_t r = R; r < Rp; r++)
        base[r] = 0.0f;
}

/* One sum over a list of terms for NV * 16 columns at once: acc[i] = start[i], then
 * acc[i] = acc[i] + value[t] * rows[index[t] * Rp + i] for t in [lo, hi). Kept in registers. */
#define SUM_TERMS(NV)                                                                      \
    static inline void sum_terms_##NV(const float *start, float scale, const float *rows,   \
                                      Py_ssize_t Rp, const int32_t *index,                 \
                                      const float *value, int64_t lo, int64_t hi, float *out) \
    {                                                                                      \
        f16v acc[NV];                                                                      \
        for (int v = 0; v < NV; v++)                                                       \
            acc[v] = scale * LOAD16(start + 16 * v);                                       \
        for (int64_t t = lo; t < hi; t++) {                                                \
            const float x = value[t];                                                      \
            const float *row = rows + (Py_ssize_t)index[t] * Rp;                           \
            for (int v = 0; v < NV; v++)                                                   \
                acc[v] = acc[v] + x * LOAD16(row + 16 * v);                                \
        }                                                                                  \
        for (int v = 0; v < NV; v++)                                                       \
            STORE16(out + 16 * v, acc[v]);                                                 \
    }
SUM_TERMS(4)
SUM_TERMS(1)

/* Column blocks of Rp: 64 wide while 64 are left, then 16. */
static inline Py_ssize_t block_width(Py_ssize_t r0, Py_ssize_t Rp) { return Rp - r0 >= 64 ? 64 : 16; }

/* For every image j: units[r * ld + j] = base[r] + its non-zero pixels' terms, r < R. The
 * columns go 64 at a time (then 16), all images per block, so the block of wt stays in cache.
 * base is multiplied by 1.0f first, which changes no value. */
VECTOR_CLONES
static void input_rows(const int64_t *nz_start, const int32_t *nz_pixel, const float *nz_value,
                       Py_ssize_t b, const float *wt, Py_ssize_t R, Py_ssize_t Rp,
                       const float *base, float *units, Py_ssize_t ld)
{
    float out[64];
    for (Py_ssize_t r0 = 0; r0 < Rp; r0 += block_width(r0, Rp)) {
        const Py_ssize_t width = block_width(r0, Rp);
        const Py_ssize_t real = R - r0 < width ? R - r0 : width;
        for (Py_ssize_t j = 0; j < b; j++) {
            if (width == 64)
                sum_terms_4(base + r0, 1.0f, wt + r0, Rp, nz_pixel, nz_value, nz_start[j],
                            nz_start[j + 1], out);
            else
                sum_terms_1(base + r0, 1.0f, wt + r0, Rp, nz_pixel, nz_value, nz_start[j],
                            nz_start[j + 1], out);
            for (Py_ssize_t i = 0; i < real; i++)
                units[(r0 + i) * ld + j] = out[i];
        }
    }
}

/* grad_wt[p * Rp + r] = c0 * gbias[r] + the terms of the images with pixel p non-zero. The
 * gradients are read from panels: the block of columns [r0, r0 + w) of image j at
 * gt[r0 * b + j * w + (r - r0)], so a block's b rows are contiguous in cache. gbias and the
 * panels are 0 in the padding. */
VECTOR_CLONES
static void input_grad(const int64_t *csc_start, const int32_t *csc_image,
                       const float *csc_value, Py_ssize_t n_in, Py_ssize_t b, const float *gt,
                       Py_ssize_t Rp, const float *gbias, float c0, float *grad_wt)
{
    for (Py_ssize_t r0 = 0; r0 < Rp; r0 += block_width(r0, Rp)) {
        const Py_ssize_t w = block_width(r0, Rp);
        const float *panel = gt + r0 * b;
        for (Py_ssize_t p = 0; p < n_in; p++) {
            if (w == 64)
                sum_terms_4(gbias + r0, c0, panel, w, csc_image, csc_value, csc_start[p],
                            csc_start[p + 1], grad_wt + p * Rp + r0);
            else
                sum_terms_1(gbias + r0, c0, panel, w, csc_image, csc_value, csc_start[p],
                            csc_start[p + 1], grad_wt + p * Rp + r0);
        }
    }
}

/* input_pixels(x, n, n_in, std, start, pixel, value): the data set's non-zero pixels for
 * input_forward, x float [n][n_in] (the raw pixels), std rounded to float first (as torch
 * applies a Python float to a float32 tensor); start int64 [n + 1], pixel int32 and value float
 * [the number of non-zero pixels] (the caller counts them: x != 0, NaN included).
 *
 * input_forward(start, pixel, value, n_in, batch, b, mean, std, wt, R, Rp, bias, units, ld,
 * work): StackedTrainer.forward's input layer, before its ReLU: the batch's sparse forms into
 * work (read again by input_backward), then units[r * ld + j] for r < R, j < b. start, pixel,
 * value: input_pixels's, of the same std; batch: int64 [b] (images of the data set), bias:
 * float [R]. mean and std are the normalisation's (0 and 1 for none). work: int64 [b + 1 + 2 *
 * (n_in + 1)] then int32 [b * n_in] then float [b * n_in] then int32 [b * n_in] then float
 * [b * n_in] then float [Rp] (see _kernels.input_workspace). */
typedef struct {
    int64_t *nz_start, *csc_start, *fill;
    int32_t *nz_pixel, *csc_image;
    float *nz_value, *csc_value, *spare;
} Workspace;

static Workspace workspace(void *work, Py_ssize_t n_in, Py_ssize_t b)
{
    Workspace w;
    w.nz_start = (int64_t *)work;
    w.csc_start = w.nz_start + b + 1;
    w.fill = w.csc_start + n_in + 1;
    w.nz_pixel = (int32_t *)(w.fill + n_in + 1);
    w.nz_value = (float *)(w.nz_pixel + b * n_in);
    w.csc_image = (int32_t *)(w.nz_value + b * n_in);
    w.csc_value = (float *)(w.csc_image + b * n_in);
    w.spare = w.csc_value + b * n_in;
    return w;
}

/* The checks and constants both entry points share: Rp a multiple of 16 and >= R; mean and
 * std rounded to float, as torch applies a Python float to a float32 tensor; c0 the
 * normalised value of a zero pixel. Returns 0 (a Python error set) when Rp is wrong. */
static int input_setup(const char *name, Py_ssize_t R, Py_ssize_t Rp, double mean, double std,
                       float *s, float *c0)
{
    if (Rp % 16 || Rp < R) {
        PyErr_Format(PyExc_ValueError, "%s: Rp must be a multiple of 16, >= R", name);
        return 0;
    }
    *s = (float)std;
    *c0 = (0.0f - (float)mean) / *s;
    return 1;
}

static PyObject *input_pixels(PyObject *self, PyObject *args)
{
    unsigned long long x_, start_, pixel_, value_;
    Py_ssize_t n, n_in;
    double std;
    if (!PyArg_ParseTuple(args, "KnndKKK", &x_, &n, &n_in, &std, &start_, &pixel_, &value_))
        return NULL;
    image_pixels(PTR(const float, x_), n, n_in, (float)std, PTR(int64_t, start_),
                 PTR(int32_t, pixel_), PTR(float, value_));
    Py_RETURN_NONE;
}

static PyObject *input_forward(PyObject *self, PyObject *args)
{
    unsigned long long start_, pixel_, value_, batch_, wt_, bias_, units_, work_;
    Py_ssize_t n_in, b, R, Rp, ld;
    double mean, std;
    if (!PyArg_ParseTuple(args, "KKKnKnddKnnKKnK", &start_, &pixel_, &value_, &n_in, &batch_, &b,
                          &mean, &std, &wt_, &R, &Rp, &bias_, &units_, &ld, &work_))
        return NULL;
    float s, c0;
    if (!input_setup("input_forward", R, Rp, mean, std, &s, &c0))
        return NULL;
    Workspace w = workspace(PTR(void, work_), n_in, b);
    sparse_batch(PTR(const int64_t, start_), PTR(const int32_t, pixel_), PTR(const float, value_),
                 n_in, PTR(const int64_t, batch_), b, w.nz_start, w.nz_pixel, w.nz_value,
                 w.csc_start, w.csc_image, w.csc_value, w.fill);
    input_base(PTR(const float, wt_), n_in, R, Rp, PTR(const float, bias_), c0, w.spare);
    input_rows(w.nz_start, w.nz_pixel, w.nz_value, b, PTR(const float, wt_), R, Rp, w.spare,
               PTR(float, units_), ld);
    Py_RETURN_NONE;
}

/* input_backward(n_in, b, mean, std, g, ld, gbias, R, Rp, grad_wt, work): the input weights'
 * gradient of the batch input_forward last put in work, from the input units' gradients
 * g[r * ld + j] and their sums over the batch gbias[r] (float [R]), into grad_wt
 * (float [n_in][Rp]; 0 in the padding). */
static PyObject *input_backward(PyObject *self, PyObject *args)
{
    unsigned long long g_, gbias_, grad_wt_, work_;
    Py_ssize_t n_in, b, ld, R, Rp;
    double mean, std;
    if (!PyArg_ParseTuple(args, "nnddKnKnnKK", &n_in, &b, &mean, &std, &g_, &ld, &gbias_, &R, &Rp,
                          &grad_wt_, &work_))
        return NULL;
    float s, c0;
    if (!input_setup("input_backward", R, Rp, mean, std, &s, &c0))
        return NULL;
    Workspace w = workspace(PTR(void, work_), n_in, b);
    float *gt = PyMem_Malloc((b * Rp + Rp) * sizeof(float));
    if (!gt)
        return PyErr_NoMemory();
    float *gbias = gt + b * Rp;
    const float *g = PTR(const float, g_), *gb = PTR(const float, gbias_);
    for (Py_ssize_t r0 = 0; r0 < Rp; r0 += block_width(r0, Rp)) {
        const Py_ssize_t width = block_width(r0, Rp);
        float *panel = gt + r0 * b;
        for (Py_ssize_t i = 0; i < width; i++) {
            const Py_ssize_t r = r0 + i;
            for (Py_ssize_t j = 0; j < b; j++)
                panel[j * width + i] = r < R ? g[r * ld + j] : 0.0f;
        }
    }
    for (Py_ssize_t r = 0; r < Rp; r++)
        gbias[r] = r < R ? gb[r] : 0.0f;
    input_grad(w.csc_start, w.csc_image, w.csc_value, n_in, b, gt, Rp, gbias, c0,
               PTR(float, grad_wt_));
    PyMem_Free(gt);
    Py_RETURN_NONE;
}

/* ---- Training: the hidden layers and the output of StackedTrainer (float32) --------------
 *
 * The unit buffer units[r * ld + j] (row r, image j < b; row 0 is the constant 1 whose edges
 * are the biases) and its gradient grads[r * ld + j]. The edges are given twice: by target row
 * (forward CSR: crow over the rows [first, n_rows), col the source rows, ascending, w the
 * values) and by source row (crow_t over the rows [0, hidden), col_t the target rows,
 * ascending, perm the edge's index in w). Every value is one sum in one fixed order, term after
 * term, a product and a sum rounded apart (-ffp-contract=off), so wider vectors only compute
 * more values at once: every CPU gives the same bits, and a row never reads another copy's rows
 * (a copy trains as it would alone):
 *
 * forward, rows r = first, first + 1, ...: a = 0, then a = a + w[e] * units[col[e]] over
 *     the row's edges in order; units[r] = a > 0 ? a : 0 for r < relu_end (the hidden units),
 *     a itself after (the logits);
 * backward, rows s = hidden - 1 down to 1: a = 0, then a = a + w[perm[e]] * grads[col_t[e]]
 *     over the row's edges in order; grads[s] = units[s] > 0 ? a : 0 (the ReLU's gradient);
 * edge gradients, every edge e (forward order) of target t and source s: with 16 lanes
 *     v[i] = 0, then v[i] = v[i] + grads[t][16 q + i] * units[s][16 q + i] for q = 0, 1, ...
 *     while 16 q + 16 <= b; then the lanes summed as a tree, (v[i] + v[i + 8]), then + 4,
 *     + 2, + 1; then the tail images 16 q ... b - 1 added one after the other. */

typedef int32_t i16v __attribute__((vector_size(64), aligned(4)));

/* One row's sum of terms for NV * 16 images from image j: out = a (ReLU'd when relu). */
#define ROW_SUM(NV)                                                                        \
    static inline __attribute__((always_inline)) void row_sum_##NV(const float *rows, Py_ssize_t ld, const int64_t *col,   \
                                    const float *w, const int64_t *perm, int64_t lo,        \
                                    int64_t hi, const float *mask, int relu, float *out)    \
    {                                                                                      \
        const f16v zero = {0};                                                             \
        f16v acc[NV];                                                                      \
        for (int v = 0; v < NV; v++)                                                       \
            acc[v] = zero;                                                                 \
        for (int64_t e = lo; e < hi; e++) {                                                \
            const float x = w[perm ? perm[e] : e];                                         \
            const float *row = rows + col[e] * ld;                                         \
            for (int v = 0; v < NV; v++)                                                   \
                acc[v] = acc[v] + x * LOAD16(row + 16 * v);                                \
        }                                                                                  \
        for (int v = 0; v < NV; v++) {                                                     \
            if (mask || relu) {                                                            \
                const i16v keep = (relu ? acc[v] : LOAD16(mask + 16 * v)) > zero;          \
                acc[v] = (f16v)((i16v)acc[v] & keep);                                      \
            }                                                                              \
            STORE16(out + 16 * v, acc[v]);                                                 \
        }                                                                                  \
    }
ROW_SUM(8)
ROW_SUM(1)

/* One row's sum of terms for every image, into out: zeroed where mask <= 0 (the backward's
 * ReLU gradient: mask the units) or, with relu, where the sum itself is <= 0 (the forward's
 * ReLU); mask NULL and relu 0: the sum itself. */
VECTOR_CLONES
static void sum_row(const float *rows, Py_ssize_t ld, Py_ssize_t b, const int64_t *col,
                    const float *w, const int64_t *perm, int64_t lo, int64_t hi,
                    const float *mask, int relu, float *out)
{
    Py_ssize_t j = 0;
    for (; j + 128 <= b; j += 128)
        row_sum_8(rows + j, ld, col, w, perm, lo, hi, mask ? mask + j : NULL, relu, out + j);
    for (; j + 16 <= b; j += 16)
        row_sum_1(rows + j, ld, col, w, perm, lo, hi, mask ? mask + j : NULL, relu, out + j);
    for (; j < b; j++) {
        float a = 0.0f;
        for (int64_t e = lo; e < hi; e++)
            a = a + w[perm ? perm[e] : e] * rows[col[e] * ld + j];
        const float m = relu ? a : (mask ? mask[j] : 1.0f);
        out[j] = m > 0.0f ? a : 0.0f;
    }
}

/* hidden_forward(units, ld, b, first, n_rows, relu_end, crow, col, w): see above. */
static PyObject *hidden_forward(PyObject *self, PyObject *args)
{
    unsigned long long units_, crow_, col_, w_;
    Py_ssize_t ld, b, first, n_rows, relu_end;
    if (!PyArg_ParseTuple(args, "KnnnnnKKK", &units_, &ld, &b, &first, &n_rows, &relu_end, &crow_,
                          &col_, &w_))
        return NULL;
    float *units = PTR(float, units_);
    const int64_t *crow = PTR(const int64_t, crow_), *col = PTR(const int64_t, col_);
    for (Py_ssize_t r = first; r < n_rows; r++) {
        sum_row(units, ld, b, col, PTR(const float, w_), NULL, crow[r - first],
                crow[r - first + 1], NULL, r < relu_end, units + r * ld);
    }
    Py_RETURN_NONE;
}

/* The 16 lanes' tree sum: halves added, (v[i] + v[i + 8]), then + 4, + 2, + 1. */
typedef float f8v __attribute__((vector_size(32)));
typedef float f4v __attribute__((vector_size(16)));
typedef float f2v __attribute__((vector_size(8)));

static inline __attribute__((always_inline)) float lane_sum(f16v v)
{
    const f8v s8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                   __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    const f4v s4 = __builtin_shufflevector(s8, s8, 0, 1, 2, 3) +
                   __builtin_shufflevector(s8, s8, 4, 5, 6, 7);
    const f2v s2 = __builtin_shufflevector(s4, s4, 0, 1) + __builtin_shufflevector(s4, s4, 2, 3);
    return s2[0] + s2[1];
}

VECTOR_CLONES
static void edge_grads(const float *units, const float *grads, Py_ssize_t ld, Py_ssize_t b,
                       Py_ssize_t first, Py_ssize_t n_rows, const int64_t *crow,
                       const int64_t *col, float *out)
{
    const Py_ssize_t full = b / 16 * 16;
    const f16v zero = {0};
    for (Py_ssize_t t = first; t < n_rows; t++) {
        const float *g = grads + t * ld;
        for (int64_t e = crow[t - first]; e < crow[t - first + 1]; e++) {
            const float *u = units + col[e] * ld;
            f16v acc = zero;
            for (Py_ssize_t j = 0; j < full; j += 16)
                acc = acc + LOAD16(g + j) * LOAD16(u + j);
            float a = lane_sum(acc);
            for (Py_ssize_t j = full; j < b; j++)
                a = a + g[j] * u[j];
            out[e] = a;
        }
    }
}

/* hidden_backward(units, grads, ld, b, first, n_rows, hidden, crow, col, w, crow_t, col_t,
 * perm, grad_w): the units' gradients of rows hidden - 1 ... 1 from those of the rows after
 * them (the logits' gradients already in grads), then every edge's gradient into grad_w (the
 * forward order, as w). */
static PyObject *hidden_backward(PyObject *self, PyObject *args)
{
    unsigned long long units_, grads_, crow_, col_, w_, crow_t_, col_t_, perm_, grad_w_;
    Py_ssize_t ld, b, first, n_rows, hidden;
    if (!PyArg_ParseTuple(args, "KKnnnnnKKKKKKK", &units_, &grads_, &ld, &b, &first, &n_rows,
                          &hidden, &crow_, &col_, &w_, &crow_t_, &col_t_, &perm_, &grad_w_))
        return NULL;
    const float *units = PTR(const float, units_);
    float *grads = PTR(float, grads_);
    const int64_t *crow_t = PTR(const int64_t, crow_t_);
    for (Py_ssize_t s = hidden - 1; s >= 1; s--)
        sum_row(grads, ld, b, PTR(const int64_t, col_t_), PTR(const float, w_),
                PTR(const int64_t, perm_), crow_t[s], crow_t[s + 1], units + s * ld, 0,
                grads + s * ld);
    edge_grads(units, grads, ld, b, first, n_rows, PTR(const int64_t, crow_),
               PTR(const int64_t, col_), PTR(float, grad_w_));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"settle", settle, METH_VARARGS, "The line tracer's per-layer step (see the source)."},
    {"trials", trials, METH_VARARGS, "One DE trial per member (see the source)."},
    {"integer_keys", integer_keys, METH_VARARGS, "Keys of integer candidates (see the source)."},
    {"memo_lookup", memo_lookup, METH_VARARGS, "Kept fitness look-up (see the source)."},
    {"select", select_members, METH_VARARGS, "DE selection in place (see the source)."},
    {"input_pixels", input_pixels, METH_VARARGS, "A data set's non-zero pixels (see the source)."},
    {"input_forward", input_forward, METH_VARARGS, "Training's sparse input layer (see the source)."},
    {"input_backward", input_backward, METH_VARARGS, "Its weights' gradient (see the source)."},
    {"hidden_forward", hidden_forward, METH_VARARGS, "Training's hidden layers (see the source)."},
    {"hidden_backward", hidden_backward, METH_VARARGS, "Their gradients (see the source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native",
    "One-Pixel's inner loops and the training products in C (see the source).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
