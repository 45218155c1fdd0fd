/*
 * A host-memory stand-in for libcuda.so.1, for checking the C# binding's calling convention on a
 * machine without a GPU (see run.sh). Device memory is malloc'ed host memory; a "module" is the CUDA
 * source text that fake_nvrtc.c returns as its "CUBIN"; launching "selftest_combine" runs its loop on
 * the host; stream capture records launches by value and a graph launch replays them. It implements
 * exactly the functions the binding declares, with their C signatures, and checks what it can
 * (context current, handles, sizes) so a wrong argument shows up as an error code.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef uint64_t CUdeviceptr;
typedef void *CUcontext;

enum { OK = 0, INVALID_VALUE = 1, NOT_INITIALIZED = 3, INVALID_DEVICE = 101, INVALID_IMAGE = 200,
       INVALID_CONTEXT = 201, INVALID_HANDLE = 400, NOT_FOUND = 500, STREAM_CAPTURE_UNSUPPORTED = 900 };

static int initialized, retained;
static void *current;
static int primary_context_storage;

/* linear_args: LinearArgs parameters in its signature; prefetch_param: the index of its PrefetchArgs parameter, or -1 */
typedef struct { char name[64]; int linear_args, prefetch_param; } Function;
typedef struct { char *source; Function functions[512]; int count; } Module;
typedef struct { Function *function; unsigned grid, block; CUdeviceptr a, b, c; int n; } Node;
#define MAX_NODES 4096
typedef struct { int capturing; Node nodes[MAX_NODES]; int count; } Stream;
typedef struct { Node nodes[MAX_NODES]; int count; } Graph;
typedef struct { int recorded; } Event;

#define REQUIRE_CONTEXT() do { if (!initialized) return NOT_INITIALIZED; if (current != &primary_context_storage) return INVALID_CONTEXT; } while (0)

CUresult cuInit(unsigned flags) { if (flags != 0) return INVALID_VALUE; initialized = 1; return OK; }
CUresult cuDriverGetVersion(int *version) { if (!version) return INVALID_VALUE; *version = 13000; return OK; }

static const char *names[][2] = {
    {"0", "CUDA_SUCCESS"}, {"1", "CUDA_ERROR_INVALID_VALUE"}, {"3", "CUDA_ERROR_NOT_INITIALIZED"},
    {"101", "CUDA_ERROR_INVALID_DEVICE"}, {"200", "CUDA_ERROR_INVALID_IMAGE"}, {"201", "CUDA_ERROR_INVALID_CONTEXT"},
    {"400", "CUDA_ERROR_INVALID_HANDLE"}, {"500", "CUDA_ERROR_NOT_FOUND"}, {"2", "CUDA_ERROR_OUT_OF_MEMORY"}};

CUresult cuGetErrorName(CUresult error, const char **name) {
    char code[16]; snprintf(code, sizeof code, "%d", error);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i][0], code) == 0) { *name = names[i][1]; return OK; }
    return INVALID_VALUE;
}
CUresult cuGetErrorString(CUresult error, const char **text) {
    const char *name; if (cuGetErrorName(error, &name) != OK) return INVALID_VALUE;
    *text = "reported by the fake driver"; return OK;
}

CUresult cuDeviceGetCount(int *count) { if (!initialized) return NOT_INITIALIZED; *count = 1; return OK; }
CUresult cuDeviceGet(CUdevice *device, int ordinal) { if (ordinal != 0) return INVALID_DEVICE; *device = 0; return OK; }
CUresult cuDeviceGetAttribute(int *value, int attribute, CUdevice device) {
    if (device != 0) return INVALID_DEVICE;
    switch (attribute) {
    case 1: *value = 1024; return OK;        /* max threads per block */
    case 8: *value = 49152; return OK;       /* shared memory per block */
    case 16: *value = 132; return OK;        /* SMs */
    case 36: *value = 2619000; return OK;    /* memory clock, kHz */
    case 37: *value = 5120; return OK;       /* bus width, bits */
    case 38: *value = 52428800; return OK;   /* L2 */
    case 75: *value = 9; return OK;          /* compute capability */
    case 76: *value = 0; return OK;
    default: return INVALID_VALUE;
    }
}
CUresult cuDeviceGetName(char *name, int length, CUdevice device) {
    if (device != 0) return INVALID_DEVICE;
    snprintf(name, (size_t)length, "Fake SagePtq GPU"); return OK;
}
CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice device) { if (device != 0) return INVALID_DEVICE; *bytes = (size_t)80 << 30; return OK; }

CUresult cuDevicePrimaryCtxRetain(CUcontext *context, CUdevice device) {
    if (device != 0) return INVALID_DEVICE;
    retained++; *context = &primary_context_storage; return OK;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice device) { if (device != 0 || retained == 0) return INVALID_DEVICE; retained--; return OK; }
CUresult cuCtxSetCurrent(CUcontext context) { if (context != &primary_context_storage) return INVALID_CONTEXT; current = context; return OK; }
CUresult cuCtxSynchronize(void) { REQUIRE_CONTEXT(); return OK; }

/* Statistics the CUDA model tests read through fake_statistics: what was launched, captured, allocated and
   copied; gemv launches (kernels named layerNN_... but not ..._prepare, and lm_head) and the linears they carry
   (one per LinearArgs parameter: a fused launch has several), and how many of those linears have sections or
   an output that do not lie inside one live allocation, or sections that are not 16-byte aligned; the regions
   of PrefetchArgs parameters, and how many of those are not 16-byte aligned or not inside one live allocation. */
enum { STAT_LAUNCHES, STAT_GRAPH_LAUNCHES, STAT_CAPTURED, STAT_ALLOCATED, STAT_COPIED_IN, STAT_GEMV_LAUNCHES, STAT_BAD_GEMV,
       STAT_GEMV_LINEARS, STAT_PREFETCH_REGIONS, STAT_BAD_PREFETCH, STAT_COUNT };
static long long statistics[STAT_COUNT];
#define MAX_ALLOCATIONS 65536
static struct { uint64_t start, bytes; } allocations[MAX_ALLOCATIONS];
static int allocation_count;
static int inside(uint64_t start, uint64_t bytes) {
    for (int i = 0; i < allocation_count; i++)
        if (allocations[i].bytes && start >= allocations[i].start && start + bytes <= allocations[i].start + allocations[i].bytes) return 1;
    return 0;
}
int fake_statistics(long long *out, int count) {
    for (int i = 0; i < count && i < STAT_COUNT; i++) out[i] = statistics[i];
    return STAT_COUNT;
}
void fake_reset_statistics(void) { memset(statistics, 0, sizeof statistics); }

CUresult cuMemAlloc_v2(CUdeviceptr *pointer, size_t bytes) {
    REQUIRE_CONTEXT(); if (bytes == 0) return INVALID_VALUE;
    *pointer = (CUdeviceptr)(uintptr_t)malloc(bytes);
    if (allocation_count < MAX_ALLOCATIONS) { allocations[allocation_count].start = *pointer; allocations[allocation_count++].bytes = bytes; }
    statistics[STAT_ALLOCATED] += (long long)bytes;
    return OK;
}
CUresult cuMemFree_v2(CUdeviceptr pointer) {
    REQUIRE_CONTEXT();
    for (int i = 0; i < allocation_count; i++) if (allocations[i].start == pointer) allocations[i].bytes = 0;
    free((void *)(uintptr_t)pointer); return OK;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr destination, const void *source, size_t bytes) {
    REQUIRE_CONTEXT(); memcpy((void *)(uintptr_t)destination, source, bytes); statistics[STAT_COPIED_IN] += (long long)bytes; return OK;
}
CUresult cuMemcpyDtoH_v2(void *destination, CUdeviceptr source, size_t bytes) {
    REQUIRE_CONTEXT(); memcpy(destination, (const void *)(uintptr_t)source, bytes); return OK;
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr destination, const void *source, size_t bytes, void *stream) {
    (void)stream; return cuMemcpyHtoD_v2(destination, source, bytes);
}
CUresult cuMemsetD8_v2(CUdeviceptr destination, unsigned char value, size_t count) {
    REQUIRE_CONTEXT(); memset((void *)(uintptr_t)destination, value, count); return OK;
}

CUresult cuStreamCreate(Stream **stream, unsigned flags) {
    REQUIRE_CONTEXT(); if (flags > 1) return INVALID_VALUE; *stream = calloc(1, sizeof(Stream)); return OK;
}
CUresult cuStreamSynchronize(Stream *stream) { REQUIRE_CONTEXT(); if (!stream) return INVALID_HANDLE; return OK; }
CUresult cuStreamDestroy_v2(Stream *stream) { if (!stream) return INVALID_HANDLE; free(stream); return OK; }

CUresult cuEventCreate(Event **event, unsigned flags) { REQUIRE_CONTEXT(); (void)flags; *event = calloc(1, sizeof(Event)); return OK; }
CUresult cuEventRecord(Event *event, Stream *stream) {
    if (!event || !stream) return INVALID_HANDLE;
    if (stream->capturing) return STREAM_CAPTURE_UNSUPPORTED;
    event->recorded = 1; return OK;
}
CUresult cuEventSynchronize(Event *event) { if (!event) return INVALID_HANDLE; return OK; }
CUresult cuEventElapsedTime(float *milliseconds, Event *start, Event *end) {
    if (!start || !end || !start->recorded || !end->recorded) return INVALID_HANDLE;
    *milliseconds = 0.5f; return OK;
}
CUresult cuEventDestroy_v2(Event *event) { if (!event) return INVALID_HANDLE; free(event); return OK; }

CUresult cuModuleLoadData(Module **module, const void *image) {
    REQUIRE_CONTEXT();
    const char *text = image;
    if (strncmp(text, "FAKECUBIN\n", 10) != 0) return INVALID_IMAGE;
    Module *loaded = calloc(1, sizeof(Module));
    loaded->source = strdup(text + 10);
    *module = loaded; return OK;
}
CUresult cuModuleGetFunction(Function **function, Module *module, const char *name) {
    if (!module) return INVALID_HANDLE;
    /* a kernel is defined as "__global__ void NAME(" or "__global__ void __launch_bounds__(...) NAME(" */
    char plain[96], bounded[160];
    snprintf(plain, sizeof plain, "__global__ void %s(", name);
    snprintf(bounded, sizeof bounded, "__global__ void __launch_bounds__(SAGEPTQ_THREADS) %s(", name);
    const char *parameters = strstr(module->source, plain);
    if (parameters) parameters += strlen(plain);
    else if ((parameters = strstr(module->source, bounded))) parameters += strlen(bounded);
    if (!parameters || module->count == 512) return NOT_FOUND;
    Function *found = &module->functions[module->count++];
    snprintf(found->name, sizeof found->name, "%s", name);
    const char *end = strchr(parameters, ')');
    found->linear_args = 0;
    for (const char *at = strstr(parameters, "LinearArgs "); at && at < end; at = strstr(at + 1, "LinearArgs ")) found->linear_args++;
    found->prefetch_param = -1;
    const char *prefetch = strstr(parameters, "PrefetchArgs ");
    if (prefetch && prefetch < end) {
        found->prefetch_param = 0;
        for (const char *at = parameters; at < prefetch; at++) if (*at == ',') found->prefetch_param++;
    }
    *function = found; return OK;
}
CUresult cuModuleUnload(Module *module) { if (!module) return INVALID_HANDLE; free(module->source); free(module); return OK; }

static void run(const Node *node) {
    if (strcmp(node->function->name, "selftest_combine") != 0) return;
    const float *a = (const float *)(uintptr_t)node->a, *b = (const float *)(uintptr_t)node->b;
    float *c = (float *)(uintptr_t)node->c;
    unsigned threads = node->grid * node->block;
    for (unsigned i = 0; i < threads; i++) if ((int)i < node->n) c[i] = a[i] + 2.0f * b[i];
}

CUresult cuLaunchKernel(Function *function, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, Stream *stream, void **parameters, void **extra) {
    REQUIRE_CONTEXT();
    if (!function || !stream) return INVALID_HANDLE;
    if (gy != 1 || gz != 1 || by != 1 || bz != 1 || bx == 0 || bx > 1024 || shared != 0 || extra != NULL) return INVALID_VALUE;
    Node node = { function, gx, bx, 0, 0, 0, 0 };
    statistics[STAT_LAUNCHES]++;
    if ((strncmp(function->name, "layer", 5) == 0 && strstr(function->name, "_prepare") == NULL) || strcmp(function->name, "lm_head") == 0) {
        /* each sageptq::LinearArgs by value: sections[10], section_bytes[10], codes, scales, sums, input, totals, output, residual, tokens */
        statistics[STAT_GEMV_LAUNCHES]++;
        if (function->linear_args == 0) statistics[STAT_BAD_GEMV]++;
        for (int p = 0; p < function->linear_args; p++) {
            const uint64_t *args = parameters ? (const uint64_t *)parameters[p] : NULL;
            int bad = !args;
            for (int k = 0; !bad && k < 10; k++)
                if (args[k] && (args[k] % 16 != 0 || !inside(args[k], args[10 + k]))) bad = 1;
            if (!bad && (!args[0] || !inside(args[25], 4))) bad = 1;
            statistics[STAT_GEMV_LINEARS]++;
            if (bad) statistics[STAT_BAD_GEMV]++;
        }
    }
    if (function->prefetch_param >= 0) {
        /* sageptq::PrefetchArgs by value: start[3], bytes[3] */
        const uint64_t *regions = parameters ? (const uint64_t *)parameters[function->prefetch_param] : NULL;
        if (!regions) statistics[STAT_BAD_PREFETCH]++;
        for (int r = 0; regions && r < 3; r++) {
            if (regions[3 + r] == 0) continue;
            statistics[STAT_PREFETCH_REGIONS]++;
            if (regions[r] % 16 != 0 || !inside(regions[r], regions[3 + r])) statistics[STAT_BAD_PREFETCH]++;
        }
    }
    if (strcmp(function->name, "selftest_combine") == 0) {
        if (!parameters) return INVALID_VALUE;
        node.a = *(CUdeviceptr *)parameters[0]; node.b = *(CUdeviceptr *)parameters[1];
        node.c = *(CUdeviceptr *)parameters[2]; node.n = *(int *)parameters[3];
    }
    if (stream->capturing) { if (stream->count == MAX_NODES) return INVALID_VALUE;
    stream->nodes[stream->count++] = node; return OK; }
    run(&node); return OK;
}

CUresult cuStreamBeginCapture_v2(Stream *stream, int mode) {
    if (!stream) return INVALID_HANDLE;
    if (mode < 0 || mode > 2) return INVALID_VALUE;
    stream->capturing = 1; stream->count = 0; return OK;
}
CUresult cuStreamEndCapture(Stream *stream, Graph **graph) {
    if (!stream || !stream->capturing) return INVALID_HANDLE;
    Graph *captured = calloc(1, sizeof(Graph));
    memcpy(captured->nodes, stream->nodes, sizeof stream->nodes); captured->count = stream->count;
    statistics[STAT_CAPTURED] = stream->count;
    stream->capturing = 0; *graph = captured; return OK;
}
CUresult cuGraphInstantiateWithFlags(Graph **executable, Graph *graph, unsigned long long flags) {
    if (!graph || flags != 0) return INVALID_VALUE;
    Graph *copy = malloc(sizeof(Graph)); memcpy(copy, graph, sizeof(Graph)); *executable = copy; return OK;
}
CUresult cuGraphLaunch(Graph *executable, Stream *stream) {
    REQUIRE_CONTEXT(); if (!executable || !stream) return INVALID_HANDLE;
    statistics[STAT_GRAPH_LAUNCHES]++;
    for (int i = 0; i < executable->count; i++) run(&executable->nodes[i]);
    return OK;
}
CUresult cuGraphExecDestroy(Graph *executable) { if (!executable) return INVALID_HANDLE; free(executable); return OK; }
CUresult cuGraphDestroy(Graph *graph) { if (!graph) return INVALID_HANDLE; free(graph); return OK; }
