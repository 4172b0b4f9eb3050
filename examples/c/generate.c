/* generate.c: greedy text generation in C with a causal LM that qcomp.compile_lm compiled ahead of time.
 *
 *   lm = qcomp.compile_lm(model, recipe="w8a8", max_seq=256, chunk=16); lm.save("lm")
 *   make -C examples/c generate LM_DIR=$PWD/lm      # or, by hand:
 *   cc -O2 -std=c11 -o lm/generate examples/c/generate.c -ldl
 *   lm/generate lm [-n N] [-v] ID [ID ...]
 *
 * DIR holds what CompiledLM.save wrote: prefill/ and decode/ (model.so and model.weights each) and lm.json.
 * Both libraries export the same qcomp_* names, so each is dlopen'ed RTLD_LOCAL and called through the
 * pointers dlsym gives; no model.h is needed to build this program, it reads the shapes from the libraries'
 * tables (qcomp_input_info) and max_seq from lm.json.
 *
 * Both steps take (input_ids i64[B, T], pos i64[B], cache...) and return logits f32[B, T, V]; the cache
 * buffers are this program's, allocated once, and the steps update them in place (qcomp_model_run_inplace).
 * The prompt (IDs) runs through prefill, T = chunk tokens per call (the last chunk padded with zeros: the
 * padding's cache entries lie past the prompt and are overwritten before any query reads them), except a
 * tail of at most max(2, chunk / 4) tokens, which runs through decode one token at a time (as CompiledLM.prefill does, so
 * the ids match its generate bit for bit). Then N tokens (default 32, fewer when the cache is full) are
 * chosen greedily (argmax, the first of equal maxima), each fed back through decode.
 *
 * Prints the generated ids on one line, separated by spaces (-v: timings on stderr). On failure: one line on
 * stderr, exit status 1. Batch-1 models only (compile_lm(..., batch=1), the default).
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* As in model.h (QCOMP_ABI_VERSION 1): the element codes this program uses and the shape tables. */
enum { QCOMP_F32 = 1, QCOMP_I64 = 7 };
typedef struct {
    int dtype;
    int rank;
    const int64_t *shape;
    size_t nbytes;
    const char *text;
} qcomp_tensor_info;
typedef struct qcomp_model qcomp_model;

typedef struct {
    const char *name; /* "prefill" or "decode" */
    void *lib;
    qcomp_model *model;
    qcomp_model *(*load)(const char *);
    void (*free_model)(qcomp_model *);
    int (*run)(const qcomp_model *, void *const[], void *const[]);
    const char *(*error)(void);
    int (*num_inputs)(void);
    int (*num_outputs)(void);
    const qcomp_tensor_info *(*input_info)(int);
    const qcomp_tensor_info *(*output_info)(int);
    int n_inputs;
    int64_t tokens; /* T: tokens per call */
    int64_t vocab;
    float *logits;  /* [T, V] */
} step;

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "generate: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

/* dlsym's object pointer as a function pointer (memcpy: no conversion ISO C leaves undefined) */
static int symbol(void *lib, const char *name, void *fn_ptr) {
    void *p = dlsym(lib, name);
    memcpy(fn_ptr, &p, sizeof p);
    return p != NULL;
}

static int is_shape(const qcomp_tensor_info *t, int dtype, int rank) {
    return t && t->dtype == dtype && t->rank == rank;
}

/* dlopen DIR/<name>/model.so, load its weights, check it is an LM step; 0 and a message on failure */
static int load_step(step *s, const char *dir, const char *name) {
    char path[4096];
    s->name = name;
    snprintf(path, sizeof path, "%s/%s/model.so", dir, name);
    s->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!s->lib) return !fail("%s", dlerror());
    if (!symbol(s->lib, "qcomp_model_load", &s->load) || !symbol(s->lib, "qcomp_model_free", &s->free_model) ||
        !symbol(s->lib, "qcomp_error", &s->error) || !symbol(s->lib, "qcomp_num_inputs", &s->num_inputs) ||
        !symbol(s->lib, "qcomp_num_outputs", &s->num_outputs) ||
        !symbol(s->lib, "qcomp_input_info", &s->input_info) ||
        !symbol(s->lib, "qcomp_output_info", &s->output_info))
        return !fail("%s: not a qcomp model library (%s)", path, dlerror());
    if (!symbol(s->lib, "qcomp_model_run_inplace", &s->run))
        return !fail("%s: no qcomp_model_run_inplace (saved by an older qcomp: save the model again)", path);
    s->n_inputs = s->num_inputs();
    const qcomp_tensor_info *ids = s->input_info(0), *pos = s->input_info(1), *out = s->output_info(0);
    if (s->n_inputs < 3 || s->num_outputs() != 1 || !is_shape(ids, QCOMP_I64, 2) || !is_shape(pos, QCOMP_I64, 1) ||
        !is_shape(out, QCOMP_F32, 3) || out->shape[1] != ids->shape[1])
        return !fail("%s: not a compile_lm step (input_ids i64[B, T], pos i64[B], cache... -> logits f32[B, T, V])",
                     path);
    if (ids->shape[0] != 1 || pos->shape[0] != 1 || out->shape[0] != 1)
        return !fail("%s: compiled for batch %lld; this program runs one prompt (compile_lm(..., batch=1))", path,
                     (long long)ids->shape[0]);
    s->tokens = ids->shape[1];
    s->vocab = out->shape[2];
    s->logits = malloc(out->nbytes);
    if (!s->logits) return !fail("out of memory");
    snprintf(path, sizeof path, "%s/%s/model.weights", dir, name);
    s->model = s->load(path);
    if (!s->model) return !fail("%s", s->error());
    return 1;
}

static void free_step(step *s) {
    if (s->model) s->free_model(s->model);
    free(s->logits);
    if (s->lib) dlclose(s->lib);
}

/* The integer after "key": in lm.json's text (-1 when absent). */
static long long json_int(const char *text, const char *key) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *p = strstr(text, quoted);
    if (!p) return -1;
    p += strlen(quoted);
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':') p++;
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    return end == p || errno ? -1 : v;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - 1 - n, f)) > 0;) {
        n += got;
        if (n == cap - 1) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

/* One call of `s` on `n` tokens at position `pos` (the rest of its T are zeros); logits land in s->logits. */
static int run_step(step *s, const int64_t *tokens, int64_t n, int64_t pos, void **cache) {
    int64_t ids[s->tokens], at = pos;
    for (int64_t i = 0; i < s->tokens; i++) ids[i] = i < n ? tokens[i] : 0;
    void *in[s->n_inputs], *out[1] = {s->logits};
    in[0] = ids;
    in[1] = &at;
    for (int i = 2; i < s->n_inputs; i++) in[i] = cache[i - 2];
    if (s->run(s->model, in, out) != 0) return !fail("%s: %s", s->name, s->error());
    return 1;
}

static int64_t argmax(const float *row, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n && row[best] == row[best]; i++) /* a NaN wins, as numpy's argmax */
        if (row[i] > row[best] || row[i] != row[i]) best = i;
    return best;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const char *USAGE = "usage: generate DIR [-n N] [-v] ID [ID ...]  (DIR: what CompiledLM.save wrote)";

int main(int argc, char **argv) {
    const char *dir = NULL;
    long long max_new = 32;
    int verbose = 0, n_prompt = 0;
    const char **id_args = calloc((size_t)argc + 1, sizeof *id_args);
    if (!id_args) return fail("out of memory");
    for (int a = 1; a < argc; a++) {
        char *end;
        int number = argv[a][0] == '-' && argv[a][1] >= '0' && argv[a][1] <= '9'; /* a negative id */
        if (!strcmp(argv[a], "-n") && a + 1 < argc) {
            max_new = strtoll(argv[++a], &end, 10);
            if (*end || end == argv[a] || max_new < 0) return fail("-n %s: expected a count >= 0", argv[a]);
        } else if (!strcmp(argv[a], "-v")) {
            verbose = 1;
        } else if (argv[a][0] == '-' && !number) {
            return fail("%s", USAGE);
        } else if (!dir) {
            dir = argv[a];
        } else {
            id_args[n_prompt++] = argv[a];
        }
    }
    if (!dir || n_prompt == 0) return fail("%s", USAGE);

    step pre = {0}, dec = {0};
    if (!load_step(&pre, dir, "prefill") || !load_step(&dec, dir, "decode")) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/lm.json", dir);
    char *meta = read_text(path);
    if (!meta) return fail("%s: %s", path, strerror(errno));
    long long max_seq = json_int(meta, "max_seq"), vocab = json_int(meta, "vocab");
    long long chunk = json_int(meta, "chunk"), batch = json_int(meta, "batch");
    free(meta);
    if (max_seq < 1 || vocab < 1) return fail("%s: no max_seq or vocab", path);
    if (dec.tokens != 1 || pre.tokens != chunk || batch != 1 || pre.vocab != vocab || dec.vocab != vocab ||
        pre.n_inputs != dec.n_inputs)
        return fail("%s: prefill/ and decode/ do not match it (saved by different compile_lm calls?)", path);
    int n_cache = pre.n_inputs - 2;
    void **cache = calloc((size_t)n_cache, sizeof *cache);
    if (!cache) return fail("out of memory");
    for (int i = 0; i < n_cache; i++) {
        const qcomp_tensor_info *a = pre.input_info(i + 2), *b = dec.input_info(i + 2);
        if (a->dtype != b->dtype || strcmp(a->text, b->text) != 0)
            return fail("cache buffer differs between prefill (%s) and decode (%s)", a->text, b->text);
        cache[i] = aligned_alloc(64, (a->nbytes + 63) / 64 * 64);
        if (!cache[i]) return fail("out of memory for the cache (%s)", a->text);
        memset(cache[i], 0, a->nbytes);
    }

    int64_t *prompt = malloc(sizeof *prompt * (size_t)n_prompt);
    if (!prompt) return fail("out of memory");
    for (int i = 0; i < n_prompt; i++) {
        char *end;
        errno = 0;
        long long id = strtoll(id_args[i], &end, 10);
        if (*end || end == id_args[i]) return fail("'%s' is not a token id", id_args[i]);
        if (id < 0 || id >= vocab || errno == ERANGE)
            return fail("token id %s is outside the vocabulary [0, %lld)", id_args[i], vocab);
        prompt[i] = id;
    }
    if (n_prompt > max_seq) return fail("the prompt's %d tokens exceed max_seq=%lld", n_prompt, max_seq);

    /* prefill, as CompiledLM.prefill: whole chunks, a short tail (< chunk, <= max(2, chunk / 4)) token by token */
    double t0 = now();
    int64_t pos = 0;
    const float *last = NULL;
    while (pos < n_prompt) {
        int64_t rest = n_prompt - pos;
        int64_t tail = pre.tokens / 4 > 2 ? pre.tokens / 4 : 2; /* CompiledLM.tail_steps */
        step *s = rest < pre.tokens && rest <= tail ? &dec : &pre;
        int64_t take = rest < s->tokens ? rest : s->tokens;
        if (!run_step(s, prompt + pos, take, pos, cache)) return 1;
        last = s->logits + (take - 1) * s->vocab;
        pos += take;
    }
    double t1 = now();

    /* greedy decode, as CompiledLM.generate: stop after max_new tokens or when the cache is full */
    long long made = 0;
    for (long long k = 0; k < max_new; k++) {
        int64_t next = argmax(last, vocab);
        printf(k ? " %lld" : "%lld", (long long)next);
        fflush(stdout);
        made++;
        if (k == max_new - 1 || pos + 1 > max_seq) break;
        if (!run_step(&dec, &next, 1, pos, cache)) return 1;
        last = dec.logits;
        pos++;
    }
    printf("\n");
    fflush(stdout);
    double t2 = now();
    if (verbose)
        fprintf(stderr, "generate: prompt %d tokens in %.1f ms (%.1f tok/s), %lld generated in %.1f ms (%.1f tok/s)\n",
                n_prompt, 1e3 * (t1 - t0), n_prompt / (t1 - t0), made, 1e3 * (t2 - t1),
                made > 1 ? (double)(made - 1) / (t2 - t1) : 0.0);

    for (int i = 0; i < n_cache; i++) free(cache[i]);
    free(cache);
    free(prompt);
    free(id_args);
    free_step(&pre);
    free_step(&dec);
    return 0;
}
