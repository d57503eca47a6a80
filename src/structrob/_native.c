/* One-Pixel's hot loops, one pass each, in C: its differential evolution's generation, its
 * candidates' keys and kept fitness, and the pixel-line tracer's per-layer step.
 *
 * structrob.attacks._de, structrob.attacks._candidates and structrob.regions compute every
 * value here with torch operations too, and use these functions only when this module was
 * built (it is optional: an install without a C compiler falls back to the torch code).
 * Each function computes
 * exactly what the torch code it replaces computes, operation by operation in float64, so the
 * two give the same bits: it must be compiled without contracting a * b + c into a fused
 * multiply-add (-ffp-contract=off) and without -ffast-math. The tests compare both paths.
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

static PyMethodDef methods[] = {
    {"settle", settle, METH_VARARGS, "The line tracer's per-layer step (see the source)."},
    {"trials", trials, METH_VARARGS, "One DE trial per member (see the source)."},
    {"integer_keys", integer_keys, METH_VARARGS, "Keys of integer candidates (see the source)."},
    {"memo_lookup", memo_lookup, METH_VARARGS, "Kept fitness look-up (see the source)."},
    {"select", select_members, METH_VARARGS, "DE selection in place (see the source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native",
    "One-Pixel's inner loops in C (bit-identical to the torch code).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
