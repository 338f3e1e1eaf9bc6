// A straightforward C switch interpreter: decode fields from the raw word on every step, one switch on the opcode.
// Written for Sluice's benchmark as the "C switch" reference point (see ../shared/PLATFORM-NOTES.md §5).
#include "CReferenceInterpreter.h"
#include <string.h>

#define LOAD(T, p) ({ T v_; memcpy(&v_, (const void *)(uintptr_t)(p), sizeof(T)); v_; })
#define STORE(T, p, v) do { T v_ = (T)(v); memcpy((void *)(uintptr_t)(p), &v_, sizeof(T)); } while (0)

static inline uint64_t run(const uint64_t *prog, uint32_t count, void *mem, uint64_t len, uint64_t *executed,
                           int counting) {
    uint64_t reg[11] = {0};
    uint8_t stack[512] __attribute__((aligned(16)));
    reg[1] = (uint64_t)(uintptr_t)mem;
    reg[2] = len;
    reg[10] = (uint64_t)(uintptr_t)(stack + sizeof(stack));
    uint64_t n = 0;
    uint32_t pc = 0;
    (void)count;
    for (;;) {
        uint64_t w = prog[pc];
        uint8_t op = (uint8_t)w;
        uint8_t dst = (w >> 8) & 0xf, src = (w >> 12) & 0xf;
        int16_t off = (int16_t)(w >> 16);
        int32_t imm = (int32_t)(w >> 32);
        uint64_t simm = (uint64_t)(int64_t)imm;
        if (counting) n++;
        pc++;
        switch (op) {
        case 0x07: reg[dst] += simm; break;
        case 0x0f: reg[dst] += reg[src]; break;
        case 0x17: reg[dst] -= simm; break;
        case 0x1f: reg[dst] -= reg[src]; break;
        case 0x27: reg[dst] *= simm; break;
        case 0x2f: reg[dst] *= reg[src]; break;
        case 0x47: reg[dst] |= simm; break;
        case 0x4f: reg[dst] |= reg[src]; break;
        case 0x57: reg[dst] &= simm; break;
        case 0x5f: reg[dst] &= reg[src]; break;
        case 0x67: reg[dst] <<= (imm & 63); break;
        case 0x6f: reg[dst] <<= (reg[src] & 63); break;
        case 0x77: reg[dst] >>= (imm & 63); break;
        case 0x7f: reg[dst] >>= (reg[src] & 63); break;
        case 0xa7: reg[dst] ^= simm; break;
        case 0xaf: reg[dst] ^= reg[src]; break;
        case 0xb7: reg[dst] = simm; break;
        case 0xbf: reg[dst] = reg[src]; break;
        case 0xc7: reg[dst] = (uint64_t)((int64_t)reg[dst] >> (imm & 63)); break;
        case 0x04: reg[dst] = (uint32_t)((uint32_t)reg[dst] + (uint32_t)imm); break;
        case 0x0c: reg[dst] = (uint32_t)((uint32_t)reg[dst] + (uint32_t)reg[src]); break;
        case 0x54: reg[dst] = (uint32_t)reg[dst] & (uint32_t)imm; break;
        case 0x64: reg[dst] = (uint32_t)((uint32_t)reg[dst] << (imm & 31)); break;
        case 0x74: reg[dst] = (uint32_t)reg[dst] >> (imm & 31); break;
        case 0xb4: reg[dst] = (uint32_t)imm; break;
        case 0xbc: reg[dst] = (uint32_t)reg[src]; break;
        case 0xdc:
            if (imm == 16) reg[dst] = __builtin_bswap16((uint16_t)reg[dst]);
            else if (imm == 32) reg[dst] = __builtin_bswap32((uint32_t)reg[dst]);
            else reg[dst] = __builtin_bswap64(reg[dst]);
            break;
        case 0x71: reg[dst] = LOAD(uint8_t, reg[src] + off); break;
        case 0x69: reg[dst] = LOAD(uint16_t, reg[src] + off); break;
        case 0x61: reg[dst] = LOAD(uint32_t, reg[src] + off); break;
        case 0x79: reg[dst] = LOAD(uint64_t, reg[src] + off); break;
        case 0x73: STORE(uint8_t, reg[dst] + off, reg[src]); break;
        case 0x6b: STORE(uint16_t, reg[dst] + off, reg[src]); break;
        case 0x63: STORE(uint32_t, reg[dst] + off, reg[src]); break;
        case 0x7b: STORE(uint64_t, reg[dst] + off, reg[src]); break;
        case 0x18: reg[dst] = (uint64_t)(uint32_t)imm | ((uint64_t)(uint32_t)(prog[pc] >> 32) << 32); pc++; break;
        case 0x05: pc += off; break;
        case 0x15: if (reg[dst] == simm) pc += off; break;
        case 0x1d: if (reg[dst] == reg[src]) pc += off; break;
        case 0x25: if (reg[dst] > simm) pc += off; break;
        case 0x2d: if (reg[dst] > reg[src]) pc += off; break;
        case 0x35: if (reg[dst] >= simm) pc += off; break;
        case 0x3d: if (reg[dst] >= reg[src]) pc += off; break;
        case 0x55: if (reg[dst] != simm) pc += off; break;
        case 0x5d: if (reg[dst] != reg[src]) pc += off; break;
        case 0xa5: if (reg[dst] < simm) pc += off; break;
        case 0xad: if (reg[dst] < reg[src]) pc += off; break;
        case 0xb5: if (reg[dst] <= simm) pc += off; break;
        case 0xbd: if (reg[dst] <= reg[src]) pc += off; break;
        case 0x95:
            if (counting) *executed = n;
            return reg[0];
        default:
            if (counting) *executed = n;
            return (uint64_t)-1;  // unsupported in the reference; the benchmark checks results agree
        }
    }
}

uint64_t sluice_reference_run(const uint64_t *program, uint32_t count, void *mem, uint64_t len, uint64_t *executed) {
    return run(program, count, mem, len, executed, 1);
}

uint64_t sluice_reference_run_fast(const uint64_t *program, uint32_t count, void *mem, uint64_t len) {
    return run(program, count, mem, len, 0, 0);
}
