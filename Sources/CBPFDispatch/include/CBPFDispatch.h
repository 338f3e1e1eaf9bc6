// Direct-threaded dispatch for Sluice's interpreter (unchecked runs only).
//
// Each operation has a tiny C trampoline here that calls the operation's Swift body (`sluice_exec_<op>`, defined in
// Sources/BPFVM/Interpreter/ThreadedHandlers.swift with `@_silgen_name`) and then tail-calls the next instruction's
// trampoline, whose address the Swift body returns. The trampolines use Clang's `swiftasynccall` convention, which
// guarantees the tail call (a `jmp`), so every operation ends in its own indirect jump and the branch predictor sees
// one jump per operation instead of the single shared one of a `switch`.
//
// This header is only ever compiled by the Swift compiler's ClangImporter into the BPFVM module: the `static inline`
// trampolines and the handler table are emitted there, next to the Swift bodies, so the bodies inline into them.
// There is no C library here; `dispatch.c` is empty and only exists because SwiftPM wants a source file.
#ifndef SLUICE_CBPFDISPATCH_H
#define SLUICE_CBPFDISPATCH_H

#include <stdint.h>

#if defined(__clang__) && (__has_feature(swiftasynccc) || __has_extension(swiftasynccc)) && \
    (defined(__x86_64__) || defined(__aarch64__))
#define SLUICE_THREADED 1
#else
#define SLUICE_THREADED 0
#endif

/// A threaded run's own state, passed along in the context register.
typedef struct {
    /// Set by the bail-out handler: the instruction the threaded code leaves to the `switch` interpreter (`bpf_loop`,
    /// `callx`, invalid slots, a call beyond the frame limit). NULL when the program returned from `exit`.
    const void *_Nullable resume;
    /// The machine's call frames (BPF-to-BPF calls), shared with the `switch` so that it can take over at any depth.
    void *_Nonnull frames;
    intptr_t depth;
} sluice_tc_state;

// Operations with a threaded handler. Their order is the order of `sluice_tc_handlers` and of the `SLUICE_TC_*`
// indices; the Swift translator maps `DecodedOp` to these indices by name.
#define SLUICE_TC_OPS(X)                                                                                               \
    X(add64Imm) X(add64Reg) X(sub64Imm) X(sub64Reg) X(mul64Imm) X(mul64Reg) X(div64Imm) X(div64Reg)                   \
    X(sdiv64Imm) X(sdiv64Reg) X(or64Imm) X(or64Reg) X(and64Imm) X(and64Reg) X(lsh64Imm) X(lsh64Reg) X(rsh64Imm)      \
    X(rsh64Reg) X(mod64Imm) X(mod64Reg) X(smod64Imm) X(smod64Reg) X(xor64Imm) X(xor64Reg) X(mov64Imm) X(mov64Reg)    \
    X(arsh64Imm) X(arsh64Reg) X(neg64)                                                                                 \
    X(add32Imm) X(add32Reg) X(sub32Imm) X(sub32Reg) X(mul32Imm) X(mul32Reg) X(div32Imm) X(div32Reg)                   \
    X(sdiv32Imm) X(sdiv32Reg) X(or32Imm) X(or32Reg) X(and32Imm) X(and32Reg) X(lsh32Imm) X(lsh32Reg) X(rsh32Imm)      \
    X(rsh32Reg) X(mod32Imm) X(mod32Reg) X(smod32Imm) X(smod32Reg) X(xor32Imm) X(xor32Reg) X(mov32Imm) X(mov32Reg)    \
    X(arsh32Imm) X(arsh32Reg) X(neg32)                                                                                 \
    X(movsx8To64) X(movsx16To64) X(movsx32To64) X(movsx8To32) X(movsx16To32)                                          \
    X(zext16) X(zext32) X(swap16) X(swap32) X(swap64) X(nop)                                                          \
    X(ldxb) X(ldxh) X(ldxw) X(ldxdw) X(ldxsb) X(ldxsh) X(ldxsw)                                                       \
    X(stb) X(sth) X(stw) X(stdw) X(stxb) X(stxh) X(stxw) X(stxdw)                                                     \
    X(lddw) X(loadContext) X(ja)                                                                                       \
    X(jeq64Imm) X(jeq64Reg) X(jgt64Imm) X(jgt64Reg) X(jge64Imm) X(jge64Reg) X(jset64Imm) X(jset64Reg)                 \
    X(jne64Imm) X(jne64Reg) X(jsgt64Imm) X(jsgt64Reg) X(jsge64Imm) X(jsge64Reg) X(jlt64Imm) X(jlt64Reg)               \
    X(jle64Imm) X(jle64Reg) X(jslt64Imm) X(jslt64Reg) X(jsle64Imm) X(jsle64Reg)                                       \
    X(jeq32Imm) X(jeq32Reg) X(jgt32Imm) X(jgt32Reg) X(jge32Imm) X(jge32Reg) X(jset32Imm) X(jset32Reg)                 \
    X(jne32Imm) X(jne32Reg) X(jsgt32Imm) X(jsgt32Reg) X(jsge32Imm) X(jsge32Reg) X(jlt32Imm) X(jlt32Reg)               \
    X(jle32Imm) X(jle32Reg) X(jslt32Imm) X(jslt32Reg) X(jsle32Imm) X(jsle32Reg)                                       \
    X(callHelper) X(tailCall) X(atomicAdd32) X(atomicAdd64) X(atomic32) X(atomic64) X(backEdge)                      \
    SLUICE_TC_FUSED_OPS(X) SLUICE_TC_CONTEXT_OPS(X)

/// Operations whose bodies also get the run's state and may end the threaded run (by returning 0).
#define SLUICE_TC_STATEFUL_OPS(X) X(callLocal) X(exit)

/// Superinstructions (see Superinstructions.swift).
#define SLUICE_TC_FUSED_OPS(X) X(movAdd64) X(boundsCheckJgt) X(ldxhBE16) SLUICE_TC_FUSED_EXTRA_OPS(X)
#define SLUICE_TC_FUSED_EXTRA_OPS(X) X(movRsh64) X(movLsh64) X(movAnd64) X(movAddReg64)                   \
    X(callHelperJeqZero) X(callHelperJneZero)

/// Context loads of the pointer fields, chosen by field when the threaded code is built.
#define SLUICE_TC_CONTEXT_OPS(X) X(loadData) X(loadDataEnd) X(loadDataMeta)

enum {
#define SLUICE_TC_INDEX(name) SLUICE_TC_##name,
    SLUICE_TC_OPS(SLUICE_TC_INDEX)
    SLUICE_TC_STATEFUL_OPS(SLUICE_TC_INDEX)
#undef SLUICE_TC_INDEX
    /// Everything else: records the instruction in `resume` and returns, so the `switch` interpreter continues there.
    SLUICE_TC_bail,
    /// Ends the run where it is (a back edge out of budget, which records itself in the environment first).
    SLUICE_TC_halt,
    SLUICE_TC_count
};

#if SLUICE_THREADED
#define SLUICE_TC_CC __attribute__((swiftasynccall))

/// A handler: `pc` is the current 24-byte threaded instruction, `reg` the register file, `env` the
/// `ExecutionEnvironment`, `state` the run's `sluice_tc_state`.
typedef SLUICE_TC_CC void (*_Nonnull sluice_tc_handler)(const void *_Nonnull pc, uint64_t *_Nonnull reg,
                                                        void *_Nonnull env,
                                                        __attribute__((swift_context)) sluice_tc_state *_Nonnull state);

#if defined(__clang__) && (__clang_major__ >= 16)
#define SLUICE_TC_INLINE_CALL [[clang::always_inline]]
#else
#define SLUICE_TC_INLINE_CALL
#endif

#define SLUICE_TC_DEFINE(name)                                                                                         \
    SLUICE_TC_CC static inline void sluice_tc_##name(const void *_Nonnull pc, uint64_t *_Nonnull reg,                  \
                                                     void *_Nonnull env,                                               \
                                                     __attribute__((swift_context)) sluice_tc_state *_Nonnull state) { \
        __attribute__((swiftcall)) uintptr_t sluice_exec_##name(const void *_Nonnull *_Nonnull pc,                    \
                                                                uint64_t *_Nonnull reg, void *_Nonnull env);           \
        uintptr_t next;                                                                                                \
        SLUICE_TC_INLINE_CALL next = sluice_exec_##name(&pc, reg, env);                                               \
        return ((sluice_tc_handler)next)(pc, reg, env, state);                                                         \
    }
SLUICE_TC_OPS(SLUICE_TC_DEFINE)
#undef SLUICE_TC_DEFINE

#define SLUICE_TC_DEFINE_STATEFUL(name)                                                                                \
    SLUICE_TC_CC static inline void sluice_tc_##name(const void *_Nonnull pc, uint64_t *_Nonnull reg,                  \
                                                     void *_Nonnull env,                                               \
                                                     __attribute__((swift_context)) sluice_tc_state *_Nonnull state) { \
        __attribute__((swiftcall)) uintptr_t sluice_exec_##name(const void *_Nonnull *_Nonnull pc,                    \
                                                                uint64_t *_Nonnull reg, void *_Nonnull env,            \
                                                                sluice_tc_state *_Nonnull state);                      \
        uintptr_t next;                                                                                                \
        SLUICE_TC_INLINE_CALL next = sluice_exec_##name(&pc, reg, env, state);                                        \
        if (next == 0) return;                                                                                         \
        return ((sluice_tc_handler)next)(pc, reg, env, state);                                                         \
    }
SLUICE_TC_STATEFUL_OPS(SLUICE_TC_DEFINE_STATEFUL)
#undef SLUICE_TC_DEFINE_STATEFUL

SLUICE_TC_CC static inline void sluice_tc_bail(const void *_Nonnull pc, uint64_t *_Nonnull reg, void *_Nonnull env,
                                               __attribute__((swift_context)) sluice_tc_state *_Nonnull state) {
    (void)reg; (void)env;
    state->resume = pc;
}

SLUICE_TC_CC static inline void sluice_tc_halt(const void *_Nonnull pc, uint64_t *_Nonnull reg, void *_Nonnull env,
                                               __attribute__((swift_context)) sluice_tc_state *_Nonnull state) {
    (void)pc; (void)reg; (void)env; (void)state;
}

/// The handlers by `SLUICE_TC_*` index.
static const uintptr_t sluice_tc_handlers[SLUICE_TC_count] = {
#define SLUICE_TC_ENTRY(name) (uintptr_t)&sluice_tc_##name,
    SLUICE_TC_OPS(SLUICE_TC_ENTRY)
    SLUICE_TC_STATEFUL_OPS(SLUICE_TC_ENTRY)
#undef SLUICE_TC_ENTRY
    (uintptr_t)&sluice_tc_bail,
    (uintptr_t)&sluice_tc_halt,
};

/// Runs threaded code from `pc` (a plain C function: Swift cannot call a `swiftasynccall` pointer itself).
static inline void sluice_tc_start(const void *_Nonnull pc, uint64_t *_Nonnull reg, void *_Nonnull env,
                                   sluice_tc_state *_Nonnull state) {
    ((sluice_tc_handler)(*(const uintptr_t *)pc))(pc, reg, env, state);
}
#endif

#endif
