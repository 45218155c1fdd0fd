/*
 * A stand-in for libnvrtc.so.13 (see fake_cuda.c and run.sh). "Compiling" checks the options the binding
 * passes and that every #include "x" names a header given to nvrtcCreateProgram; the "CUBIN" is the
 * source text behind a marker (fake_cuda.c loads that). A source containing "undeclared_name" fails
 * with a log in NVRTC's style.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char *source, *name, *log, **headers; int header_count; size_t image_size; char *image; } Program;

enum { OK = 0, INVALID_INPUT = 3, INVALID_PROGRAM = 4, INVALID_OPTION = 5, COMPILATION = 6 };

int nvrtcVersion(int *major, int *minor) { *major = 13; *minor = 0; return OK; }
const char *nvrtcGetErrorString(int result) {
    switch (result) {
    case OK: return "NVRTC_SUCCESS";
    case INVALID_OPTION: return "NVRTC_ERROR_INVALID_OPTION";
    case COMPILATION: return "NVRTC_ERROR_COMPILATION";
    default: return "NVRTC_ERROR_INVALID_INPUT";
    }
}

int nvrtcCreateProgram(Program **program, const char *source, const char *name, int header_count,
                       const char *const *headers, const char *const *include_names) {
    if (!program || !source || !name || header_count < 0) return INVALID_INPUT;
    Program *created = calloc(1, sizeof(Program));
    created->source = strdup(source); created->name = strdup(name);
    created->header_count = header_count;
    created->headers = calloc((size_t)header_count + 1, sizeof(char *));
    for (int i = 0; i < header_count; i++) {
        if (!headers[i] || !include_names[i]) return INVALID_INPUT;
        created->headers[i] = strdup(include_names[i]);
    }
    *program = created; return OK;
}

static int fail(Program *program, const char *message) {
    program->log = strdup(message); return COMPILATION;
}

int nvrtcCompileProgram(Program *program, int option_count, const char *const *options) {
    if (!program) return INVALID_PROGRAM;
    if (option_count < 3 || (strncmp(options[0], "--gpu-arch=sm_", 14) != 0 && strncmp(options[0], "--gpu-arch=compute_", 19) != 0) || strcmp(options[1], "-default-device") != 0
        || strcmp(options[2], "-std=c++17") != 0) return INVALID_OPTION;
    char log[512];
    if (strstr(program->source, "undeclared_name")) {
        snprintf(log, sizeof log, "%s(1): error: identifier \"undeclared_name\" is undefined\n\n1 error detected in the compilation of \"%s\".\n",
                 program->name, program->name);
        return fail(program, log);
    }
    for (const char *at = strstr(program->source, "#include \""); at; at = strstr(at + 1, "#include \"")) {
        const char *start = at + 10, *end = strchr(start, '"');
        int found = 0;
        for (int i = 0; i < program->header_count; i++)
            if (end && strlen(program->headers[i]) == (size_t)(end - start) && strncmp(program->headers[i], start, (size_t)(end - start)) == 0) found = 1;
        if (!found) {
            snprintf(log, sizeof log, "%s(1): catastrophic error: cannot open source file \"%.*s\"\n", program->name,
                     end ? (int)(end - start) : 0, start);
            return fail(program, log);
        }
    }
    program->log = strdup("");
    program->image_size = 10 + strlen(program->source) + 1;
    program->image = malloc(program->image_size);
    snprintf(program->image, program->image_size, "FAKECUBIN\n%s", program->source);
    return OK;
}

int nvrtcGetProgramLogSize(Program *program, size_t *size) { *size = program->log ? strlen(program->log) + 1 : 1; return OK; }
int nvrtcGetProgramLog(Program *program, char *log) { strcpy(log, program->log ? program->log : ""); return OK; }
int nvrtcGetCUBINSize(Program *program, size_t *size) { if (!program->image) return INVALID_PROGRAM; *size = program->image_size; return OK; }
int nvrtcGetCUBIN(Program *program, char *cubin) { memcpy(cubin, program->image, program->image_size); return OK; }
int nvrtcGetPTXSize(Program *program, size_t *size) { return nvrtcGetCUBINSize(program, size); }
int nvrtcGetPTX(Program *program, char *ptx) { return nvrtcGetCUBIN(program, ptx); }
int nvrtcDestroyProgram(Program **program) {
    if (!program || !*program) return INVALID_PROGRAM;
    Program *p = *program;
    for (int i = 0; i < p->header_count; i++) free(p->headers[i]);
    free(p->headers); free(p->source); free(p->name); free(p->log); free(p->image); free(p);
    *program = NULL; return OK;
}
