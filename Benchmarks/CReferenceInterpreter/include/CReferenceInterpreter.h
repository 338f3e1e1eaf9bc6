// The reference point for Sluice's interpreter benchmark: a plain C switch interpreter over raw eBPF instruction
// words, compiled by SwiftPM's clang -O2 into the same benchmark binary and timed in the same run.
// It supports what the benchmark programs use (ALU32/64, jumps, loads/stores, lddw, exit) and nothing else.
#pragma once
#include <stdint.h>

/// Runs `count` instruction words with r1 = mem, r2 = len. Returns r0; `*executed` gets the instruction count.
uint64_t sluice_reference_run(const uint64_t *program, uint32_t count, void *mem, uint64_t len, uint64_t *executed);

/// The same without counting (the timed variant).
uint64_t sluice_reference_run_fast(const uint64_t *program, uint32_t count, void *mem, uint64_t len);
