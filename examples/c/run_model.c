/* run_model.c: run a model that qcomp compiled ahead of time (model.so, model.h, model.weights).
 *
 *   qcomp compile mlp --target cpu --recipe w8a8 -o out
 *   make -C examples/c MODEL_DIR=$PWD/out      # or, by hand:
 *   cc -O2 -std=c11 -I out -o out/run_model examples/c/run_model.c out/model.so -Wl,-rpath,$PWD/out
 *   out/run_model out/model.weights [-i inputs.bin] [-o outputs.bin]
 *
 * inputs.bin: every input's bytes (row-major, native byte order) one after the other, in model.h's order.
 * Without -i the inputs are a fixed pattern: element k of input j is ((7k + j) mod 17 - 8) / 8 for
 * floating-point inputs, (7k + j) mod 16 for integer ones (token ids), (7k + j) mod 2 for i1.
 * Prints one line per output: its type, the FNV-1a 64-bit hash of its bytes and, for f32, the sum of its elements.
 * outputs.bin (-o): the outputs' bytes one after the other. On failure: one line on stderr, exit status 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static int fail(const char *what, const char *why) {
    fprintf(stderr, "run_model: %s%s%s\n", what, why ? ": " : "", why ? why : "");
    return 1;
}

static void fill_pattern(void *buf, const qcomp_tensor_info *t, int j) {
    size_t n = t->nbytes / qcomp_dtype_size(t->dtype);
    for (size_t k = 0; k < n; k++) {
        int64_t v = (int64_t)((7 * k + (size_t)j) % 17) - 8, id = (int64_t)((7 * k + (size_t)j) % 16);
        switch (t->dtype) {
        case QCOMP_F32: ((float *)buf)[k] = (float)v / 8.0f; break;
        case QCOMP_F64: ((double *)buf)[k] = (double)v / 8.0; break;
        case QCOMP_I8: ((int8_t *)buf)[k] = (int8_t)id; break;
        case QCOMP_U8: ((uint8_t *)buf)[k] = (uint8_t)id; break;
        case QCOMP_I16: ((int16_t *)buf)[k] = (int16_t)id; break;
        case QCOMP_I32: ((int32_t *)buf)[k] = (int32_t)id; break;
        case QCOMP_I64: ((int64_t *)buf)[k] = id; break;
        case QCOMP_I1: ((uint8_t *)buf)[k] = (uint8_t)((7 * k + (size_t)j) % 2); break;
        default: memset((char *)buf + k * qcomp_dtype_size(t->dtype), 0, qcomp_dtype_size(t->dtype));
        }
    }
}

static uint64_t fnv1a64(const unsigned char *p, size_t n) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

int main(int argc, char **argv) {
    const char *weights = NULL, *in_path = NULL, *out_path = NULL;
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "-i") && a + 1 < argc) in_path = argv[++a];
        else if (!strcmp(argv[a], "-o") && a + 1 < argc) out_path = argv[++a];
        else if (argv[a][0] != '-' && !weights) weights = argv[a];
        else return fail("usage: run_model MODEL.weights [-i INPUTS.bin] [-o OUTPUTS.bin]", NULL);
    }
    if (!weights) return fail("usage: run_model MODEL.weights [-i INPUTS.bin] [-o OUTPUTS.bin]", NULL);

    qcomp_model *m = qcomp_model_load(weights);
    if (!m) return fail(qcomp_error(), NULL);

    int n_in = qcomp_num_inputs(), n_out = qcomp_num_outputs();
    void **in = calloc((size_t)n_in + 1, sizeof *in), **out = calloc((size_t)n_out + 1, sizeof *out);
    FILE *f = in_path ? fopen(in_path, "rb") : NULL;
    if (in_path && !f) return fail(in_path, "cannot open");
    for (int j = 0; j < n_in; j++) {
        const qcomp_tensor_info *t = qcomp_input_info(j);
        in[j] = malloc(t->nbytes + 1);
        if (!in[j]) return fail("out of memory", NULL);
        if (!f) fill_pattern(in[j], t, j);
        else if (fread(in[j], 1, t->nbytes, f) != t->nbytes) return fail(in_path, "shorter than the inputs");
    }
    if (f) {
        int extra = fgetc(f) != EOF;
        fclose(f);
        if (extra) return fail(in_path, "longer than the inputs");
    }
    for (int i = 0; i < n_out; i++) {
        out[i] = malloc(qcomp_output_info(i)->nbytes + 1);
        if (!out[i]) return fail("out of memory", NULL);
    }

    if (qcomp_model_run(m, (const void *const *)in, out) != 0) return fail(qcomp_error(), NULL);

    FILE *o = out_path ? fopen(out_path, "wb") : NULL;
    if (out_path && !o) return fail(out_path, "cannot open for writing");
    for (int i = 0; i < n_out; i++) {
        const qcomp_tensor_info *t = qcomp_output_info(i);
        printf("output %d: %s fnv1a64=%016llx", i, t->text, (unsigned long long)fnv1a64(out[i], t->nbytes));
        if (t->dtype == QCOMP_F32) {
            double sum = 0;
            for (size_t k = 0; k < t->nbytes / sizeof(float); k++) sum += ((const float *)out[i])[k];
            printf(" sum=%.6g", sum);
        }
        printf("\n");
        if (o && fwrite(out[i], 1, t->nbytes, o) != t->nbytes) return fail(out_path, "write failed");
    }
    if (o && fclose(o) != 0) return fail(out_path, "write failed");

    for (int j = 0; j < n_in; j++) free(in[j]);
    for (int i = 0; i < n_out; i++) free(out[i]);
    free(in);
    free(out);
    qcomp_model_free(m);
    return 0;
}
