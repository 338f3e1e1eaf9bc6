// sluice: mcpu=v4 — built by build.sh with the Swift toolchain's clang and -mcpu=v4 (see the first line marker).
//
// v4_features.c — a sensor-report decoder written so that clang emits BPF ISA v4 instructions:
//   sign-extending loads   (__s8 / __s16 fields read straight from the packet)   ldxsb / ldxsh  (BPF_MEMSX)
//   sign-extending moves   (__s16 value widened after a byte swap)               movsx          (BPF_MOV, off 8/16/32)
//   unconditional bswap    (__builtin_bswap16/32/64)                             bswap16/32/64  (BPF_ALU64|BPF_END)
//   signed division/modulo (runtime divisors, 32- and 64-bit)                    sdiv / smod    (BPF_DIV/MOD, off 1)
//
// Frames: Ethernet / IPv4 (no options) / UDP to port 7777 carrying struct sensor_report (24 bytes). For each report the
// reading is scaled (reading / scale, signed) and accumulated per sensor in `sensors`. Reports with scale 0 are
// dropped (XDP_DROP) as malformed; everything else, and all other traffic, passes.
//
// Maps
//   sensors  HASH  key __u16 sensor id (host order), value struct sensor_stats
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define SENSOR_PORT 7777

struct sensor_report {
    __be16 sensor_id;
    __s8 temp_delta;    // signed byte
    __u8 flags;
    __be16 reading;     // signed 16-bit, network byte order
    __be16 scale;       // signed 16-bit divisor, network byte order
    __s16 offset;       // signed 16-bit, little-endian (sensor firmware quirk)
    __be16 period;      // signed 16-bit, network byte order: readings wrap modulo this (0 = no wrap)
    __u32 reserved;
    __be64 timestamp;   // nanoseconds, network byte order
};

struct sensor_stats {
    __s64 sum;          // sum of scaled readings
    __s64 reports;
    __s64 average;      // sum / reports
    __s32 last_scaled;  // reading / scale
    __s32 last_phase;   // reading % period
    __s64 temperature;  // running sum of temp_delta
    __u64 last_timestamp;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, __u16);
    __type(value, struct sensor_stats);
} sensors SEC(".maps");

SEC("xdp")
int xdp_v4_features(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    struct sensor_report *report = (void *)(udp + 1);

    if ((void *)(report + 1) > data_end)
        return XDP_PASS;
    // Explicit swaps instead of bpf_htons: with -mcpu=v4 these become unconditional bswap instructions.
    if (eth->h_proto != __builtin_bswap16(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
        return XDP_PASS;
    if (udp->dest != __builtin_bswap16(SENSOR_PORT))
        return XDP_PASS;

    __s32 scale = (__s16)__builtin_bswap16(report->scale);     // bswap16 + movsx
    if (scale == 0)
        return XDP_DROP;
    __s32 reading = (__s16)__builtin_bswap16(report->reading);
    reading += report->offset;                                  // ldxsh: sign-extending 16-bit load
    __s32 scaled = reading / scale;                             // sdiv (32-bit)
    __s32 period = (__s16)__builtin_bswap16(report->period);
    __s32 phase = period ? reading % period : 0;                // smod (32-bit)
    __s64 temp_delta = report->temp_delta;                      // ldxsb: sign-extending 8-bit load

    __u16 id = __builtin_bswap16(report->sensor_id);
    struct sensor_stats *stats = bpf_map_lookup_elem(&sensors, &id);
    if (!stats) {
        struct sensor_stats fresh = {};
        bpf_map_update_elem(&sensors, &id, &fresh, BPF_NOEXIST);
        stats = bpf_map_lookup_elem(&sensors, &id);
        if (!stats)
            return XDP_PASS;
    }
    stats->sum += scaled;
    stats->reports += 1;
    stats->average = stats->sum / stats->reports;               // sdiv (64-bit); reports >= 1
    stats->last_scaled = scaled;
    stats->last_phase = phase;
    stats->temperature += temp_delta;
    stats->last_timestamp = __builtin_bswap64(report->timestamp); // bswap64
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
