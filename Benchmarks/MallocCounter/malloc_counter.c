// See include/malloc_counter.h.
#define _GNU_SOURCE
#include "malloc_counter.h"

#include <errno.h>
#include <execinfo.h>
#include <stddef.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *pointer);

static uint64_t allocations;
static __thread uint64_t thread_allocations;
static uint32_t trace_left;
static __thread int tracing;

static void count(void)
{
    __atomic_fetch_add(&allocations, 1, __ATOMIC_RELAXED);
    thread_allocations++;
    if (__atomic_load_n(&trace_left, __ATOMIC_RELAXED) > 0 && !tracing) {
        tracing = 1;  /* backtrace() itself may allocate the first time */
        if (__atomic_fetch_sub(&trace_left, 1, __ATOMIC_RELAXED) > 0) {
            void *frames[24];
            int n = backtrace(frames, 24);
            static const char line[] = "--- allocation:\n";
            (void)!write(2, line, sizeof(line) - 1);
            backtrace_symbols_fd(frames, n, 2);
        }
        tracing = 0;
    }
}

uint64_t malloc_counter_allocations(void) { return __atomic_load_n(&allocations, __ATOMIC_RELAXED); }
uint64_t malloc_counter_thread_allocations(void) { return thread_allocations; }
void malloc_counter_trace(uint32_t limit) { __atomic_store_n(&trace_left, limit, __ATOMIC_RELAXED); }

void *malloc(size_t size)
{
    count();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    count();
    return __libc_calloc(n, size);
}

void *realloc(void *pointer, size_t size)
{
    count();
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size)
{
    count();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
    count();
    return __libc_memalign(alignment, size);
}

void *valloc(size_t size)
{
    count();
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
        return EINVAL;
    count();
    void *p = __libc_memalign(alignment, size);
    if (!p && size)
        return ENOMEM;
    *out = p;
    return 0;
}

void free(void *pointer) { __libc_free(pointer); }
