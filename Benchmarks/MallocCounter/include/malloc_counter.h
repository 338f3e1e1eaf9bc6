// Counts heap allocations of the whole process, for the zero-allocation benchmark (sluice-malloc-bench).
//
// Linked only into that executable: it defines malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign,
// valloc and free, which the dynamic linker then resolves for every library of the process (the Swift runtime
// included), counts each allocating call, and forwards to glibc's __libc_* implementations.
#ifndef SLUICE_MALLOC_COUNTER_H
#define SLUICE_MALLOC_COUNTER_H

#include <stdint.h>

/// Allocating calls (malloc, calloc, realloc, the aligned ones) since the process started, all threads.
uint64_t malloc_counter_allocations(void);
/// The same, on the calling thread only.
uint64_t malloc_counter_thread_allocations(void);
/// When non-zero, every later allocation on any thread prints a backtrace to stderr (at most `limit` of them).
void malloc_counter_trace(uint32_t limit);

#endif
